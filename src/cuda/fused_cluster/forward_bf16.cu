// Fused cluster forward kernels, bf16 I/O.
#include "cuda/fused_cluster/entries.cuh"

namespace ffc::cuda::fused_cluster {
KernelEntry forward_bf16(int n) { return forward_entry<__nv_bfloat16, false>(n); }
}  // namespace ffc::cuda::fused_cluster
