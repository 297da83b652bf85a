// The fused forward kernel for N = RS x 4096 (8192, 16384, 32768): a thread-block cluster of RS CTAs
// per pair, each CTA holding one 4096-block of the pair (16 KB of f16 planes, like the N = 4096
// kernel), so large sizes keep the small-size occupancy and pipelining.
//
// After the radix-RS stage the RS blocks are independent 4096-point transforms, so only that stage
// crosses CTAs, through distributed shared memory (DSMEM):
//   P1  CTA c stages the input columns n' in [c W, c W + W) of all RS rows (W = 4096 / RS, cp.async
//       overlapped with the previous pair), the cluster agrees on the rows' power-of-two scales (each
//       CTA publishes its per-row maxima to every CTA), then CTA c does the radix-RS stage on its
//       columns in f32 and stores output row f' into CTA f''s planes (f16, DSMEM stores).
//   P2, P3  the outer stage and the inner rows of the local block, exactly as for N = 4096 (the
//       spectrum rows of block c are c 16 .. c 16 + 15).
//   P4  CTA c pulls the columns m in [c Wm, c Wm + Wm) (Wm = 256 / RS) of every block's 16 rows
//       from the cluster into its own planes (block f' at columns f' Wm .. f' Wm + Wm - 1), then per
//       8-column tile does the inverse outer stage of every block on the tensor cores and the
//       inverse radix-RS stage in f32 on the accumulators, times the output scale and the staged
//       postgate, and stores y.
// Cluster barriers: after the maxima, after the scattered stage, after P3, after the pull. DSMEM goes
// through 32-bit shared::cluster addresses (ptx.cuh).
#pragma once

#include "cuda/fused_cluster/cluster_stages.cuh"

