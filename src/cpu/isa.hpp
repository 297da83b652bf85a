// The instruction set of the CPU backend's FFT stage loops (stage_kernels.hpp), chosen once when a
// plan is made: FFC_CPU_ISA = auto (default: AVX2 + FMA where the processor and the build have it,
// else baseline), baseline, or avx2 (an error where unavailable).
#pragma once

#include "cpu/stage_kernels.hpp"

namespace ffc::cpu {

enum class Isa { kBaseline, kAvx2 };

// Whether this build has the AVX2 + FMA loops and the processor (and OS) runs them.
bool avx2_available();

// FFC_CPU_ISA resolved: throws InvalidArgument for an unknown value, NotSupported for avx2 where
// avx2_available() is false; both messages name the variable, the value and the rule.
Isa isa_from_environment();

// The stage loops of `isa`; throws NotSupported for kAvx2 where avx2_available() is false.
const StageKernels& stage_kernels(Isa isa);

}  // namespace ffc::cpu
