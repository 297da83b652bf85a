// The C++ API: Plan creation (validation, factorization, backend choice) and the thin, validated
// entry points that hand work to a backend.
#include <string>

#include "backend/backend.hpp"
#include "core/checked.hpp"
#include "core/errors.hpp"
#include "core/validate.hpp"
#include "ffc/ffc.h"
#include "ffc/ffc.hpp"

namespace ffc {

const char* to_string(Status status) {
  switch (status) {
    case Status::kSuccess: return "success";
    case Status::kInvalidArgument: return "invalid argument";
    case Status::kNotSupported: return "not supported";
    case Status::kNoDevice: return "no CUDA device";
    case Status::kCudaError: return "CUDA error";
    case Status::kOutOfMemory: return "out of memory";
    case Status::kInternal: return "internal error";
  }
  return "unknown status";
}

const char* to_string(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
  }
  return "invalid dtype";
}

const char* to_string(Backend backend) {
  switch (backend) {
    case Backend::kAuto: return "auto";
    case Backend::kCpu: return "cpu";
    case Backend::kCuda: return "cuda";
  }
  return "invalid backend";
}

std::size_t dtype_size(DType dtype) { return dtype == DType::kF32 ? 4 : 2; }

Tensor Tensor::contiguous(const void* data, DType dtype, std::initializer_list<int64_t> shape) {
  Tensor t;
  t.data = const_cast<void*>(data);
  t.dtype = dtype;
  t.ndim = static_cast<int>(shape.size());
  if (t.ndim > 3) core::throw_invalid("tensor: rank " + std::to_string(t.ndim) + " > 3");
  int i = 0;
  for (int64_t s : shape) t.shape[i++] = s;
  int64_t stride = 1;
  for (int d = t.ndim - 1; d >= 0; --d) {
    t.strides[d] = stride;
    stride *= t.shape[d];
  }
  return t;
}

int64_t Tensor::numel() const {
  uint64_t n = 1;
  for (int i = 0; i < ndim && i < 3; ++i) {
    n = core::checked_mul(n, core::count_of(shape[i], "tensor: shape entry"), "tensor: elements");
  }
  return static_cast<int64_t>(n);
}

bool fft_size_supported(Backend backend, int64_t n) {
  switch (backend) {
    case Backend::kCpu: return core::Factorization::in_size_table(n);
    case Backend::kCuda: return detail::cuda_backend_supports(n);
    case Backend::kAuto:
      return core::Factorization::in_size_table(n) || detail::cuda_backend_supports(n);
  }
  return false;
}

int cuda_device_count() { return detail::cuda_device_count_noexcept(); }

const char* version_string() { return ffc_version_string(); }

namespace detail {

class PlanImpl {
 public:
  PlanImpl(core::Factorization factorization, std::unique_ptr<BackendImpl> backend)
      : factorization_(std::move(factorization)), backend_(std::move(backend)) {}

  const core::Factorization& factorization() const { return factorization_; }
  const BackendImpl& backend() const { return *backend_; }

 private:
  core::Factorization factorization_;
  std::unique_ptr<BackendImpl> backend_;
};

}  // namespace detail

Plan::Plan(std::unique_ptr<detail::PlanImpl> impl) : impl_(std::move(impl)) {}
Plan::Plan(Plan&&) noexcept = default;
Plan& Plan::operator=(Plan&&) noexcept = default;
Plan::~Plan() = default;

