// Fused cluster backward kernels, f16 I/O.
#include "cuda/fused_cluster/entries.cuh"

namespace ffc::cuda {
template <>
KernelEntry FusedCluster::backward_f16(int n, bool both_gates) { return fused_cluster::backward_entry<__half, true>(n, both_gates); }
}  // namespace ffc::cuda
