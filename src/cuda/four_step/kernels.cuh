// The four-step kernels for N = N1 x 4096 (65536 .. 4194304): f32 on the CUDA cores, sm_80
// instructions only, the items of a call in chunks whose intermediates fit a bounded scratch
// (sized to stay in L2 where it can). Index math and the identity: four_step/shape.hpp.
//
// The intermediate of an item is Z[p][b] (N1 rows of M complex f32): row p holds column-transform
// position p (frequency column_frequency(p)) of every column b, twiddled. Data flow per chunk:
//   fs_maxima           per (item, segment): max |.| of each row of u and pregate (backward: also
//       dy and postgate) into the chunk's maxima (atomicMax on float bits; zeroed by the launcher).
//   fs_column_forward   CTA (item, tile of C columns[, side]): the rows' power-of-two scales from
//       the maxima (core/row_scales.hpp), the scaled inputs x0 + i x1 of the tile (zero past L),
//       the N1-point column transforms in shared memory, times w_N^{b c}, to Z.
//   fs_row_forward      CTA (item, p): row p of Z, the M-point transform (fft_f32.cuh), times the
//       filter spectrum's row p, the inverse transform, back to Z.
//       fs_row_backward does the same for Z (x side) and W (dc side) together and writes the
//       item's dk terms W conj(Z); Z K and W conj(K) go back.
//   fs_column_inverse   CTA (item, tile[, side]): conj(w_N^{b c}), the inverse column transforms,
//       the output factors, the gates, y (backward: dpostgate from Z, du and dpregate from W).
//   fs_dk_reduce        per (head, position): the chunk's dk terms of the head summed in item order
//       into the head's partial spectrum (a ring of slots, head mod slots; deterministic).
//   fs_dk_row, fs_dk_column   per finished head: the inverse transforms of its partial spectrum,
//       dk = Re / N for t < Lk.
// The filter transform uses the column and row stages too (fs_filter_column, fs_filter_row): the
// spectrum of a head is K[p][pos] (pos: the row transform's digit-reversed position), the order the
// forward's row kernel reads.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "core/row_scales.hpp"
#include "cuda/four_step/shape.hpp"
#include "cuda/params.hpp"
#include "cuda/stages/fft_f32.cuh"
#include "cuda/stages/io.cuh"
#include "cuda/stages/item_rows.cuh"
#include "cuda/stages/small_dft.cuh"

