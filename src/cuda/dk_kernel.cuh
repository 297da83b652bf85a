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
  static_assert(kLocal % kThreads == 0, "positions divide evenly");
};

template <typename T>
__device__ __forceinline__ float value_at(const void* base, int64_t offset) {
  return IoTraits<T>::to_float(static_cast<const T*>(base)[offset]);
}

template <int kN, typename T>
__global__ void __cluster_dims__(DkShape<kN>::kCluster, 1, 1) __launch_bounds__(256)
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

  for (int64_t pair = first; pair < last; ++pair) {
    const int64_t b0 = 2 * pair;
    const bool has1 = b0 + 1 < p.batch;
    const int64_t o0 = (b0 * p.heads + head) * p.length, o1 = o0 + p.heads * p.length;
    // Radix-RS stage on this CTA's columns; output f goes to block f (a local block, or CTA f).
    for (int c = threadIdx.x; c < D::W; c += D::kThreads) {
      const int col = rank * D::W + c;
      float2 zd[RS], zx[RS];
#pragma unroll
      for (int a = 0; a < RS; ++a) {
        const int64_t t = static_cast<int64_t>(a) * M + col;
        float d0 = 0, d1 = 0, x0 = 0, x1 = 0;
        if (t < p.length) {
          d0 = value_at<T>(p.dy, o0 + t);
          x0 = value_at<T>(p.u, o0 + t);
          if (p.postgate) d0 *= value_at<T>(p.postgate, o0 + t);
          if (p.pregate) x0 *= value_at<T>(p.pregate, o0 + t);
          if (has1) {
            d1 = value_at<T>(p.dy, o1 + t);
            x1 = value_at<T>(p.u, o1 + t);
            if (p.postgate) d1 *= value_at<T>(p.postgate, o1 + t);
            if (p.pregate) x1 *= value_at<T>(p.pregate, o1 + t);
          }
        }
        zd[a] = make_float2(d0, d1);
        zx[a] = make_float2(x0, x1);
      }
      if constexpr (RS > 1) {
        small_dft<RS, false>(zd);
        small_dft<RS, false>(zx);
      }
#pragma unroll
      for (int f = 0; f < RS; ++f) {
        const float2 w = twiddle_f32((col * f) % kN, kN);
        const float2 vd = RS > 1 ? cmul(zd[f], w) : zd[f];
        const float2 vx = RS > 1 ? cmul(zx[f], w) : zx[f];
        if constexpr (D::kCluster > 1) {
          float2* remote = cluster.map_shared_rank(buffers, f);
          remote[col] = vd;
          remote[D::kLocal + col] = vx;
        } else {
          wbuf[f * M + col] = vd;
          zbuf[f * M + col] = vx;
        }
      }
    }
    if constexpr (D::kCluster > 1) cluster.sync(); else __syncthreads();
#pragma unroll 1
    for (int blk = 0; blk < D::kBlocks; ++blk) {
      dif_f32<M, D::kThreads>(wbuf + blk * M);
      dif_f32<M, D::kThreads>(zbuf + blk * M);
    }
#pragma unroll
    for (int k = 0; k < D::kLocal / D::kThreads; ++k) {
      const int i = threadIdx.x + k * D::kThreads;
      const float2 wv = wbuf[i], zv = zbuf[i];
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
    block_buf[i] = s;
  }
  __syncthreads();
  dit_f32<M, 256>(block_buf);
  float2* out = p.partial + head * p.groups * static_cast<int64_t>(kN) + blk * M;
  for (int i = threadIdx.x; i < M; i += blockDim.x) out[i] = block_buf[i];
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
