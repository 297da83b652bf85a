// prepare_kernel (kernel_entry.hpp).
#include <cuda_runtime.h>

#include <string>

#include "core/errors.hpp"
#include "cuda/check.hpp"
#include "cuda/kernel_entry.hpp"

namespace ffc::cuda {

void prepare_kernel(const KernelEntry& e, const char* algorithm, int n, int device) {
  cudaFuncAttributes attr{};
  const cudaError_t status = e.function ? cudaFuncGetAttributes(&attr, e.function) : cudaErrorInvalidDeviceFunction;
  if (status != cudaSuccess) {
    cudaGetLastError();
    core::throw_error(Status::kNotSupported, std::string("device: the ") + algorithm + " kernels of size " +
                                                 std::to_string(n) + " are not in this build for CUDA device " +
                                                 std::to_string(device) + " (" + cudaGetErrorName(status) + ")");
  }
  check_cuda(cudaFuncSetAttribute(e.function, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(e.smem_bytes)),
             "cudaFuncSetAttribute");
  if (e.cluster > kMaxPortableCluster) {
    check_cuda(cudaFuncSetAttribute(e.function, cudaFuncAttributeNonPortableClusterSizeAllowed, 1),
               "cudaFuncSetAttribute (non-portable cluster size)");
  }
}

}  // namespace ffc::cuda
