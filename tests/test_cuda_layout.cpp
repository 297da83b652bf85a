// The CUDA kernels' shared-memory layout math (src/cuda/layout.hpp), on the host: every function
// over its whole domain against plain formulas and the properties the kernels rely on. Runs on CI,
// where the kernels themselves are only compiled.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "core/factorization.hpp"
#include "core/monarch_split.hpp"
#include "cuda/layout.hpp"
#include "cuda/sizes.hpp"

namespace ffc::cuda {
namespace {

constexpr int kRowElements = 4096;  // the longest staged row (16-bit elements)
constexpr int kRowChunks = kRowElements / 8;

// The swizzle written out bit by bit: the low three bits of the chunk index XOR bits 5..7 and bit 3.
int plain_swizzle(int c) {
  const int low = c % 8, group = (c / 32) % 8, half = (c / 8) % 2;
  return c - low + (low ^ group ^ half);
}

TEST(CudaLayout, SwizzleMatchesItsFormulaAndKeepsElementsInTheirChunk) {
  for (int n = 0; n < kRowElements; ++n) {
    const uint32_t at = swizzled(n);
    ASSERT_EQ(at / 16, static_cast<uint32_t>(plain_swizzle(n / 8))) << n;
    ASSERT_EQ(at % 16, static_cast<uint32_t>(2 * (n % 8))) << n;
  }
}

TEST(CudaLayout, SwizzleIsABijectionOnEveryGroupOfEightChunks) {
  std::set<uint32_t> all;
  for (int c = 0; c < kRowChunks; ++c) {
    const int p = swizzled_chunk(c);
    ASSERT_EQ(p / 8, c / 8) << c;  // stays in its group of 8 (128 bytes)
    all.insert(static_cast<uint32_t>(p));
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kRowChunks));
}

// 8 accesses of 16 bytes (a quarter warp's worth of a 128-byte transaction) touch every bank once
// when their physical chunks are distinct modulo 8.
bool conflict_free(const std::vector<int>& chunks) {
  std::set<int> slots;
  for (int c : chunks) slots.insert(swizzled_chunk(c) % 8);
  return slots.size() == chunks.size();
}

TEST(CudaLayout, KernelAccessPatternsAreConflictFree) {
  for (int start = 0; start < kRowChunks; ++start) {
    for (int stride : {1, 2, 32}) {  // consecutive chunks; tile rows 16 and 256 elements apart
      std::vector<int> chunks;
      for (int i = 0; i < 8; ++i) chunks.push_back((start + i * stride) % kRowChunks);
      // Only aligned runs are accessed together: consecutive from a multiple of 8, 2 apart within a
      // 16-chunk block, 32 apart within a 256-chunk block.
      const bool aligned = (stride == 1 && start % 8 == 0) || (stride == 2 && start % 16 < 2) ||
                           (stride == 32 && start % 256 < 32);
      if (aligned) {
        EXPECT_TRUE(conflict_free(chunks)) << "start " << start << " stride " << stride;
      }
    }
  }
}

TEST(CudaLayout, RowChunkOffsetIsTheSwizzleOfItsChunk) {
  for (int j = 0; j < kRowChunks / 32; ++j) {
    for (int lane = 0; lane < 32; ++lane) {
      const int lane_part = lane ^ ((lane >> 3) & 1);
      ASSERT_EQ(row_chunk_offset(j, lane_part), swizzled(8 * (32 * j + lane))) << j << " " << lane;
    }
  }
}

template <int kRS>
void check_post_offsets() {
  constexpr int kWm = 256 / kRS;  // output columns per CTA of a cluster of kRS CTAs
  std::set<uint32_t> seen;
  for (int row = 0; row < 2; ++row) {
    for (int a = 0; a < 16; ++a) {
      for (int ml = 0; ml < kWm; ++ml) {
        const uint32_t base0 = post_offset(kWm, row, 0, a, ml);
        for (int f = 0; f < kRS; ++f) {  // 16 wm kRS = 4096: the blocks fill the row
          const uint32_t direct = post_offset(kWm, row, f, a, ml);
          ASSERT_EQ(post_offset_block<2 * kWm>(base0, f), direct) << kRS << " " << row << " " << a << " " << ml << " " << f;
          ASSERT_LT(direct, static_cast<uint32_t>((row + 1) * kRowElements * 2));
          seen.insert(direct);
        }
      }
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(2 * kRowElements)) << "offsets collide or leave holes";
}

// The spectrum's fragment order, stated from the mma.m16n8k16 C fragment: slot j of a lane holds
// element (row lane / 4 + 8 ((j / 2) % 2), column 8 (j / 4) + 2 (lane % 4) + j % 2) of the 16 x 16
// tile of its 256-element row; every position of the largest size has exactly one index.
TEST(CudaLayout, SpectrumIndexIsTheCFragmentOrder) {
  constexpr int kN = 32768;
  std::vector<int> hits(kN, 0);
  for (int row = 0; row < kN / 256; ++row) {
    for (int lane = 0; lane < 32; ++lane) {
      for (int j = 0; j < 8; ++j) {
        const int a = lane / 4 + 8 * ((j / 2) % 2);
        const int b = 8 * (j / 4) + 2 * (lane % 4) + j % 2;
        const int position = row * 256 + a * 16 + b;
        ASSERT_EQ(spectrum_index(position), (row * 32 + lane) * 8 + j) << position;
        ++hits[static_cast<std::size_t>(spectrum_index(position))];
      }
    }
  }
  for (int i = 0; i < kN; ++i) ASSERT_EQ(hits[static_cast<std::size_t>(i)], 1) << i;
}

TEST(CudaLayout, ClusterPostOffsetsPerBlockEqualTheDirectOffsets) {
  check_post_offsets<2>();  // N = 8192
  check_post_offsets<4>();  // N = 16384
  check_post_offsets<8>();  // N = 32768
}

}  // namespace
}  // namespace ffc::cuda

