// The instruction set of the CPU stage loops (fft_engine.hpp), chosen when a plan is made.
#include <cstdlib>
#include <string>

#include "core/errors.hpp"
#include "cpu/fft_engine.hpp"

namespace ffc::cpu {

namespace {

bool has_avx2() {
#if FFC_CPU_X86_ISA
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

}  // namespace

Isa cpu_isa() {
  const char* env = std::getenv("FFC_CPU_ISA");
  const std::string value = env ? env : "";
  if (value.empty() || value == "auto") return has_avx2() ? Isa::kAvx2 : Isa::kBaseline;
  if (value == "baseline") return Isa::kBaseline;
  if (value == "avx2") {
    if (!has_avx2()) core::throw_error(Status::kNotSupported, "FFC_CPU_ISA: \"avx2\", but this processor lacks AVX2 or FMA");
    return Isa::kAvx2;
  }
  core::throw_invalid("FFC_CPU_ISA: \"" + value + "\" (rule: auto, baseline or avx2)");
}

const char* to_string(Isa isa) { return isa == Isa::kAvx2 ? "avx2" : "baseline"; }

}  // namespace ffc::cpu
