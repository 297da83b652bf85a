// The split N = RS x M that the CUDA kernels, their twiddle tables and their launch shapes follow,
// stated once: RS is the small leading radix of the factorization (Factorization::table_radices:
// 2, 4 or 8 for the bits of N beyond a multiple of four, 1 when there are none) and M = N / RS is a
// power of 16 (the tensor-core stages). Host and device code (constexpr).
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

// RS: 1, 2, 4 or 8.
FFC_HOST_DEVICE constexpr int small_radix(int64_t n) { return 1 << (log2_of_power_of_two(n) % 4); }

// M = N / RS: 16, 256, 4096, ...
FFC_HOST_DEVICE constexpr int64_t monarch_block(int64_t n) { return n / small_radix(n); }

}  // namespace ffc::core
