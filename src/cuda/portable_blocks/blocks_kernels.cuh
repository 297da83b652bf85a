// The portable two-pass kernels for N = RS x 4096 (8192 .. kMaxBlocksSize) on GPUs without clusters: the
// work the fused cluster kernels do in one pass through distributed shared memory goes through HBM
// in chunks of items, in f32 on the CUDA cores (fft_f32.cuh; sm_80 instructions only).
//
// With N = RS x M (M = 4096) and the radix-RS stage first (decimation in frequency),
//   z_f'[n'] = w_N^{n' f'} sum_f w_RS^{f f'} x[f M + n']          (block f' of RS)
// the spectrum positions f' M + p hold DFT_M(z_f') (p digit-reversed), so block f' of the product
// X K is one CTA's M-point work, and
//   y[a M + n'] = (1 / N) sum_f' w_RS^{-a f'} w_N^{-n' f'} IDFT_M(Z_f' K_f')[n']
// (the inverse small stage across blocks) is an element-wise pass over the blocks' results.
//
// Forward, per chunk:
//   blocks_forward_kernel   CTA (item, f'): per-row maxima of pregate * u over the whole rows (the
//       same in every CTA of the item), power-of-two row scales (core/row_scales.hpp), z_f', the
//       M-point transform, times the spectrum, the inverse transform; block f' of the item's result
//       to the chunk buffer (and the rows' output factors).
//   blocks_forward_output   per (item, t < L): the inverse radix-RS stage, output factors, postgate,
//       y.
// Backward, per chunk (x = pregate u, dc = postgate dy; Z = DFT(x0 + i x1), W = DFT(dc0 + i dc1)):
//   blocks_backward_kernel  CTA (item, f'): tied row scales (core::backward_scales), blocks f' of Z
//       and W, the item's dk term W conj(Z) (unscaled), Z K and W conj(K) transformed back.
//   blocks_backward_output  per (item, t < L): c = conv(x, k) and dx = corr(dc, k) by the inverse
//       radix-RS stage; dpostgate = dy c, du = pregate dx, dpregate = u dx.
//   blocks_dk_reduce        per (head, position): the chunk's dk terms of the head summed in item
//       order into the head's partial spectrum (deterministic), which the spectral dk kernels finish.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "core/monarch_split.hpp"
#include "core/row_scales.hpp"
#include "cuda/layout.hpp"
#include "cuda/params.hpp"
#include "cuda/stages/fft_f32.cuh"
#include "cuda/stages/fwd_config.hpp"
#include "cuda/stages/io.cuh"
#include "cuda/stages/item_rows.cuh"
#include "cuda/stages/small_dft.cuh"

namespace ffc::cuda {

constexpr int kBlockThreads = 256;

template <int kN>
struct BlocksShape {
  static constexpr int RS = core::small_radix(kN);
  static constexpr int M = kN / RS;
  static constexpr int kArch = kPortableArch;
  static constexpr int kForwardSmem = static_cast<int>(sizeof(float2)) * M;       // z_f'
  static constexpr int kBackwardSmem = 2 * static_cast<int>(sizeof(float2)) * M;  // z_f', w_f'
  static_assert(RS > 1 && M == 4096, "the two-pass kernels cover N = RS x 4096");
};

// max |v| over each of kRows rows (t < length; a null row gives 0) as float bits, so that a NaN
// (whose bits exceed inf's) is never dropped. All threads of the CTA take part; `red` holds
// kRows x (kBlockThreads / 32) words of shared memory.
template <typename T, int kRows>
__device__ __forceinline__ void row_max_bits(const T* const (&rows)[kRows], int64_t length, uint32_t* red,
                                             uint32_t (&out)[kRows]) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    uint32_t m = 0;
    if (rows[r] != nullptr) {
      for (int64_t t = threadIdx.x; t < length; t += kBlockThreads) {
        m = max(m, __float_as_uint(fabsf(IoTraits<T>::to_float(rows[r][t]))));
      }
    }
    m = __reduce_max_sync(0xffffffffu, m);
    if (lane == 0) red[r * (kBlockThreads / 32) + warp] = m;
  }
  __syncthreads();
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    uint32_t m = 0;
    for (int w = 0; w < kBlockThreads / 32; ++w) m = max(m, red[r * (kBlockThreads / 32) + w]);
    out[r] = m;
  }
  __syncthreads();  // `red` may be reused
}

