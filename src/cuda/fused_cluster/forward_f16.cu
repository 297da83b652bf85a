// Fused cluster forward kernels, f16 I/O.
#include "cuda/fused_cluster/entries.cuh"

namespace ffc::cuda::fused_cluster {
KernelEntry forward_f16(int n) { return forward_entry<__half, true>(n); }
}  // namespace ffc::cuda::fused_cluster