namespace ffc::cuda {

constexpr int kFsThreads = 256;

// ---- the column transforms (shared memory, tile[a][b] = tile[a C + b]) ----

// One stage of radix R over span S of the N1-point column transforms of the tile's C columns.
// Forward (decimation in frequency): DFT over the R inputs base + m + i S / R, then w_S^{m f};
// inverse (decimation in time): conj(w_S^{m f}) first, then the inverse DFT. w_S^e = w_N1^{e N1 / S}
// from the table (w_N1^q, q < N1). A warp takes 32 consecutive columns (or 16 columns of two rows):
// contiguous bytes, no bank conflicts.
template <int kN1, int kSpan, int kC, bool kInverse>
__device__ __forceinline__ void column_stage(float2* tile, const float2* w_n1) {
  constexpr int R = column_stage_radix(kSpan);
  constexpr int kStride = kSpan / R;
  constexpr int kThreads = four_step_column_threads(kN1);  // the launch's threads (entries.cuh)
  static_assert(kC == four_step_columns(kN1), "the tile width the column threads are counted for");
  for (int d = threadIdx.x; d < kN1 / R * kC; d += kThreads) {
    const int b = d % kC, g = d / kC;
    const int m = g % kStride;
    const int base = (g / kStride) * kSpan + m;
    float2 x[R];
#pragma unroll
    for (int i = 0; i < R; ++i) {
      const float2 v = tile[(base + i * kStride) * kC + b];
      x[i] = (kInverse && kStride > 1) ? cmul_conj(v, __ldg(w_n1 + m * i * (kN1 / kSpan))) : v;
    }
    if constexpr (R == 16) {
      if constexpr (kInverse) {
        idft16(x);
      } else {
        dft16(x);
      }
    } else {
      small_dft<R, kInverse>(x);
    }
#pragma unroll
    for (int i = 0; i < R; ++i) {
      tile[(base + i * kStride) * kC + b] = (!kInverse && kStride > 1) ? cmul(x[i], __ldg(w_n1 + m * i * (kN1 / kSpan))) : x[i];
    }
  }
  __syncthreads();
}

// Forward column transforms over spans N1, N1 / R0, ...: natural rows in, positions out.
template <int kN1, int kSpan, int kC>
__device__ __forceinline__ void column_dif(float2* tile, const float2* w_n1) {
  column_stage<kN1, kSpan, kC, false>(tile, w_n1);
  constexpr int kSub = kSpan / column_stage_radix(kSpan);
  if constexpr (kSub > 1) column_dif<kN1, kSub, kC>(tile, w_n1);
}

// The inverse (unnormalized), the stages in mirror order: positions in, natural rows out.
template <int kN1, int kSpan, int kC>
__device__ __forceinline__ void column_dit(float2* tile, const float2* w_n1) {
  constexpr int kSub = kSpan / column_stage_radix(kSpan);
  if constexpr (kSub > 1) column_dit<kN1, kSub, kC>(tile, w_n1);
  column_stage<kN1, kSpan, kC, true>(tile, w_n1);
}

// w_N^{b c} for b c < N from the two tables (FourStepTables).
template <int kN>
__device__ __forceinline__ float2 four_step_twiddle(const float2* table, int b, int c) {
  const int q = b * c;
  return cmul(__ldg(table + FourStepTables::kFine + (q & 4095)), __ldg(table + FourStepTables::kCoarse + (q >> 12)));
}

// ---- the chunk's row scales ----

// Slots of the maxima of an item: forward u0 u1 pre0 pre1; backward also dy0 dy1 post0 post1.
constexpr int kFsMaxima = 8;

__device__ __forceinline__ core::RowScale forward_row_scale(const FwdParams& p, const uint32_t* m, int r) {
  return core::row_scale(product_bound(m[r], m[2 + r], p.pregate != nullptr), kBlockBound);
}

__device__ __forceinline__ core::BackwardScales backward_row_scales(const BwdParams& p, const uint32_t* m) {
  float mx[2], mdc[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    mx[r] = product_bound(m[r], m[2 + r], p.pregate != nullptr);
    mdc[r] = product_bound(m[4 + r], m[6 + r], p.postgate != nullptr);
  }
  return core::backward_scales(mx, mdc, kBlockBound);
}

// max |v| of each row of the item's tensors over the CTA's segment [begin, end), atomicMax into
// out[slot] (float bits: a NaN, whose bits exceed inf's, is never dropped); slot = 2 tensor + row.
// With vector I/O (16-byte aligned rows, L % 8 == 0, begin % 8 == 0) each thread reads 16 bytes of
// every row per step; all slots are reduced together, with one barrier.
template <typename T, int kTensors>
__device__ __forceinline__ void segment_maxima(const void* const (&tensors)[kTensors], const ItemRows& rows,
                                               bool vector, int64_t begin, int64_t end, uint32_t* out) {
  constexpr int kSlots = 2 * kTensors;
  __shared__ uint32_t red[kSlots][kFsThreads / 32];
  const T* row[kSlots];
  uint32_t m[kSlots];
#pragma unroll
  for (int slot = 0; slot < kSlots; ++slot) {
    row[slot] = item_row<T>(tensors[slot / 2], rows, slot % 2);
    m[slot] = 0;
  }
  auto take = [](uint32_t& acc, T v) { acc = max(acc, __float_as_uint(fabsf(IoTraits<T>::to_float(v)))); };
  if (vector) {
    for (int64_t t = begin + 8 * threadIdx.x; t < end; t += 8 * kFsThreads) {
#pragma unroll
      for (int slot = 0; slot < kSlots; ++slot) {
        if (row[slot] == nullptr) continue;
        const uint4 raw = __ldg(reinterpret_cast<const uint4*>(row[slot] + t));
        const T* v = reinterpret_cast<const T*>(&raw);
#pragma unroll
        for (int j = 0; j < 8; ++j) take(m[slot], v[j]);
      }
    }
  } else {
    for (int64_t t = begin + threadIdx.x; t < end; t += kFsThreads) {
#pragma unroll
      for (int slot = 0; slot < kSlots; ++slot) {
        if (row[slot] != nullptr) take(m[slot], row[slot][t]);
      }
    }
  }
#pragma unroll
  for (int slot = 0; slot < kSlots; ++slot) {
    const uint32_t w = __reduce_max_sync(0xffffffffu, m[slot]);
    if ((threadIdx.x & 31) == 0) red[slot][threadIdx.x >> 5] = w;
  }
  __syncthreads();
  if (threadIdx.x < kSlots) {
    uint32_t all = 0;
    for (int w = 0; w < kFsThreads / 32; ++w) all = max(all, red[threadIdx.x][w]);
    if (all != 0) atomicMax(out + threadIdx.x, all);
  }
}

// The segment of CTA blockIdx.x of the maxima pass: item k, [begin, end), 8-aligned.
struct MaximaSegment {
  int64_t k, begin, end;
};

__device__ __forceinline__ MaximaSegment maxima_segment(int64_t length, int segments) {
  MaximaSegment s;
  s.k = blockIdx.x / segments;
  const int64_t len = ((length + segments - 1) / segments + 7) / 8 * 8;
  s.begin = (blockIdx.x % segments) * len;
  s.end = min(s.begin + len, length);
  return s;
}

template <typename T>
__global__ void __launch_bounds__(kFsThreads) fs_maxima_forward(const FwdParams p, const FourStepChunk c) {
  const MaximaSegment seg = maxima_segment(p.length, c.segments);
  const ItemRows rows = item_rows(c.first + seg.k, p.pairs_per_head, p.batch, p.heads, p.length);
  const void* const tensors[2] = {p.u, p.pregate};
  segment_maxima<T, 2>(tensors, rows, p.vector_io != 0, seg.begin, seg.end, c.maxima + seg.k * kFsMaxima);
}

template <typename T>
__global__ void __launch_bounds__(kFsThreads) fs_maxima_backward(const BwdParams p, const FourStepChunk c) {
  const MaximaSegment seg = maxima_segment(p.length, c.segments);
  const ItemRows rows = item_rows(c.first + seg.k, p.pairs_per_head, p.batch, p.heads, p.length);
  const void* const tensors[4] = {p.u, p.pregate, p.dy, p.postgate};
  segment_maxima<T, 4>(tensors, rows, p.vector_io != 0, seg.begin, seg.end, c.maxima + seg.k * kFsMaxima);
}

// ---- column passes ----

// ---- the tiles' global I/O ----
//
// A tile's global accesses are rows of C consecutive columns. With vector I/O each thread takes
// slots of 16 bytes (kVec elements of one row: 8 of a 16-bit type, 4 of f32) and issues the loads of
// kBatch slots before using any, so a thread waits for memory once per batch, not once per element.

template <typename T>
constexpr int kVec = 16 / static_cast<int>(sizeof(T));

// The 16 bytes at row + t (t a multiple of kVec), or zeros when !in.
template <typename T>
__device__ __forceinline__ uint4 load_vec(const T* row, int64_t t, bool in) {
  return in ? __ldg(reinterpret_cast<const uint4*>(row + t)) : make_uint4(0u, 0u, 0u, 0u);
}

template <typename T>
__device__ __forceinline__ void vec_to_float(const uint4& v, float (&out)[kVec<T>]) {
  if constexpr (sizeof(T) == 4) {
    out[0] = __uint_as_float(v.x), out[1] = __uint_as_float(v.y), out[2] = __uint_as_float(v.z), out[3] = __uint_as_float(v.w);
  } else {
    unpack<T, kVec<T>>(v, out);
  }
}

template <typename T>
__device__ __forceinline__ void store_vec(void* row, int64_t t, const float (&in)[kVec<T>]) {
  uint4 v;
  T* e = reinterpret_cast<T*>(&v);
#pragma unroll
  for (int j = 0; j < kVec<T>; ++j) e[j] = IoTraits<T>::from_float(in[j]);
  *reinterpret_cast<uint4*>(static_cast<T*>(row) + t) = v;
}

// Vector slots of a tile: (row a, kVec columns from b), kPerThread per thread in batches of kBatch.
template <int kN, typename T>
struct TileSlots {
  using S = FourStepShape<kN>;
  static constexpr int kPerRow = S::C / kVec<T>;
  static constexpr int kCount = S::N1 * kPerRow;
  static constexpr int kThreads = S::kColumnThreads;
  static constexpr int kPerThread = kCount / kThreads;
  static constexpr int kBatch = kPerThread < 4 ? kPerThread : 4;
  static_assert(S::C % kVec<T> == 0 && kCount % kThreads == 0 && kPerThread % kBatch == 0, "whole slots per thread");
  // Column (within the tile) and row of slot `slot`.
  static __device__ __forceinline__ int column(int slot) { return (slot % kPerRow) * kVec<T>; }
  static __device__ __forceinline__ int row(int slot) { return slot / kPerRow; }
};

// Vector path of the tile load: tile[a][b] = (s0 g0 x0, s1 g1 x1) at t = a M + b0 + b < L, else 0.
template <int kN, typename T>
__device__ __forceinline__ void load_tile_vectors(const T* const (&value)[2], const T* const (&gate)[2],
                                                  const float (&scale)[2], int64_t length, int b0, float2* tile) {
  using S = FourStepShape<kN>;
  using Slots = TileSlots<kN, T>;
  constexpr int V = kVec<T>;
  bool live[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) live[r] = value[r] != nullptr && scale[r] != 0.0f;
  for (int g = 0; g < Slots::kPerThread; g += Slots::kBatch) {
    uint4 raw[Slots::kBatch][2][2];  // [slot][row][value, gate]
#pragma unroll
    for (int i = 0; i < Slots::kBatch; ++i) {
      const int slot = threadIdx.x + (g + i) * Slots::kThreads;
      const int64_t t = static_cast<int64_t>(Slots::row(slot)) * S::M + b0 + Slots::column(slot);
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        raw[i][r][0] = load_vec(value[r], t, live[r] && t < length);
        raw[i][r][1] = load_vec(gate[r], t, live[r] && gate[r] != nullptr && t < length);
      }
    }
#pragma unroll
    for (int i = 0; i < Slots::kBatch; ++i) {
      const int slot = threadIdx.x + (g + i) * Slots::kThreads;
      float x[2][V];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float v[V], w[V];
        vec_to_float<T>(raw[i][r][0], v);
        vec_to_float<T>(raw[i][r][1], w);
#pragma unroll
        for (int j = 0; j < V; ++j) x[r][j] = live[r] ? (gate[r] != nullptr ? w[j] * v[j] : v[j]) * scale[r] : 0.0f;
      }
      float2* out = tile + Slots::row(slot) * S::C + Slots::column(slot);
#pragma unroll
      for (int j = 0; j < V; ++j) out[j] = make_float2(x[0][j], x[1][j]);
    }
  }
}

