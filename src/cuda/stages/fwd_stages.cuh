// The forward stage library: the device functions of the Monarch stages that every fused kernel
// (fused_cta/, fused_cluster/) is built from. A pair of real rows travels as one complex sequence
// in f16 real/imaginary planes (FwdSmem: XOR-swizzled 16-byte chunks); the stages are
//   P1 (small stage): radix-RS in f32 with FMAs while loading (small_stage_store) and storing
//                     (small_stage_inverse), scaled per row (core/row_scales.hpp);
//   P2 (outer stage): a 16-point stage over 16 x 16 tiles through shared memory (outer_tile);
//   P3 (inner rows):  two 16-point stages chained in registers on the tensor cores, times the filter
//                     spectrum, and back (inner_row);
// plus the staging (cp.async of raw rows), per-row maxima and the output copies they use.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "cuda/layout.hpp"
#include "cuda/params.hpp"
#include "cuda/stages/fwd_config.hpp"
#include "cuda/stages/io.cuh"
#include "cuda/stages/ptx.cuh"
#include "cuda/stages/row_factors.cuh"
#include "cuda/stages/small_dft.cuh"
#include "cuda/stages/tile_math.cuh"

namespace ffc::cuda {

template <int kN>
struct FwdSmem {
  using S = FwdShape<kN>;
  // Byte offset of element n of plane (0 = real, 1 = imaginary) of pair slot q.
  __device__ __forceinline__ static uint32_t offset(int q, int plane, int n) {
    return static_cast<uint32_t>(q * S::kPairBytes + plane * 2 * kN) + swizzled(n);
  }
};

// The rows of one pair slot of an iteration, computed once per iteration (one 64-bit division)
// and kept in shared memory.
struct SlotRows {
  int64_t offset;  // element offset of row b0 = 2p of head h; row b1 is `row1` elements further
  int64_t row1;    // heads * length, or 0 when b1 does not exist
  int64_t head;
  int valid;
};

__device__ __forceinline__ SlotRows slot_rows(const FwdParams& p, int64_t item) {
  SlotRows r{};
  r.valid = item < p.items;
  if (!r.valid) return r;
  r.head = item / p.pairs_per_head;
  const int64_t b0 = 2 * (item - r.head * p.pairs_per_head);
  r.offset = (b0 * p.heads + r.head) * p.length;
  r.row1 = b0 + 1 < p.batch ? p.heads * p.length : 0;
  return r;
}

// Row pointers of a slot for one tensor (null for absent rows).
template <typename T>
struct RowPair {
  const T* r0;
  const T* r1;
};

template <typename T>
__device__ __forceinline__ RowPair<T> rows_of(const void* tensor, const SlotRows& s) {
  if (tensor == nullptr || !s.valid) return {nullptr, nullptr};
  const T* base = static_cast<const T*>(tensor) + s.offset;
  return {base, s.row1 ? base + s.row1 : nullptr};
}

// |s x| <= pair_bound(N) keeps every unitary intermediate of an N-point transform (bounded by
// ||s z||_2 <= sqrt(2N) max|s x|) within half the f16 range.
__device__ __forceinline__ float pair_bound(int n) { return 32752.0f * rsqrtf(2.0f * n); }

// This lane's row and column offset in a 16x16 tile for ldmatrix / stmatrix x4: matrix l / 8 of
// the four covers rows (0-7 | 8-15) x columns (0-7 | 8-15).
struct TileLane {
  int row, col;
  __device__ __forceinline__ explicit TileLane(int lane)
      : row((lane & 7) + 8 * ((lane >> 3) & 1)), col(8 * (lane >> 4)) {}
};

// The locals every fused kernel starts with: tid, lane, warp; the shared-memory base; the DFT
// matrix fragments g in registers; the f16 bound of a pair of size kN (pair_bound); the small
// stage's unitary factor small_norm = 1 / sqrt(RS); this lane's tile position lane_tile. A macro
// rather than a struct: the kernels keep plain locals, and with them the register allocation (and
// machine code) they had when each spelled the lines out; a struct of these values changed it.
#define FFC_FUSED_KERNEL_PROLOGUE(kN, frags, smem)                                   \
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;                      \
  const uint32_t smem_base = smem_address(smem);                                      \
  DftConsts g;                                                                        \
  g.load(frags, lane);                                                                \
  const float bound = pair_bound(kN);                                                 \
  const float small_norm = rsqrtf(static_cast<float>(core::small_radix(kN)));         \
  const TileLane lane_tile(lane)

// z[f] *= s w^f (kConj: s conj(w)^f) for f = 0 .. R - 1. The f = 0 factor is the real s alone: a
// complex product with a zero imaginary part costs the full four operations (IEEE arithmetic
// cannot drop the products with zero).
template <int R, bool kConj>
__device__ __forceinline__ void twiddle_by_powers(float2 (&z)[R], float2 w, float s) {
  z[0] = make_float2(z[0].x * s, z[0].y * s);
  float2 cur = make_float2(w.x * s, w.y * s);
#pragma unroll
  for (int f = 1; f < R; ++f) {
    z[f] = kConj ? cmul_conj(z[f], cur) : cmul(z[f], cur);
    if (f + 1 < R) cur = cmul(cur, w);
  }
}

// Output row f of a radix-RS stage on kC columns (z[j][f], j < kC) as f16 real and imaginary plane
// vectors of kC values each (kC * 2 bytes: uint4, uint2 or one word).
template <int kC, int RS>
struct PackedRow {
  using V = typename VecOf<2 * kC>::type;
  V re, im;
  __device__ __forceinline__ PackedRow(const float2 (&z)[kC][RS], int f) {
    uint32_t* r = reinterpret_cast<uint32_t*>(&re);
    uint32_t* i = reinterpret_cast<uint32_t*>(&im);
#pragma unroll
    for (int j = 0; j < kC; j += 2) {
      r[j / 2] = pack_half2(z[j][f].x, z[j + 1][f].x);
      i[j / 2] = pack_half2(z[j][f].y, z[j + 1][f].y);
    }
  }
};

// P1's radix-RS stage on columns col .. col + kC - 1 of slot q: z[j][f] holds element f M + col + j;
// output f, twiddled by w_N^{(col + j) f} and scaled by s, is rounded to f16 at position
// f M + col + j of the slot's planes.
template <int kN, int kC>
__device__ __forceinline__ void small_stage_store(float2 (&z)[kC][FwdShape<kN>::RS], float s,
                                                  const float2* twiddles, unsigned char* smem, int q, int col) {
  constexpr int RS = FwdShape<kN>::RS, M = FwdShape<kN>::M;
#pragma unroll
  for (int j = 0; j < kC; ++j) {
    if constexpr (RS > 1) {
      small_dft<RS, false>(z[j]);
      twiddle_by_powers<RS, false>(z[j], __ldg(twiddles + FwdTableLayout::kSmall + col + j), s);
    } else {
      z[j][0] = make_float2(z[j][0].x * s, z[j][0].y * s);
    }
  }
#pragma unroll
  for (int f = 0; f < RS; ++f) {
    const PackedRow<kC, RS> row(z, f);
    *reinterpret_cast<typename PackedRow<kC, RS>::V*>(smem + FwdSmem<kN>::offset(q, 0, f * M + col)) = row.re;
    *reinterpret_cast<typename PackedRow<kC, RS>::V*>(smem + FwdSmem<kN>::offset(q, 1, f * M + col)) = row.im;
  }
}

// P5's inverse radix-RS stage on columns col .. col + kC - 1 of slot q, from the f16 planes:
// z[j][f] = element f M + col + j of the inverse (f32, not yet scaled).
template <int kN, int kC>
__device__ __forceinline__ void small_stage_inverse(float2 (&z)[kC][FwdShape<kN>::RS], const float2* twiddles,
                                                    const unsigned char* smem, int q, int col) {
  constexpr int RS = FwdShape<kN>::RS, M = FwdShape<kN>::M;
#pragma unroll
  for (int f = 0; f < RS; ++f) {
    const unsigned char* re = smem + FwdSmem<kN>::offset(q, 0, f * M + col);
    const unsigned char* im = smem + FwdSmem<kN>::offset(q, 1, f * M + col);
#pragma unroll
    for (int j = 0; j < kC / 2; ++j) {
      const float2 a = unpack_half2(reinterpret_cast<const uint32_t*>(re)[j]);
      const float2 b = unpack_half2(reinterpret_cast<const uint32_t*>(im)[j]);
      z[2 * j][f] = make_float2(a.x, b.x);
      z[2 * j + 1][f] = make_float2(a.y, b.y);
    }
  }
  if constexpr (RS > 1) {
#pragma unroll
    for (int j = 0; j < kC; ++j) {
      twiddle_by_powers<RS, true>(z[j], __ldg(twiddles + FwdTableLayout::kSmall + col + j), 1.0f);
      small_dft<RS, true>(z[j]);
    }
  }
}

// Region A holds the u rows of every slot, then (gated) the pregate rows: row of `tensor` (0 u0,
// 1 u1, 2 pre0, 3 pre1) of slot q. Region B (postgate) follows region A's actual size, so ungated
// calls launch with less shared memory (more CTAs per SM).
template <int kN>
__device__ __forceinline__ int stage_row(int q, int tensor) {
  return tensor < 2 ? 2 * q + tensor : 2 * FwdShape<kN>::kPairs + 2 * q + (tensor - 2);
}

// kC raw 16-bit values of staged row `tensor` (0 u0, 1 u1, 2 pre0, 3 pre1) of slot q at n, as
// floats. Staged rows are zero from the length to N (filled once per kernel), so no bounds checks.
template <int kN, typename T, int kC>
__device__ __forceinline__ void load_staged(const unsigned char* stage, int q, int tensor, int n,
                                            float (&out)[kC]) {
  const T* row = reinterpret_cast<const T*>(stage + stage_row<kN>(q, tensor) * FwdShape<kN>::kStageRowBytes);
  using V = typename VecOf<kC * sizeof(T)>::type;
  const V v = *reinterpret_cast<const V*>(row + n);
  unpack<T, kC>(v, out);
}

// Zero-fills the staging buffer once per kernel: the copies never write positions at or past the
// length, nor the rows of absent tensors, which must read as zero.
template <int kN>
__device__ __forceinline__ void zero_stage(unsigned char* stage, int bytes) {
  using S = FwdShape<kN>;
  for (int i = threadIdx.x; i < bytes / 16; i += S::kThreads) {
    reinterpret_cast<uint4*>(stage)[i] = make_uint4(0, 0, 0, 0);
  }
}

// Running maxima of |v| over 16-bit values, two per 32-bit word, as bit patterns: with the sign
// bit cleared, f16 and bf16 values (and +inf, NaN above them) order as unsigned integers, so one
// unsigned per-halfword max (and one AND) folds in a word of two values.
template <typename T>
struct Packed {
  using T2 = uint32_t;
  __device__ __forceinline__ static T2 absmax(T2 m, T2 v) { return __vmaxu2(m, v & 0x7fff7fffu); }
  // (max of a's halves, max of b's halves).
  __device__ __forceinline__ static T2 fold(T2 a, T2 b) {
    return __vmaxu2(__byte_perm(a, b, 0x5410), __byte_perm(a, b, 0x7632));
  }
  __device__ __forceinline__ static float low(T2 a) { return unpack2<T>(a).x; }
  __device__ __forceinline__ static float high(T2 a) { return unpack2<T>(a).y; }
};

// Folds the eight 16-bit values of the 16-byte chunk at `at` into the packed running |max| m.
template <typename T>
__device__ __forceinline__ void fold_absmax(typename Packed<T>::T2& m, const unsigned char* at) {
  const uint4 v = *reinterpret_cast<const uint4*>(at);
  m = Packed<T>::absmax(m, v.x);
  m = Packed<T>::absmax(m, v.y);
  m = Packed<T>::absmax(m, v.z);
  m = Packed<T>::absmax(m, v.w);
}

// The packed maximum becomes its lane-wise maximum over the warp.
__device__ __forceinline__ void warp_hmax(uint32_t& a) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) a = __vmaxu2(a, __shfl_xor_sync(0xffffffffu, a, o));
}

