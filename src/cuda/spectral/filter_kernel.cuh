// The filter transform: K = DFT_N(k) in f32 on the CUDA cores (accuracy ~1e-6, so the filter adds
// nothing measurable to the forward's f16 error), written in the fused kernel's fragment order, and
// max |K| per head (the forward normalizes K by it).
//
// One CTA computes block f' (of RS) of one head's spectrum:
//   1. z[n'] = w_N^{n' f'} * sum_f w_RS^{f f'} k[f M + n']   (the radix-RS stage's output f' alone,
//      a dot product per n'; zero past Lk)
//   2. the M-point transform of z in shared memory (f32), radix-16 stages of the same
//      factorization (decimation in frequency, digit-reversed positions, as the fused kernel),
//   3. position P = f' M + p is written to the slot (row P / 256, lane, j) that holds it in the
//      fused kernel's inner C tiles.
#pragma once

#include <cstdint>

#include "cuda/layout.hpp"
#include "cuda/stages/fwd_config.hpp"
#include "cuda/stages/io.cuh"
#include "cuda/params.hpp"
#include "cuda/stages/fft_f32.cuh"
#include "cuda/stages/small_dft.cuh"

namespace ffc::cuda {


constexpr int kFilterThreads = 256;

template <int kN, typename KT>
__global__ void __launch_bounds__(kFilterThreads) filter_kernel(const FilterParams p) {
  using S = FwdShape<kN>;
  constexpr int RS = S::RS, M = S::M;
  extern __shared__ __align__(16) float2 buf[];  // M values
  __shared__ float warp_max[kFilterThreads / 32];
  const int tid = threadIdx.x;
  const int block = static_cast<int>(blockIdx.x % RS);
  const int64_t head = blockIdx.x / RS;
  const KT* k = static_cast<const KT*>(p.k) + head * p.length;

  // Output f' = block of the radix-RS DFT is one dot product of the real inputs with
  // w_RS^{f f'} (exponent mod RS); the other RS - 1 outputs belong to the other CTAs of the head.
  float2 w_rs[RS];
#pragma unroll
  for (int f = 0; f < RS; ++f) w_rs[f] = twiddle_f32((f * block) % RS, RS);
  for (int n = tid; n < M; n += kFilterThreads) {
    float2 z = make_float2(0.0f, 0.0f);
#pragma unroll
    for (int f = 0; f < RS; ++f) {
      const int64_t at = static_cast<int64_t>(f) * M + n;
      if (at < p.length) {
        const float x = IoTraits<KT>::to_float(k[at]);
        z = make_float2(fmaf(x, w_rs[f].x, z.x), fmaf(x, w_rs[f].y, z.y));
      }
    }
    buf[f32_slot(n)] = RS > 1 ? cmul(z, twiddle_f32(n * block, kN)) : z;  // once per filter
  }
  __syncthreads();

  dif_f32<M, kFilterThreads>(buf, p.twiddles + FwdTableLayout::kBlock);

  float local_max = 0.0f;
  float2* out = p.spectrum + head * static_cast<int64_t>(kN);
  for (int pos = tid; pos < M; pos += kFilterThreads) {
    const float2 v = buf[f32_slot(pos)];
    local_max = fmaxf(local_max, hypotf(v.x, v.y));
    out[spectrum_index(block * M + pos)] = v;
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) local_max = fmaxf(local_max, __shfl_xor_sync(0xffffffffu, local_max, o));
  if ((tid & 31) == 0) warp_max[tid >> 5] = local_max;
  __syncthreads();
  if (tid == 0) {
    float m = 0.0f;
    for (int w = 0; w < kFilterThreads / 32; ++w) m = fmaxf(m, warp_max[w]);
    atomicMax(reinterpret_cast<unsigned int*>(p.spectrum_max + head), __float_as_uint(m));
  }
}

// Stores the spectrum as K / (4 kSigma max|K|) per head, the scaling the fused kernel multiplies by
// (so |K| <= 1 / (4 kSigma) and the products stay in the f16 range); spectrum_max keeps max |K|.
__global__ void __launch_bounds__(256) normalize_spectrum(float2* spectrum, const float* spectrum_max,
                                                          int64_t total, int log2n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const float m = spectrum_max[i >> log2n];
    const float s = m > 0.0f ? kUnitary / m : 0.0f;
    const float2 v = spectrum[i];
    spectrum[i] = make_float2(v.x * s, v.y * s);
  }
}

}  // namespace ffc::cuda
