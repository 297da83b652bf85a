// Fused single-CTA backward kernels, bf16 I/O.
#include "cuda/fused_cta/entries.cuh"

namespace ffc::cuda::fused_cta {
KernelEntry backward_bf16(int n, bool both_gates) { return backward_entry<__nv_bfloat16, false>(n, both_gates); }
}  // namespace ffc::cuda::fused_cta
