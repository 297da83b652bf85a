// The index and number rules of the tensor-core depthwise correlation (toeplitz_mma.cuh), shared by
// the kernel, its launcher and the host tests (plain C++; __host__ __device__ under nvcc).
//
// The correlation y[t] = sum_{j < K} w[j] x[t + j - offset] is first rewritten with an input origin
// on a multiple of 8 elements: offset = 8 q - s (0 <= s < 8, `pre` = s): with w'[j'] = w[j' - pre]
// (zero outside [pre, pre + K)), K' = K + pre and offset' = offset + pre (a multiple of 8),
//   y[t] = sum_{j' < K'} w'[j'] x[t + j' - offset'].
// Outputs are then grouped in chunks of 16 (t = t0 + 16 a + r, r < 16) and the taps in 16 x 16
// Toeplitz tiles D_d[r][i] = w'[16 d + i - r], d = 0 .. tiles - 1, tiles = ceil((K' + 15) / 16):
//   y[t0 + 16 a + r] = sum_d sum_{i < 16} D_d[r][i] x[t0 - offset' + 16 (a + d) + i],
// one m16n8k16 MMA per (d, 8 chunks) with D_d as A (16 x 16) and 8 input chunks of 16 as B.
//
// Weights: each channel's filter is scaled by 2^-E (E: the exponent of its largest |w|, frexp
// convention, so the largest scaled |w| is in [0.5, 1)) and split into two 16-bit parts
// hi = rn(ws), lo = rn(ws - hi) (rn: round to nearest even in the MMA's operand format); both
// multiply the same x in two MMAs and the f32 sum is scaled back by 2^E (exact but for f32
// underflow). The split's error, in the scaled units (u = 2^-p; p = 8 bf16, 11 f16; emin = -126
// bf16, -14 f16):
//   |ws - hi - lo| <= u^2 |ws| + 2^(emin - p).
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda/conv1d/index_math.hpp"

#if defined(__CUDACC__)
#define FFC_MMA_HD __host__ __device__
#else
#define FFC_MMA_HD
#endif

