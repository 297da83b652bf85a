// The conv1d kernels for f16 calls (x, y, dy, dx in f16): kernels.cuh and backward_fused.cuh instantiated for __half.
#include "cuda/conv1d/backward_fused.cuh"

namespace ffc::cuda::conv1d {

void correlate_f16(const CorrelateParams& p, cudaStream_t stream) { correlate_for<__half>(p, stream); }

void dw_partials_f16(const DwParams& p, cudaStream_t stream) { dw_partials_for<__half>(p, stream); }

void fused_backward_f16(const FusedBackwardParams& p, cudaStream_t stream) { fused_backward_for<__half>(p, stream); }

}  // namespace ffc::cuda::conv1d