// The CUDA size list and the split rule (core/monarch_split.hpp) agree with the factorization.
namespace ffc::cuda {
namespace {

TEST(CudaSizes, EverySizeIsInTheCoreTableWithItsSplit) {
  int64_t previous = 0;
  for (int n : CudaSizes::kValues) {
    EXPECT_GT(n, previous) << "sizes ascend";
    previous = n;
    ASSERT_TRUE(core::Factorization::in_size_table(n)) << n;
    EXPECT_TRUE(CudaSizes::contains(n));
    EXPECT_LE(core::small_radix(n), 16) << n << ": at most 16 CTAs per cluster";
    EXPECT_EQ(core::monarch_block(n) * core::small_radix(n), n) << n;
    EXPECT_EQ(CudaSizes::dispatch<int>(n, [](auto size) { return decltype(size)::value; }), n);
  }
  EXPECT_FALSE(CudaSizes::contains(128));
  EXPECT_EQ(CudaSizes::dispatch<int>(100, [](auto size) { return decltype(size)::value; }), 0);
}

// Up to 4096 the small radix is the factorization's leading radix below 16 (1 when all are 16) and
// M a power of 16; above, M = 4096 and RS = N / 4096, the product of the leading radices.
TEST(CoreSplit, SmallRadixFollowsTheTableAtEverySize) {
  for (int64_t n = core::Factorization::kMinSize; n <= core::Factorization::kMaxSize; n *= 2) {
    const std::vector<int> radices = core::Factorization::table_radices(n);
    if (n <= 4096) {
      EXPECT_EQ(core::small_radix(n), radices.front() < 16 ? radices.front() : 1) << n;
    } else {
      EXPECT_EQ(core::monarch_block(n), 4096) << n;
      int64_t leading = 1;
      for (std::size_t i = 0; i + 3 < radices.size(); ++i) leading *= radices[i];
      EXPECT_EQ(core::small_radix(n), leading) << n << ": the radices before the last three 16s";
    }
  }
}

}  // namespace
}  // namespace ffc::cuda

// The four-step algorithm's column transforms (four_step/shape.hpp): the kernels' stage sequence,
// run here in double, puts DFT_N1(x)[column_frequency(p)] at position p, and its mirror (conjugate
// twiddles first, inverse DFT) brings the positions back to N1 x the natural input.
#include <complex>
#include <random>

#include "cuda/four_step/shape.hpp"

