// The filter gradient of the backward pass, in f32 on the CUDA cores:
//
//   dk[h, j] = sum_b sum_t dc[b, h, t] x[b, h, (t - j) mod N],  dc = postgate * dy,  x = pregate * u
//            = (1 / N) IDFT( sum_b DFT(dc_b) conj(DFT(x_b)) )[j]
//
// Two batch rows share one complex transform (W = DFT(dc0 + i dc1), Z = DFT(x0 + i x1)); the real
// part of IDFT(sum W conj(Z)) is corr(dc0, x0) + corr(dc1, x1), the cross terms land in the
// imaginary part. Deterministic: no atomics; the batch is split into G fixed groups per head whose
// partial spectra are summed in group order.
//
//   dk_spectrum_kernel  per (head, group): for each pair of the group, the radix-RS stage in
//       registers, then the M-point transforms of W and Z in shared memory (for N >= 8192 a cluster
//       of RS CTAs, one 4096-block each, the stage's outputs exchanged through DSMEM), and
//       acc += W conj(Z) per position; the partial goes to the workspace [H][G][N].
//   dk_finish_kernel    per (head, block): sums the G partials in order, inverse M-point transform
//       (natural order within the block), written back over group 0.
//   dk_output_kernel    per (head, t < Lk): the inverse radix-RS stage across blocks, real part / N.
#pragma once

#include <cooperative_groups.h>

#include <cstdint>

#include "cuda/fft_f32.cuh"
#include "cuda/fwd_config.hpp"
#include "cuda/io.cuh"
#include "cuda/params.hpp"
#include "cuda/small_dft.cuh"

