// Fused cluster forward kernels, f16 I/O.
#include "cuda/fused_cluster/entries.cuh"

namespace ffc::cuda {
template <>
KernelEntry FusedCluster::forward_f16(int n) { return fused_cluster::forward_entry<__half, true>(n); }
}  // namespace ffc::cuda
