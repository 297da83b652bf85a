// Checked size arithmetic: every product or sum of sizes a caller controls (B, H, L, heads) is
// checked against the largest byte count the library accepts, 2^63 - 1 (a signed 64-bit offset), and
// an overflow is an error naming what was being sized, never a wrapped value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/errors.hpp"

namespace ffc::core {

inline constexpr uint64_t kMaxSize = static_cast<uint64_t>(INT64_MAX);

// a * b for a, b <= kMaxSize, or throws kInvalidArgument: "<what>: <a> x <b> exceeds 2^63 - 1 ...".
inline uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& what) {
  uint64_t r = 0;
  if (a > kMaxSize || b > kMaxSize || __builtin_mul_overflow(a, b, &r) || r > kMaxSize) {
    throw_invalid(what + ": " + std::to_string(a) + " x " + std::to_string(b) +
                  " exceeds 2^63 - 1 (rule: sizes and byte counts fit in a signed 64-bit integer)");
  }
  return r;
}

inline uint64_t checked_add(uint64_t a, uint64_t b, const std::string& what) {
  if (a > kMaxSize || b > kMaxSize - a) {
    throw_invalid(what + ": " + std::to_string(a) + " + " + std::to_string(b) +
                  " exceeds 2^63 - 1 (rule: sizes and byte counts fit in a signed 64-bit integer)");
  }
  return a + b;
}

// A count the caller passed (heads, batch) as a size, or throws when negative.
inline uint64_t count_of(int64_t v, const char* name) {
  if (v < 0) throw_invalid(std::string(name) + ": " + std::to_string(v) + " is negative");
  return static_cast<uint64_t>(v);
}

}  // namespace ffc::core
