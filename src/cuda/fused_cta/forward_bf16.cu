// Fused single-CTA forward kernels, bf16 I/O: plain f16 operands (the bf16 output rounding dominates).
#include "cuda/fused_cta/entries.cuh"

namespace ffc::cuda {
template <>
KernelEntry FusedCta::forward_bf16(int n) { return fused_cta::forward_entry<__nv_bfloat16, false>(n); }
}  // namespace ffc::cuda
