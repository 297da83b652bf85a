// The kernel registry: which compiled kernel runs a given FFT size and dtype, with its launch shape.
// Host code (cuda_backend.cpp) only sees these descriptors; the kernels live in kernels_*.cu.
#pragma once

#include <cstddef>

#include "ffc/ffc.hpp"

namespace ffc::cuda {

struct KernelEntry {
  const void* function = nullptr;  // __global__ function (nullptr: not instantiated)
  int threads = 0;
  std::size_t smem_bytes = 0;      // dynamic shared memory
  int cluster = 1;                 // CTAs per cluster (compile-time __cluster_dims__)
  int pairs_per_iteration = 1;     // batch pairs a CTA (or cluster) takes per loop iteration
};

// Fused forward kernel for FFT size n and I/O dtype (f16: split precision, bf16: plain).
KernelEntry forward_kernel(int n, DType dtype);
// Dynamic shared memory of the single-CTA forward kernel (n <= 4096) for a gate combination.
std::size_t forward_smem_bytes(int n, bool pregate, bool postgate);
// Fused backward kernel for FFT size n and I/O dtype; `both_gates`: the launch has a pregate and a
// postgate (eight staged rows per pair: at N = 2048 a wider CTA with double-buffered staging).
KernelEntry backward_kernel(int n, DType dtype, bool both_gates);
// f32 filter transform for FFT size n and filter dtype.
KernelEntry filter_kernel(int n, DType filter_dtype);
// The spectrum normalization that follows the filter transform (one kernel for every size).
KernelEntry normalize_kernel();
// The filter-gradient kernels of size n: which = 0 finish (sum of the partials, inverse block
// transforms), 1 output (inverse radix-RS stage, dk).
KernelEntry dk_kernels(int n, int which);
// Small radix of size n (CTAs per head of the filter transform).
int small_radix(int n);

}  // namespace ffc::cuda
