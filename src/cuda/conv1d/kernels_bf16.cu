// The conv1d kernels for bf16 calls (x, y, dy, dx in bf16): kernels.cuh instantiated for __nv_bfloat16.
#include "cuda/conv1d/kernels.cuh"

namespace ffc::cuda::conv1d {

void correlate_bf16(const CorrelateParams& p, cudaStream_t stream) { correlate_for<__nv_bfloat16>(p, stream); }

void dw_partials_bf16(const DwParams& p, cudaStream_t stream) { dw_partials_for<__nv_bfloat16>(p, stream); }

}  // namespace ffc::cuda::conv1d
