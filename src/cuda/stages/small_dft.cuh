// Small DFTs in f32 registers (CUDA cores): the radix-2/4/8/16 stage of the fused kernels and the
// 16-point codelet of the f32 transforms. Natural order in and out.
#pragma once

#include <cuda_runtime.h>

namespace ffc::cuda {

__device__ __forceinline__ float2 cadd(float2 a, float2 b) { return make_float2(a.x + b.x, a.y + b.y); }
__device__ __forceinline__ float2 csub(float2 a, float2 b) { return make_float2(a.x - b.x, a.y - b.y); }
__device__ __forceinline__ float2 cmul(float2 a, float2 b) {
  return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}
__device__ __forceinline__ float2 cmul_conj(float2 a, float2 b) {  // a * conj(b)
  return make_float2(a.x * b.x + a.y * b.y, a.y * b.x - a.x * b.y);
}
// a * (-i) (forward) or a * (+i) (inverse)
template <bool kInverse>
__device__ __forceinline__ float2 rotate_quarter(float2 a) {
  return kInverse ? make_float2(-a.y, a.x) : make_float2(a.y, -a.x);
}

// X[k] = sum_f w_R^{+-f k} z[f] for R = 1, 2, 4, 8, 16 (kInverse: +).
template <int R, bool kInverse>
__device__ __forceinline__ void small_dft(float2 (&z)[R]) {
  static_assert(R == 1 || R == 2 || R == 4 || R == 8 || R == 16, "small_dft radices are 1, 2, 4, 8, 16");
  if constexpr (R == 2) {
    const float2 a = z[0], b = z[1];
    z[0] = cadd(a, b);
    z[1] = csub(a, b);
  } else if constexpr (R == 4) {
    const float2 a0 = cadd(z[0], z[2]), a1 = csub(z[0], z[2]);
    const float2 b0 = cadd(z[1], z[3]), b1 = rotate_quarter<kInverse>(csub(z[1], z[3]));
    z[0] = cadd(a0, b0);
    z[2] = csub(a0, b0);
    z[1] = cadd(a1, b1);
    z[3] = csub(a1, b1);
  } else if constexpr (R == 8) {
    float2 e[4] = {z[0], z[2], z[4], z[6]};
    float2 o[4] = {z[1], z[3], z[5], z[7]};
    small_dft<4, kInverse>(e);
    small_dft<4, kInverse>(o);
    constexpr float h = 0.70710678118654752f;
    // w_8^k (forward, conjugated for the inverse) applied to o[k].
    const float2 w1 = kInverse ? make_float2(h, h) : make_float2(h, -h);
    const float2 w3 = kInverse ? make_float2(-h, h) : make_float2(-h, -h);
    o[1] = cmul(o[1], w1);
    o[2] = rotate_quarter<kInverse>(o[2]);
    o[3] = cmul(o[3], w3);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      z[k] = cadd(e[k], o[k]);
      z[k + 4] = csub(e[k], o[k]);
    }
  } else if constexpr (R == 16) {
    // Forward: two radix-4 passes (4 x 4 Cooley-Tukey). Inverse: IDFT(z) = conj(DFT(conj z)).
    if constexpr (kInverse) {
#pragma unroll
      for (int i = 0; i < 16; ++i) z[i].y = -z[i].y;
    }
    // Step 1: for each n2 in 0..3, 4-point DFT over n1 of z[4 n1 + n2].
    float2 t[4][4];
#pragma unroll
    for (int n2 = 0; n2 < 4; ++n2) {
      float2 v[4] = {z[n2], z[4 + n2], z[8 + n2], z[12 + n2]};
      small_dft<4, false>(v);
#pragma unroll
      for (int k1 = 0; k1 < 4; ++k1) t[n2][k1] = v[k1];
    }
    // Step 2: twiddle w_16^{n2 k1}, then 4-point DFT over n2: X[k1 + 4 k2].
    constexpr float c1 = 0.92387953251128674f, s1 = 0.38268343236508977f, h = 0.70710678118654752f;
    const float2 w[10] = {make_float2(1, 0),   make_float2(c1, -s1), make_float2(h, -h),
                          make_float2(s1, -c1), make_float2(0, -1),  make_float2(-s1, -c1),
                          make_float2(-h, -h),  make_float2(-c1, -s1), make_float2(-1, 0),
                          make_float2(-c1, s1)};
#pragma unroll
    for (int k1 = 0; k1 < 4; ++k1) {
      float2 v[4];
#pragma unroll
      for (int n2 = 0; n2 < 4; ++n2) v[n2] = cmul(t[n2][k1], w[n2 * k1]);
      small_dft<4, false>(v);
#pragma unroll
      for (int k2 = 0; k2 < 4; ++k2) z[k1 + 4 * k2] = v[k2];
    }
    if constexpr (kInverse) {
#pragma unroll
      for (int i = 0; i < 16; ++i) z[i].y = -z[i].y;
    }
  }
}

// The 16-point DFT and its inverse (unnormalized), natural order.
__device__ __forceinline__ void dft16(float2 (&x)[16]) { small_dft<16, false>(x); }
__device__ __forceinline__ void idft16(float2 (&x)[16]) { small_dft<16, true>(x); }

}  // namespace ffc::cuda
