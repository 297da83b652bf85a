// Fused backward kernels with bf16 I/O: plain f16 operands, as the forward.
#include "cuda/kernels_backward.cuh"

namespace ffc::cuda {
KernelEntry backward_kernel_bf16(int n, bool both_gates) {
  return backward_entry_for<__nv_bfloat16, false>(n, both_gates);
}
}  // namespace ffc::cuda