Plan Plan::create(const PlanOptions& options) {
  const int64_t n = options.fft_size;
  if (options.backend != Backend::kAuto && options.backend != Backend::kCpu &&
      options.backend != Backend::kCuda) {
    core::throw_invalid("backend: code " + std::to_string(static_cast<int>(options.backend)) +
                        " is not a backend (rule: AUTO = 0, CPU = 1, CUDA = 2)");
  }
  if (options.cuda_path != CudaPath::kAuto && options.cuda_path != CudaPath::kFused &&
      options.cuda_path != CudaPath::kPortable) {
    core::throw_invalid("cuda_path: code " + std::to_string(static_cast<int>(options.cuda_path)) +
                        " is not a CUDA path (rule: AUTO = 0, FUSED = 1, PORTABLE = 2)");
  }
  core::check_num_threads(options.num_threads);
  core::Factorization factorization = core::Factorization::for_size(n);  // throws for bad N
  Backend backend = options.backend;
  if (backend == Backend::kAuto) {
    backend = (detail::cuda_device_count_noexcept() > 0 && detail::cuda_backend_supports(n))
                  ? Backend::kCuda
                  : Backend::kCpu;
  }
  std::unique_ptr<detail::BackendImpl> impl =
      backend == Backend::kCuda ? detail::make_cuda_backend(factorization, options.device, options.cuda_path)
                                : detail::make_cpu_backend(factorization, options.num_threads);
  return Plan(std::make_unique<detail::PlanImpl>(std::move(factorization), std::move(impl)));
}

PlanInfo Plan::info() const {
  PlanInfo info;
  info.fft_size = impl_->factorization().size();
  info.backend = impl_->backend().kind();
  info.device = impl_->backend().device();
  info.radices = impl_->factorization().radices();
  info.algorithm = impl_->backend().algorithm();
  return info;
}

std::size_t Plan::spectrum_bytes(int64_t heads) const {
  core::count_of(heads, "heads");
  return impl_->backend().spectrum_bytes(heads);
}

std::size_t Plan::workspace_bytes(int64_t heads) const {
  core::count_of(heads, "heads");
  return impl_->backend().workspace_bytes(heads);
}

void Plan::transform_filter(const Tensor& k, void* spectrum, std::size_t bytes,
                            Stream stream) const {
  const detail::BackendImpl& backend = impl_->backend();
  core::check_filter(k, impl_->factorization().size());
  backend.check_memory("k", k.data, core::check_tensor("k", k, 2, "(H, Lk)"));
  const std::size_t need = backend.spectrum_bytes(k.shape[0]);
  if (bytes < need) {
    core::throw_invalid("spectrum: " + std::to_string(bytes) + " bytes given, " +
                        std::to_string(need) + " needed for H = " + std::to_string(k.shape[0]) +
                        " (rule: spectrum_bytes(H))");
  }
  if (need == 0) return;
  if (spectrum == nullptr) core::throw_invalid("spectrum: output pointer is null");
  backend.check_memory("spectrum", spectrum, need);
  backend.transform_filter(k, spectrum, stream);
}

void Plan::forward(const ForwardArgs& args, Stream stream) const {
  const detail::BackendImpl& backend = impl_->backend();
  const core::ConvProblem problem = core::validate_forward(
      args, impl_->factorization().size(),
      [&](int64_t h) { return backend.spectrum_bytes(h); },
      [&](int64_t h) { return backend.workspace_bytes(h); },
      [&](const char* name, const void* data, std::size_t bytes) {
        if (bytes > 0) backend.check_memory(name, data, bytes);
      });
  if (problem.rows() == 0 || problem.length == 0) return;
  backend.forward(problem, args, stream);
}

std::size_t Plan::backward_workspace_bytes(int64_t batch, int64_t heads) const {
  core::count_of(batch, "batch");
  core::count_of(heads, "heads");
  return impl_->backend().backward_workspace_bytes(batch, heads);
}

void Plan::backward(const BackwardArgs& args, Stream stream) const {
  const detail::BackendImpl& backend = impl_->backend();
  const core::BackwardProblem problem = core::validate_backward(
      args, impl_->factorization().size(),
      [&](int64_t h) { return backend.spectrum_bytes(h); },
      [&](int64_t b, int64_t h) { return backend.backward_workspace_bytes(b, h); },
      [&](const char* name, const void* data, std::size_t bytes) {
        if (bytes > 0) backend.check_memory(name, data, bytes);
      });
  if (problem.heads == 0) return;
  // Without rows or samples the (B, H, L) gradients are empty, but dk (a sum over nothing) is zero.
  if ((problem.batch == 0 || problem.length == 0) && !problem.want_dk) return;
  backend.backward(problem, args, stream);
}

}  // namespace ffc
