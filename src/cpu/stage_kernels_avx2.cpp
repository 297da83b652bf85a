// The FFT stage loops for AVX2 + FMA (stage_kernels.hpp): CMakeLists.txt compiles this file with
// -mavx2 -mfma on x86 GCC / Clang; built without them (other compilers and processors) it has no
// kernels, and FFC_CPU_ISA=auto keeps the baseline.
#if defined(__AVX2__) && defined(__FMA__)

#define FFC_STAGE_KERNELS_NAMESPACE avx2
#include "cpu/stage_kernels_impl.hpp"

#else

#include "cpu/stage_kernels.hpp"

namespace ffc::cpu::avx2 {
const StageKernels* stage_kernels() { return nullptr; }
}  // namespace ffc::cpu::avx2

#endif