// Loads the tile's scaled complex input (value_r * gate_r * scale_r as the real / imaginary part,
// zero past `length`), transforms its columns and stores the twiddled positions to Z rows of M.
// `vector`: every row present is 16-byte aligned and length % kVec == 0.
template <int kN, typename T>
__device__ __forceinline__ void column_forward_tile(const T* const (&value)[2], const T* const (&gate)[2],
                                                    const float (&scale)[2], int64_t length, bool vector, int b0,
                                                    float2* tile, float2* z, const float2* table) {
  using S = FourStepShape<kN>;
  if (vector) {
    load_tile_vectors<kN, T>(value, gate, scale, length, b0, tile);
  } else {
    const int64_t reach = (length - b0 + S::M - 1) / S::M;  // rows a with a M + b0 < L
    const int rows_in = static_cast<int>(reach < S::N1 ? reach : S::N1);
    for (int i = threadIdx.x; i < S::N1 * S::C; i += S::kColumnThreads) {
      const int a = i / S::C, b = b0 + i % S::C;
      float2 v = make_float2(0.0f, 0.0f);
      if (a < rows_in) {
        const int64_t t = static_cast<int64_t>(a) * S::M + b;
        v = make_float2(scaled_input<T>(value[0], gate[0], t, length, scale[0]),
                        scaled_input<T>(value[1], gate[1], t, length, scale[1]));
      }
      tile[i] = v;
    }
  }
  __syncthreads();
  column_dif<S::N1, S::N1, S::C>(tile, table + FourStepTables::kCoarse);
#pragma unroll 8
  for (int j = 0; j < S::N1 * S::C / S::kColumnThreads; ++j) {
    const int i = threadIdx.x + j * S::kColumnThreads;
    const int pos = i / S::C, b = b0 + i % S::C;
    z[static_cast<int64_t>(pos) * S::M + b] = cmul(tile[i], four_step_twiddle<kN>(table, b, column_frequency(pos, S::N1)));
  }
}

