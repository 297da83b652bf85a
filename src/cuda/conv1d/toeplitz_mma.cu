// The tensor-core depthwise correlation (toeplitz_mma.cuh) instantiated for f16 and bf16 calls, and
// the rule of the calls it takes.
#include "cuda/conv1d/toeplitz_mma.hpp"

#include "cuda/conv1d/toeplitz_mma.cuh"

namespace ffc::cuda::conv1d {

MmaDevice toeplitz_mma_device(int device) {
  MmaDevice d;
  check_cuda(cudaDeviceGetAttribute(&d.sm_count, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  check_cuda(cudaDeviceGetAttribute(&d.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
             "cudaDeviceGetAttribute");
  toeplitz::allow_shared_memory<__half, __half>(d.smem_optin);
  toeplitz::allow_shared_memory<__half, float>(d.smem_optin);
  toeplitz::allow_shared_memory<__nv_bfloat16, __nv_bfloat16>(d.smem_optin);
  toeplitz::allow_shared_memory<__nv_bfloat16, float>(d.smem_optin);
  return d;
}

bool toeplitz_mma_applies(const CorrelateParams& p, int dtype, const MmaDevice& device) {
  if (dtype != 1 && dtype != 2) return false;
  if (p.blh || p.in_f32) return false;
  if (p.kernel_size < toeplitz::kMinKernel || p.kernel_size > toeplitz::kMaxKernel) return false;
  if (p.channels_per_group < 1 || p.weight_dtype < 0 || p.weight_dtype > 2) return false;
  if (p.bias != nullptr && (p.bias_dtype < 0 || p.bias_dtype > 2)) return false;
  if (p.epilogue == Epilogue::kSiluGrad && p.dy == nullptr) return false;
  const toeplitz::Shape s = toeplitz::make_shape(p.kernel_size, p.offset);
  return toeplitz::shared_bytes(s.tiles) + 64 <= device.smem_optin;  // + the block's two static words
}

void toeplitz_mma_f16(const CorrelateParams& p, const MmaDevice& device, cudaStream_t stream) {
  if (p.out_f32) {
    toeplitz::launch_toeplitz_mma<__half, float>(p, device.sm_count, stream);
  } else {
    toeplitz::launch_toeplitz_mma<__half, __half>(p, device.sm_count, stream);
  }
}

void toeplitz_mma_bf16(const CorrelateParams& p, const MmaDevice& device, cudaStream_t stream) {
  if (p.out_f32) {
    toeplitz::launch_toeplitz_mma<__nv_bfloat16, float>(p, device.sm_count, stream);
  } else {
    toeplitz::launch_toeplitz_mma<__nv_bfloat16, __nv_bfloat16>(p, device.sm_count, stream);
  }
}

}  // namespace ffc::cuda::conv1d
