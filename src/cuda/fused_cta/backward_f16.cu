// Fused single-CTA backward kernels, f16 I/O: split f16 operands, as the forward.
#include "cuda/fused_cta/entries.cuh"

namespace ffc::cuda {
template <>
KernelEntry FusedCta::backward_f16(int n, bool both_gates) { return fused_cta::backward_entry<__half, true>(n, both_gates); }
}  // namespace ffc::cuda
