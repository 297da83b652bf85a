// Fused cluster backward kernels, f16 I/O.
#include "cuda/fused_cluster/entries.cuh"

namespace ffc::cuda::fused_cluster {
KernelEntry backward_f16(int n, bool both_gates) { return backward_entry<__half, true>(n, both_gates); }
}  // namespace ffc::cuda::fused_cluster
