// Fused cluster backward kernels, bf16 I/O.
#include "cuda/fused_cluster/entries.cuh"

namespace ffc::cuda::fused_cluster {
KernelEntry backward_bf16(int n, bool both_gates) { return backward_entry<__nv_bfloat16, false>(n, both_gates); }
}  // namespace ffc::cuda::fused_cluster
