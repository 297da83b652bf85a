// The four-step kernels that read or write f16 (entries.cuh).
#include "cuda/four_step/entries.cuh"

namespace ffc::cuda {

FourStepIoKernels four_step_io_kernels_f16(int n) { return four_step_io_entries<__half>(n); }

}  // namespace ffc::cuda