namespace ffc::cuda::conv1d::toeplitz {

constexpr int kChunk = 16;                      // outputs per MMA row tile (r), inputs per k tile (i)
constexpr int kNTiles = 8;                      // n tiles (8 chunks each) per warp tile
constexpr int kWarpChunks = 8 * kNTiles;        // 64 chunks per warp tile
constexpr int kWarpOutputs = kChunk * kWarpChunks;  // 1024 outputs per warp tile
constexpr int kWarps = 8;
constexpr int kThreads = 32 * kWarps;
constexpr int64_t kMinKernel = 64, kMaxKernel = 1024;

using conv1d::floor_div;  // index_math.hpp

struct Shape {
  int64_t pre = 0;             // zero taps in front of the filter: offset + pre is a multiple of 8
  int64_t offset_aligned = 0;  // offset + pre
  int64_t taps = 0;            // K' = K + pre
  int tiles = 0;               // Toeplitz tiles D_0 .. D_{tiles - 1}
};

FFC_MMA_HD inline Shape make_shape(int64_t kernel_size, int64_t offset) {
  Shape s;
  s.offset_aligned = floor_div(offset + 7, 8) * 8;
  s.pre = s.offset_aligned - offset;
  s.taps = kernel_size + s.pre;
  s.tiles = static_cast<int>((s.taps + kChunk - 1 + kChunk - 1) / kChunk);
  return s;
}

// The filter tap (index into w, or -1 for a zero) of D_d[r][i].
FFC_MMA_HD inline int64_t tile_tap(const Shape& s, int64_t kernel_size, int d, int r, int i) {
  const int64_t j = int64_t{kChunk} * d + i - r - s.pre;
  return j >= 0 && j < kernel_size ? j : -1;
}

// Row and column of element e (< 8) of lane `lane`'s A fragment of m16n8k16 (registers a0..a3 hold
// elements (0, 1), (2, 3), (4, 5), (6, 7)): a0 (g, 2q + 0/1), a1 (g + 8, ...), a2 (g, 2q + 8 + 0/1),
// a3 (g + 8, 2q + 8 + 0/1), g = lane / 4, q = lane % 4.
FFC_MMA_HD inline int a_row(int lane, int e) { return lane / 4 + ((e / 2) % 2) * 8; }
FFC_MMA_HD inline int a_col(int lane, int e) { return (lane % 4) * 2 + (e % 2) + (e / 4) * 8; }

// The input chunk (relative to the warp tile's first) that column n (< 8) of n tile `nt` reads for
// tile d: columns of a tile are 8 chunks apart, so tile d of n tile nt reads "chunk group" d + nt.
FFC_MMA_HD inline int b_chunk(int d, int nt, int n) { return d + nt + kNTiles * n; }
// The output chunk of column n of n tile nt.
FFC_MMA_HD inline int c_chunk(int nt, int n) { return nt + kNTiles * n; }

// Input chunks staged per warp tile: the last read is b_chunk(tiles - 1, 7, 7).
FFC_MMA_HD inline int staged_chunks(int tiles) { return kWarpChunks + tiles - 1; }

// Shared-memory position of 16-byte unit u (unit 2 c + h: half h of chunk c) of a staged tile: the
// low three bits are XORed with bits 4..6, so the 8 rows of one ldmatrix (units 16 apart) fall on
// distinct 16-byte bank groups.
FFC_MMA_HD inline int swizzle_unit(int u) { return u ^ ((u >> 4) & 7); }

// The shared-memory element (16-bit) index of staged input i.
FFC_MMA_HD inline int staged_element(int i) { return swizzle_unit(i / 8) * 8 + i % 8; }

// The unit whose address lane `lane` gives to ldmatrix.x2 for the B fragment of chunk group e:
// lanes 0-7 the rows (columns n = lane) of the k 0-7 matrix, lanes 8-15 of k 8-15 (16-31 repeat).
FFC_MMA_HD inline int b_unit(int e, int lane) { return 2 * b_chunk(e, 0, lane & 7) + ((lane >> 3) & 1); }

// The epilogue's f32 index of output chunk ch, row r % 8 (8 floats of padding every 16 chunks keep
// the accumulator writes on distinct banks), and its size in floats.
FFC_MMA_HD inline int z_index(int ch, int r8) { return ch * 8 + r8 + 8 * (ch >> 4); }
constexpr int kZFloats = kWarpChunks * 8 + (kWarpChunks / 16 - 1) * 8;

// Operand formats of the MMA.
struct Format {
  int p;     // significand bits, the implicit one included
  int emin;  // exponent of the smallest normal
};
constexpr Format kBf16{8, -126};
constexpr Format kF16{11, -14};

// v rounded to nearest (ties to even) in format f, subnormals included (no overflow: |v| < 2 here).
FFC_MMA_HD inline double round_to(double v, Format f) {
  if (v == 0.0 || !(v - v == 0.0)) return v;
  int e = 0;
  std::frexp(v, &e);  // |v| = m 2^e, m in [0.5, 1): leading bit 2^(e - 1)
  const int lead = e - 1 > f.emin ? e - 1 : f.emin;
  const double q = std::ldexp(1.0, lead - (f.p - 1));
  return std::rint(v / q) * q;
}

// The scale exponent E of a filter whose largest |w| is `max_abs` (0 for a zero filter).
FFC_MMA_HD inline int scale_exponent(float max_abs) {
  if (!(max_abs > 0.0f) || !(max_abs - max_abs == 0.0f)) return 0;
  int e = 0;
  std::frexp(max_abs, &e);
  return e;
}

struct Split {
  float hi, lo;
};

// The two parts of a scaled tap ws (|ws| < 1).
FFC_MMA_HD inline Split split_tap(float ws, Format f) {
  const double hi = round_to(ws, f);
  const double lo = round_to(static_cast<double>(ws) - hi, f);
  return {static_cast<float>(hi), static_cast<float>(lo)};
}

// A priori bound of |ws - hi - lo| (scaled units), for |ws| = a.
FFC_MMA_HD inline double split_error_bound(double a, Format f) {
  const double u = std::ldexp(1.0, -f.p);
  return u * u * a + std::ldexp(1.0, f.emin - f.p);
}

}  // namespace ffc::cuda::conv1d::toeplitz
