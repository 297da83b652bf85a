// f32 FFT blocks on the CUDA cores, in shared memory: the accurate path used where a transform runs
// once per filter or per batch reduction (the filter transform, the backward's dk). Same
// factorization and digit-reversed positions as the tensor-core kernels (radix-16 stages of a
// block of M = 256 or 4096 elements).
#pragma once

#include "cuda/small_dft.cuh"

namespace ffc::cuda {

// w_span^q = exp(-2 pi i q / span) for 0 <= q < span (exact argument, ~1 ulp).
__device__ __forceinline__ float2 twiddle_f32(int q, int span) {
  float s, c;
  sincospif(2.0f * static_cast<float>(q) / static_cast<float>(span), &s, &c);
  return make_float2(c, -s);
}

// Inverse 16-point DFT (sum_f w^{-a f} x[f]) by conjugation.
__device__ __forceinline__ void idft16(float2 (&x)[16]) {
#pragma unroll
  for (int i = 0; i < 16; ++i) x[i].y = -x[i].y;
  dft16(x);
#pragma unroll
  for (int i = 0; i < 16; ++i) x[i].y = -x[i].y;
}

// Forward M-point transform of buf (decimation in frequency, radix-16 stages, in place): natural
// order in, digit-reversed positions out. All kThreads threads of the block take part; the caller
// synchronizes before (the data are written) and this function ends with a barrier.
template <int M, int kThreads>
__device__ __forceinline__ void dif_f32(float2* buf) {
#pragma unroll 1
  for (int span = M; span >= 16; span /= 16) {
    const int stride = span / 16;
    for (int d = threadIdx.x; d < M / 16; d += kThreads) {
      const int m = d % stride;
      const int base = (d / stride) * span + m;
      float2 x[16];
#pragma unroll
      for (int a = 0; a < 16; ++a) x[a] = buf[base + a * stride];
      dft16(x);
#pragma unroll
      for (int f = 0; f < 16; ++f) {
        buf[base + f * stride] = stride > 1 ? cmul(x[f], twiddle_f32((m * f) % span, span)) : x[f];
      }
    }
    __syncthreads();
  }
}

// The inverse (decimation in time, unnormalized): digit-reversed positions in, natural order out.
template <int M, int kThreads>
__device__ __forceinline__ void dit_f32(float2* buf) {
#pragma unroll 1
  for (int span = 16; span <= M; span *= 16) {
    const int stride = span / 16;
    for (int d = threadIdx.x; d < M / 16; d += kThreads) {
      const int m = d % stride;
      const int base = (d / stride) * span + m;
      float2 x[16];
#pragma unroll
      for (int f = 0; f < 16; ++f) {
        const float2 v = buf[base + f * stride];
        x[f] = stride > 1 ? cmul_conj(v, twiddle_f32((m * f) % span, span)) : v;
      }
      idft16(x);
#pragma unroll
      for (int a = 0; a < 16; ++a) buf[base + a * stride] = x[a];
    }
    __syncthreads();
  }
}

}  // namespace ffc::cuda
