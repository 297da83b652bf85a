// The tensor-core depthwise correlation for medium kernel sizes (K = 64 ... 1024), layout (B, H, L),
// 16-bit inputs: entry points for the conv1d backend (plain C++; kernel in toeplitz_mma.cuh).
//
// It computes exactly what correlate_f16 / correlate_bf16 compute for the parameters it accepts
// (CorrelateParams in launch.hpp), with the filter split into two 16-bit parts on tensor cores
// (fp32 accumulation): see toeplitz_mma_math.hpp for the arithmetic and docs/design.md for its
// error bound.
#pragma once

#include <cuda_runtime.h>

#include "cuda/conv1d/launch.hpp"

namespace ffc::cuda::conv1d {

// What the launches need of a device, read once (at plan creation): its SM count and the shared
// memory a block may opt into; the query also raises the kernels' dynamic shared-memory limit to
// that opt-in on the device, so calls make no device queries or attribute changes.
struct MmaDevice {
  int sm_count = 1;
  int smem_optin = 0;
};
MmaDevice toeplitz_mma_device(int device);

// Whether the tensor-core kernel accepts the call: dtype (ffc::DType code of the call) 1 (f16) or
// 2 (bf16), layout BHL, In of the call's dtype (not f32), 64 <= K <= 1024, and the shared memory it
// needs within the device's opt-in. Any offset, flip, bias, epilogue, out_f32, groups, lengths and
// alignment (unaligned rows take scalar loads / stores).
bool toeplitz_mma_applies(const CorrelateParams& p, int dtype, const MmaDevice& device);

// Launch on `stream` (asynchronous) on the device `device` describes (the current one). Throws
// ffc::Error(kNotSupported) for a grid beyond 2^31 - 1 blocks or H beyond 2^31 - 1, kCudaError for
// a failed launch.
void toeplitz_mma_f16(const CorrelateParams& p, const MmaDevice& device, cudaStream_t stream);
void toeplitz_mma_bf16(const CorrelateParams& p, const MmaDevice& device, cudaStream_t stream);

}  // namespace ffc::cuda::conv1d
