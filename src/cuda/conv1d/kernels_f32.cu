// The conv1d kernels for f32 calls (x, y, dy, dx in f32): kernels.cuh and backward_fused.cuh instantiated for float.
#include "cuda/conv1d/backward_fused.cuh"

namespace ffc::cuda::conv1d {

void correlate_f32(const CorrelateParams& p, cudaStream_t stream) { correlate_for<float>(p, stream); }

void dw_partials_f32(const DwParams& p, cudaStream_t stream) { dw_partials_for<float>(p, stream); }

void fused_backward_f32(const FusedBackwardParams& p, cudaStream_t stream) { fused_backward_for<float>(p, stream); }

}  // namespace ffc::cuda::conv1d