// Both packed maxima become their lane-wise maximum over the warp.
__device__ __forceinline__ void warp_hmax2(uint32_t& a, uint32_t& b) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    a = __vmaxu2(a, __shfl_xor_sync(0xffffffffu, a, o));
    b = __vmaxu2(b, __shfl_xor_sync(0xffffffffu, b, o));
  }
}

template <int kN, int kC>
__device__ __forceinline__ void zero(float (&x)[kC]) {
#pragma unroll
  for (int j = 0; j < kC; ++j) x[j] = 0.0f;
}

// Copies the raw u and pregate rows of an iteration's slots into the staging buffer: cp.async when
// rows are 16-byte aligned (the copies overlap the current iteration's compute), else plain loads.
template <int kN, typename T>
__device__ __forceinline__ void stage_inputs(const FwdParams& p, const SlotRows* slots,
                                             unsigned char* stage) {
  using S = FwdShape<kN>;
  const int64_t length = p.length;
  // Rows are (slot, tensor) = 4 per slot; the loops keep the per-thread work free of divisions.
#pragma unroll 1
  for (int i = 0; i < S::kPairs * 4; ++i) {
    const int q = i >> 2, tensor = i & 3;
    const SlotRows& s = slots[q];
    const void* src_tensor = tensor < 2 ? p.u : p.pregate;
    if (!s.valid || src_tensor == nullptr || ((tensor & 1) && s.row1 == 0)) continue;
    const T* src = static_cast<const T*>(src_tensor) + s.offset + ((tensor & 1) ? s.row1 : 0);
    unsigned char* dst = stage + stage_row<kN>(q, tensor) * S::kStageRowBytes;
    if (p.vector_io) {
      const int chunks = static_cast<int>(length >> 3);  // 16-byte chunks
      for (int c = threadIdx.x; c < chunks; c += S::kThreads) {
        cp_async_16(smem_address(dst + 16 * c), src + 8 * c);
      }
    } else {
      for (int n = threadIdx.x; n < length; n += S::kThreads) reinterpret_cast<T*>(dst)[n] = src[n];
    }
  }
  cp_async_commit();
}

