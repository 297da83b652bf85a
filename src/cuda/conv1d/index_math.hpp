// Integer helpers of the conv1d index rules, shared by the kernels, their launchers and the host
// tests (plain C++; __host__ __device__ under nvcc).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define FFC_CONV1D_HD __host__ __device__
#else
#define FFC_CONV1D_HD
#endif

namespace ffc::cuda::conv1d {

// Floor of a / b for b > 0 and any sign of a.
FFC_CONV1D_HD inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace ffc::cuda::conv1d
