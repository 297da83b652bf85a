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

// Whether q is 16-byte aligned (a 16-byte vector load or store may use it).
FFC_CONV1D_HD inline bool aligned16(const void* q) { return (reinterpret_cast<uintptr_t>(q) & 15u) == 0; }

// Floor of a / b for b > 0 and any sign of a.
FFC_CONV1D_HD inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// An element offset as whole vectors of V elements plus a remainder: offset = V vectors + shift,
// 0 <= shift < V. The direct kernels read the window starting at element 8 v + offset of a row as
// the aligned vectors v + vectors, v + vectors + 1, ... and start at value `shift` of the first.
struct VectorSplit {
  int64_t vectors;
  int shift;
};
FFC_CONV1D_HD inline VectorSplit split_vectors(int64_t offset, int64_t V) {
  const int64_t vectors = floor_div(offset, V);
  return {vectors, static_cast<int>(offset - V * vectors)};
}

}  // namespace ffc::cuda::conv1d
