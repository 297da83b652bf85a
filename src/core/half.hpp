// Host conversions between float and the 16-bit storage types (IEEE binary16 and bfloat16), with
// round-to-nearest-even, NaN and infinity preserved. Used by the CPU backend and the tests; the
// CUDA backend uses the device intrinsics, which round the same way.
#pragma once

#include <cstdint>
#include <cstring>

namespace ffc::core {

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline float bf16_to_float(uint16_t h) { return bits_float(uint32_t{h} << 16); }

inline uint16_t float_to_bf16(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(u >> 16);
}

inline float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return bits_float(sign | 0x7f800000u | (mantissa << 13));  // inf / NaN
  if (exponent != 0) return bits_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
  if (mantissa == 0) return bits_float(sign);
  // Subnormal: value = mantissa * 2^-24.
  float value = static_cast<float>(mantissa) * 5.9604644775390625e-08f;
  return sign ? -value : value;
}

inline uint16_t float_to_half(float f) {
  const uint32_t u = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to infinity
  if (abs < 0x38800000u) {
    // Result is subnormal or zero: scale so that the half's ulp (2^-24) becomes 1, round RNE.
    const float scaled = bits_float(abs) * 16777216.0f;  // exact: power-of-two scaling
    // Round half to even on the integer part.
    uint32_t integer = static_cast<uint32_t>(scaled);
    const float fraction = scaled - static_cast<float>(integer);
    if (fraction > 0.5f || (fraction == 0.5f && (integer & 1u))) ++integer;
    return static_cast<uint16_t>(sign | integer);
  }
  // Normal: rebias the exponent and round the 23-bit mantissa to 10 bits (RNE).
  uint32_t rebased = abs - (112u << 23);
  rebased += 0xfffu + ((rebased >> 13) & 1u);
  return static_cast<uint16_t>(sign | (rebased >> 13));
}

}  // namespace ffc::core