// Loads positions from Z rows, undoes the twiddle and the column transforms: tile[a][b] natural.
template <int kN>
__device__ __forceinline__ void column_inverse_tile(const float2* z, int b0, float2* tile, const float2* table) {
  using S = FourStepShape<kN>;
#pragma unroll 8
  for (int j = 0; j < S::N1 * S::C / S::kColumnThreads; ++j) {
    const int i = threadIdx.x + j * S::kColumnThreads;
    const int pos = i / S::C, b = b0 + i % S::C;
    tile[i] = cmul_conj(z[static_cast<int64_t>(pos) * S::M + b], four_step_twiddle<kN>(table, b, column_frequency(pos, S::N1)));
  }
  __syncthreads();
  column_dit<S::N1, S::N1, S::C>(tile, table + FourStepTables::kCoarse);
}

template <int kN, typename T>
__global__ void __launch_bounds__(FourStepShape<kN>::kColumnThreads) fs_column_forward(const FwdParams p, const FourStepChunk c) {
  using S = FourStepShape<kN>;
  extern __shared__ __align__(16) float2 tile[];
  const int64_t k = blockIdx.x / S::kTiles;
  const int b0 = static_cast<int>(blockIdx.x % S::kTiles) * S::C;
  const ItemRows rows = item_rows(c.first + k, p.pairs_per_head, p.batch, p.heads, p.length);
  const T* const value[2] = {item_row<T>(p.u, rows, 0), item_row<T>(p.u, rows, 1)};
  const T* const gate[2] = {item_row<T>(p.pregate, rows, 0), item_row<T>(p.pregate, rows, 1)};
  const uint32_t* m = c.maxima + k * kFsMaxima;
  const float scale[2] = {forward_row_scale(p, m, 0).in, forward_row_scale(p, m, 1).in};
  column_forward_tile<kN, T>(value, gate, scale, p.length, p.vector_io != 0, b0, tile, c.z + k * kN, p.twiddles);
}

