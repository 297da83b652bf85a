// Fused cluster backward kernels, bf16 I/O.
#include "cuda/fused_cluster/entries.cuh"

namespace ffc::cuda {
template <>
KernelEntry FusedCluster::backward_bf16(int n, bool both_gates) { return fused_cluster::backward_entry<__nv_bfloat16, false>(n, both_gates); }
}  // namespace ffc::cuda