// Copies the postgate rows of an iteration's slots into region B (swizzled chunks).
template <int kN, typename T>
__device__ __forceinline__ void stage_post(const FwdParams& p, const SlotRows* slots,
                                           unsigned char* stage_b) {
  using S = FwdShape<kN>;
  if (p.postgate == nullptr) return;
  const int64_t length = p.length;
#pragma unroll 1
  for (int row = 0; row < S::kPairs * 2; ++row) {
    const SlotRows& s = slots[row >> 1];
    if (!s.valid || ((row & 1) && s.row1 == 0)) continue;
    const T* src = static_cast<const T*>(p.postgate) + s.offset + ((row & 1) ? s.row1 : 0);
    unsigned char* dst = stage_b + row * S::kStageRowBytes;
    if (p.vector_io) {
      for (int c = threadIdx.x; c < static_cast<int>(length >> 3); c += S::kThreads) {
        cp_async_16(smem_address(dst + swizzled(8 * c)), src + 8 * c);
      }
    } else {
      for (int n = threadIdx.x; n < length; n += S::kThreads) {
        *reinterpret_cast<T*>(dst + swizzled(n)) = src[n];
      }
    }
  }
  cp_async_commit();
}

// x0, x1 (rows b0, b1) = pregate * u at positions n .. n + kC - 1 of slot q, from the staging
// buffer, times the rows' input ratios (zeros for a row that does not enter).
template <int kN, typename T, int kC>
__device__ __forceinline__ void load_inputs(const FwdParams& p, const SlotRows& s, const unsigned char* stage,
                                            int q, int n, const RowFactors& in, float (&x0)[kC], float (&x1)[kC]) {
  if (!s.valid) {
    zero<kN, kC>(x0);
    zero<kN, kC>(x1);
    return;
  }
  const bool has1 = s.row1 != 0, gated = p.pregate != nullptr;
  load_staged<kN, T, kC>(stage, q, 0, n, x0);
  if (has1) load_staged<kN, T, kC>(stage, q, 1, n, x1); else zero<kN, kC>(x1);
  if (gated) {
    float g[kC];
    load_staged<kN, T, kC>(stage, q, 2, n, g);
#pragma unroll
    for (int j = 0; j < kC; ++j) x0[j] *= g[j];
    if (has1) {
      load_staged<kN, T, kC>(stage, q, 3, n, g);
#pragma unroll
      for (int j = 0; j < kC; ++j) x1[j] *= g[j];
    }
  }
  apply_input_ratio<kC>(x0, in.ratio[0]);
  apply_input_ratio<kC>(x1, in.ratio[1]);
}