// side 0: x = pregate u into Z; side 1: dc = postgate dy into W.
template <int kN, typename T>
__global__ void __launch_bounds__(FourStepShape<kN>::kColumnThreads) fs_column_forward_backward(const BwdParams p, const FourStepChunk c) {
  using S = FourStepShape<kN>;
  extern __shared__ __align__(16) float2 tile[];
  const int side = static_cast<int>(blockIdx.x % 2);
  const int64_t k = blockIdx.x / 2 / S::kTiles;
  const int b0 = static_cast<int>(blockIdx.x / 2 % S::kTiles) * S::C;
  const ItemRows rows = item_rows(c.first + k, p.pairs_per_head, p.batch, p.heads, p.length);
  const void* v = side == 0 ? p.u : p.dy;
  const void* g = side == 0 ? p.pregate : p.postgate;
  const T* const value[2] = {item_row<T>(v, rows, 0), item_row<T>(v, rows, 1)};
  const T* const gate[2] = {item_row<T>(g, rows, 0), item_row<T>(g, rows, 1)};
  const core::BackwardScales sc = backward_row_scales(p, c.maxima + k * kFsMaxima);
  const float scale[2] = {side == 0 ? sc.x[0].in : sc.dc[0].in, side == 0 ? sc.x[1].in : sc.dc[1].in};
  column_forward_tile<kN, T>(value, gate, scale, p.length, p.vector_io != 0, b0, tile, (side == 0 ? c.z : c.w) + k * kN,
                             p.twiddles);
}

// f(r, t, v) for the tile's natural outputs v (row r of the pair: real, imaginary part) at t < L.
template <int kN, typename F>
__device__ __forceinline__ void for_tile_outputs(const float2* tile, int b0, int64_t length, bool row1, const F& f) {
  using S = FourStepShape<kN>;
  for (int i = threadIdx.x; i < S::N1 * S::C; i += S::kColumnThreads) {
    const int64_t t = static_cast<int64_t>(i / S::C) * S::M + b0 + i % S::C;
    if (t >= length) continue;
    f(0, t, tile[i].x);
    if (row1) f(1, t, tile[i].y);
  }
}

