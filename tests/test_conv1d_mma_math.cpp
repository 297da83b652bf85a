// The index and number rules of the tensor-core conv1d kernel (src/cuda/conv1d/toeplitz_mma_math.hpp),
// on the host: the aligned shape for every offset sign, the Toeplitz tiles covering each tap once,
// the weight scale and hi/lo split against their a priori bound, the swizzle and the epilogue's
// bank rules, and one warp tile emulated end to end (A fragments, ldmatrix rows, the MMA's fragment
// layouts as the PTX ISA defines them, the epilogue's staging) against the direct sum in double.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "cuda/conv1d/toeplitz_mma_math.hpp"

namespace ffc::cuda::conv1d::toeplitz {
namespace {

TEST(Conv1dMmaMath, ShapeAlignsEveryOffset) {
  for (int64_t K : {64, 127, 128, 129, 256, 1000, 1024}) {
    for (int64_t offset = -40; offset <= K + 40; ++offset) {
      const Shape s = make_shape(K, offset);
      EXPECT_EQ(s.offset_aligned % 8, 0) << offset;
      EXPECT_GE(s.pre, 0);
      EXPECT_LT(s.pre, 8);
      EXPECT_EQ(s.offset_aligned, offset + s.pre);
      EXPECT_EQ(s.taps, K + s.pre);
      // Fewest tiles: the last one holds a tap, one more would be empty.
      bool last_nonzero = false, beyond_zero = true;
      for (int r = 0; r < 16; ++r) {
        for (int i = 0; i < 16; ++i) {
          last_nonzero = last_nonzero || tile_tap(s, K, s.tiles - 1, r, i) >= 0;
          beyond_zero = beyond_zero && tile_tap(s, K, s.tiles, r, i) < 0;
        }
      }
      EXPECT_TRUE(last_nonzero) << "K " << K << " offset " << offset;
      EXPECT_TRUE(beyond_zero) << "K " << K << " offset " << offset;
    }
  }
  EXPECT_EQ(make_shape(128, 127).tiles, 9);  // causal K = 128: pre 1
  EXPECT_EQ(make_shape(128, 64).tiles, 9);   // symmetric: pre 0
  EXPECT_EQ(make_shape(1024, 1023).tiles, 65);  // pre 1
  EXPECT_EQ(make_shape(1024, 1017).tiles, 66);  // pre 7: the most tiles
}

// For every output row r, each tap j < K sits in exactly one (d, i), and the tiles reproduce
// y[t] = sum_j w[j] x[t + j - offset] with the aligned input origin.
TEST(Conv1dMmaMath, TilesCoverEachTapOnce) {
  for (int64_t K : {64, 127, 128, 256, 1024}) {
    for (int64_t offset : {K - 1, K / 2, int64_t{0}, int64_t{-3}, K + 5}) {
      const Shape s = make_shape(K, offset);
      for (int r = 0; r < 16; ++r) {
        std::vector<int> seen(static_cast<size_t>(K), 0);
        for (int d = 0; d < s.tiles; ++d) {
          for (int i = 0; i < 16; ++i) {
            const int64_t j = tile_tap(s, K, d, r, i);
            if (j < 0) continue;
            ++seen[static_cast<size_t>(j)];
            // The input tile d, row i reads (relative to the output t = 16 a + r): 16 d + i -
            // offset_aligned, which must be t + j - offset.
            EXPECT_EQ(16 * d + i - s.offset_aligned, r + j - offset);
          }
        }
        for (int64_t j = 0; j < K; ++j) EXPECT_EQ(seen[static_cast<size_t>(j)], 1) << "K " << K << " r " << r << " j " << j;
      }
    }
  }
}

TEST(Conv1dMmaMath, RoundToMatchesTheFormats) {
  EXPECT_EQ(round_to(1.0 + 0x1p-8, kBf16), 1.0);                  // tie to even
  EXPECT_EQ(round_to(1.0 + 3 * 0x1p-8, kBf16), 1.0 + 0x1p-6);     // tie to even, upwards
  EXPECT_EQ(round_to(1.0 + 0x1p-11, kF16), 1.0);
  EXPECT_EQ(round_to(0x1p-25, kF16), 0.0);                         // half the smallest subnormal: to even
  EXPECT_EQ(round_to(3 * 0x1p-26, kF16), 0x1p-24);
  EXPECT_EQ(round_to(0x1p-20 * 1.3, kF16), 21 * 0x1p-24);          // 20.8 in subnormal steps of 2^-24
  EXPECT_EQ(round_to(-0.1, kBf16), -0.10009765625);
  EXPECT_EQ(round_to(0x1p-133 * 1.4, kBf16), 0x1p-133);            // bf16 subnormal
}

TEST(Conv1dMmaMath, SplitWithinItsBound) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  for (Format f : {kBf16, kF16}) {
    for (double mag : {1e-30, 1e-6, 1e-3, 1.0, 1e4, 1e30}) {
      std::vector<float> w(512);
      float mx = 0;
      for (float& v : w) {
        v = static_cast<float>(normal(rng) * mag * std::exp(-4.0 * std::fabs(normal(rng))));  // decaying mix
        mx = std::fmax(mx, std::fabs(v));
      }
      const int E = scale_exponent(mx);
      EXPECT_GE(std::ldexp(mx, -E), 0.5);
      EXPECT_LT(std::ldexp(mx, -E), 1.0);
      for (float v : w) {
        const float ws = std::ldexp(v, -E);
        EXPECT_EQ(static_cast<double>(ws), std::ldexp(static_cast<double>(v), -E));  // exact scaling
        const Split s = split_tap(ws, f);
        EXPECT_EQ(round_to(s.hi, f), s.hi);
        EXPECT_EQ(round_to(s.lo, f), s.lo);
        const double r = std::fabs(static_cast<double>(ws) - s.hi - s.lo);
        EXPECT_LE(r, split_error_bound(std::fabs(ws), f)) << v;
        // Without the lo part the error would be u |ws| (the point of the split).
        EXPECT_LE(std::fabs(s.lo), std::ldexp(std::fabs(ws), -f.p) + std::ldexp(1.0, f.emin - f.p));
      }
    }
  }
  // 16-bit filters in their own format split exactly, lo = 0 (the kernel then skips the lo MMAs).
  const Split b = split_tap(std::ldexp(static_cast<float>(round_to(0.37, kBf16)), 1), kBf16);
  EXPECT_EQ(b.lo, 0.0f);
  EXPECT_EQ(scale_exponent(0.0f), 0);
}

TEST(Conv1dMmaMath, SwizzleAndBanks) {
  for (int tiles : {5, 9, 17, 66}) {
    const int units = (2 * staged_chunks(tiles) + 7) / 8 * 8;
    std::set<int> phys;
    for (int u = 0; u < units; ++u) phys.insert(swizzle_unit(u));
    EXPECT_EQ(static_cast<int>(phys.size()), units);
    EXPECT_LT(*phys.rbegin(), units);
    // The last B fragment of the window is inside the staged chunks.
    for (int lane = 0; lane < 32; ++lane) EXPECT_LT(b_unit(tiles - 1 + kNTiles - 1, lane), 2 * staged_chunks(tiles));
    EXPECT_GE(units * 8 * 2, kZFloats * 4);
  }
  // Each ldmatrix matrix: 8 rows on distinct 16-byte bank groups.
  for (int e = 0; e < 80; ++e) {
    for (int m = 0; m < 2; ++m) {
      std::set<int> groups;
      for (int row = 0; row < 8; ++row) groups.insert(swizzle_unit(b_unit(e, 8 * m + row)) % 8);
      EXPECT_EQ(groups.size(), 8u) << e;
    }
  }
  // Epilogue writes: for each (n tile, h) the 32 lanes hit 32 distinct banks.
  for (int nt = 0; nt < kNTiles; ++nt) {
    for (int h = 0; h < 2; ++h) {
      std::set<int> banks;
      for (int lane = 0; lane < 32; ++lane) banks.insert(z_index(c_chunk(nt, 2 * (lane % 4) + h), lane / 4) % 32);
      EXPECT_EQ(banks.size(), 32u);
    }
  }
  // z_index: distinct, 8 consecutive floats per chunk, 32-byte aligned, within kZFloats.
  std::set<int> all;
  for (int ch = 0; ch < kWarpChunks; ++ch) {
    EXPECT_EQ(z_index(ch, 0) % 8, 0);
    for (int r = 0; r < 8; ++r) all.insert(z_index(ch, r));
  }
  EXPECT_EQ(static_cast<int>(all.size()), kWarpChunks * 8);
  EXPECT_LT(*all.rbegin(), kZFloats);
}

TEST(Conv1dMmaMath, FragmentsCoverTheTile) {
  std::set<std::pair<int, int>> seen;
  for (int lane = 0; lane < 32; ++lane) {
    for (int e = 0; e < 8; ++e) seen.insert({a_row(lane, e), a_col(lane, e)});
  }
  EXPECT_EQ(seen.size(), 256u);
}

// One warp tile (1024 outputs) through the kernel's data flow, on the host, in double.
void emulate_tile(int64_t K, int64_t offset, int64_t len, int64_t out_len, int64_t t0, Format f, uint64_t seed) {
  SCOPED_TRACE("K " + std::to_string(K) + " offset " + std::to_string(offset) + " t0 " + std::to_string(t0));
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<double> x(static_cast<size_t>(len));
  for (double& v : x) v = round_to(normal(rng), f);
  std::vector<float> w(static_cast<size_t>(K));
  float mx = 0;
  for (float& v : w) {
    v = static_cast<float>(normal(rng) * 1e-3);
    mx = std::fmax(mx, std::fabs(v));
  }
  const Shape s = make_shape(K, offset);
  const int E = scale_exponent(mx);
  // A fragments: [d][hi / lo][lane][e].
  std::vector<double> afrag(static_cast<size_t>(s.tiles) * 2 * 32 * 8);
  for (int d = 0; d < s.tiles; ++d) {
    for (int lane = 0; lane < 32; ++lane) {
      for (int e = 0; e < 8; ++e) {
        const int64_t j = tile_tap(s, K, d, a_row(lane, e), a_col(lane, e));
        const Split sp = split_tap(j >= 0 ? std::ldexp(w[static_cast<size_t>(j)], -E) : 0.0f, f);
        afrag[((static_cast<size_t>(d) * 2 + 0) * 32 + lane) * 8 + e] = sp.hi;
        afrag[((static_cast<size_t>(d) * 2 + 1) * 32 + lane) * 8 + e] = sp.lo;
      }
    }
  }
  // Staging.
  const int64_t start = t0 - s.offset_aligned;
  ASSERT_EQ(((start % 8) + 8) % 8, 0);
  const int units = (2 * staged_chunks(s.tiles) + 7) / 8 * 8;
  std::vector<double> smem(static_cast<size_t>(units) * 8, std::nan(""));
  for (int i = 0; i < 16 * staged_chunks(s.tiles); ++i) {
    const int64_t pos = start + i;
    smem[static_cast<size_t>(staged_element(i))] = pos >= 0 && pos < len ? x[static_cast<size_t>(pos)] : 0.0;
  }
  // ldmatrix.x2 of chunk group e: thread l gets row l / 4, elements 2 (l % 4) + {0, 1} of matrices
  // 0 and 1, whose row rr's address lane 8 m + rr gives. B[k][n] of m16n8k16: b0,b1 = (k = 2 (l % 4)
  // + {0, 1}, n = l / 4), b2,b3 = k + 8.
  auto b_elem = [&](int e, int k, int n) {
    const int m = k / 8, rr = n, lane_addr = 8 * m + rr;
    return smem[static_cast<size_t>(swizzle_unit(b_unit(e, lane_addr)) * 8 + k % 8)];
  };
  // A[r][k] from the fragments; C[r][n] per n tile.
  std::vector<double> acc(static_cast<size_t>(kNTiles) * 16 * 8, 0.0);
  for (int d = 0; d < s.tiles; ++d) {
    double A[2][16][16];
    for (int hl = 0; hl < 2; ++hl) {
      for (int lane = 0; lane < 32; ++lane) {
        for (int e = 0; e < 8; ++e) A[hl][a_row(lane, e)][a_col(lane, e)] = afrag[((static_cast<size_t>(d) * 2 + hl) * 32 + lane) * 8 + e];
      }
    }
    for (int nt = 0; nt < kNTiles; ++nt) {
      for (int r = 0; r < 16; ++r) {
        for (int n = 0; n < 8; ++n) {
          double sum = 0;
          for (int k = 0; k < 16; ++k) {
            const double b = b_elem(d + nt, k, n);
            EXPECT_EQ(b, smem[static_cast<size_t>(staged_element(16 * b_chunk(d, nt, n) + k))]);
            sum += (A[0][r][k] + A[1][r][k]) * b;
          }
          acc[(static_cast<size_t>(nt) * 16 + r) * 8 + n] += sum;
        }
      }
    }
  }
  // Epilogue: lane (g, q) holds C[g + 8 pass][2 q + h] of each n tile -> z_index -> 8 outputs.
  for (int pass = 0; pass < 2; ++pass) {
    std::vector<double> zs(static_cast<size_t>(kZFloats), std::nan(""));
    for (int lane = 0; lane < 32; ++lane) {
      for (int nt = 0; nt < kNTiles; ++nt) {
        for (int h = 0; h < 2; ++h) {
          const int g = lane / 4, q = lane % 4, n = 2 * q + h;
          zs[static_cast<size_t>(z_index(c_chunk(nt, n), g))] = std::ldexp(acc[(static_cast<size_t>(nt) * 16 + g + 8 * pass) * 8 + n], E);
        }
      }
    }
    for (int ch = 0; ch < kWarpChunks; ++ch) {
      for (int e = 0; e < 8; ++e) {
        const int64_t t = t0 + 16 * ch + 8 * pass + e;
        if (t >= out_len) continue;
        double ref = 0, bound = 0;
        for (int64_t j = 0; j < K; ++j) {
          const int64_t p = t + j - offset;
          if (p < 0 || p >= len) continue;
          ref += static_cast<double>(w[static_cast<size_t>(j)]) * x[static_cast<size_t>(p)];
          bound += std::ldexp(split_error_bound(std::fabs(std::ldexp(w[static_cast<size_t>(j)], -E)), f), E) * std::fabs(x[static_cast<size_t>(p)]);
        }
        const double got = zs[static_cast<size_t>(z_index(ch, 0) + e)];
        ASSERT_LE(std::fabs(got - ref), bound + 1e-12 * std::fabs(ref)) << "t " << t;
      }
    }
  }
}

TEST(Conv1dMmaMath, WarpTileEmulation) {
  uint64_t seed = 1;
  for (Format f : {kBf16, kF16}) {
    for (int64_t K : {64, 127, 128, 256}) {
      const int64_t P = K / 2;
      emulate_tile(K, K - 1, 3000, 3000, 0, f, seed++);           // causal
      emulate_tile(K, K - 1, 3000, 3000, 2048, f, seed++);        // last, partial tile
      emulate_tile(K, P, 2500, 2500 + 2 * P - K + 1, 1024, f, seed++);  // symmetric padding
      emulate_tile(K, K - 1 - P, 2500 + 2 * P - K + 1, 2500, 0, f, seed++);  // its dx (flip aside)
      emulate_tile(K, -5, 2000, 1900, 0, f, seed++);              // negative offset (padding > K - 1's dx)
      emulate_tile(K, K - 1, 50, 50, 0, f, seed++);               // L < K
    }
  }
  emulate_tile(1024, 1023, 2100, 2100, 1024, kBf16, 99);
}

}  // namespace
}  // namespace ffc::cuda::conv1d::toeplitz
