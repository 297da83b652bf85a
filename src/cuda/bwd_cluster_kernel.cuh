// The fused backward kernel for N = RS x 4096 (8192, 16384, 32768): the gradients of
// bwd_kernel.cuh (same math, same dk partial spectra) with the block structure of
// fwd_cluster_kernel.cuh: a cluster of RS CTAs per batch pair, CTA c holding 4096-block c of both
// sequences z = x_b0 + i x_b1 and w = dc_b0 + i dc_b1 (slots 0 and 1, 16 KB of f16 planes each).
//
// Work: cluster = (head h, group g), looping over the group's pairs. Per pair:
//   stage : CTA c copies the input columns n' in [c W, c W + W) of every segment of the 8 raw rows
//           (u, pregate, dy, postgate of b0 and b1; W = 4096 / RS).
//   P1a   : per-slot maxima of this CTA's share, published to every CTA of the cluster (DSMEM);
//           each CTA derives the same power-of-two scales.
//   P1b   : radix-RS stage of both slots on this CTA's columns in f32, output row f' stored into
//           CTA f''s planes (DSMEM).
//   P2, P3: outer stage and inner rows of the local block for both slots, as bwd_kernel at
//           N = 4096 (dk accumulation, Z K and W conj(K), inverse inner stages).
//   P4    : CTA c pulls columns m in [c Wm, c Wm + Wm) (Wm = 256 / RS) of every block's rows from
//           the cluster, then per (slot, 8-column tile) the inverse outer stage of every block on
//           the tensor cores and the inverse radix-RS stage in f32; the outputs (dpostgate from z,
//           du and dpregate from w) multiply the gates read from global memory (L2: the cluster
//           staged them moments before) and are stored directly.
// After the group, CTA c writes positions c 4096 .. c 4096 + 4095 of the partial dk spectrum.
// Cluster barriers per pair: after the maxima, after the scattered stage, after P3, after the pull.
#pragma once

#include <cooperative_groups.h>

#include "cuda/bwd_kernel.cuh"
#include "cuda/fwd_cluster_kernel.cuh"

