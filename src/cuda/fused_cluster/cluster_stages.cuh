// The cluster stage library: the launch shape of the cluster kernels (ClusterShape) and the stages
// that cross the CTAs of a cluster: staging of a CTA's share of the input columns, the radix-RS
// stage scattered into the other CTAs' planes, and the inverse outer and radix-RS stages over the
// pulled columns (fwd_cluster_kernel.cuh describes the data flow).
#pragma once

#include <cooperative_groups.h>

#include "cuda/stages/fwd_stages.cuh"

namespace ffc::cuda {

template <int kN>
struct ClusterShape {
  static constexpr int N = kN;
  static constexpr int RS = core::small_radix(kN);  // CTAs per cluster = small radix
  static constexpr int kWarps = 4;
  static constexpr int kThreads = 128;
  static constexpr int kArch = kHopperArch;  // clusters, distributed shared memory
  static constexpr int W = 4096 / RS;           // input columns n' per CTA
  static constexpr int Wm = 256 / RS;           // output columns m per CTA
  // Rows of the cluster's shared maxima table: at least 8, the layout the 8192-32768 kernels'
  // machine code was measured with.
  static constexpr int kRankSlots = RS > 8 ? RS : 8;
  static constexpr int kCols = RS >= 16 ? 2 : 16 / RS;  // columns per P1 unit (registers: RS x kCols complex; whole f16 pairs)
  static constexpr int kPlaneBytes = 4 * 4096;  // f16 real + imaginary planes of one block
  static constexpr int kInputBytes = 4 * 4096 * 2;   // u0, u1, pregate0, pregate1: RS segments of W
  static constexpr int kPostBytes = 2 * 4096 * 2;    // postgate0, postgate1: the CTA's outputs
  static constexpr int kSmemBytes = kPlaneBytes + kInputBytes + kPostBytes;
  static_assert(RS == 2 || RS == 4 || RS == 8 || RS == 16, "cluster sizes are 8192 .. 65536 (16 CTAs: a non-portable cluster size)");
  static_assert((W / kCols) % kThreads == 0, "P1 units divide evenly");
  static_assert((Wm / 8) % 1 == 0 && Wm >= 8, "pull columns are whole chunks");
};

// Staged input element j of segment f (positions f 4096 + c W + j) of tensor row r.
template <int kN>
__device__ __forceinline__ const unsigned char* cluster_input(const unsigned char* stage, int r, int f, int j) {
  using C = ClusterShape<kN>;
  return stage + ((r * C::RS + f) * C::W + j) * 2;
}

// Postgate staging offset of output (f', a, m_local) (cuda/layout.hpp).
template <int kN>
__device__ __forceinline__ uint32_t cluster_post_offset(int row, int f, int a, int ml) {
  return post_offset(ClusterShape<kN>::Wm, row, f, a, ml);
}

// cluster_post_offset(row, f, a, ml) from base0 = cluster_post_offset(row, 0, a, ml).
template <int kN>
__device__ __forceinline__ uint32_t cluster_post_offset_block(uint32_t base0, int f) {
  return post_offset_block<2 * ClusterShape<kN>::Wm>(base0, f);
}

// Copies this CTA's share of the inputs (or of the postgate) of one pair into its staging region.
template <int kN, typename T>
__device__ __forceinline__ void cluster_stage_inputs(const FwdParams& p, const SlotRows& s, int rank,
                                                     unsigned char* stage) {
  using C = ClusterShape<kN>;
  if (!s.valid) return;
#pragma unroll 1
  for (int r = 0; r < 4; ++r) {
    const void* tensor = r < 2 ? p.u : p.pregate;
    if (tensor == nullptr || ((r & 1) && s.row1 == 0)) continue;
    const T* src = static_cast<const T*>(tensor) + s.offset + ((r & 1) ? s.row1 : 0);
#pragma unroll 1
    for (int f = 0; f < C::RS; ++f) {
      const int64_t first = static_cast<int64_t>(f) * 4096 + rank * C::W;
      const int64_t avail = p.length - first;
      const int count = avail <= 0 ? 0 : (avail < C::W ? static_cast<int>(avail) : C::W);
      unsigned char* dst = stage + ((r * C::RS + f) * C::W) * 2;
      if (p.vector_io) {
        for (int c = threadIdx.x; c < (count >> 3); c += C::kThreads) {
          cp_async_16(smem_address(dst + 16 * c), src + first + 8 * c);
        }
      } else {
        for (int j = threadIdx.x; j < count; j += C::kThreads) reinterpret_cast<T*>(dst)[j] = src[first + j];
      }
    }
  }
  cp_async_commit();
}

template <int kN, typename T>
__device__ __forceinline__ void cluster_stage_post(const FwdParams& p, const SlotRows& s, int rank,
                                                   unsigned char* stage_b) {
  using C = ClusterShape<kN>;
  if (!s.valid || p.postgate == nullptr) return;
#pragma unroll 1
  for (int row = 0; row < 2; ++row) {
    if (row == 1 && s.row1 == 0) break;
    const T* src = static_cast<const T*>(p.postgate) + s.offset + (row ? s.row1 : 0);
    // Runs of Wm outputs: (f', a) for positions f' 4096 + a 256 + rank Wm + [0, Wm).
    constexpr int kChunks = C::Wm / 8;
    for (int i = threadIdx.x; i < C::RS * 16 * kChunks; i += C::kThreads) {
      const int run = i / kChunks, c = i % kChunks;
      const int f = run / 16, a = run % 16;
      const int64_t t = static_cast<int64_t>(f) * 4096 + a * 256 + rank * C::Wm + 8 * c;
      unsigned char* dst = stage_b + cluster_post_offset<kN>(row, f, a, 8 * c);
      if (p.vector_io) {
        if (t < p.length) cp_async_16(smem_address(dst), src + t);
      } else {
        for (int j = 0; j < 8; ++j) {
          if (t + j < p.length) *reinterpret_cast<T*>(stage_b + cluster_post_offset<kN>(row, f, a, 8 * c + j)) = src[t + j];
        }
      }
    }
  }
  cp_async_commit();
}

// P1b of the cluster kernels: the radix-RS stage on columns col .. col + kC - 1 (z[j][f] = element
// f 4096 + col + j), twiddled by w_N^{(col + j) f} and scaled by sc; output row f goes as f16 into
// region `slot` of CTA f's planes (DSMEM).
template <int RS, int kC>
__device__ __forceinline__ void cluster_small_stage_scatter(float2 (&z)[kC][RS], float sc, const float2* twiddles,
                                                            int col, uint32_t smem_base, int slot) {
  using Plane = FwdSmem<4096>;
#pragma unroll
  for (int j = 0; j < kC; ++j) {
    small_dft<RS, false>(z[j]);
    twiddle_by_powers<RS, false>(z[j], __ldg(twiddles + FwdTableLayout::kSmall + col + j), sc);
  }
#pragma unroll
  for (int f = 0; f < RS; ++f) {
    const PackedRow<kC, RS> row(z, f);
    const uint32_t remote = cluster_address(smem_base, f);
    st_cluster(remote + Plane::offset(slot, 0, col), row.re);
    st_cluster(remote + Plane::offset(slot, 1, col), row.im);
  }
}

// P4 of the cluster kernels on 8-column tile nt of this CTA's pulled columns (region `slot` of
// FwdSmem<4096>, block f' at columns f' Wm .. f' Wm + Wm - 1): the inverse outer stage of every
// block on the tensor cores (outer_inverse_n8 layout per block).
template <int RS>
__device__ __forceinline__ void cluster_outer_inverse(const DftConsts& g, uint32_t smem_base, int slot, int nt,
                                                      float (&acc_re)[RS][4], float (&acc_im)[RS][4]) {
  constexpr int Wm = 256 / RS;
  const int lane = threadIdx.x & 31;
  const TileLane lane_tile(lane);
#pragma unroll
  for (int f = 0; f < RS; ++f) {
    outer_inverse_n8(g, smem_base + FwdSmem<4096>::offset(slot, lane >> 4, lane_tile.row * 256 + f * Wm + 8 * nt),
                     acc_re[f], acc_im[f]);
  }
}

// Then the inverse radix-RS stage across blocks in f32, times `scale` (folded into the twiddles),
// for row a = lane / 4 + 8 half: v[e][f'] is output position f' 4096 + a 256 + m + e (m = rank Wm +
// 8 nt + 2 (lane % 4)).
template <int RS>
__device__ __forceinline__ void cluster_small_inverse(const float2* twiddles, const float (&acc_re)[RS][4],
                                                      const float (&acc_im)[RS][4], int half, int m, float scale,
                                                      float2 (&v)[2][RS]) {
  const int a = ((threadIdx.x & 31) >> 2) + 8 * half;
#pragma unroll
  for (int e = 0; e < 2; ++e) {
    float2 z[RS];
#pragma unroll
    for (int f = 0; f < RS; ++f) z[f] = make_float2(acc_re[f][2 * half + e], acc_im[f][2 * half + e]);
    twiddle_by_powers<RS, true>(z, __ldg(twiddles + FwdTableLayout::kSmall + a * 256 + m + e), scale);
    small_dft<RS, true>(z);
#pragma unroll
    for (int f = 0; f < RS; ++f) v[e][f] = z[f];
  }
}

}  // namespace ffc::cuda