// The packed f16 P1 of one row: (u s_a s_b) pregate, with s = s_a s_b the row's power-of-two scale
// (s_a <= 2^15 and s_b <= 2^15 are f16 values; s itself may not be).
struct PackedRowScale {
  __half2 a, b;
  bool enters;
};

// Whether the packed f16 P1 gives exactly the f32 path's values for a row with scale `rs` and
// max |u| = max_u: (u s) pregate rounded once equals round_f16(x s) when u s is exact, i.e. s a power
// of two >= 1 (no subnormal loss) with s max |u| in the f16 range (s bounds s |u pregate|, not
// s |u|: large inputs with small gates take the f32 path). s <= 2^30 splits into two f16 factors (a
// single f16 factor would be inf for s >= 2^16, and small inputs would come out NaN).
__device__ __forceinline__ bool packed_row_scale(const core::RowScale& rs, float max_u, PackedRowScale& out) {
  out.enters = rs.in != 0.0f;
  if (!out.enters) return true;
  if (rs.in < 1.0f || rs.in > 0x1p30f || rs.in * max_u > 65504.0f) return false;
  const float sa = fminf(rs.in, 0x1p15f);
  out.a = __float2half2_rn(sa);
  out.b = __float2half2_rn(rs.in / sa);
  return true;
}

