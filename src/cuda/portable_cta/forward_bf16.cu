// Portable single-CTA forward kernels, bf16 I/O: the fused_cta kernels built with sm_80 instructions.
#include "cuda/fused_cta/entries.cuh"

namespace ffc::cuda {
template <>
KernelEntry PortableCta::forward_bf16(int n) { return fused_cta::forward_entry<__nv_bfloat16, false, kPortableArch>(n); }
}  // namespace ffc::cuda
