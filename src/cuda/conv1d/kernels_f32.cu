// The conv1d kernels for f32 calls (x, y, dy, dx in f32): kernels.cuh instantiated for float.
#include "cuda/conv1d/kernels.cuh"

namespace ffc::cuda::conv1d {

void correlate_f32(const CorrelateParams& p, cudaStream_t stream) { correlate_for<float>(p, stream); }

void dw_partials_f32(const DwParams& p, cudaStream_t stream) { dw_partials_for<float>(p, stream); }

}  // namespace ffc::cuda::conv1d