namespace ffc::cuda {
namespace {

using cd = std::complex<double>;

cd unit(double turns) { return std::polar(1.0, -2.0 * 3.14159265358979323846 * turns); }

// The kernels' column_stage in double: radix R over span S, forward or inverse.
void stage(std::vector<cd>& x, int span, bool inverse) {
  const int n1 = static_cast<int>(x.size()), radix = column_stage_radix(span), stride = span / radix;
  for (int g = 0; g < n1 / radix; ++g) {
    const int m = g % stride, base = (g / stride) * span + m;
    std::vector<cd> in(static_cast<size_t>(radix)), out(static_cast<size_t>(radix));
    for (int i = 0; i < radix; ++i) {
      in[i] = x[static_cast<size_t>(base + i * stride)];
      if (inverse) in[i] *= std::conj(unit(static_cast<double>(m * i) / span));
    }
    for (int f = 0; f < radix; ++f) {
      for (int i = 0; i < radix; ++i) {
        const cd w = unit(static_cast<double>(i * f) / radix);
        out[f] += in[i] * (inverse ? std::conj(w) : w);
      }
    }
    for (int f = 0; f < radix; ++f) {
      x[static_cast<size_t>(base + f * stride)] = inverse ? out[f] : out[f] * unit(static_cast<double>(m * f) / span);
    }
  }
}

TEST(FourStepLayout, ColumnStagesGiveTheDftAtColumnFrequency) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g;
  for (int n1 = 16; n1 <= 1024; n1 *= 2) {
    std::vector<cd> x(static_cast<size_t>(n1));
    for (cd& v : x) v = cd(g(rng), g(rng));
    std::vector<cd> y = x;
    std::vector<int> spans;
    for (int span = n1; span > 1; span /= column_stage_radix(span)) spans.push_back(span);
    for (int span : spans) stage(y, span, false);
    std::set<int> seen;
    for (int p = 0; p < n1; ++p) {
      const int c = column_frequency(p, n1);
      ASSERT_TRUE(c >= 0 && c < n1 && seen.insert(c).second) << "n1 " << n1 << " p " << p;
      cd want = 0;
      for (int a = 0; a < n1; ++a) want += x[static_cast<size_t>(a)] * unit(static_cast<double>(a) * c / n1);
      ASSERT_LT(std::abs(y[static_cast<size_t>(p)] - want), 1e-9 * n1) << "n1 " << n1 << " p " << p;
    }
    for (auto it = spans.rbegin(); it != spans.rend(); ++it) stage(y, *it, true);
    for (int a = 0; a < n1; ++a) {
      ASSERT_LT(std::abs(y[static_cast<size_t>(a)] - static_cast<double>(n1) * x[static_cast<size_t>(a)]), 1e-9 * n1)
          << "inverse n1 " << n1 << " a " << a;
    }
  }
}

// The four-step sizes reach the core table's end; they start where a CTA cluster stops holding a
// sequence (65536 is both: the fused cluster on Hopper, the four-step algorithm elsewhere).
TEST(FourStepLayout, SizesCoverTheCoreTableAboveTheOnePassSizes) {
  for (int64_t n = 65536; n <= core::Factorization::kMaxSize; n *= 2) {
    EXPECT_TRUE(FourStepSizes::contains(n)) << n;
    EXPECT_EQ(CudaSizes::contains(n), n == 65536) << n;
  }
  EXPECT_EQ(FourStepShape<65536>::N1, 16);
  EXPECT_EQ(FourStepShape<4194304>::N1, 1024);
  EXPECT_LE(FourStepShape<4194304>::kTileSmem, 131072);
}

// A column CTA has one radix-16 DFT per thread per stage: tile values / 16 threads, a whole number
// of warps and at most 1024, and every vector slot of a 16-bit or f32 tile row divides over them.
TEST(FourStepLayout, ColumnThreadsTakeOneRadix16DftEach) {
  for (int n1 = 16; n1 <= 1024; n1 *= 2) {
    const int c = four_step_columns(n1), threads = four_step_column_threads(n1);
    EXPECT_EQ(threads * 16, n1 * c) << n1;
    EXPECT_EQ(threads % 32, 0) << n1;
    EXPECT_LE(threads, 1024) << n1;
    for (int vec : {8, 4}) EXPECT_EQ((n1 * c / vec) % threads, 0) << n1 << " vec " << vec;
  }
  EXPECT_EQ(four_step_column_threads(1024), 1024);
  EXPECT_EQ(four_step_column_threads(256), 256);
}

}  // namespace
}  // namespace ffc::cuda

// The fused conv1d backward's tiling (conv1d/fused_layout.hpp): its tiles write every dx position
// once, own every dz entry once, stage the x each owned entry's taps read, and its parts split the
// tiles with none empty; checked over paddings (causal, symmetric below and above K - 1), lengths
// around the tile and K up to the fused limit.
#include "cuda/conv1d/fused_layout.hpp"
#include "cuda/conv1d/index_math.hpp"

