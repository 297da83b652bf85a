// The split N = RS x M that the fused CUDA kernels, their twiddle tables and their launch shapes
// follow, stated once. Up to N = 4096, RS is the small leading radix of the factorization
// (Factorization::table_radices: 2, 4 or 8 for the bits of N beyond a multiple of four, 1 when there
// are none) and M = N / RS a power of 16 (the tensor-core stages of one CTA). Above 4096, M = 4096
// and RS = N / 4096 (2 .. 16 for 8192 .. 65536): the radix-RS stage spans the CTAs of a cluster (or
// the blocks of the two-pass form), one 4096-point block each. Host and device code (constexpr).
#pragma once

#include <cstdint>

#include "core/host_device.hpp"

namespace ffc::core {

// log2 of a power of two n >= 1.
FFC_HOST_DEVICE constexpr int log2_of_power_of_two(int64_t n) {
  int bits = 0;
  while ((int64_t{1} << bits) < n) ++bits;
  return bits;
}

// The largest block M of the split.
inline constexpr int64_t kMaxMonarchBlock = 4096;

// RS: 1, 2, 4 or 8 up to N = 4096, N / 4096 above.
FFC_HOST_DEVICE constexpr int small_radix(int64_t n) {
  return n > kMaxMonarchBlock ? static_cast<int>(n / kMaxMonarchBlock) : 1 << (log2_of_power_of_two(n) % 4);
}

// M = N / RS: 16, 256 or 4096.
FFC_HOST_DEVICE constexpr int64_t monarch_block(int64_t n) { return n / small_radix(n); }

}  // namespace ffc::core
