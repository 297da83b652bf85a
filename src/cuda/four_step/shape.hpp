// Compile-time descriptor and index math of the four-step algorithm (four_step/kernels.cuh) for
// the long FFT sizes, host and device code (no CUDA dependency), so host tests check it on CI.
//
// N = N1 x M with M = 4096 and N1 = N / M (16 .. 1024). A sequence of N values is read as an
// N1 x M matrix, x[a M + b] (a < N1 the row, b < M the column). With frequency c + N1 d,
//   X[c + N1 d] = sum_b w_M^{b d} [ w_N^{b c} sum_a w_N1^{a c} x[a M + b] ]
// (the four-step identity): N1-point column transforms, the twiddle w_N^{b c}, M-point row
// transforms. The column transforms run in shared memory over tiles of C columns, decimation in
// frequency in mixed-radix stages (radix 2^(log2 span mod 4), then 16), so their outputs sit at
// digit-reversed positions p whose frequency is column_frequency(p).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/host_device.hpp"
#include "core/monarch_split.hpp"

namespace ffc::cuda {

// The first size the four-step algorithm takes; below it the one-pass algorithms cover everything.
inline constexpr int64_t kFourStepMinSize = 65536;

// The radix of the column stage over a span (a power of two >= 2): the bits beyond a multiple of
// four first, then radix 16.
FFC_HOST_DEVICE constexpr int column_stage_radix(int span) {
  const int r = core::log2_of_power_of_two(span) % 4;
  return r != 0 ? (1 << r) : 16;
}

// The frequency c of the column transform's output position p (0 <= p < n1): a stage of radix R
// over span S puts frequency digit f at position weight S / R, and the frequency is
// f0 + R0 (f1 + R1 (f2 + ...)).
FFC_HOST_DEVICE constexpr int column_frequency(int p, int n1) {
  int c = 0, weight = 1;
  for (int span = n1; span > 1;) {
    const int radix = column_stage_radix(span);
    const int sub = span / radix;
    c += (p / sub) * weight;
    p %= sub;
    weight *= radix;
    span = sub;
  }
  return c;
}

// Columns per tile of the column passes: a tile holds at least 4096 values (so that every thread of
// the CTA has a butterfly in each stage) and at least 16 columns (32-byte rows of 16-bit input).
FFC_HOST_DEVICE constexpr int four_step_columns(int n1) { return n1 >= 256 ? 16 : 4096 / n1; }

// Threads of a column-pass CTA: one radix-16 DFT per thread per stage (tile values / 16), so the
// tiles of the largest sizes, one CTA per SM by shared memory, still bring 32 warps.
FFC_HOST_DEVICE constexpr int four_step_column_threads(int n1) { return n1 * four_step_columns(n1) / 16; }

template <int kN>
struct FourStepShape {
  static constexpr int M = 4096;                // row transform length
  static constexpr int N1 = kN / M;             // column transform length
  static constexpr int C = four_step_columns(N1);  // columns per tile
  static constexpr int kTiles = M / C;          // tiles per sequence
  static constexpr int kThreads = 256;                                // row and maxima passes
  static constexpr int kColumnThreads = four_step_column_threads(N1);  // column passes
  static constexpr int kArch = 80;
  static constexpr int kTileSmem = N1 * C * 8;  // one tile of complex f32
  static constexpr int kRowSmem = M * 8;        // one row of complex f32
  static constexpr int kRowPairSmem = 2 * M * 8;
  static_assert(kN % M == 0 && N1 >= 16 && N1 <= 1024, "four-step sizes are 65536 .. 4194304");
  static_assert((N1 * C) % kColumnThreads == 0 && kColumnThreads % 32 == 0 && kColumnThreads <= 1024,
                "tile elements divide over the column threads");
};

// Layout of the algorithm's twiddle table (float2 units): w_M^q for the row transforms, w_N^q
// (q < M) and w_N1^q (q < N1); w_N^{b c} = w_N^{q mod M} w_N1^{q / M} for q = b c < N.
struct FourStepTables {
  static constexpr int kRow = 0;
  static constexpr int kFine = 4096;
  static constexpr int kCoarse = 8192;
  static constexpr int count(int n1) { return kCoarse + n1; }
};

}  // namespace ffc::cuda
