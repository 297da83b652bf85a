// FFC_CPU_ISA and the processor check behind the choice of stage loops (isa.hpp).
#include "cpu/isa.hpp"

#include <cstdlib>
#include <string>

#include "core/errors.hpp"

namespace ffc::cpu {
namespace {

constexpr const char* kRule = "rule: auto, baseline or avx2; avx2 needs a processor with AVX2 and FMA";

bool processor_has_avx2_fma() {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  // The runtime's CPUID check also requires the OS to save the YMM registers (XGETBV).
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

// Why avx2_available() is false.
std::string avx2_missing() {
  if (avx2::stage_kernels() == nullptr) return "this build has no AVX2 stage loops (x86 GCC / Clang only)";
  return "this processor lacks AVX2 or FMA";
}

}  // namespace

bool avx2_available() {
  static const bool available = avx2::stage_kernels() != nullptr && processor_has_avx2_fma();
  return available;
}

Isa isa_from_environment() {
  const char* env = std::getenv("FFC_CPU_ISA");
  const std::string value = env ? env : "";
  if (value.empty() || value == "auto") return avx2_available() ? Isa::kAvx2 : Isa::kBaseline;
  if (value == "baseline") return Isa::kBaseline;
  if (value != "avx2") core::throw_invalid("FFC_CPU_ISA: \"" + value + "\" (" + kRule + ")");
  if (!avx2_available()) {
    core::throw_error(Status::kNotSupported, "FFC_CPU_ISA: \"avx2\", but " + avx2_missing() + " (" + kRule + ")");
  }
  return Isa::kAvx2;
}

const StageKernels& stage_kernels(Isa isa) {
  if (isa != Isa::kAvx2) return *baseline::stage_kernels();
  if (!avx2_available()) {
    core::throw_error(Status::kNotSupported, "isa: avx2, but " + avx2_missing() + " (" + kRule + ")");
  }
  return *avx2::stage_kernels();
}

}  // namespace ffc::cpu