namespace ffc::cuda::conv1d {
namespace {

TEST(Conv1dFusedLayout, TilesCoverDxAndDzOnceAndStageTheirInputs) {
  const int64_t tile = 128, rows = 3;
  for (int64_t K : {1, 2, 3, 7, 8, 16, 17, 32}) {
    for (int64_t L : {1, 5, 127, 128, 129, 1000}) {
      for (int64_t P : {int64_t{0}, K / 2, K - 1, K + 5}) {
        const int64_t out_length = L + 2 * P - K + 1;  // symmetric; P = K - 1 with L outputs is the causal cut
        if (out_length <= 0) continue;
        for (int64_t target : {1, 7, 1000}) {
          const int64_t D = K - 1 - P;
          const FusedLayout f = fused_layout(rows, L, out_length, D, tile, target);
          SCOPED_TRACE(::testing::Message() << "K " << K << " L " << L << " P " << P << " target " << target);
          ASSERT_LE(f.tile_lo, 0);
          std::vector<int> dx_hits(static_cast<size_t>(L)), dz_hits(static_cast<size_t>(out_length));
          for (int64_t i = f.tile_lo; i < f.tile_lo + f.tiles; ++i) {
            for (int64_t s = i * tile; s < (i + 1) * tile; ++s) {
              if (s >= 0 && s < L) ++dx_hits[static_cast<size_t>(s)];
            }
            const int64_t x_first = i * tile - (K - 1);
            const int64_t staged = tile + (K + 7) / 8 * 8 + 8;  // the kernels' staged segment
            for (int64_t t = i * tile - D; t < (i + 1) * tile - D; ++t) {
              if (t < 0 || t >= out_length) continue;
              ++dz_hits[static_cast<size_t>(t)];
              EXPECT_GE(t - P, x_first);                       // tap 0 reads x[t - P]
              EXPECT_LT(t + K - 1 - P, x_first + staged);      // tap K - 1 reads x[t + K - 1 - P]
              EXPECT_LT(t - (i * tile - D) + K - 1, staged);   // the dx window's dz reads stay staged
            }
          }
          for (int h : dx_hits) ASSERT_EQ(h, 1);
          for (int h : dz_hits) ASSERT_EQ(h, 1);
          EXPECT_GE(f.tiles_per_part * f.parts_per_row, f.tiles);
          EXPECT_LT((f.parts_per_row - 1) * f.tiles_per_part, f.tiles);  // no empty part
          EXPECT_LE(rows * f.parts_per_row, std::max<int64_t>(rows, target + rows));
        }
      }
    }
  }
}

// The direct kernels' window rule: element 8 v + offset is value `shift` of vector v + vectors.
TEST(Conv1dDirect, VectorSplitIsAFloorDivisionWithItsRemainder) {
  for (int64_t offset = -70; offset <= 70; ++offset) {
    const VectorSplit s = split_vectors(offset, 8);
    EXPECT_EQ(8 * s.vectors + s.shift, offset);
    EXPECT_GE(s.shift, 0);
    EXPECT_LT(s.shift, 8);
  }
}

// The direct backward's layout: its parts (one tile each) cover every dx and dz position once, and
// the workspace the backend sizes holds either layout's partials.
TEST(Conv1dDirect, BackwardLayoutCoversEveryPositionOnce) {
  for (int64_t K : {1, 3, 7, 8}) {
    for (int64_t L : {8, 4096, 8192, 8200, 40000}) {
      for (int64_t P : {int64_t{0}, K / 2, K - 1, K + 5}) {
        const int64_t out_length = L + 2 * P - K + 1;
        if (out_length <= 0) continue;
        const FusedLayout f = direct_backward_layout(L, out_length);
        SCOPED_TRACE(::testing::Message() << "K " << K << " L " << L << " P " << P);
        EXPECT_EQ(f.tile_lo, 0);
        EXPECT_EQ(f.tiles_per_part, 1);
        EXPECT_EQ(f.parts_per_row, f.tiles);
        EXPECT_GE(f.tiles * f.tile, std::max(L, out_length));
        EXPECT_LT((f.tiles - 1) * f.tile, std::max(L, out_length));  // no empty part
      }
    }
  }
}

TEST(Conv1dDirect, BackwardAppliesOnlyToAligned16BitBhlRowsAndSmallK) {
  alignas(16) static unsigned char buffer[64];
  DirectBackwardCall p;
  p.element_bytes = 2;
  p.dz = p.x = p.dx = buffer;
  p.kernel_size = 8;
  p.length = p.out_length = 64;
  EXPECT_TRUE(direct_backward_applies(p));
  const auto without = [&](auto change) {
    DirectBackwardCall q = p;
    change(q);
    return !direct_backward_applies(q);
  };
  EXPECT_TRUE(without([](DirectBackwardCall& q) { q.element_bytes = 4; }));  // f32
  EXPECT_TRUE(without([](DirectBackwardCall& q) { q.kernel_size = 9; }));
  EXPECT_TRUE(without([](DirectBackwardCall& q) { q.blh = true; }));
  EXPECT_TRUE(without([](DirectBackwardCall& q) { q.dz_f32 = true; }));  // SiLU's dz
  EXPECT_TRUE(without([](DirectBackwardCall& q) { q.length = 60; }));
  EXPECT_TRUE(without([](DirectBackwardCall& q) { q.out_length = 62; }));
  EXPECT_TRUE(without([](DirectBackwardCall& q) { q.x = buffer + 2; }));
  EXPECT_TRUE(without([](DirectBackwardCall& q) { q.dz = buffer + 8; }));
  EXPECT_TRUE(without([](DirectBackwardCall& q) { q.dx = buffer + 8; }));
  EXPECT_FALSE(without([](DirectBackwardCall& q) { q.dx = nullptr; }));  // dx not wanted
}

}  // namespace
}  // namespace ffc::cuda::conv1d