// Block f' of the radix-RS stage of the complex sequence (a0 + i a1) (each a row times its gate and
// scale), in natural order into buf (f32_slot positions).
template <int kN, typename T>
__device__ __forceinline__ void small_stage_block(const T* const (&value)[2], const T* const (&gate)[2],
                                                  const float (&scale)[2], int64_t length, int f1, float2* buf) {
  using S = BlocksShape<kN>;
  for (int n = threadIdx.x; n < S::M; n += kBlockThreads) {
    float2 z[S::RS];
#pragma unroll
    for (int f = 0; f < S::RS; ++f) {
      const int64_t t = static_cast<int64_t>(f) * S::M + n;
      z[f] = make_float2(scaled_input<T>(value[0], gate[0], t, length, scale[0]),
                         scaled_input<T>(value[1], gate[1], t, length, scale[1]));
    }
    small_dft<S::RS, false>(z);
    buf[f32_slot(n)] = cmul(z[f1], twiddle_f32(n * f1, kN));
  }
}

// sum_f' w_RS^{-a f'} w_N^{-n' f'} v_f'[n'] at t = a M + n', from the item's blocks v (block-major).
template <int kN>
__device__ __forceinline__ float2 inverse_small_stage(const float2* v, int t) {
  using S = BlocksShape<kN>;
  const int col = t & (S::M - 1);
  float2 acc = make_float2(0.0f, 0.0f);
#pragma unroll
  for (int f = 0; f < S::RS; ++f) {
    // w_N^{-col f} w_RS^{-a f} = conj(w_N^{t f}), the exponent reduced mod N.
    const float2 w = twiddle_f32((t * f) & (kN - 1), kN);
    acc = cadd(acc, cmul_conj(v[f * S::M + col], w));
  }
  return acc;
}

// f(k, t, rows, factor) for every (item k of the chunk, position t < L), grid-stride: the
// element-wise passes. `factor` undoes the spectrum's normalization and the transforms' scale.
template <int kN, typename Params, typename F>
__device__ __forceinline__ void for_each_output(const Params& p, const BlockChunk& c, const F& f) {
  const int64_t total = c.count * p.length;
  for (int64_t i = blockIdx.x * int64_t{kBlockThreads} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * kBlockThreads) {
    const int64_t k = i / p.length;
    const int t = static_cast<int>(i - k * p.length);
    const ItemRows rows = item_rows(c.first + k, p.pairs_per_head, p.batch, p.heads, p.length);
    f(k, t, rows, spectrum_factor(p.spectrum_max, rows.head, kN));
  }
}

template <int kN, typename T>
__global__ void __launch_bounds__(kBlockThreads) blocks_forward_kernel(const FwdParams p, const BlockChunk c) {
  using S = BlocksShape<kN>;
  extern __shared__ __align__(16) float2 buf[];  // M values
  __shared__ uint32_t red[4 * (kBlockThreads / 32)];
  const int64_t k = blockIdx.x / S::RS;
  const int f1 = static_cast<int>(blockIdx.x % S::RS);
  const ItemRows rows = item_rows(c.first + k, p.pairs_per_head, p.batch, p.heads, p.length);
  const T* const value[2] = {item_row<T>(p.u, rows, 0), item_row<T>(p.u, rows, 1)};
  const T* const gate[2] = {item_row<T>(p.pregate, rows, 0), item_row<T>(p.pregate, rows, 1)};
  const T* const all[4] = {value[0], value[1], gate[0], gate[1]};
  uint32_t bits[4];
  row_max_bits<T, 4>(all, p.length, red, bits);
  const bool gated = p.pregate != nullptr;
  core::RowScale rs[2];
  float scale[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    rs[r] = core::row_scale(product_bound(bits[r], bits[2 + r], gated), kBlockBound);
    scale[r] = rs[r].in;
  }
  small_stage_block<kN, T>(value, gate, scale, p.length, f1, buf);
  __syncthreads();
  dif_f32<S::M, kBlockThreads>(buf, p.twiddles + FwdTableLayout::kBlock);
  const float2* spectrum = p.spectrum + rows.head * static_cast<int64_t>(kN);
  for (int pos = threadIdx.x; pos < S::M; pos += kBlockThreads) {
    buf[f32_slot(pos)] = cmul(buf[f32_slot(pos)], __ldg(spectrum + spectrum_index(f1 * S::M + pos)));
  }
  __syncthreads();
  dit_f32<S::M, kBlockThreads>(buf, p.twiddles + FwdTableLayout::kBlock);
  float2* out = c.blocks + k * kN + f1 * S::M;
  for (int n = threadIdx.x; n < S::M; n += kBlockThreads) out[n] = buf[f32_slot(n)];
  if (f1 == 0 && threadIdx.x < 2) c.factors[4 * k + threadIdx.x] = rs[threadIdx.x].out;
}