// out = gate * factor_r * (row r of the tile's natural outputs) at t < L in the item's rows (gate
// null: no gate; out null: not requested), in the I/O type. With vector I/O a batch of slots reads
// its gates before any store.
template <int kN, typename T>
__device__ __forceinline__ void store_tile_products(const float2* tile, int b0, int64_t length, bool vector,
                                                    const ItemRows& rows, const float (&factor)[2], void* out,
                                                    const void* gate) {
  using S = FourStepShape<kN>;
  using Slots = TileSlots<kN, T>;
  constexpr int V = kVec<T>;
  if (out == nullptr) return;
  const bool row1 = rows.row1 != 0;
  if (!vector) {
    for_tile_outputs<kN>(tile, b0, length, row1, [&](int r, int64_t t, float v) {
      store_product<T>(out, rows.offset + (r ? rows.row1 : 0) + t, gate, v * factor[r]);
    });
    return;
  }
  const T* g[2] = {item_row<T>(gate, rows, 0), item_row<T>(gate, rows, 1)};
  for (int batch = 0; batch < Slots::kPerThread; batch += Slots::kBatch) {
    uint4 raw[Slots::kBatch][2];
#pragma unroll
    for (int i = 0; i < Slots::kBatch; ++i) {
      const int slot = threadIdx.x + (batch + i) * Slots::kThreads;
      const int64_t t = static_cast<int64_t>(Slots::row(slot)) * S::M + b0 + Slots::column(slot);
#pragma unroll
      for (int r = 0; r < 2; ++r) raw[i][r] = load_vec(g[r], t, g[r] != nullptr && t < length);
    }
#pragma unroll
    for (int i = 0; i < Slots::kBatch; ++i) {
      const int slot = threadIdx.x + (batch + i) * Slots::kThreads;
      const int64_t t = static_cast<int64_t>(Slots::row(slot)) * S::M + b0 + Slots::column(slot);
      if (t >= length) continue;
      const float2* in = tile + Slots::row(slot) * S::C + Slots::column(slot);
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        if (r == 1 && !row1) continue;
        float w[V], y[V];
        vec_to_float<T>(raw[i][r], w);
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const float v = (r == 0 ? in[j].x : in[j].y) * factor[r];
          y[j] = g[r] != nullptr ? w[j] * v : v;
        }
        store_vec<T>(out, rows.offset + (r ? rows.row1 : 0) + t, y);
      }
    }
  }
}

template <int kN, typename T>
__global__ void __launch_bounds__(FourStepShape<kN>::kColumnThreads) fs_column_inverse(const FwdParams p, const FourStepChunk c) {
  using S = FourStepShape<kN>;
  extern __shared__ __align__(16) float2 tile[];
  const int64_t k = blockIdx.x / S::kTiles;
  const int b0 = static_cast<int>(blockIdx.x % S::kTiles) * S::C;
  const ItemRows rows = item_rows(c.first + k, p.pairs_per_head, p.batch, p.heads, p.length);
  column_inverse_tile<kN>(c.z + k * kN, b0, tile, p.twiddles);
  const uint32_t* m = c.maxima + k * kFsMaxima;
  const float sf = spectrum_factor(p.spectrum_max, rows.head, kN);
  const float factor[2] = {forward_row_scale(p, m, 0).out * sf, forward_row_scale(p, m, 1).out * sf};
  store_tile_products<kN, T>(tile, b0, p.length, p.vector_io != 0, rows, factor, p.y, p.postgate);
}

// side 0: c = conv(x, k) from Z, dpostgate = dy c; side 1: dx = corr(dc, k) from W, du = pregate
// dx, dpregate = u dx. When an output of one side overlaps an input of the other (du may alias
// dy) the launcher runs side 0 first, in its own launch; otherwise both sides share one launch.
template <int kN, typename T>
__global__ void __launch_bounds__(FourStepShape<kN>::kColumnThreads) fs_column_inverse_backward(const BwdParams p, const FourStepChunk c) {
  using S = FourStepShape<kN>;
  extern __shared__ __align__(16) float2 tile[];
  const bool both = c.side == kBothSides;
  const int side = both ? static_cast<int>(blockIdx.x % 2) : c.side;
  const int64_t task = both ? blockIdx.x / 2 : blockIdx.x;
  const int64_t k = task / S::kTiles;
  const int b0 = static_cast<int>(task % S::kTiles) * S::C;
  const ItemRows rows = item_rows(c.first + k, p.pairs_per_head, p.batch, p.heads, p.length);
  column_inverse_tile<kN>((side == 0 ? c.z : c.w) + k * kN, b0, tile, p.twiddles);
  const core::BackwardScales sc = backward_row_scales(p, c.maxima + k * kFsMaxima);
  const float sf = spectrum_factor(p.spectrum_max, rows.head, kN);
  const float factor[2] = {(side == 0 ? sc.x[0].out : sc.dc[0].out) * sf, (side == 0 ? sc.x[1].out : sc.dc[1].out) * sf};
  const bool vector = p.vector_io != 0;
  if (side == 0) {
    store_tile_products<kN, T>(tile, b0, p.length, vector, rows, factor, p.dpostgate, p.dy);
  } else {
    store_tile_products<kN, T>(tile, b0, p.length, vector, rows, factor, p.du, p.pregate);
    store_tile_products<kN, T>(tile, b0, p.length, vector, rows, factor, p.dpregate, p.u);
  }
}

// ---- row passes ----

