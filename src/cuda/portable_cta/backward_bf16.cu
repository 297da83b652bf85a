// Portable single-CTA backward kernels, bf16 I/O: the fused_cta kernels built with sm_80 instructions.
#include "cuda/fused_cta/entries.cuh"

namespace ffc::cuda {
template <>
KernelEntry PortableCta::backward_bf16(int n, bool both_gates) { return fused_cta::backward_entry<__nv_bfloat16, false, kPortableArch>(n, both_gates); }
}  // namespace ffc::cuda
