// The fused forward convolution kernel, one template for every FFT size (FwdShape<N>), I/O dtype
// and precision mode.
//
// Work: items are (head h, batch pair p) in head-major order; rows b0 = 2p and b1 = 2p + 1 of head h
// travel as the real and imaginary parts of one complex sequence z (the filter is real, so they
// never mix). A persistent CTA takes kPairs items per iteration and keeps them in shared memory as
// f16 real/imaginary planes (4N bytes per pair, XOR-swizzled 16-byte chunks, conflict-free for every
// access below). HBM traffic: u, the gates and y once each; the spectrum comes from L2.
//
// Phases of one iteration (barriers between them), with N = RS x [16] x 16 x 16:
//   P1  load    : x = pregate * u per row (f32, zero past L), pass A finds max |x| per pair and sets a
//                 power-of-two scale s so no f16 intermediate can overflow; pass B does the radix-RS
//                 stage in f32 (+ twiddle w_N^{n' f} / sqrt(RS)) and stores f16 to shared memory.
//   P2  outer   : (N >= 4096) 16-point stage on 16x16 tiles: ldmatrix.trans -> G X on the tensor
//                 cores -> twiddle w_4096 (f32) -> f16 -> stmatrix back in place.
//   P3  inner   : per 256-element row: G X, twiddle w_256, X G (register-chained), times the filter
//                 spectrum K / max|K|, then the inverse: X conj(G), twiddle, movmatrix transpose,
//                 conj(G) X, the outer stage's inverse twiddle, f16 -> stmatrix back in place.
//   P4  output  : (N >= 4096) inverse outer stage on 16x8 tiles (tensor cores), the inverse radix-RS
//                 stage in f32 on the accumulators, times the output scale and postgate, store y.
//   P5  output  : (N < 4096) inverse radix-RS stage in f32 from shared memory, postgate, store y.
// Every stage is unitary (1/sqrt(r)), so with |s x| <= 32752 / sqrt(2N) every f16 value is bounded
// by its L2 norm and cannot overflow; the output scale max|K| / s undoes s and the spectrum's
// normalization. With kSplit (f16 I/O) the register-chained products carry hi + lo operands.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "cuda/fwd_config.hpp"
#include "cuda/io.cuh"
#include "cuda/params.hpp"
#include "cuda/ptx.cuh"
#include "cuda/small_dft.cuh"
#include "cuda/tile_math.cuh"

