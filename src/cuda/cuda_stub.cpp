// Stand-ins for the CUDA backend in builds without CUDA: zero devices, nothing supported.
#include "backend/backend.hpp"
#include "core/errors.hpp"

namespace ffc::detail {

bool cuda_backend_supports(int64_t) { return false; }

std::unique_ptr<BackendImpl> make_cuda_backend(const core::Factorization&, int, CudaPath) {
  core::throw_error(Status::kNotSupported,
                    "backend: CUDA was requested but this build of flashfftconv has no CUDA "
                    "support (rule: build with nvcc available to enable it)");
}

int cuda_device_count_noexcept() { return 0; }

int cuda_pointer_device(const void*) { return -1; }

}  // namespace ffc::detail

#include "backend/conv1d_backend.hpp"

namespace ffc::detail {

std::unique_ptr<Conv1dBackendImpl> make_cuda_conv1d_backend(int) {
  core::throw_error(Status::kNotSupported,
                    "backend: CUDA was requested for conv1d but this build of flashfftconv has no CUDA "
                    "support (rule: build with nvcc available to enable it)");
}

}  // namespace ffc::detail