namespace ffc::cuda {

template <int kN, typename T, bool kSplit>
__global__ void __cluster_dims__(ClusterShape<kN>::RS, 1, 1) __launch_bounds__(128, 3)
    fwd_cluster_kernel(const FwdParams p) {
  namespace cg = cooperative_groups;
  using C = ClusterShape<kN>;
  using Plane = FwdSmem<4096>;
  constexpr int RS = C::RS, W = C::W, Wm = C::Wm, kC = C::kCols;
  extern __shared__ __align__(128) unsigned char smem[];
  unsigned char* stage = smem + C::kPlaneBytes;     // this CTA's input share
  unsigned char* stage_b = stage + C::kInputBytes;  // postgate of this CTA's outputs
  __shared__ float cluster_max[2][C::kRankSlots][4];  // [parity][rank][max |u0|, |u1|, |pregate0|, |pregate1|]
  __shared__ SlotRows slot[2];

  cg::cluster_group cluster = cg::this_cluster();
  const int rank = static_cast<int>(cluster.block_rank());
  FFC_FUSED_KERNEL_PROLOGUE(kN, p.frags, smem);  // tid, lane, warp, smem_base, g, bound, small_norm, lane_tile
  const bool vector = p.vector_io != 0;
  const bool gated = p.pregate != nullptr;

  const int64_t clusters = gridDim.x / RS;
  const int64_t first = blockIdx.x / RS;
  for (int i = tid; i < C::kInputBytes / 16; i += C::kThreads) {
    reinterpret_cast<uint4*>(stage)[i] = make_uint4(0, 0, 0, 0);
  }
  if (tid == 0) slot[0] = slot_rows(p, first);
  // Every CTA of the cluster must have started before any of them touches another's shared memory.
  cluster.sync();
  if (first < p.items) {
    cluster_stage_inputs<kN, T>(p, slot[0], rank, stage);
    cluster_stage_post<kN, T>(p, slot[0], rank, stage_b);
  }

  int parity = 0;
  for (int64_t it = first; it < p.items; it += clusters, parity ^= 1) {
    const SlotRows s = slot[parity];
    cp_async_wait_all();
    __syncthreads();

    // ---- P1a: the rows' maxima, published to every CTA of the cluster ----------------------------
    {
      // Packed maxima of the bit patterns (a NaN is kept): rows u0, u1, pregate0, pregate1 lie 8 KB
      // apart (zero when ungated).
      using PK = Packed<T>;
      typename PK::T2 m[4] = {};
      for (int i = tid; i < 4096 / 8; i += C::kThreads) {
#pragma unroll
        for (int r = 0; r < 4; ++r) fold_absmax<T>(m[r], stage + r * 8192 + 16 * i);
      }
      uint32_t mu = PK::fold(m[0], m[1]), mp = PK::fold(m[2], m[3]);  // (row 0, row 1) halves
      warp_hmax2(mu, mp);
      __shared__ uint32_t warp_max[4][2];
      if (lane == 0) {
        warp_max[warp][0] = mu;
        warp_max[warp][1] = mp;
      }
      __syncthreads();
      if (tid < RS) {  // thread r writes this CTA's maxima into CTA r
        uint32_t cu = 0u, cp = 0u;
        for (int w = 0; w < 4; ++w) {
          cu = __vmaxu2(cu, warp_max[w][0]);
          cp = __vmaxu2(cp, warp_max[w][1]);
        }
        const uint32_t remote = cluster_address(smem_address(&cluster_max[parity][rank][0]), tid);
        st_cluster(remote, PK::low(cu));
        st_cluster(remote + 4, PK::high(cu));
        st_cluster(remote + 8, PK::low(cp));
        st_cluster(remote + 12, PK::high(cp));
      }
    }
    if (tid == 0) slot[parity ^ 1] = slot_rows(p, it + clusters);
    cluster.sync();
    core::RowScale rs[2];
#pragma unroll
    for (int row = 0; row < 2; ++row) {
      float mu = 0.0f, mp = 0.0f;
#pragma unroll
      for (int r = 0; r < RS; ++r) {
        mu = max_nan(mu, cluster_max[parity][r][row]);
        mp = max_nan(mp, cluster_max[parity][r][2 + row]);
      }
      rs[row] = core::row_scale(gated ? mu * mp : mu, bound);
    }
    const RowFactors in = RowFactors::input(rs);

    // ---- P1b: radix-RS stage on this CTA's columns, scattered to the cluster (DSMEM) -------------
    {
      const float sc = in.common * small_norm;
#pragma unroll
      for (int k = 0; k < W / kC / C::kThreads; ++k) {
        const int j0 = (tid + k * C::kThreads) * kC;  // column offset within this CTA's share
        const int col = rank * W + j0;                 // n'
        float2 z[kC][RS];
#pragma unroll
        for (int f = 0; f < RS; ++f) {
          float x0[kC], x1[kC];
          using V = typename VecOf<kC * sizeof(T)>::type;
          auto load = [&](int r, float (&out)[kC]) {
            const V v = *reinterpret_cast<const V*>(cluster_input<kN>(stage, r, f, j0));
            unpack<T, kC>(v, out);
          };
          load(0, x0);
          load(1, x1);
          if (gated) {
            float g0[kC], g1[kC];
            load(2, g0);
            load(3, g1);
#pragma unroll
            for (int j = 0; j < kC; ++j) {
              x0[j] *= g0[j];
              x1[j] *= g1[j];
            }
          }
          apply_input_ratio<kC>(x0, in.ratio[0]);
          apply_input_ratio<kC>(x1, in.ratio[1]);
#pragma unroll
          for (int j = 0; j < kC; ++j) z[j][f] = make_float2(x0[j], x1[j]);
        }
        cluster_small_stage_scatter<RS, kC>(z, sc, p.twiddles, col, smem_base, 0);
      }
    }
    cluster.sync();
    if (it + clusters < p.items) cluster_stage_inputs<kN, T>(p, slot[parity ^ 1], rank, stage);

    // ---- P2, P3: the local block, as for N = 4096 -------------------------------------------------
#pragma unroll 1
    for (int ct = warp; ct < 16; ct += C::kWarps) {
      outer_tile<4096>(g, p.twiddles, smem_base, 0, lane_tile.row * 256 + 16 * ct + lane_tile.col, ct, lane);
    }
    __syncthreads();
    {
      float2 tw_inner[8];
      load_slots(tw_inner, p.twiddles + FwdTableLayout::kInner + lane * 8);
      const float2* spectrum = p.spectrum + ((s.head * (kN / 256) + rank * 16) * 32 + lane) * 8;
      float2 k_next[8];
      load_slots(k_next, spectrum + warp * 32 * 8);
#pragma unroll 1
      for (int row = warp; row < 16; row += C::kWarps) {
        float2 k[8];
#pragma unroll
        for (int j = 0; j < 8; ++j) k[j] = k_next[j];
        if (row + C::kWarps < 16) load_slots(k_next, spectrum + (row + C::kWarps) * 32 * 8);
        inner_row<4096, kSplit, true>(g, p.twiddles, smem_base, 0, row * 256 + lane_tile.row * 16 + lane_tile.col, row, k,
                                      tw_inner, lane);
      }
    }
    cluster.sync();

    // ---- P4: pull this CTA's columns of every block, inverse outer + radix-RS stages, store y -----
    {
      constexpr int kChunks = Wm / 8;                        // 16-byte chunks per row and block
      constexpr int kPull = RS * 2 * 16 * kChunks / C::kThreads;  // chunks per thread
      uint4 pulled[kPull];
#pragma unroll
      for (int k = 0; k < kPull; ++k) {
        const int i = tid + k * C::kThreads;
        const int c = i % kChunks, a = (i / kChunks) % 16, plane = (i / (kChunks * 16)) % 2;
        const int block = i / (kChunks * 32);
        pulled[k] = ld_cluster_v4(cluster_address(smem_base, block) + Plane::offset(0, plane, a * 256 + rank * Wm + 8 * c));
      }
      cluster.sync();  // every CTA has its columns: the planes may be overwritten
#pragma unroll
      for (int k = 0; k < kPull; ++k) {
        const int i = tid + k * C::kThreads;
        const int c = i % kChunks, a = (i / kChunks) % 16, plane = (i / (kChunks * 16)) % 2;
        const int block = i / (kChunks * 32);
        *reinterpret_cast<uint4*>(smem + Plane::offset(0, plane, a * 256 + block * Wm + 8 * c)) = pulled[k];
      }
    }
    __syncthreads();
    {
      const T* post0 = p.postgate ? static_cast<const T*>(p.postgate) + s.offset : nullptr;
      T* y0 = static_cast<T*>(p.y) + s.offset;
      T* y1 = s.row1 ? y0 + s.row1 : nullptr;
      // The common output factor folds into the inverse radix-RS twiddles; a row whose factor differs
      // (a zero or non-finite row, or another power of two than its partner's) multiplies its own.
      const RowFactors out = RowFactors::output(rs);
      const float out_scale = __ldg(p.spectrum_max + s.head) * out.common * kUnitary * small_norm;
      const bool rows_differ = !out.uniform();
#pragma unroll 1
      for (int nt = warp; nt < Wm / 8; nt += C::kWarps) {
        float acc_re[RS][4], acc_im[RS][4];
        cluster_outer_inverse<RS>(g, smem_base, 0, nt, acc_re, acc_im);
        const int ml = 8 * nt + 2 * (lane & 3);  // local column
        const int m = rank * Wm + ml;
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int a = (lane >> 2) + 8 * half;
          float2 v[2][RS];
          cluster_small_inverse<RS>(p.twiddles, acc_re, acc_im, half, m, out_scale, v);
          const uint32_t post_at = cluster_post_offset<kN>(0, 0, a, ml);
#pragma unroll
          for (int f = 0; f < RS; ++f) {
            const int64_t t = static_cast<int64_t>(f) * 4096 + a * 256 + m;
            float o0[2] = {v[0][f].x, v[1][f].x};
            float o1[2] = {v[0][f].y, v[1][f].y};
            if (rows_differ) {
#pragma unroll
              for (int e = 0; e < 2; ++e) {
                o0[e] *= out.ratio[0];
                o1[e] *= out.ratio[1];
              }
            }
            if (post0 != nullptr) {
              const unsigned char* at = stage_b + cluster_post_offset_block<kN>(post_at, f);
              const uint32_t g0 = *reinterpret_cast<const uint32_t*>(at);
              const uint32_t g1 = *reinterpret_cast<const uint32_t*>(at + 4096 * 2);
              const T* e0 = reinterpret_cast<const T*>(&g0);
              const T* e1 = reinterpret_cast<const T*>(&g1);
              o0[0] *= IoTraits<T>::to_float(e0[0]);
              o0[1] *= IoTraits<T>::to_float(e0[1]);
              o1[0] *= IoTraits<T>::to_float(e1[0]);
              o1[1] *= IoTraits<T>::to_float(e1[1]);
            }
            if (vector) {
              if (t < p.length) {
                store_pair(y0 + t, o0);
                if (y1) store_pair(y1 + t, o1);
              }
            } else {
              store_chunk<T, 2>(y0, t, p.length, false, o0);
              if (y1) store_chunk<T, 2>(y1, t, p.length, false, o1);
            }
          }
        }
      }
    }
    __syncthreads();
    if (it + clusters < p.items) cluster_stage_post<kN, T>(p, slot[parity ^ 1], rank, stage_b);
  }
  cluster.sync();  // no CTA leaves while others may still access its shared memory
}

}  // namespace ffc::cuda
