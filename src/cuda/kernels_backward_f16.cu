// Fused backward kernels with f16 I/O: split f16 operands, as the forward.
#include "cuda/kernels_backward.cuh"

namespace ffc::cuda {
KernelEntry backward_kernel_f16(int n, bool both_gates) {
  return backward_entry_for<__half, true>(n, both_gates);
}
}  // namespace ffc::cuda