// P1 for f16 I/O without a small stage: one 8-element chunk of rows b0 (real plane) and b1
// (imaginary plane), x = (u s) pregate in packed f16 (zeros for a row that does not enter).
template <int kN>
__device__ __forceinline__ void p1_packed_f16(const unsigned char* stage, unsigned char* re,
                                              unsigned char* im, const SlotRows& s, int q, int col,
                                              bool gated, const PackedRowScale (&scale)[2]) {
  using S = FwdShape<kN>;
  uint4 out[2] = {make_uint4(0, 0, 0, 0), make_uint4(0, 0, 0, 0)};
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (!s.valid || (r == 1 && s.row1 == 0) || !scale[r].enters) continue;
    const uint4 u = *reinterpret_cast<const uint4*>(stage + stage_row<kN>(q, r) * S::kStageRowBytes + 2 * col);
    const __half2* u2 = reinterpret_cast<const __half2*>(&u);
    __half2* o2 = reinterpret_cast<__half2*>(&out[r]);
#pragma unroll
    for (int j = 0; j < 4; ++j) o2[j] = __hmul2(__hmul2(u2[j], scale[r].a), scale[r].b);
    if (gated) {
      const uint4 g = *reinterpret_cast<const uint4*>(stage + stage_row<kN>(q, 2 + r) * S::kStageRowBytes + 2 * col);
      const __half2* g2 = reinterpret_cast<const __half2*>(&g);
#pragma unroll
      for (int j = 0; j < 4; ++j) o2[j] = __hmul2(o2[j], g2[j]);
    }
  }
  *reinterpret_cast<uint4*>(re) = out[0];
  *reinterpret_cast<uint4*>(im) = out[1];
}

// Two outputs packed as the I/O dtype (low half = first).
template <typename T>
__device__ __forceinline__ uint32_t pack_io(float a, float b) {
  T e[2] = {IoTraits<T>::from_float(a), IoTraits<T>::from_float(b)};
  return *reinterpret_cast<const uint32_t*>(e);
}

// kC values of a swizzled staged row (region B) at t (t a multiple of kC), as floats.
template <int kN, typename T, int kC>
__device__ __forceinline__ void load_staged_swizzled(const unsigned char* stage_b, int row, int t,
                                                     float (&out)[kC]) {
  using V = typename VecOf<kC * sizeof(T)>::type;
  const V v = *reinterpret_cast<const V*>(stage_b + row * FwdShape<kN>::kStageRowBytes + swizzled(t));
  unpack<T, kC>(v, out);
}