// Loads kRows consecutive rows of M values (src[r] each) into buf (f32_slot order); the loads of a
// row are all issued before the first store.
template <int kRows>
__device__ __forceinline__ void load_rows(float2* buf, const float2* const (&src)[kRows]) {
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int j = 0; j < 4096 / kFsThreads; ++j) {
      const int n = threadIdx.x + j * kFsThreads;
      buf[r * 4096 + f32_slot(n)] = src[r][n];
    }
  }
  __syncthreads();
}

template <int kRows>
__device__ __forceinline__ void store_rows(const float2* buf, float2* const (&dst)[kRows]) {
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    for (int n = threadIdx.x; n < 4096; n += kFsThreads) dst[r][n] = buf[r * 4096 + f32_slot(n)];
  }
}

template <int kN>
__global__ void __launch_bounds__(kFsThreads) fs_row_forward(const FwdParams p, const FourStepChunk c) {
  using S = FourStepShape<kN>;
  extern __shared__ __align__(16) float2 buf[];
  const int64_t k = blockIdx.x / S::N1;
  const int row = static_cast<int>(blockIdx.x % S::N1);
  const int64_t head = (c.first + k) / p.pairs_per_head;
  float2* z = c.z + k * kN + static_cast<int64_t>(row) * S::M;
  load_rows<1>(buf, {z});
  dif_f32<S::M, kFsThreads>(buf, p.twiddles + FourStepTables::kRow);
  const float2* spectrum = p.spectrum + head * kN + static_cast<int64_t>(row) * S::M;
#pragma unroll
  for (int j = 0; j < S::M / kFsThreads; ++j) {
    const int pos = threadIdx.x + j * kFsThreads;
    buf[f32_slot(pos)] = cmul(buf[f32_slot(pos)], __ldg(spectrum + pos));
  }
  __syncthreads();
  dit_f32<S::M, kFsThreads>(buf, p.twiddles + FourStepTables::kRow);
  store_rows<1>(buf, {z});
}

template <int kN>
__global__ void __launch_bounds__(kFsThreads) fs_row_backward(const BwdParams p, const FourStepChunk c) {
  using S = FourStepShape<kN>;
  extern __shared__ __align__(16) float2 buf[];  // Z row, then W row
  const int64_t k = blockIdx.x / S::N1;
  const int row = static_cast<int>(blockIdx.x % S::N1);
  const int64_t head = (c.first + k) / p.pairs_per_head;
  const int64_t at = k * kN + static_cast<int64_t>(row) * S::M;
  load_rows<2>(buf, {c.z + at, c.w + at});
  dif_f32<S::M, kFsThreads, 2>(buf, p.twiddles + FourStepTables::kRow);
  const core::BackwardScales sc = backward_row_scales(p, c.maxima + k * kFsMaxima);
  const float2* spectrum = p.spectrum + head * kN + static_cast<int64_t>(row) * S::M;
  float2* z = buf;
  float2* w = buf + S::M;
  for (int pos = threadIdx.x; pos < S::M; pos += kFsThreads) {
    const float2 zv = z[f32_slot(pos)], wv = w[f32_slot(pos)];
    const float2 kv = __ldg(spectrum + pos);
    if (c.dk_terms != nullptr) {
      const float2 term = cmul_conj(wv, zv);
      c.dk_terms[at + pos] = make_float2(term.x * sc.dk_z * sc.dk_w, term.y * sc.dk_z * sc.dk_w);
    }
    z[f32_slot(pos)] = cmul(zv, kv);
    w[f32_slot(pos)] = cmul_conj(wv, kv);
  }
  __syncthreads();
  dit_f32<S::M, kFsThreads, 2>(buf, p.twiddles + FourStepTables::kRow);
  store_rows<2>(buf, {c.z + at, c.w + at});
}

// ---- the filter gradient ----

// partial[head mod slots][P] (+)= the chunk's dk terms of the head, in item order; the chunk that
// holds a head's first item starts its sum from zero.
template <int kN>
__global__ void __launch_bounds__(kFsThreads) fs_dk_reduce(const BwdParams p, const FourStepChunk c) {
  const int64_t first_head = c.first / p.pairs_per_head;
  const int64_t last_head = (c.first + c.count - 1) / p.pairs_per_head;
  const int64_t total = (last_head - first_head + 1) * kN;
  for (int64_t i = blockIdx.x * int64_t{kFsThreads} + threadIdx.x; i < total; i += int64_t{gridDim.x} * kFsThreads) {
    const int64_t head = first_head + i / kN;
    const int pos = static_cast<int>(i % kN);
    const int64_t begin = max(c.first, head * p.pairs_per_head);
    const int64_t end = min(c.first + c.count, (head + 1) * p.pairs_per_head);
    float2* partial = c.dk_partial + (head % c.slots) * kN + pos;
    float2 s = begin == head * p.pairs_per_head ? make_float2(0.0f, 0.0f) : *partial;
    for (int64_t item = begin; item < end; ++item) s = cadd(s, c.dk_terms[(item - c.first) * kN + pos]);
    *partial = s;
  }
}