namespace ffc::cuda {

template <int kN>
struct BwdClusterShape {
  // The forward cluster's block geometry: RS CTAs = small radix, W input columns n' and Wm output
  // columns m per CTA, kCols columns per P1b unit.
  using F = ClusterShape<kN>;
  static constexpr int N = kN;
  static constexpr int RS = F::RS, W = F::W, Wm = F::Wm, kCols = F::kCols;
  static constexpr int kWarps = 8;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kCouples = 1;
  static constexpr int kRows = 16;                   // inner rows of the local block
  static constexpr int kAccUnits = kRows / kWarps;   // P3 units (and dk accumulators) per warp
  static constexpr int kPlaneBytes = 2 * 4 * 4096;   // f16 planes of both slots' local blocks
  static constexpr int kStageBytes = 8 * 4096 * 2;   // 8 rows x RS segments of W columns
  static constexpr int kSmemBytes = kPlaneBytes + kStageBytes;
  // After P1b the staging region holds P4's data: slot z's pulled columns (one slot of planes,
  // "slot 2" of FwdSmem<4096>) and the gates of this CTA's outputs (dy, u, pregate rows).
  static constexpr int kPulledSlot = kPlaneBytes / (4 * 4096);
  static constexpr int kGateOffset = 4 * 4096;
  static_assert(kGateOffset + 6 * 4096 * 2 <= kStageBytes, "P4's data fit the staging region");
  static_assert((2 * W / kCols) % kThreads == 0, "P1b units divide evenly");
  static_assert((2 * 16 * (Wm / 8) * RS) % kThreads == 0, "pulled chunks divide evenly");
  static_assert(kWarps * kAccUnits * 256 * 8 <= kPlaneBytes, "the dk reduction reuses the planes");
};

// Staged element j of segment f (position f 4096 + c W + j) of row `tensor` (0 u0 .. 7 post1).
template <int kN>
__device__ __forceinline__ unsigned char* bwd_cluster_input(unsigned char* stage, int tensor, int f, int j) {
  using C = BwdClusterShape<kN>;
  return stage + ((tensor * C::RS + f) * C::W + j) * 2;
}

// Copies this CTA's share of the 8 rows of a pair (positions at or past the length stay zero).
template <int kN, typename T>
__device__ __forceinline__ void bwd_cluster_stage(const BwdParams& p, const SlotRows& s, uint32_t mask, int rank,
                                                  unsigned char* stage) {
  using C = BwdClusterShape<kN>;
#pragma unroll 1
  for (int tensor = 0; tensor < 8; ++tensor) {
    if (!((mask >> tensor) & 1)) continue;
    const T* src = bwd_row<T>(p, s, tensor);
#pragma unroll 1
    for (int f = 0; f < C::RS; ++f) {
      const int64_t first = static_cast<int64_t>(f) * 4096 + rank * C::W;
      const int64_t avail = p.length - first;
      const int count = avail <= 0 ? 0 : (avail < C::W ? static_cast<int>(avail) : C::W);
      unsigned char* dst = bwd_cluster_input<kN>(stage, tensor, f, 0);
      if (p.vector_io) {
        for (int c = threadIdx.x; c < (count >> 3); c += C::kThreads) cp_async_16(smem_address(dst + 16 * c), src + first + 8 * c);
      } else {
        for (int j = threadIdx.x; j < count; j += C::kThreads) reinterpret_cast<T*>(dst)[j] = src[first + j];
      }
    }
  }
  cp_async_commit();
}

// Gate row g of P4's outputs: 0, 1 dy (dpostgate), 2, 3 u (dpregate), 4, 5 pregate (du) of rows b0,
// b1; output (f', a, m_local) at f' 16 Wm + a Wm + m_local, swizzled (cluster_post_offset).
__device__ __forceinline__ int gate_tensor(int g) { return g < 2 ? 4 + g : g - 2; }  // staged_mask bit

// Copies the gates of this CTA's outputs (positions f' 4096 + a 256 + rank Wm + [0, Wm)) of the rows
// in `rows` (bit g: gate row g) into the gate region.
template <int kN, typename T>
__device__ __forceinline__ void bwd_cluster_stage_gates(const BwdParams& p, const SlotRows& s, uint32_t rows, int rank,
                                                        unsigned char* gates) {
  using C = BwdClusterShape<kN>;
#pragma unroll 1
  for (int gr = 0; gr < 6; ++gr) {
    if (!((rows >> gr) & 1)) continue;
    const T* src = bwd_row<T>(p, s, gate_tensor(gr));
    constexpr int kChunks = C::Wm / 8;
    for (int i = threadIdx.x; i < C::RS * 16 * kChunks; i += C::kThreads) {
      const int run = i / kChunks, c = i % kChunks;
      const int f = run / 16, a = run % 16;
      const int64_t t = static_cast<int64_t>(f) * 4096 + a * 256 + rank * C::Wm + 8 * c;
      if (p.vector_io) {
        if (t < p.length) cp_async_16(smem_address(gates + cluster_post_offset<kN>(gr, f, a, 8 * c)), src + t);
      } else {
        for (int j = 0; j < 8; ++j) {
          if (t + j < p.length) *reinterpret_cast<T*>(gates + cluster_post_offset<kN>(gr, f, a, 8 * c + j)) = src[t + j];
        }
      }
    }
  }
  cp_async_commit();
}

template <int kN, typename T, bool kSplit>
__global__ void __cluster_dims__(BwdClusterShape<kN>::RS, 1, 1) __launch_bounds__(256, 2)
    bwd_cluster_kernel(const BwdParams p) {
  namespace cg = cooperative_groups;
  using C = BwdClusterShape<kN>;
  using Plane = FwdSmem<4096>;
  constexpr int RS = C::RS, W = C::W, Wm = C::Wm, kC = C::kCols;
  extern __shared__ __align__(128) unsigned char smem[];
  unsigned char* stage = smem + C::kPlaneBytes;
  unsigned char* gates = stage + C::kGateOffset;
  __shared__ float cluster_max[8][2][2];  // [rank][slot][max |value|, max |gate|]
  __shared__ float warp_max[C::kWarps][2][2];

  cg::cluster_group cluster = cg::this_cluster();
  const int rank = static_cast<int>(cluster.block_rank());
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const uint32_t smem_base = smem_address(smem);
  DftConsts g;
  g.load(p.frags, lane);
  const float bound = pair_bound(kN);
  const float small_norm = rsqrtf(static_cast<float>(RS));
  const TileLane lane_tile(lane);
  const bool vector = p.vector_io != 0;
  const int64_t item = blockIdx.x / RS;
  const int64_t head = item / p.groups;
  const int group = static_cast<int>(item % p.groups);
  const int64_t per = (p.pairs_per_head + p.groups - 1) / p.groups;
  const int64_t first = group * per;
  const int64_t last = min(first + per, p.pairs_per_head);
  const bool want_dk = p.dk_partial != nullptr, want_dpost = p.dpostgate != nullptr;
  const bool want_du = p.du != nullptr, want_dpre = p.dpregate != nullptr;
  const bool pre_gated = p.pregate != nullptr, post_gated = p.postgate != nullptr;
  const float spectrum_max = __ldg(p.spectrum_max + head);

  float2 acc[C::kAccUnits][8];
#pragma unroll
  for (int k = 0; k < C::kAccUnits; ++k)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[k][j] = make_float2(0.0f, 0.0f);
  for (int i = tid; i < C::kStageBytes / 16; i += C::kThreads) reinterpret_cast<uint4*>(stage)[i] = make_uint4(0, 0, 0, 0);

  // Every CTA of the cluster has started before any of them touches another's shared memory. Within
  // the loop, a CTA's remote writes of the next pair (maxima, scattered stage) come after the
  // maxima barrier, which every CTA reaches only once it is done with the previous pair's planes.
  cluster.sync();
#pragma unroll 1
  for (int64_t pair = first; pair < last; ++pair) {
    const SlotRows s = pair_rows(p, head, pair, last);
    const uint32_t mask = staged_mask(p, s);
    __syncthreads();  // the previous pair's reads of the staging region (gates, pulled slot) are done
    bwd_cluster_stage<kN, T>(p, s, mask, rank, stage);
    cp_async_wait_all();
    __syncthreads();

    // ---- P1a: per-slot maxima of this CTA's share, published to the cluster ---------------------
#pragma unroll
    for (int q = 0; q < 2; ++q) {
      using PK = Packed<T>;
      const int value = 4 * q;
      const bool gate = q ? post_gated : pre_gated;
      typename PK::T2 mv = {}, mg = {};
      for (int i = tid; i < 2 * 4096 / 8; i += C::kThreads) {  // rows value, value + 1
        const int row = value + i / (4096 / 8);
        if (!((mask >> row) & 1)) continue;
        const unsigned char* at = stage + row * 4096 * 2 + 16 * (i % (4096 / 8));
        fold_absmax<T>(mv, at);
        if (gate) fold_absmax<T>(mg, at + 2 * 4096 * 2);
      }
      float fv = PK::max_of(mv), fg = PK::max_of(mg);
      warp_max2(fv, fg);
      if (lane == 0) {
        warp_max[warp][q][0] = fv;
        warp_max[warp][q][1] = fg;
      }
    }
    __syncthreads();
    if (tid < RS * 4) {  // thread (r, e) writes entry e of this CTA's maxima into CTA r
      const int r = tid / 4, e = tid % 4;
      float m = 0.0f;
      for (int w = 0; w < C::kWarps; ++w) m = fmaxf(m, warp_max[w][e / 2][e % 2]);
      st_cluster(cluster_address(smem_address(&cluster_max[rank][0][0]), r) + 4 * e, m);
    }
    cluster.sync();
    float scale[2];
#pragma unroll
    for (int q = 0; q < 2; ++q) {
      float mv = 0.0f, mg = 0.0f;
#pragma unroll
      for (int r = 0; r < RS; ++r) {
        mv = fmaxf(mv, cluster_max[r][q][0]);
        mg = fmaxf(mg, cluster_max[r][q][1]);
      }
      scale[q] = power_of_two_scale((q ? post_gated : pre_gated) ? mv * mg : mv, bound);
    }

    // ---- P1b: radix-RS stage of both slots on this CTA's columns, scattered (DSMEM) --------------
#pragma unroll
    for (int k = 0; k < 2 * W / kC / C::kThreads; ++k) {
      const int unit = tid + k * C::kThreads;
      const int q = unit / (W / kC);
      const int j0 = (unit % (W / kC)) * kC;  // column offset within this CTA's share
      const int col = rank * W + j0;          // n'
      const int value = 4 * q;
      const bool gate = q ? post_gated : pre_gated;
      float2 z[kC][RS];
#pragma unroll
      for (int f = 0; f < RS; ++f) {
        float x[2][kC];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          using V = typename VecOf<kC * sizeof(T)>::type;
          auto load = [&](int tensor, float (&out)[kC]) {
            const V v = *reinterpret_cast<const V*>(bwd_cluster_input<kN>(stage, tensor, f, j0));
            const T* e = reinterpret_cast<const T*>(&v);
#pragma unroll
            for (int j = 0; j < kC; ++j) out[j] = IoTraits<T>::to_float(e[j]);
          };
          if ((mask >> (value + r)) & 1) {
            load(value + r, x[r]);
            if (gate) {
              float gv[kC];
              load(value + r + 2, gv);
#pragma unroll
              for (int j = 0; j < kC; ++j) x[r][j] *= gv[j];
            }
          } else {
#pragma unroll
            for (int j = 0; j < kC; ++j) x[r][j] = 0.0f;
          }
        }
#pragma unroll
        for (int j = 0; j < kC; ++j) z[j][f] = make_float2(x[0][j], x[1][j]);
      }
      cluster_small_stage_scatter<RS, kC>(z, (q ? scale[1] : scale[0]) * small_norm, p.twiddles, col, smem_base, q);
    }
    cluster.sync();
    // The input staging is consumed: the gates of this CTA's outputs load while P2 / P3 compute.
    const uint32_t gate_rows = ((want_dpost ? 3u : 0u) | (want_dpre ? 12u : 0u) | (want_du && pre_gated ? 48u : 0u)) &
                               (s.row1 != 0 ? 63u : 21u);
    bwd_cluster_stage_gates<kN, T>(p, s, gate_rows, rank, gates);

    // ---- P2, P3: the local block of both slots, as bwd_kernel at N = 4096 -----------------------
#pragma unroll 1
    for (int unit = warp; unit < 2 * 16; unit += C::kWarps) {
      const int q = unit / 16, ct = unit % 16;
      outer_tile<4096>(g, p.twiddles, smem_base, q, lane_tile.row * 256 + 16 * ct + lane_tile.col, ct, lane);
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < C::kAccUnits; ++k) {
      const int row = warp + k * C::kWarps;
      const int n = row * 256 + lane_tile.row * 16 + lane_tile.col;
      float2 kk[8], tw_inner[8];
      load_slots(kk, p.spectrum + ((head * (kN / 256) + rank * 16 + row) * 32 + lane) * 8);
      load_slots(tw_inner, p.twiddles + FwdTableLayout::kInner + lane * 8);
      CTile cz = forward_inner<4096, kSplit>(g, smem_base, 0, n, tw_inner);
      CTile cw = forward_inner<4096, kSplit>(g, smem_base, 1, n, tw_inner);
      if (want_dk) accumulate_dk(acc[k], cz, cw, 1.0f / scale[0], 1.0f / scale[1]);
      multiply_conj(cw, kk);
      AFrag w_hi, w_lo;
      to_a<kSplit>(cw, w_hi, w_lo);
      if (want_dpost) {
        multiply(cz, kk);
        inverse_inner<4096, kSplit, true>(cz, g, p.twiddles, smem_base, 0, n, row, tw_inner, lane);
      }
      inverse_inner_a<4096, kSplit, true>(w_hi, w_lo, g, p.twiddles, smem_base, 1, n, row, tw_inner, lane);
    }
    cluster.sync();

    // ---- P4: pull this CTA's columns of every block: slot z straight into the spare region (no
    // other CTA reads it), slot w through registers (it overwrites planes others still read) ------
    {
      constexpr int kChunks = Wm / 8;  // 16-byte chunks per row and block
      constexpr int kPull = RS * 2 * 16 * kChunks / C::kThreads;
      auto chunk_of = [&](int k, int& c, int& a, int& plane, int& block) {
        const int i = tid + k * C::kThreads;
        c = i % kChunks;
        a = (i / kChunks) % 16;
        plane = (i / (kChunks * 16)) % 2;
        block = i / (kChunks * 32);
      };
      uint4 pulled[kPull];
#pragma unroll
      for (int k = 0; k < kPull; ++k) {
        int c, a, plane, block;
        chunk_of(k, c, a, plane, block);
        const uint32_t remote = cluster_address(smem_base, block);
        const uint32_t from = a * 256 + rank * Wm + 8 * c, to = a * 256 + block * Wm + 8 * c;
        if (want_dpost) {
          *reinterpret_cast<uint4*>(smem + Plane::offset(C::kPulledSlot, plane, to)) =
              ld_cluster_v4(remote + Plane::offset(0, plane, from));
        }
        pulled[k] = ld_cluster_v4(remote + Plane::offset(1, plane, from));
      }
      cluster.sync();  // every CTA has its columns: the planes may be overwritten
#pragma unroll
      for (int k = 0; k < kPull; ++k) {
        int c, a, plane, block;
        chunk_of(k, c, a, plane, block);
        *reinterpret_cast<uint4*>(smem + Plane::offset(1, plane, a * 256 + block * Wm + 8 * c)) = pulled[k];
      }
    }
    cp_async_wait_all();
    __syncthreads();

    // ---- P4: inverse outer + radix-RS stages per (slot, 8-column tile), staged gates, outputs ----
#pragma unroll 1
    for (int unit = warp; unit < 2 * (Wm / 8); unit += C::kWarps) {
      const int q = unit / (Wm / 8), nt = unit % (Wm / 8);
      if (q == 0 && !want_dpost) continue;
      const int region = q == 0 ? C::kPulledSlot : 1;
      float acc_re[RS][4], acc_im[RS][4];
      cluster_outer_inverse<RS>(g, smem_base, region, nt, acc_re, acc_im);
      const float out_scale = spectrum_max / (q ? scale[1] : scale[0]) * kUnitary * small_norm;
      const int ml = 8 * nt + 2 * (lane & 3);  // local column
      const int m = rank * Wm + ml;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int a = (lane >> 2) + 8 * half;
        float2 v[2][RS];
        cluster_small_inverse<RS>(p.twiddles, acc_re, acc_im, half, m, v);
#pragma unroll
        for (int f = 0; f < RS; ++f) {
          const int64_t t = static_cast<int64_t>(f) * 4096 + a * 256 + m;
#pragma unroll
          for (int r = 0; r < 2; ++r) {
            if (r == 1 && s.row1 == 0) break;
            const int64_t at = s.offset + (r ? s.row1 : 0);
            float o[2] = {(r ? v[0][f].y : v[0][f].x) * out_scale, (r ? v[1][f].y : v[1][f].x) * out_scale};
            auto gate = [&](int gr) { return staged_pair<T>(gates + cluster_post_offset<kN>(gr, f, a, ml)); };
            if (q == 0) {
              const float2 d = gate(r);
              float y[2] = {o[0] * d.x, o[1] * d.y};
              store_chunk<T, 2>(static_cast<T*>(p.dpostgate) + at, t, p.length, vector, y);
            } else {
              if (want_dpre) {
                const float2 u = gate(2 + r);
                float y[2] = {o[0] * u.x, o[1] * u.y};
                store_chunk<T, 2>(static_cast<T*>(p.dpregate) + at, t, p.length, vector, y);
              }
              if (want_du) {
                if (pre_gated) {
                  const float2 pre = gate(4 + r);
                  o[0] *= pre.x;
                  o[1] *= pre.y;
                }
                store_chunk<T, 2>(static_cast<T*>(p.du) + at, t, p.length, vector, o);
              }
            }
          }
        }
      }
    }
  }

  // ---- the group's partial dk spectrum: this CTA's block ------------------------------------------
  // The last pull finished before the cluster barrier inside P4: no CTA reads these planes again.
  __syncthreads();
  if (want_dk) {
    write_dk_partial<C::kWarps, C::kAccUnits, 1, C::kRows>(
        reinterpret_cast<float2*>(smem), acc, kN, p.dk_partial + (head * p.groups + group) * static_cast<int64_t>(kN) + rank * 4096);
  }
  cluster.sync();  // no CTA leaves while others may still access its shared memory
}

}  // namespace ffc::cuda