// Copies rows y0 (real plane) and y1 (imaginary plane) of slot 0, already in the I/O dtype, to
// global memory: 16-byte stores when rows are aligned, element stores otherwise.
template <int kN, typename T>
__device__ __forceinline__ void copy_out(const FwdParams& p, const SlotRows& s, const unsigned char* smem) {
  using S = FwdShape<kN>;
  const int length = static_cast<int>(p.length);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (r == 1 && s.row1 == 0) break;
    T* y = static_cast<T*>(p.y) + s.offset + (r ? s.row1 : 0);
    const unsigned char* plane = smem + FwdSmem<kN>::offset(0, r, 0);
    if (p.vector_io) {
      for (int c = threadIdx.x; c < (length >> 3); c += S::kThreads) {
        *reinterpret_cast<uint4*>(y + 8 * c) = *reinterpret_cast<const uint4*>(plane + swizzled(8 * c));
      }
    } else {
      for (int n = threadIdx.x; n < length; n += S::kThreads) {
        y[n] = *reinterpret_cast<const T*>(plane + swizzled(n));
      }
    }
  }
}

// Stores two consecutive outputs as one 32-bit word.
template <typename T>
__device__ __forceinline__ void store_pair(T* at, const float (&o)[2]) {
  T e[2] = {IoTraits<T>::from_float(o[0]), IoTraits<T>::from_float(o[1])};
  *reinterpret_cast<uint32_t*>(at) = *reinterpret_cast<const uint32_t*>(e);
}

// Loads a 16x16 complex tile (rows at `row_stride` elements) as B fragments; `n` is this lane's
// tile address (row, 8-column half) and the registers follow ldmatrix x4 order.
template <int kN>
__device__ __forceinline__ void load_b_tile(BFrag& x, uint32_t smem_base, int q, int n) {
  uint32_t r[4];
  ldmatrix_x4_trans(r, smem_base + FwdSmem<kN>::offset(q, 0, n));
  x.re[0][0] = r[0]; x.re[0][1] = r[1]; x.re[1][0] = r[2]; x.re[1][1] = r[3];
  ldmatrix_x4_trans(r, smem_base + FwdSmem<kN>::offset(q, 1, n));
  x.im[0][0] = r[0]; x.im[0][1] = r[1]; x.im[1][0] = r[2]; x.im[1][1] = r[3];
}

// kArch (here and below): the architecture whose instructions the stage uses (kHopperArch: stmatrix).
template <int kN, int kArch = kHopperArch>
__device__ __forceinline__ void store_tile(const CTile& c, uint32_t smem_base, int q, int n) {
  AFrag a, unused;
  to_a<false>(c, a, unused);
  store_matrix_x4<kArch>(smem_base + FwdSmem<kN>::offset(q, 0, n), a.re);
  store_matrix_x4<kArch>(smem_base + FwdSmem<kN>::offset(q, 1, n), a.im);
}

// P2 on one 16x16 tile of each of the kQ slots q0 .. q0 + kQ - 1: the outer 16-point stage (rows
// 256 elements apart, column tile ct of a 4096-block) on the tensor cores, twiddled in f32 and
// stored back in place. The slots share the tile's twiddles (one load for all of them). kPlaneN is
// the number of elements per shared-memory plane (the layout of FwdSmem<kPlaneN>).
template <int kPlaneN, int kQ = 1, int kArch = kHopperArch>
__device__ __forceinline__ void outer_tile(const DftConsts& g, const float2* twiddles, uint32_t smem_base,
                                           int q0, int n, int ct, int lane) {
  float2 w[8];
  load_slots(w, twiddles + FwdTableLayout::kOuterFwd + (ct * 32 + lane) * 8);
#pragma unroll
  for (int i = 0; i < kQ; ++i) {
    BFrag x;
    load_b_tile<kPlaneN>(x, smem_base, q0 + i, n);
    CTile c;
    c.zero();
    left_product<false>(c, g, x);
    multiply(c, w);
    store_tile<kPlaneN, kArch>(c, smem_base, q0 + i, n);
  }
}

// The inverse outer 16-point stage on one n8 column tile of a 4096-block (rows 256 elements apart;
// `tile` is this lane's ldmatrix address, real plane for lanes 0-15, imaginary for 16-31):
// conj(G) X, Re = Gr Xr + Gi Xi, Im = Gr Xi - Gi Xr. Registers 0, 1 hold row lane / 4, columns
// 2 (lane % 4) + {0, 1}; registers 2, 3 the same columns of row lane / 4 + 8.
__device__ __forceinline__ void outer_inverse_n8(const DftConsts& g, uint32_t tile, float (&re)[4], float (&im)[4]) {
  uint32_t r[4];
  ldmatrix_x4_trans(r, tile);
#pragma unroll
  for (int k = 0; k < 4; ++k) re[k] = im[k] = 0.0f;
  mma_16816(re, g.a[0], r[0], r[1]);
  mma_16816(re, g.a[1], r[2], r[3]);
  mma_16816(im, g.a[0], r[2], r[3]);
  mma_16816(im, g.a[2], r[0], r[1]);
}

