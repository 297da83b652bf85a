// Shared-memory layout math of the CUDA kernels, host and device code (no CUDA dependency), so the
// host tests (tests/test_cuda_layout.cpp, run on CI without a GPU) check every function over its
// whole domain.
//
// Staged rows of 16-bit values are stored in 16-byte chunks whose order is XOR-swizzled: chunk c of
// a row goes to chunk c ^ ((c / 32) % 8) ^ ((c / 8) % 2). The swizzle only permutes the low three
// bits of c (from bits that it leaves alone), so it is a bijection on every aligned group of 8
// chunks, keeps each value's place inside its chunk, and spreads the accesses the kernels make
// (8 consecutive chunks; 8 chunks 32 apart, i.e. rows of a 16 x 16 tile 256 elements apart; 8
// chunks 2 apart, rows 16 elements apart) over 8 distinct chunk slots of 128 bytes: all 32 banks.
#pragma once

#include <cstdint>

#include "core/host_device.hpp"

namespace ffc::cuda {

// Physical chunk of logical chunk c.
FFC_HOST_DEVICE constexpr int swizzled_chunk(int c) { return c ^ (((c >> 5) & 7) ^ ((c >> 3) & 1)); }

// Byte offset of 16-bit element n within a swizzled row.
FFC_HOST_DEVICE constexpr uint32_t swizzled(int n) {
  return static_cast<uint32_t>(swizzled_chunk(n >> 3) * 16 + (n & 7) * 2);
}

// Byte offset of chunk 32 j + lane of a row, with lane_part = lane ^ ((lane / 8) % 2): for c = 32 j +
// lane the swizzle is 32 j + (lane ^ ((lane / 8) % 2) ^ (j % 8)).
FFC_HOST_DEVICE constexpr uint32_t row_chunk_offset(int j, int lane_part) {
  return static_cast<uint32_t>((32 * j + (lane_part ^ (j & 7))) * 16);
}

// Index (float2 units, within one head) of spectrum position P (block-major, digit-reversed within
// its block: the order the forward transforms leave) in the filter spectrum's fragment order: row
// P / 256 of 16 x 16 tiles, then the lane and slot that hold it in an mma.m16n8k16 C tile (slot j
// of a lane: rows lane / 4 and + 8, columns 2 (lane % 4) + {0, 1} of n8 tiles 0 and 1).
FFC_HOST_DEVICE constexpr int spectrum_index(int position) {
  const int row = position >> 8, w = position & 255;
  const int r16 = w >> 4, col = w & 15;
  const int lane = 4 * (r16 & 7) + ((col & 7) >> 1);
  const int slot = 4 * (col >> 3) + (col & 1) + 2 * (r16 >> 3);
  return (row * 32 + lane) * 8 + slot;
}

// The cluster kernels' postgate staging: output (f', a, m_local) of a CTA with wm output columns
// sits at element f' 16 wm + a wm + m_local of its row (4096 elements), swizzled.
FFC_HOST_DEVICE constexpr uint32_t post_offset(int wm, int row, int f, int a, int ml) {
  return static_cast<uint32_t>(row * 4096 * 2) + swizzled(f * 16 * wm + a * wm + ml);
}

// post_offset(wm, row, f, a, ml) from base0 = post_offset(wm, row, 0, a, ml), with kK = 2 wm: block
// f adds kK chunks, which adds (f kK / 32) % 8 to the swizzle's (c / 32) % 8 term with no carry (kK
// / 32 is a power of two and f = 0's chunk is below kK) and leaves its (c / 8) % 2 term; so chunk
// f kK + c0 lands at f kK + (swizzled c0 ^ (f kK / 32) % 8).
template <int kK>
FFC_HOST_DEVICE constexpr uint32_t post_offset_block(uint32_t base0, int f) {
  static_assert(kK % 32 == 0 && (kK & (kK - 1)) == 0, "blocks of whole, power-of-two 32-chunk groups");
  return static_cast<uint32_t>(f * kK * 16) + (base0 ^ (static_cast<uint32_t>(((f * kK) >> 5) & 7) << 4));
}

}  // namespace ffc::cuda
