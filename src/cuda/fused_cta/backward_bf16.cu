// Fused single-CTA backward kernels, bf16 I/O.
#include "cuda/fused_cta/entries.cuh"

namespace ffc::cuda {
template <>
KernelEntry FusedCta::backward_bf16(int n, bool both_gates) { return fused_cta::backward_entry<__nv_bfloat16, false>(n, both_gates); }
}  // namespace ffc::cuda
