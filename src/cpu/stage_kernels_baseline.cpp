// The FFT stage loops for the build's baseline instruction set (stage_kernels.hpp).
#define FFC_STAGE_KERNELS_NAMESPACE baseline
#include "cpu/stage_kernels_impl.hpp"
