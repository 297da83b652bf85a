// Where the blocks of the fused conv1d backward work (plain C++, host-tested in
// tests/test_cuda_layout.cpp). The backward's two sums share one pass over dz:
//
//   dx[s]      = sum_{j < K} w[K - 1 - j] dz[s + j - D],   D = K - 1 - P (the dx offset, any sign)
//   dweight[j] = sum_t dz[t] x[t + j - P],                 t in [0, out_length)
//
// Tile i (of `tile` positions) writes dx[i tile, (i + 1) tile) and owns the dz entries
// t in [i tile - D, (i + 1) tile - D), whose dweight terms need x[i tile - (K - 1), (i + 1) tile).
// Tiles tile_lo .. tile_lo + tiles - 1 cover both ranges; a block (a row of the layout, part) walks
// tiles_per_part consecutive tiles and leaves one partial sum per tap.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "cuda/conv1d/index_math.hpp"

namespace ffc::cuda::conv1d {

struct FusedLayout {
  int64_t tile = 1;                 // positions per tile
  int64_t tile_lo = 0, tiles = 0;   // the first tile (<= 0) and the count
  int64_t tiles_per_part = 1;       // tiles one block walks
  int64_t parts_per_row = 1;        // blocks per row of the layout
};

// rows: the layout's independent rows (B H for (B, H, L); B times the channel tiles for (B, L, H)).
// target_blocks: the grid size to reach by splitting rows into parts (more parts, more partials).
inline FusedLayout fused_layout(int64_t rows, int64_t length, int64_t out_length, int64_t dx_offset, int64_t tile,
                                int64_t target_blocks) {
  FusedLayout f;
  f.tile = tile;
  const int64_t dx_tiles = (length + tile - 1) / tile;
  const int64_t first_dz = floor_div(dx_offset, tile);                       // tile holding t = 0
  const int64_t last_dz = out_length > 0 ? floor_div(out_length - 1 + dx_offset, tile) : -1;
  f.tile_lo = std::min<int64_t>(0, first_dz);
  f.tiles = std::max<int64_t>(dx_tiles, last_dz + 1) - f.tile_lo;
  if (f.tiles <= 0 || rows <= 0) {
    f.tiles = std::max<int64_t>(f.tiles, 0);
    return f;
  }
  const int64_t want = std::clamp<int64_t>((target_blocks + rows - 1) / rows, 1, f.tiles);
  f.tiles_per_part = (f.tiles + want - 1) / want;
  f.parts_per_row = (f.tiles + f.tiles_per_part - 1) / f.tiles_per_part;
  return f;
}

// The direct BHL kernels (direct_bhl.cuh, direct_backward.cuh) serve the calls they apply to;
// FFC_CONV1D_DIRECT=0 turns them off (the staged kernels then serve: for A/B measurements).
inline bool direct_kernels_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("FFC_CONV1D_DIRECT");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return on;
}

// The direct fused backward (direct_backward.cuh): 16-bit BHL rows (dz in the call's dtype, no SiLU),
// K <= 8 (above, its registers cost more occupancy than the staged fused kernel's: benchmarks.md,
// run 21), lengths multiples of 8, 16-byte aligned rows. A block serves `tile` positions of a row
// and leaves one partial sum per tap (a part per tile).
constexpr int kDirectBackwardMaxTaps = 8;
struct DirectBackwardCall {
  bool blh = false, dz_f32 = false;
  int element_bytes = 0;
  int64_t kernel_size = 0, length = 0, out_length = 0;
  const void* dz = nullptr;
  const void* x = nullptr;
  const void* dx = nullptr;  // null: dx not wanted
};
inline bool direct_backward_applies(const DirectBackwardCall& p) {
  return !p.blh && !p.dz_f32 && p.element_bytes == 2 && p.kernel_size <= kDirectBackwardMaxTaps && p.length % 8 == 0 &&
         p.out_length % 8 == 0 && aligned16(p.dz) && aligned16(p.x) && (p.dx == nullptr || aligned16(p.dx));
}
constexpr int64_t kDirectBackwardTile = 8192;  // 256 threads x 4 vectors x 8 positions
inline FusedLayout direct_backward_layout(int64_t length, int64_t out_length) {
  FusedLayout f;
  f.tile = kDirectBackwardTile;
  f.tiles = (std::max(length, out_length) + f.tile - 1) / f.tile;
  f.parts_per_row = std::max<int64_t>(f.tiles, 1);
  return f;
}

}  // namespace ffc::cuda::conv1d