template <int kN, typename T>
__global__ void __launch_bounds__(kBlockThreads) blocks_forward_output(const FwdParams p, const BlockChunk c) {
  for_each_output<kN>(p, c, [&](int64_t k, int t, const ItemRows& rows, float factor) {
    const float2 acc = inverse_small_stage<kN>(c.blocks + k * kN, t);
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      if (r == 1 && rows.row1 == 0) break;
      const int64_t at = rows.offset + (r ? rows.row1 : 0) + t;
      float y = (r ? acc.y : acc.x) * c.factors[4 * k + r] * factor;
      if (p.postgate != nullptr) y *= IoTraits<T>::to_float(static_cast<const T*>(p.postgate)[at]);
      static_cast<T*>(p.y)[at] = IoTraits<T>::from_float(y);
    }
  });
}

template <int kN, typename T>
__global__ void __launch_bounds__(kBlockThreads) blocks_backward_kernel(const BwdParams p, const BlockChunk c) {
  using S = BlocksShape<kN>;
  extern __shared__ __align__(16) float2 buf[];  // z_f' then w_f' (M values each)
  __shared__ uint32_t red[8 * (kBlockThreads / 32)];
  const int64_t k = blockIdx.x / S::RS;
  const int f1 = static_cast<int>(blockIdx.x % S::RS);
  const ItemRows rows = item_rows(c.first + k, p.pairs_per_head, p.batch, p.heads, p.length);
  const T* const u[2] = {item_row<T>(p.u, rows, 0), item_row<T>(p.u, rows, 1)};
  const T* const pre[2] = {item_row<T>(p.pregate, rows, 0), item_row<T>(p.pregate, rows, 1)};
  const T* const dy[2] = {item_row<T>(p.dy, rows, 0), item_row<T>(p.dy, rows, 1)};
  const T* const post[2] = {item_row<T>(p.postgate, rows, 0), item_row<T>(p.postgate, rows, 1)};
  const T* const all[8] = {u[0], u[1], pre[0], pre[1], dy[0], dy[1], post[0], post[1]};
  uint32_t bits[8];
  row_max_bits<T, 8>(all, p.length, red, bits);
  float mx[2], mdc[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    mx[r] = product_bound(bits[r], bits[2 + r], p.pregate != nullptr);
    mdc[r] = product_bound(bits[4 + r], bits[6 + r], p.postgate != nullptr);
  }
  const core::BackwardScales sc = core::backward_scales(mx, mdc, kBlockBound);
  const float x_scale[2] = {sc.x[0].in, sc.x[1].in}, dc_scale[2] = {sc.dc[0].in, sc.dc[1].in};
  float2* z = buf;
  float2* w = buf + S::M;  // f32_slot permutes within 256 values: block two is buf[M + f32_slot(j)]
  small_stage_block<kN, T>(u, pre, x_scale, p.length, f1, z);
  small_stage_block<kN, T>(dy, post, dc_scale, p.length, f1, w);
  __syncthreads();
  dif_f32<S::M, kBlockThreads, 2>(buf, p.twiddles + FwdTableLayout::kBlock);
  const float2* spectrum = p.spectrum + rows.head * static_cast<int64_t>(kN);
  float2* dk_terms = c.dk_terms != nullptr ? c.dk_terms + k * kN + f1 * S::M : nullptr;
  for (int pos = threadIdx.x; pos < S::M; pos += kBlockThreads) {
    const float2 zv = z[f32_slot(pos)], wv = w[f32_slot(pos)];
    const float2 kv = __ldg(spectrum + spectrum_index(f1 * S::M + pos));
    if (dk_terms != nullptr) {
      const float2 term = cmul_conj(wv, zv);
      dk_terms[pos] = make_float2(term.x * sc.dk_z * sc.dk_w, term.y * sc.dk_z * sc.dk_w);
    }
    z[f32_slot(pos)] = cmul(zv, kv);
    w[f32_slot(pos)] = cmul_conj(wv, kv);
  }
  __syncthreads();
  dit_f32<S::M, kBlockThreads, 2>(buf, p.twiddles + FwdTableLayout::kBlock);
  float2* c_out = c.blocks + k * kN + f1 * S::M;
  float2* dx_out = c.blocks + (c.count + k) * kN + f1 * S::M;
  for (int n = threadIdx.x; n < S::M; n += kBlockThreads) {
    c_out[n] = z[f32_slot(n)];
    dx_out[n] = w[f32_slot(n)];
  }
  if (f1 == 0 && threadIdx.x == 0) {
    c.factors[4 * k + 0] = sc.x[0].out;
    c.factors[4 * k + 1] = sc.x[1].out;
    c.factors[4 * k + 2] = sc.dc[0].out;
    c.factors[4 * k + 3] = sc.dc[1].out;
  }
}

