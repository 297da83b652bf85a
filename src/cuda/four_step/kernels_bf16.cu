// The four-step kernels that read or write bf16 (entries.cuh).
#include "cuda/four_step/entries.cuh"

namespace ffc::cuda {

FourStepIoKernels four_step_io_kernels_bf16(int n) { return four_step_io_entries<__nv_bfloat16>(n); }

}  // namespace ffc::cuda
