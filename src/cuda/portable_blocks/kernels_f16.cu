// Two-pass kernels, f16 I/O.
#include "cuda/portable_blocks/entries.cuh"

namespace ffc::cuda {
BlocksKernels blocks_kernels_f16(int n) { return blocks_entries<__half>(n); }
}  // namespace ffc::cuda