template <int kN, typename T>
__global__ void __launch_bounds__(kBlockThreads) blocks_backward_output(const BwdParams p, const BlockChunk c) {
  for_each_output<kN>(p, c, [&](int64_t k, int t, const ItemRows& rows, float factor) {
    const float2 cv = p.dpostgate ? inverse_small_stage<kN>(c.blocks + k * kN, t) : make_float2(0.0f, 0.0f);
    const float2 dxv = p.du || p.dpregate ? inverse_small_stage<kN>(c.blocks + (c.count + k) * kN, t)
                                          : make_float2(0.0f, 0.0f);
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      if (r == 1 && rows.row1 == 0) break;
      const int64_t at = rows.offset + (r ? rows.row1 : 0) + t;
      const float c_r = (r ? cv.y : cv.x) * c.factors[4 * k + r] * factor;
      const float dx_r = (r ? dxv.y : dxv.x) * c.factors[4 * k + 2 + r] * factor;
      store_product<T>(p.dpostgate, at, p.dy, c_r);
      store_product<T>(p.du, at, p.pregate, dx_r);
      store_product<T>(p.dpregate, at, p.u, dx_r);
    }
  });
}

// partial[h][P] (+)= sum over the chunk's items of head h, in item order, of their dk terms; the
// chunk that holds a head's first item starts its sum from zero.
template <int kN>
__global__ void __launch_bounds__(kBlockThreads) blocks_dk_reduce(const BwdParams p, const BlockChunk c) {
  const int64_t first_head = c.first / p.pairs_per_head;
  const int64_t last_head = (c.first + c.count - 1) / p.pairs_per_head;
  const int64_t total = (last_head - first_head + 1) * kN;
  for (int64_t i = blockIdx.x * int64_t{kBlockThreads} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * kBlockThreads) {
    const int64_t head = first_head + i / kN;
    const int pos = static_cast<int>(i % kN);
    const int64_t begin = max(c.first, head * p.pairs_per_head);
    const int64_t end = min(c.first + c.count, (head + 1) * p.pairs_per_head);
    float2 s = begin == head * p.pairs_per_head ? make_float2(0.0f, 0.0f) : p.dk_partial[head * kN + pos];
    for (int64_t item = begin; item < end; ++item) s = cadd(s, c.dk_terms[(item - c.first) * kN + pos]);
    p.dk_partial[head * kN + pos] = s;
  }
}

}  // namespace ffc::cuda
