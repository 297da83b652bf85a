// Forward kernels with bf16 I/O: plain f16 operands (the bf16 output rounding dominates the error).
#include "cuda/kernels_forward.cuh"

namespace ffc::cuda {
KernelEntry forward_kernel_bf16(int n) { return forward_entry_for<__nv_bfloat16, false>(n); }
}  // namespace ffc::cuda
