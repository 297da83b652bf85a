// Two-pass kernels, bf16 I/O.
#include "cuda/portable_blocks/entries.cuh"

namespace ffc::cuda {
BlocksKernels blocks_kernels_bf16(int n) { return blocks_entries<__nv_bfloat16>(n); }
}  // namespace ffc::cuda
