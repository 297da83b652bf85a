// The filter gradient's last steps, in f32 on the CUDA cores. The fused backward kernels
// (fused_cta/bwd_kernel.cuh, fused_cluster/bwd_cluster_kernel.cuh) leave one partial spectrum per (head, group) of batch
// pairs, sum over the group of W conj(Z) (W = DFT(dc0 + i dc1), Z = DFT(x0 + i x1), dc = postgate
// dy, x = pregate u), at the natural block-major positions of the factorization (block f' of RS,
// digit-reversed position within the M-point block). Then
//
//   dk[h, j] = sum_b sum_t dc[b, h, t] x[b, h, (t - j) mod N] = (1 / N) Re IDFT(sum_g partial_g)[j]
//
// (the real part of IDFT(W conj(Z)) is corr(dc0, x0) + corr(dc1, x1); the cross terms land in the
// imaginary part). Deterministic: the G partials are summed in group order, no atomics.
//   dk_finish_kernel    per (head, block): sums the G partials in order, inverse M-point transform
//       (natural order within the block), written back over group 0.
//   dk_output_kernel    per (head, t < Lk): the inverse radix-RS stage across blocks, real part / N.
#pragma once

#include <cstdint>

#include "cuda/stages/fft_f32.cuh"
#include "cuda/stages/fwd_config.hpp"
#include "cuda/stages/io.cuh"
#include "cuda/params.hpp"
#include "cuda/stages/small_dft.cuh"

namespace ffc::cuda {


template <int kN>
struct DkShape {
  static constexpr int RS = FwdShape<kN>::RS;
  static constexpr int M = FwdShape<kN>::M;
};

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
