// Fused single-CTA forward kernels, f16 I/O: split-precision register chains (error budget 5e-4).
#include "cuda/fused_cta/entries.cuh"

namespace ffc::cuda {
template <>
KernelEntry FusedCta::forward_f16(int n) { return fused_cta::forward_entry<__half, true>(n); }
}  // namespace ffc::cuda
