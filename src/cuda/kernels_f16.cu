// Forward kernels with f16 I/O: split-precision register chains (error budget 5e-4).
#include "cuda/kernels_forward.cuh"

namespace ffc::cuda {
KernelEntry forward_kernel_f16(int n) { return forward_entry_for<__half, true>(n); }
}  // namespace ffc::cuda