// The forward inner stages of one 256-element row (stage over b, twiddle w_256, stage over c) on
// the tensor cores: the row's spectrum slots in f32. The last stage's unitary factor 1 / (4 kSigma)
// is not applied (the normalized filter spectrum carries it), so c = 4 kSigma x (unitary DFT).
template <int kPlaneN, bool kSplit>
__device__ __forceinline__ CTile forward_inner(const DftConsts& g, uint32_t smem_base, int q, int n,
                                               const float2 (&tw_inner)[8]) {
  BFrag x;
  load_b_tile<kPlaneN>(x, smem_base, q, n);
  CTile c;
  c.zero();
  left_product<false>(c, g, x);
  multiply(c, tw_inner);
  AFrag hi, lo;
  to_a<kSplit>(c, hi, lo);
  c.zero();
  right_product<false>(c, hi, g);
  if constexpr (kSplit) right_product<false>(c, lo, g);
  return c;
}

// The inverse inner stages of a row's spectrum slots (already times the filter), given in the A
// layout (hi, and lo with kSplit): stage over f_c (right, conj), twiddle, transpose, stage over f_b
// (left, conj), then the outer stage's inverse twiddle for row `outer_row` of its 4096-block
// (kOuter) or the unitary scale; stored back in place.
template <int kPlaneN, bool kSplit, bool kOuter, int kArch = kHopperArch>
__device__ __forceinline__ void inverse_inner_a(AFrag hi, AFrag lo, const DftConsts& g, const float2* twiddles,
                                                uint32_t smem_base, int q, int n, int outer_row,
                                                const float2 (&tw_inner)[8], int lane) {
  float2 w_out[8];
  if constexpr (kOuter) load_slots(w_out, twiddles + FwdTableLayout::kOuterInv + (outer_row * 32 + lane) * 8);
  CTile c;
  c.zero();
  right_product<true>(c, hi, g);
  if constexpr (kSplit) right_product<true>(c, lo, g);
  multiply_conj(c, tw_inner);
  to_a<kSplit>(c, hi, lo);
  BFrag bh;
  a_to_b(hi, bh);
  c.zero();
  left_product<true>(c, g, bh);
  if constexpr (kSplit) {
    BFrag bl;
    a_to_b(lo, bl);
    left_product<true>(c, g, bl);
  }
  if constexpr (kOuter) {
    multiply(c, w_out);
  } else {
    scale(c, kUnitary);
  }
  store_tile<kPlaneN, kArch>(c, smem_base, q, n);
}

// The same from the f32 C layout.
template <int kPlaneN, bool kSplit, bool kOuter, int kArch = kHopperArch>
__device__ __forceinline__ void inverse_inner(const CTile& c, const DftConsts& g, const float2* twiddles,
                                              uint32_t smem_base, int q, int n, int outer_row,
                                              const float2 (&tw_inner)[8], int lane) {
  AFrag hi, lo;
  to_a<kSplit>(c, hi, lo);
  inverse_inner_a<kPlaneN, kSplit, kOuter, kArch>(hi, lo, g, twiddles, smem_base, q, n, outer_row, tw_inner, lane);
}

// P3 on one 256-element row: forward inner stages, times the filter slots k (stored as
// K / (4 sigma max|K|) in this fragment order), inverse inner stages.
template <int kPlaneN, bool kSplit, bool kOuter, int kArch = kHopperArch>
__device__ __forceinline__ void inner_row(const DftConsts& g, const float2* twiddles, uint32_t smem_base,
                                          int q, int n, int outer_row, const float2 (&k)[8],
                                          const float2 (&tw_inner)[8], int lane) {
  CTile c = forward_inner<kPlaneN, kSplit>(g, smem_base, q, n, tw_inner);
  multiply(c, k);
  inverse_inner<kPlaneN, kSplit, kOuter, kArch>(c, g, twiddles, smem_base, q, n, outer_row, tw_inner, lane);
}

}  // namespace ffc::cuda
