// The FFT stage loops of FftEngine (fft_engine.hpp), built once per instruction set.
//
// stage_kernels_impl.hpp holds the loops as templates. stage_kernels_baseline.cpp compiles them for
// the build's baseline ISA in namespace ffc::cpu::baseline; stage_kernels_avx2.cpp compiles them
// again with -mavx2 -mfma (CMakeLists.txt, x86 GCC / Clang only) in namespace ffc::cpu::avx2. Each
// copy is reached only through its table of function pointers below, and isa.cpp hands out the
// AVX2 table only on a processor with AVX2 and FMA, so no AVX2 instruction runs elsewhere. The two
// copies share no out-of-line code: the loops live in an unnamed namespace inside their ISA's
// namespace and use no library templates (an inline std:: function compiled with -mavx2 could be
// the copy the linker keeps for the baseline code too).
//
// This header only declares types and the two tables, so the AVX2 file includes nothing that
// could emit code outside its namespace.
#pragma once

#include <cstdint>

namespace ffc::cpu {

inline constexpr int kStageLanes = 16;  // columns per group: one 64-byte line of floats per row
inline constexpr int kMaxStageRadix = 64;

// One stage as the loops see it: the plan's sizes and plain pointers into FftEngine's tables.
template <typename T>
struct StageView {
  int64_t size = 0;  // N
  int radix = 0;
  int64_t span = 0;
  int64_t stride = 0;
  bool power_of_two = false;
  const int* bit_reversed = nullptr;  // codelet output slot of frequency f (power-of-two radix)
  const T* codelet_re = nullptr;      // w_r^j, j < r: codelet twiddles / direct DFT matrix row
  const T* codelet_im = nullptr;
  const T* tw_re = nullptr;  // w_span^{f m}, [f][m], f < r, m < stride
  const T* tw_im = nullptr;
};

// Runs column groups [begin, end) of one stage, in place on the split planes (re, im).
template <typename T>
using StageFn = void (*)(const StageView<T>& stage, bool inverse, T* re, T* im, int64_t begin, int64_t end);

struct StageKernels {
  StageFn<float> f32;
  StageFn<double> f64;
};

namespace baseline {
const StageKernels* stage_kernels();
}
namespace avx2 {
const StageKernels* stage_kernels();  // null when this build has no AVX2 copy
}

}  // namespace ffc::cpu
