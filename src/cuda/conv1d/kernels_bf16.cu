// The conv1d kernels for bf16 calls (x, y, dy, dx in bf16): kernels.cuh and backward_fused.cuh instantiated for __nv_bfloat16.
#include "cuda/conv1d/backward_fused.cuh"

namespace ffc::cuda::conv1d {

void correlate_bf16(const CorrelateParams& p, cudaStream_t stream) { correlate_for<__nv_bfloat16>(p, stream); }

void dw_partials_bf16(const DwParams& p, cudaStream_t stream) { dw_partials_for<__nv_bfloat16>(p, stream); }

void fused_backward_bf16(const FusedBackwardParams& p, cudaStream_t stream) { fused_backward_for<__nv_bfloat16>(p, stream); }

}  // namespace ffc::cuda::conv1d
