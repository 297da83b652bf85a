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

}  // namespace ffc::cuda::conv1d