// CTA (head c.first + i, row): inverse row transform of the head's partial spectrum, in place.
template <int kN>
__global__ void __launch_bounds__(kFsThreads) fs_dk_row(const DkParams p, const FourStepChunk c) {
  using S = FourStepShape<kN>;
  extern __shared__ __align__(16) float2 buf[];
  const int64_t head = c.first + blockIdx.x / S::N1;
  const int row = static_cast<int>(blockIdx.x % S::N1);
  float2* z = c.dk_partial + (head % c.slots) * kN + static_cast<int64_t>(row) * S::M;
  load_rows<1>(buf, {z});
  dit_f32<S::M, kFsThreads>(buf, p.twiddles + FourStepTables::kRow);
  store_rows<1>(buf, {z});
}

// CTA (head c.first + i, tile): the inverse column transforms, dk[h, t] = Re / N for t < Lk.
template <int kN>
__global__ void __launch_bounds__(FourStepShape<kN>::kColumnThreads) fs_dk_column(const DkParams p, const FourStepChunk c) {
  using S = FourStepShape<kN>;
  extern __shared__ __align__(16) float2 tile[];
  const int64_t head = c.first + blockIdx.x / S::kTiles;
  const int b0 = static_cast<int>(blockIdx.x % S::kTiles) * S::C;
  column_inverse_tile<kN>(c.dk_partial + (head % c.slots) * kN, b0, tile, p.twiddles);
  for_tile_outputs<kN>(tile, b0, p.dk_length, false, [&](int, int64_t t, float v) {
    p.dk[head * p.dk_length + t] = v * (1.0f / static_cast<float>(kN));
  });
}

// ---- the filter transform ----

// CTA (head, tile): the column stage of k (real, zero past Lk) into the head's spectrum rows.
template <int kN, typename KT>
__global__ void __launch_bounds__(FourStepShape<kN>::kColumnThreads) fs_filter_column(const FilterParams p) {
  using S = FourStepShape<kN>;
  extern __shared__ __align__(16) float2 tile[];
  const int64_t head = blockIdx.x / S::kTiles;
  const int b0 = static_cast<int>(blockIdx.x % S::kTiles) * S::C;
  const KT* const value[2] = {static_cast<const KT*>(p.k) + head * p.length, nullptr};
  const KT* const gate[2] = {nullptr, nullptr};
  const float scale[2] = {1.0f, 0.0f};
  const bool vector = reinterpret_cast<uintptr_t>(value[0]) % 16 == 0 && p.length % kVec<KT> == 0;
  column_forward_tile<kN, KT>(value, gate, scale, p.length, vector, b0, tile, p.spectrum + head * kN, p.twiddles);
}

// CTA (head, row): the row transform in place (positions in natural order), max |K| per head.
template <int kN>
__global__ void __launch_bounds__(kFsThreads) fs_filter_row(const FilterParams p) {
  using S = FourStepShape<kN>;
  extern __shared__ __align__(16) float2 buf[];
  __shared__ float warp_max[kFsThreads / 32];
  const int64_t head = blockIdx.x / S::N1;
  const int row = static_cast<int>(blockIdx.x % S::N1);
  float2* z = p.spectrum + head * kN + static_cast<int64_t>(row) * S::M;
  load_rows<1>(buf, {z});
  dif_f32<S::M, kFsThreads>(buf, p.twiddles + FourStepTables::kRow);
  float local = 0.0f;
  for (int pos = threadIdx.x; pos < S::M; pos += kFsThreads) {
    const float2 v = buf[f32_slot(pos)];
    local = fmaxf(local, hypotf(v.x, v.y));
    z[pos] = v;
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) local = fmaxf(local, __shfl_xor_sync(0xffffffffu, local, o));
  if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x >> 5] = local;
  __syncthreads();
  if (threadIdx.x == 0) {
    float m = 0.0f;
    for (int w = 0; w < kFsThreads / 32; ++w) m = fmaxf(m, warp_max[w]);
    atomicMax(reinterpret_cast<unsigned int*>(p.spectrum_max + head), __float_as_uint(m));
  }
}

}  // namespace ffc::cuda
