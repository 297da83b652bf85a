// The spectral kernels every CUDA algorithm shares: the f32 filter transform with its
// normalization (the spectrum layout the fused stages read), and the filter gradient's finish and
// output kernels over the partial dk spectra.
#pragma once

#include <cuda_runtime.h>

#include "cuda/kernel_entry.hpp"
#include "cuda/params.hpp"
#include "ffc/ffc.hpp"

namespace ffc::cuda {

// f32 filter transform for FFT size n and filter dtype.
KernelEntry filter_kernel(int n, DType filter_dtype);
// The spectrum normalization that follows the filter transform (one kernel for every size).
KernelEntry normalize_kernel();
// The filter-gradient kernels of size n: which = 0 finish (sum of the partials, inverse block
// transforms), 1 output (inverse radix-RS stage, dk).
KernelEntry dk_kernels(int n, int which);

// The filter transform of the sizes up to 32768 (filter_kernel.cuh): the transform, then the
// normalization, on `s` (p.spectrum_max zeroed before).
void launch_filter_transform(int n, const FilterParams& p, DType filter_dtype, int sm_count, cudaStream_t s);
// The normalization alone (any size): K / (4 kSigma max|K|) per head of n values.
void launch_spectrum_normalize(int n, const FilterParams& p, int sm_count, cudaStream_t s);

// Sums the partial dk spectra `partial` ([heads][groups][N], block-major positions) in group order
// and transforms them back into dk (heads, dk_length) on `s` (the finish and output kernels).
void launch_dk_finish(int n, int64_t heads, int groups, float2* partial, float* dk, int64_t dk_length,
                      const float2* twiddles, int sm_count, cudaStream_t s);

}  // namespace ffc::cuda