namespace ffc::cuda {


template <int kN>
struct FwdSmem {
  using S = FwdShape<kN>;
  // Byte offset of element n of plane (0 = real, 1 = imaginary) of pair slot q.
  __device__ __forceinline__ static uint32_t offset(int q, int plane, int n) {
    const int c = n >> 3;
    const int phys = c ^ (((c >> 5) & 7) ^ ((c >> 3) & 1));
    return static_cast<uint32_t>(q * S::kPairBytes + plane * 2 * kN + phys * 16 + (n & 7) * 2);
  }
};

// Global rows of one pair slot.
template <typename T>
struct PairRows {
  const T *u0, *u1, *pre0, *pre1, *post0, *post1;
  T *y0, *y1;
  int64_t head;
  bool valid;
};

template <typename T>
__device__ __forceinline__ PairRows<T> pair_rows(const FwdParams& p, int64_t item) {
  PairRows<T> r{};
  r.valid = item < p.items;
  if (!r.valid) return r;
  r.head = item / p.pairs_per_head;
  const int64_t b0 = 2 * (item % p.pairs_per_head);
  const bool has1 = b0 + 1 < p.batch;
  const int64_t o0 = (b0 * p.heads + r.head) * p.length;
  const int64_t o1 = o0 + p.heads * p.length;
  const T* u = static_cast<const T*>(p.u);
  const T* pre = static_cast<const T*>(p.pregate);
  const T* post = static_cast<const T*>(p.postgate);
  T* y = static_cast<T*>(p.y);
  r.u0 = u + o0;
  r.u1 = has1 ? u + o1 : nullptr;
  r.pre0 = pre ? pre + o0 : nullptr;
  r.pre1 = pre && has1 ? pre + o1 : nullptr;
  r.post0 = post ? post + o0 : nullptr;
  r.post1 = post && has1 ? post + o1 : nullptr;
  r.y0 = y + o0;
  r.y1 = has1 ? y + o1 : nullptr;
  return r;
}

// x[j] = u[n + j] * pre[n + j] (pre absent: u), zero past the length or for an absent row.
template <typename T, int kC>
__device__ __forceinline__ void load_gated(const T* u, const T* pre, int64_t n, int64_t length,
                                           bool vector, float (&x)[kC]) {
  load_chunk<T, kC>(u, n, length, vector, x);
  if (pre != nullptr && u != nullptr) {
    float g[kC];
    load_chunk<T, kC>(pre, n, length, vector, g);
#pragma unroll
    for (int j = 0; j < kC; ++j) x[j] *= g[j];
  }
}

// The largest power of two s with s * max_abs <= bound (1 for zero or non-finite max_abs).
__device__ __forceinline__ float power_of_two_scale(float max_abs, float bound) {
  if (!(max_abs > 0.0f) || !isfinite(max_abs)) return 1.0f;
  int e_max, e_bound;
  frexpf(max_abs, &e_max);   // max_abs < 2^e_max
  frexpf(bound, &e_bound);   // 2^(e_bound - 1) <= bound
  int e = (e_bound - 1) - e_max;
  e = max(-126, min(126, e));
  return ldexpf(1.0f, e);
}

// w^0 .. w^(R-1) scaled by `s`.
template <int R>
__device__ __forceinline__ void powers(float2 (&out)[R], float2 w, float s) {
  float2 cur = make_float2(s, 0.0f);
#pragma unroll
  for (int f = 0; f < R; ++f) {
    out[f] = cur;
    cur = cmul(cur, w);
  }
}

template <int kN, typename T, bool kSplit>
__global__ void __launch_bounds__(FwdShape<kN>::kThreads) fwd_kernel(const FwdParams p) {
  using S = FwdShape<kN>;
  using Smem = FwdSmem<kN>;
  constexpr int RS = S::RS, M = S::M, kC = S::kCols;
  extern __shared__ __align__(128) unsigned char smem[];
  __shared__ unsigned int max_bits[S::kPairs];
  __shared__ float pair_scale[S::kPairs];

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const bool vector = p.vector_io != 0;
  const uint32_t smem_base = smem_address(smem);
  DftConsts g;
  g.load(p.frags, lane);
  float2 tw_inner[8];
  load_slots(tw_inner, p.twiddles + FwdTableLayout::kInner + lane * 8);
  // |s x| <= bound keeps every unitary intermediate (bounded by ||s z||_2 <= sqrt(2N) max|s x|)
  // within half the f16 range.
  const float bound = 32752.0f * rsqrtf(2.0f * kN);
  const float small_norm = rsqrtf(static_cast<float>(RS));
  const float unitary = static_cast<float>(1.0 / (4.0 * kSigma));

  const int64_t iterations = (p.items + S::kPairs - 1) / S::kPairs;
  for (int64_t it = blockIdx.x; it < iterations; it += gridDim.x) {
    const int64_t first_item = it * S::kPairs;
    if (tid < S::kPairs) max_bits[tid] = 0u;
    __syncthreads();

    // ---- P1, pass A: max |pregate * u| per pair ---------------------------------------------------
    constexpr int kUnits = S::kPairs * M / kC;  // (pair slot, column group)
#pragma unroll
    for (int k = 0; k < kUnits / S::kThreads; ++k) {
      const int unit = tid + k * S::kThreads;
      const int q = unit / (M / kC);
      const int64_t col = static_cast<int64_t>(unit % (M / kC)) * kC;
      const PairRows<T> rows = pair_rows<T>(p, first_item + q);
      if (!rows.valid) continue;
      float m = 0.0f;
#pragma unroll
      for (int f = 0; f < RS; ++f) {
        float x0[kC], x1[kC];
        load_gated<T, kC>(rows.u0, rows.pre0, f * M + col, p.length, vector, x0);
        load_gated<T, kC>(rows.u1, rows.pre1, f * M + col, p.length, vector, x1);
#pragma unroll
        for (int j = 0; j < kC; ++j) m = fmaxf(m, fmaxf(fabsf(x0[j]), fabsf(x1[j])));
      }
      // NaN propagates as the largest pattern; the scale then falls back to 1.
      if (m != m) m = __int_as_float(0x7fc00000);
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
      if (lane == 0 || (M / kC) % 32 != 0) atomicMax(&max_bits[q], __float_as_uint(m));
    }
    __syncthreads();
    if (tid < S::kPairs) pair_scale[tid] = power_of_two_scale(__uint_as_float(max_bits[tid]), bound);
    __syncthreads();

    // ---- P1, pass B: radix-RS stage (f32), scale, f16 to shared memory -----------------------------
#pragma unroll
    for (int k = 0; k < kUnits / S::kThreads; ++k) {
      const int unit = tid + k * S::kThreads;
      const int q = unit / (M / kC);
      const int col = (unit % (M / kC)) * kC;
      const PairRows<T> rows = pair_rows<T>(p, first_item + q);
      float2 z[kC][RS];
#pragma unroll
      for (int f = 0; f < RS; ++f) {
        float x0[kC], x1[kC];
        load_gated<T, kC>(rows.valid ? rows.u0 : nullptr, rows.pre0, f * M + col, p.length, vector, x0);
        load_gated<T, kC>(rows.valid ? rows.u1 : nullptr, rows.pre1, f * M + col, p.length, vector, x1);
#pragma unroll
        for (int j = 0; j < kC; ++j) z[j][f] = make_float2(x0[j], x1[j]);
      }
      const float s = pair_scale[q] * small_norm;
      uint32_t out_re[RS][kC / 2], out_im[RS][kC / 2];
#pragma unroll
      for (int j = 0; j < kC; ++j) {
        small_dft<RS, false>(z[j]);
        float2 w[RS];
        powers<RS>(w, RS > 1 ? __ldg(p.twiddles + FwdTableLayout::kSmall + col + j) : make_float2(1, 0), s);
#pragma unroll
        for (int f = 0; f < RS; ++f) z[j][f] = cmul(z[j][f], w[f]);
      }
#pragma unroll
      for (int f = 0; f < RS; ++f) {
#pragma unroll
        for (int j = 0; j < kC; j += 2) {
          out_re[f][j / 2] = pack_half2(z[j][f].x, z[j + 1][f].x);
          out_im[f][j / 2] = pack_half2(z[j][f].y, z[j + 1][f].y);
        }
      }
#pragma unroll
      for (int f = 0; f < RS; ++f) {
        unsigned char* re = smem + Smem::offset(q, 0, f * M + col);
        unsigned char* im = smem + Smem::offset(q, 1, f * M + col);
        if constexpr (kC == 8) {
          *reinterpret_cast<uint4*>(re) = make_uint4(out_re[f][0], out_re[f][1], out_re[f][2], out_re[f][3]);
          *reinterpret_cast<uint4*>(im) = make_uint4(out_im[f][0], out_im[f][1], out_im[f][2], out_im[f][3]);
        } else if constexpr (kC == 4) {
          *reinterpret_cast<uint2*>(re) = make_uint2(out_re[f][0], out_re[f][1]);
          *reinterpret_cast<uint2*>(im) = make_uint2(out_im[f][0], out_im[f][1]);
        } else {
          *reinterpret_cast<uint32_t*>(re) = out_re[f][0];
          *reinterpret_cast<uint32_t*>(im) = out_im[f][0];
        }
      }
    }
    __syncthreads();

    // Lane addresses of a 16x16 tile whose rows are `row_stride` elements apart (ldmatrix / stmatrix
    // x4: tile l / 8 = (rows 0-7 | 8-15) x (columns 0-7 | 8-15)).
    const int tile_row = (lane & 7) + 8 * ((lane >> 3) & 1);
    const int tile_col = 8 * (lane >> 4);

    // ---- P2: outer 16-point stage (tensor cores) -----------------------------------------------------
    if constexpr (S::kOuter) {
      constexpr int kTiles = S::kPairs * RS * 16;
#pragma unroll 1
      for (int unit = warp; unit < kTiles; unit += S::kWarps) {
        const int q = unit / (RS * 16);
        const int block = (unit / 16) % RS;
        const int ct = unit % 16;
        const int n = block * 4096 + tile_row * 256 + 16 * ct + tile_col;
        const uint32_t a_re = smem_base + Smem::offset(q, 0, n);
        const uint32_t a_im = smem_base + Smem::offset(q, 1, n);
        BFrag x;
        uint32_t r[4];
        ldmatrix_x4_trans(r, a_re);
        x.re[0][0] = r[0]; x.re[0][1] = r[1]; x.re[1][0] = r[2]; x.re[1][1] = r[3];
        ldmatrix_x4_trans(r, a_im);
        x.im[0][0] = r[0]; x.im[0][1] = r[1]; x.im[1][0] = r[2]; x.im[1][1] = r[3];
        CTile c;
        c.zero();
        left_product<false>(c, g, x);
        float2 w[8];
        load_slots(w, p.twiddles + FwdTableLayout::kOuterFwd + (ct * 32 + lane) * 8);
        multiply(c, w);
        AFrag a, unused;
        to_a<false>(c, a, unused);
        stmatrix_x4(a_re, a.re);
        stmatrix_x4(a_im, a.im);
      }
      __syncthreads();
    }

    // ---- P3: inner 16 x 16 rows, filter, inverse inner --------------------------------------------
    {
      constexpr int kUnits3 = S::kPairs * S::kRows;
#pragma unroll 1
      for (int unit = warp; unit < kUnits3; unit += S::kWarps) {
        const int q = unit / S::kRows;
        const int row = unit % S::kRows;
        const int64_t item = first_item + q;
        const int n = row * 256 + tile_row * 16 + tile_col;
        const uint32_t a_re = smem_base + Smem::offset(q, 0, n);
        const uint32_t a_im = smem_base + Smem::offset(q, 1, n);
        BFrag x;
        uint32_t r[4];
        ldmatrix_x4_trans(r, a_re);
        x.re[0][0] = r[0]; x.re[0][1] = r[1]; x.re[1][0] = r[2]; x.re[1][1] = r[3];
        ldmatrix_x4_trans(r, a_im);
        x.im[0][0] = r[0]; x.im[0][1] = r[1]; x.im[1][0] = r[2]; x.im[1][1] = r[3];
        // Forward: stage over b (left), twiddle, stage over c (right).
        CTile c;
        c.zero();
        left_product<false>(c, g, x);
        multiply(c, tw_inner);
        AFrag hi, lo;
        to_a<kSplit>(c, hi, lo);
        c.zero();
        right_product<false>(c, hi, g);
        if constexpr (kSplit) right_product<false>(c, lo, g);
        // Filter: K / (4 sigma max|K|) in the same fragment order.
        const int64_t head = item < p.items ? item / p.pairs_per_head : 0;
        float2 k[8];
        load_slots(k, p.spectrum + ((head * S::kRows + row) * 32 + lane) * 8);
        const float kmax = __ldg(p.spectrum_max + head);
        multiply(c, k);
        scale(c, kmax > 0.0f ? unitary / kmax : 0.0f);
        to_a<kSplit>(c, hi, lo);
        // Inverse: stage over f_c (right, conj), twiddle, transpose, stage over f_b (left, conj).
        c.zero();
        right_product<true>(c, hi, g);
        if constexpr (kSplit) right_product<true>(c, lo, g);
        multiply_conj(c, tw_inner);
        to_a<kSplit>(c, hi, lo);
        BFrag bh, bl;
        a_to_b(hi, bh);
        c.zero();
        left_product<true>(c, g, bh);
        if constexpr (kSplit) {
          a_to_b(lo, bl);
          left_product<true>(c, g, bl);
        }
        if constexpr (S::kOuter) {
          float2 w[8];
          load_slots(w, p.twiddles + FwdTableLayout::kOuterInv + ((row % 16) * 32 + lane) * 8);
          multiply(c, w);
        } else {
          scale(c, unitary);
        }
        AFrag out, unused;
        to_a<false>(c, out, unused);
        stmatrix_x4(a_re, out.re);
        stmatrix_x4(a_im, out.im);
      }
      __syncthreads();
    }

    // ---- P4 / P5: inverse outer / small stages, postgate, store y ---------------------------------
    if constexpr (S::kOuter) {
      constexpr int kUnits4 = S::kPairs * 32;  // (pair slot, 8-column tile)
#pragma unroll 1
      for (int unit = warp; unit < kUnits4; unit += S::kWarps) {
        const int q = unit / 32;
        const int nt = unit % 32;
        const PairRows<T> rows = pair_rows<T>(p, first_item + q);
        // Tile rows: lanes 0-15 address the real plane, 16-31 the imaginary plane.
        const int plane = lane >> 4;
        float acc_re[RS][4], acc_im[RS][4];
#pragma unroll
        for (int f = 0; f < RS; ++f) {
          uint32_t r[4];
          ldmatrix_x4_trans(r, smem_base + Smem::offset(q, plane, f * 4096 + tile_row * 256 + 8 * nt));
#pragma unroll
          for (int k = 0; k < 4; ++k) acc_re[f][k] = acc_im[f][k] = 0.0f;
          // conj(G) X on one n8 tile: Re = Gr Xr + Gi Xi, Im = Gr Xi - Gi Xr.
          mma_16816(acc_re[f], g.a[0], r[0], r[1]);
          mma_16816(acc_re[f], g.a[1], r[2], r[3]);
          mma_16816(acc_im[f], g.a[0], r[2], r[3]);
          mma_16816(acc_im[f], g.a[2], r[0], r[1]);
        }
        if (!rows.valid) continue;
        const float kmax = __ldg(p.spectrum_max + rows.head);
        const float out_scale = kmax / pair_scale[q] * unitary * small_norm;
        // Slots: register k -> row a = g + 8 (k / 2), column m = 8 nt + 2t + k % 2.
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int a = (lane >> 2) + 8 * half;
          const int m = 8 * nt + 2 * (lane & 3);
          float2 v[2][RS];
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const int k = 2 * half + e;
            float2 z[RS];
#pragma unroll
            for (int f = 0; f < RS; ++f) z[f] = make_float2(acc_re[f][k], acc_im[f][k]);
            if constexpr (RS > 1) {
              float2 w[RS];
              powers<RS>(w, __ldg(p.twiddles + FwdTableLayout::kSmall + a * 256 + m + e), 1.0f);
#pragma unroll
              for (int f = 0; f < RS; ++f) z[f] = cmul_conj(z[f], w[f]);
              small_dft<RS, true>(z);
            }
#pragma unroll
            for (int f = 0; f < RS; ++f) v[e][f] = z[f];
          }
#pragma unroll
          for (int f = 0; f < RS; ++f) {
            const int64_t t = static_cast<int64_t>(f) * 4096 + a * 256 + m;
            float y0[2] = {v[0][f].x * out_scale, v[1][f].x * out_scale};
            float y1[2] = {v[0][f].y * out_scale, v[1][f].y * out_scale};
            if (rows.post0) {
              float gate[2];
              load_chunk<T, 2>(rows.post0, t, p.length, vector, gate);
              y0[0] *= gate[0];
              y0[1] *= gate[1];
            }
            store_chunk<T, 2>(rows.y0, t, p.length, vector, y0);
            if (rows.y1) {
              if (rows.post1) {
                float gate[2];
                load_chunk<T, 2>(rows.post1, t, p.length, vector, gate);
                y1[0] *= gate[0];
                y1[1] *= gate[1];
              }
              store_chunk<T, 2>(rows.y1, t, p.length, vector, y1);
            }
          }
        }
      }
    } else {
#pragma unroll
      for (int k = 0; k < kUnits / S::kThreads; ++k) {
        const int unit = tid + k * S::kThreads;
        const int q = unit / (M / kC);
        const int col = (unit % (M / kC)) * kC;
        const PairRows<T> rows = pair_rows<T>(p, first_item + q);
        if (!rows.valid) continue;
        float2 z[kC][RS];
#pragma unroll
        for (int f = 0; f < RS; ++f) {
          const unsigned char* re = smem + Smem::offset(q, 0, f * M + col);
          const unsigned char* im = smem + Smem::offset(q, 1, f * M + col);
          uint32_t vr[kC / 2], vi[kC / 2];
#pragma unroll
          for (int j = 0; j < kC / 2; ++j) {
            vr[j] = reinterpret_cast<const uint32_t*>(re)[j];
            vi[j] = reinterpret_cast<const uint32_t*>(im)[j];
          }
#pragma unroll
          for (int j = 0; j < kC / 2; ++j) {
            const float2 a = unpack_half2(vr[j]), b = unpack_half2(vi[j]);
            z[2 * j][f] = make_float2(a.x, b.x);
            z[2 * j + 1][f] = make_float2(a.y, b.y);
          }
        }
        const float kmax = __ldg(p.spectrum_max + rows.head);
        const float out_scale = kmax / pair_scale[q] * small_norm;
        float y0[RS][kC], y1[RS][kC];
#pragma unroll
        for (int j = 0; j < kC; ++j) {
          if constexpr (RS > 1) {
            float2 w[RS];
            powers<RS>(w, __ldg(p.twiddles + FwdTableLayout::kSmall + col + j), 1.0f);
#pragma unroll
            for (int f = 0; f < RS; ++f) z[j][f] = cmul_conj(z[j][f], w[f]);
            small_dft<RS, true>(z[j]);
          }
#pragma unroll
          for (int f = 0; f < RS; ++f) {
            y0[f][j] = z[j][f].x * out_scale;
            y1[f][j] = z[j][f].y * out_scale;
          }
        }
#pragma unroll
        for (int f = 0; f < RS; ++f) {
          const int64_t t = static_cast<int64_t>(f) * M + col;
          if (rows.post0) {
            float gate[kC];
            load_chunk<T, kC>(rows.post0, t, p.length, vector, gate);
#pragma unroll
            for (int j = 0; j < kC; ++j) y0[f][j] *= gate[j];
          }
          store_chunk<T, kC>(rows.y0, t, p.length, vector, y0[f]);
          if (rows.y1) {
            if (rows.post1) {
              float gate[kC];
              load_chunk<T, kC>(rows.post1, t, p.length, vector, gate);
#pragma unroll
              for (int j = 0; j < kC; ++j) y1[f][j] *= gate[j];
            }
            store_chunk<T, kC>(rows.y1, t, p.length, vector, y1[f]);
          }
        }
      }
    }
    __syncthreads();  // shared memory is rewritten by the next iteration
  }
}

}  // namespace ffc::cuda
