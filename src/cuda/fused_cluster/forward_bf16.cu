// Fused cluster forward kernels, bf16 I/O.
#include "cuda/fused_cluster/entries.cuh"

namespace ffc::cuda {
template <>
KernelEntry FusedCluster::forward_bf16(int n) { return fused_cluster::forward_entry<__nv_bfloat16, false>(n); }
}  // namespace ffc::cuda
