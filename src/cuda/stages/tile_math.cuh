// Complex 16 x 16 tiles on the tensor cores: the building blocks of the fused kernels.
//
// A complex tile is two real planes. Products with the 16-point DFT matrix G = round_f16(kSigma
// F_16) take 4 real MMAs per n8 column tile:
//   left   C = G X  (G the A operand, X data in the B layout)  contracts the rows of X
//   right  C = Y G  (Y data in the A layout, G the B operand)  contracts the columns of Y
// and their conjugate-G versions for the inverse transform. A C tile (f32) converts to the A
// layout of the next right product in registers (pack), or to the B layout of a left product
// through movmatrix transposes. With kSplit the f16 operand is hi + lo (two MMAs), so the data
// keep about 22 bits through a register-chained stage.
#pragma once

#include <cstdint>

#include "cuda/stages/ptx.cuh"

namespace ffc::cuda {

struct CTile {  // 16x16 complex f32, C layout, [n8 tile][register]
  float re[2][4];
  float im[2][4];
  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) re[i][j] = im[i][j] = 0.0f;
  }
  // Slot j = 4 * tile + register: row g + 8 ((j % 4) / 2), column 2t + j % 2 + 8 (j / 4).
  __device__ __forceinline__ float& r(int j) { return re[j >> 2][j & 3]; }
  __device__ __forceinline__ float& i(int j) { return im[j >> 2][j & 3]; }
  __device__ __forceinline__ float r(int j) const { return re[j >> 2][j & 3]; }
  __device__ __forceinline__ float i(int j) const { return im[j >> 2][j & 3]; }
};

struct AFrag {  // 16x16 complex f16, A layout
  uint32_t re[4];
  uint32_t im[4];
};

struct BFrag {  // 16x16 complex f16, B layout, [n8 tile][b0, b1]
  uint32_t re[2][2];
  uint32_t im[2][2];
};

// G in both operand layouts; parts 0, 1, 2 = Re G, Im G, -Im G. G is symmetric (G[f][a] depends on
// f a), so its B fragments are its A fragments in another order: b0, b1 of n8 tile nt are
// (G[2t..2t+1][8 nt + g], G[2t+8..2t+9][8 nt + g]) = (G[8 nt + g][2t..], G[8 nt + g][2t+8..]), i.e.
// a[nt] and a[nt + 2]. Only the A fragments are held (12 registers instead of 24).
struct DftConsts {
  uint32_t a[3][4];

  __device__ __forceinline__ void load(const uint32_t* frags, int lane) {
#pragma unroll
    for (int p = 0; p < 3; ++p) {
#pragma unroll
      for (int k = 0; k < 4; ++k) a[p][k] = frags[(p * 32 + lane) * 4 + k];
    }
  }
  // B fragment i = 2 * n8 tile + {0, 1} of part p.
  __device__ __forceinline__ uint32_t b(int p, int i) const { return a[p][(i >> 1) + 2 * (i & 1)]; }
};

// c += G x (kConj: conj(G) x).
template <bool kConj>
__device__ __forceinline__ void left_product(CTile& c, const DftConsts& g, const BFrag& x) {
#pragma unroll
  for (int nt = 0; nt < 2; ++nt) {
    // Re: Gr Xr - Gi Xi  (conj: Gr Xr + Gi Xi);  Im: Gr Xi + Gi Xr  (conj: Gr Xi - Gi Xr)
    mma_16816(c.re[nt], g.a[0], x.re[nt][0], x.re[nt][1]);
    mma_16816(c.re[nt], g.a[kConj ? 1 : 2], x.im[nt][0], x.im[nt][1]);
    mma_16816(c.im[nt], g.a[0], x.im[nt][0], x.im[nt][1]);
    mma_16816(c.im[nt], g.a[kConj ? 2 : 1], x.re[nt][0], x.re[nt][1]);
  }
}

// c += y G (kConj: y conj(G)).
template <bool kConj>
__device__ __forceinline__ void right_product(CTile& c, const AFrag& y, const DftConsts& g) {
#pragma unroll
  for (int nt = 0; nt < 2; ++nt) {
    const int p_im = kConj ? 2 : 1;    // Im of (conj) G
    const int p_nim = kConj ? 1 : 2;   // -Im of (conj) G
    // Re: Yr Gr - Yi Gi;  Im: Yr Gi + Yi Gr  (with Gi of conj(G) = -Im G)
    mma_16816(c.re[nt], y.re, g.b(0, 2 * nt), g.b(0, 2 * nt + 1));
    mma_16816(c.re[nt], y.im, g.b(p_nim, 2 * nt), g.b(p_nim, 2 * nt + 1));
    mma_16816(c.im[nt], y.re, g.b(p_im, 2 * nt), g.b(p_im, 2 * nt + 1));
    mma_16816(c.im[nt], y.im, g.b(0, 2 * nt), g.b(0, 2 * nt + 1));
  }
}

// C (f32) -> A layout (f16), optionally hi + lo.
template <bool kSplit>
__device__ __forceinline__ void to_a(const CTile& c, AFrag& hi, AFrag& lo) {
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const int nt = k >> 1, r = 2 * (k & 1);
    if constexpr (kSplit) {
      split_half2(c.re[nt][r], c.re[nt][r + 1], hi.re[k], lo.re[k]);
      split_half2(c.im[nt][r], c.im[nt][r + 1], hi.im[k], lo.im[k]);
    } else {
      hi.re[k] = pack_half2(c.re[nt][r], c.re[nt][r + 1]);
      hi.im[k] = pack_half2(c.im[nt][r], c.im[nt][r + 1]);
    }
  }
}

// A layout -> B layout of the same matrix (k = rows, n = columns) by 8x8 transposes.
__device__ __forceinline__ void a_to_b(const AFrag& a, BFrag& b) {
#pragma unroll
  for (int nt = 0; nt < 2; ++nt) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      b.re[nt][h] = movmatrix_trans(a.re[2 * nt + h]);
      b.im[nt][h] = movmatrix_trans(a.im[2 * nt + h]);
    }
  }
}

// c *= w (complex, elementwise), w as 8 slots of float2.
__device__ __forceinline__ void multiply(CTile& c, const float2 (&w)[8]) {
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const float re = c.r(j), im = c.i(j);
    c.r(j) = re * w[j].x - im * w[j].y;
    c.i(j) = re * w[j].y + im * w[j].x;
  }
}

// c *= conj(w).
__device__ __forceinline__ void multiply_conj(CTile& c, const float2 (&w)[8]) {
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const float re = c.r(j), im = c.i(j);
    c.r(j) = re * w[j].x + im * w[j].y;
    c.i(j) = im * w[j].x - re * w[j].y;
  }
}

__device__ __forceinline__ void scale(CTile& c, float s) {
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    c.r(j) *= s;
    c.i(j) *= s;
  }
}

// Loads a lane's 8 slots (64 contiguous bytes) of a fragment-ordered table.
__device__ __forceinline__ void load_slots(float2 (&w)[8], const float2* table) {
  const float4* p = reinterpret_cast<const float4*>(table);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const float4 v = __ldg(p + k);
    w[2 * k] = make_float2(v.x, v.y);
    w[2 * k + 1] = make_float2(v.z, v.w);
  }
}

}  // namespace ffc::cuda