namespace ffc::cuda {


template <int kN>
struct DkShape {
  static constexpr int RS = FwdShape<kN>::RS;
  static constexpr int M = FwdShape<kN>::M;
  static constexpr int kCluster = kN > 4096 ? RS : 1;  // CTAs per pair
  static constexpr int kBlocks = RS / kCluster;        // blocks each CTA holds
  static constexpr int kThreads = 256;
  static constexpr int W = M / kCluster;               // radix-RS columns per CTA
  static constexpr int kLocal = kBlocks * M;           // complex values per buffer
  static constexpr int kSmemBytes = 2 * kLocal * 8;    // W and Z buffers
  static constexpr int kV = 8 / RS;                    // columns per step of the radix-RS stage
  static_assert(kLocal % kThreads == 0, "positions divide evenly");
};

template <typename T>
__device__ __forceinline__ float value_at(const void* base, int64_t offset) {
  return IoTraits<T>::to_float(static_cast<const T*>(base)[offset]);
}

template <int kN, typename T>
__global__ void __cluster_dims__(DkShape<kN>::kCluster, 1, 1) __launch_bounds__(256, 3)
    dk_spectrum_kernel(const DkParams p) {
  namespace cg = cooperative_groups;
  using D = DkShape<kN>;
  constexpr int RS = D::RS, M = D::M;
  extern __shared__ __align__(16) float2 buffers[];
  float2* wbuf = buffers;              // DFT of dc (this CTA's blocks)
  float2* zbuf = buffers + D::kLocal;  // DFT of x
  cg::cluster_group cluster = cg::this_cluster();
  const int rank = D::kCluster > 1 ? static_cast<int>(cluster.block_rank()) : 0;
  const int64_t id = blockIdx.x / D::kCluster;
  const int64_t head = id / p.groups;
  const int group = static_cast<int>(id % p.groups);
  const int64_t per = (p.pairs_per_head + p.groups - 1) / p.groups;
  const int64_t first = group * per;
  const int64_t last = min(first + per, p.pairs_per_head);

  float2 acc[D::kLocal / D::kThreads];
#pragma unroll
  for (int k = 0; k < D::kLocal / D::kThreads; ++k) acc[k] = make_float2(0.0f, 0.0f);

  const bool vec = p.vector_io != 0;
  // Every CTA of the cluster must have started before any of them writes into another's buffers.
  if constexpr (D::kCluster > 1) cluster.sync();
  for (int64_t pair = first; pair < last; ++pair) {
    const int64_t b0 = 2 * pair;
    const bool has1 = b0 + 1 < p.batch;
    const int64_t o0 = (b0 * p.heads + head) * p.length, o1 = o0 + p.heads * p.length;
    // Radix-RS stage on this CTA's columns, kV consecutive columns per step (16-byte loads at
    // RS = 1); output f goes to block f (a local block, or CTA f).
    const T* dy0 = static_cast<const T*>(p.dy) + o0;
    const T* u0 = static_cast<const T*>(p.u) + o0;
    const T* q0 = p.postgate ? static_cast<const T*>(p.postgate) + o0 : nullptr;
    const T* g0 = p.pregate ? static_cast<const T*>(p.pregate) + o0 : nullptr;
    const int64_t row1 = o1 - o0;
    for (int c0 = threadIdx.x * D::kV; c0 < D::W; c0 += D::kThreads * D::kV) {
      const int col0 = rank * D::W + c0;
      float2 zd[D::kV][RS], zx[D::kV][RS];
#pragma unroll
      for (int a = 0; a < RS; ++a) {
        const int64_t t = static_cast<int64_t>(a) * M + col0;
        float d0[D::kV], d1[D::kV], x0[D::kV], x1[D::kV], gq[D::kV];
        load_chunk<T, D::kV>(dy0, t, p.length, vec, d0);
        load_chunk<T, D::kV>(u0, t, p.length, vec, x0);
        if (q0) {
          load_chunk<T, D::kV>(q0, t, p.length, vec, gq);
#pragma unroll
          for (int j = 0; j < D::kV; ++j) d0[j] *= gq[j];
        }
        if (g0) {
          load_chunk<T, D::kV>(g0, t, p.length, vec, gq);
#pragma unroll
          for (int j = 0; j < D::kV; ++j) x0[j] *= gq[j];
        }
        if (has1) {
          load_chunk<T, D::kV>(dy0 + row1, t, p.length, vec, d1);
          load_chunk<T, D::kV>(u0 + row1, t, p.length, vec, x1);
          if (q0) {
            load_chunk<T, D::kV>(q0 + row1, t, p.length, vec, gq);
#pragma unroll
            for (int j = 0; j < D::kV; ++j) d1[j] *= gq[j];
          }
          if (g0) {
            load_chunk<T, D::kV>(g0 + row1, t, p.length, vec, gq);
#pragma unroll
            for (int j = 0; j < D::kV; ++j) x1[j] *= gq[j];
          }
        } else {
#pragma unroll
          for (int j = 0; j < D::kV; ++j) d1[j] = x1[j] = 0.0f;
        }
#pragma unroll
        for (int j = 0; j < D::kV; ++j) {
          zd[j][a] = make_float2(d0[j], d1[j]);
          zx[j][a] = make_float2(x0[j], x1[j]);
        }
      }
#pragma unroll
      for (int j = 0; j < D::kV; ++j) {
        const int col = col0 + j;
        float2 w[RS];
        if constexpr (RS > 1) {
          small_dft<RS, false>(zd[j]);
          small_dft<RS, false>(zx[j]);
          float2 cur = make_float2(1.0f, 0.0f);
          const float2 base = __ldg(p.twiddles + FwdTableLayout::kSmall + col);  // w_N^col
#pragma unroll
          for (int f = 0; f < RS; ++f) {
            w[f] = cur;
            cur = cmul(cur, base);
          }
        }
#pragma unroll
        for (int f = 0; f < RS; ++f) {
          const float2 vd = RS > 1 ? cmul(zd[j][f], w[f]) : zd[j][f];
          const float2 vx = RS > 1 ? cmul(zx[j][f], w[f]) : zx[j][f];
          if constexpr (D::kCluster > 1) {
            float2* remote = cluster.map_shared_rank(buffers, f);
            remote[f32_slot(col)] = vd;
            remote[D::kLocal + f32_slot(col)] = vx;
          } else {
            wbuf[f32_slot(f * M + col)] = vd;
            zbuf[f32_slot(f * M + col)] = vx;
          }
        }
      }
    }
    if constexpr (D::kCluster > 1) cluster.sync(); else __syncthreads();
    dif_f32<M, D::kThreads, D::kBlocks>(wbuf, p.twiddles + FwdTableLayout::kBlock);
    dif_f32<M, D::kThreads, D::kBlocks>(zbuf, p.twiddles + FwdTableLayout::kBlock);
#pragma unroll
    for (int k = 0; k < D::kLocal / D::kThreads; ++k) {
      const int i = threadIdx.x + k * D::kThreads;
      const float2 wv = wbuf[f32_slot(i)], zv = zbuf[f32_slot(i)];
      acc[k].x += wv.x * zv.x + wv.y * zv.y;  // W conj(Z)
      acc[k].y += wv.y * zv.x - wv.x * zv.y;
    }
    // The next pair's stage writes into every CTA's buffers.
    if constexpr (D::kCluster > 1) cluster.sync(); else __syncthreads();
  }
  float2* out = p.partial + (head * p.groups + group) * static_cast<int64_t>(kN) + rank * D::kLocal;
#pragma unroll
  for (int k = 0; k < D::kLocal / D::kThreads; ++k) out[threadIdx.x + k * D::kThreads] = acc[k];
}

// Per (head, block): sum of the G partials (in group order), inverse M-point transform to natural
// order, written over group 0.
template <int kN>
__global__ void __launch_bounds__(256) dk_finish_kernel(const DkParams p) {
  using D = DkShape<kN>;
  constexpr int M = D::M;
  extern __shared__ __align__(16) float2 block_buf[];
  const int64_t head = blockIdx.x / D::RS;
  const int blk = static_cast<int>(blockIdx.x % D::RS);
  for (int i = threadIdx.x; i < M; i += blockDim.x) {
    float2 s = make_float2(0.0f, 0.0f);
    for (int g = 0; g < p.groups; ++g) {
      const float2 v = p.partial[(head * p.groups + g) * static_cast<int64_t>(kN) + blk * M + i];
      s.x += v.x;
      s.y += v.y;
    }
    block_buf[f32_slot(i)] = s;
  }
  __syncthreads();
  dit_f32<M, 256>(block_buf, p.twiddles + FwdTableLayout::kBlock);
  float2* out = p.partial + head * p.groups * static_cast<int64_t>(kN) + blk * M;
  for (int i = threadIdx.x; i < M; i += blockDim.x) out[i] = block_buf[f32_slot(i)];
}

// dk[h, t] = Re( sum_f w_RS^{-a f} w_N^{-n' f} z[f][n'] ) / N,  t = a M + n' < dk_length.
template <int kN>
__global__ void __launch_bounds__(256) dk_output_kernel(const DkParams p) {
  using D = DkShape<kN>;
  constexpr int RS = D::RS, M = D::M;
  const int64_t total = p.heads * p.dk_length;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t head = i / p.dk_length;
    const int t = static_cast<int>(i % p.dk_length);
    const int col = t % M;
    const float2* z = p.partial + head * p.groups * static_cast<int64_t>(kN);
    float re = 0.0f;
#pragma unroll
    for (int f = 0; f < RS; ++f) {
      // w_N^{-col f} w_RS^{-a f} = conj(w_N^{(col + a M) f}), exponent reduced mod N.
      const float2 w = twiddle_f32(static_cast<int>((static_cast<int64_t>(t) * f) % kN), kN);
      const float2 v = z[f * M + col];
      re += v.x * w.x + v.y * w.y;  // Re(v conj(w))
    }
    p.dk[i] = re * (1.0f / static_cast<float>(kN));
  }
}

}  // namespace ffc::cuda
