// The fused backward kernel for N = RS x 4096 (8192, 16384, 32768): the gradients of
// bwd_kernel.cuh (same math, same dk partial spectra) with the block structure of
// fwd_cluster_kernel.cuh: a cluster of RS CTAs per batch pair, CTA c holding 4096-block c of both
// sequences z = x_b0 + i x_b1 and w = dc_b0 + i dc_b1 (slots 0 and 1, 16 KB of f16 planes each).
//
// Work: cluster = (head h, group g), looping over the group's pairs. Per pair:
//   stage : CTA c copies the input columns n' in [c W, c W + W) of every segment of the 8 raw rows
//           (u, pregate, dy, postgate of b0 and b1; W = 4096 / RS), one warp per row, whole: zeros
//           past the length and for an absent row (cp.async source size 0).
//   P1a   : per-row maxima of this CTA's share, published to every CTA of the cluster (DSMEM);
//           each CTA derives the same power-of-two row scales (core/row_scales.hpp).
//   P1b   : radix-RS stage of both slots on this CTA's columns in f32, output row f' stored into
//           CTA f''s planes (DSMEM).
//   P2, P3: outer stage and inner rows of the local block for both slots, as bwd_kernel at
//           N = 4096 (dk accumulation, Z K and W conj(K), inverse inner stages).
//   P4    : CTA c pulls columns m in [c Wm, c Wm + Wm) (Wm = 256 / RS) of every block's rows from
//           the cluster, then per (slot, 8-column tile) the inverse outer stage of every block on
//           the tensor cores and the inverse radix-RS stage in f32; the outputs (dpostgate from z,
//           du and dpregate from w) multiply their gates, which loaded into the freed staging
//           region during P2 / P3, and are written over them (a compile-time OutputMode per unit);
//           the rows then leave with 16-byte stores of each run of Wm consecutive outputs.
// After the group, CTA c writes positions c 4096 .. c 4096 + 4095 of the partial dk spectrum.
// Cluster barriers per pair: after the maxima, after the scattered stage, after P3, after the pull.
#pragma once

#include <cooperative_groups.h>

#include "cuda/fused_cluster/cluster_stages.cuh"
#include "cuda/stages/bwd_stages.cuh"

namespace ffc::cuda {

template <int kN>
struct BwdClusterShape {
  // The forward cluster's block geometry: RS CTAs = small radix, W input columns n' and Wm output
  // columns m per CTA, kCols columns per P1b unit.
  using F = ClusterShape<kN>;
  static constexpr int N = kN;
  static constexpr int RS = F::RS, W = F::W, Wm = F::Wm, kCols = F::kCols, kRankSlots = F::kRankSlots;
  static constexpr int kWarps = 8;
  static constexpr int kThreads = 32 * kWarps;
  // Two CTAs per SM cap the registers at 128; a 16-CTA cluster holds 16 x 8 P4 accumulators per
  // thread and takes one CTA per SM instead of spilling.
  static constexpr int kMinBlocks = RS >= 16 ? 1 : 2;
  static constexpr int kArch = kHopperArch;  // clusters, distributed shared memory
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

// Copies this CTA's share of the 8 rows of a pair whole: data below the length, zeros past it and
// for absent rows (bit t of `data` clear), so no later phase needs bounds or presence checks;
// rows of absent tensors (`used` clear) are skipped. Warp t copies row t: chunk i = 32 j + lane of
// its share is segment i / (W / 8), column chunk i % (W / 8), staged at byte 16 i of the row's
// 8 KB.
template <int kN, typename T>
__device__ __forceinline__ void bwd_cluster_stage(const BwdParams& p, const SlotRows& s, uint32_t used,
                                                  uint32_t data, int rank, unsigned char* stage) {
  using C = BwdClusterShape<kN>;
  static_assert(C::kWarps == 8 && (C::W / 8) % 32 == 0, "one warp per row, whole warps per segment");
  constexpr int kSegJ = C::W / 8 / 32;  // j steps per segment
  const int lane = threadIdx.x & 31, tensor = threadIdx.x >> 5;
  if (!((used >> tensor) & 1)) return;
  const bool has = (data >> tensor) & 1;
  const T* src = has ? bwd_row<T>(p, s, tensor) : bwd_tensor<T>(p, tensor);
  const int lane_first = rank * C::W + 8 * lane;  // position of chunk lane of segment 0
  const int room = has ? static_cast<int>(p.length) - lane_first : 0;  // data where position - lane_first < room
  unsigned char* dst = stage + tensor * 8192 + 16 * lane;
  if (p.vector_io) {
    const uint32_t dst_base = smem_address(dst);
    const T* lane_src = src + lane_first;
#pragma unroll
    for (int j = 0; j < 4096 / 8 / 32; ++j) {
      const int offset = (j / kSegJ) * 4096 + 8 * 32 * (j % kSegJ);  // position - lane_first
      const bool copy = offset < room;
      cp_async_16_zfill(dst_base + 512 * j, copy ? lane_src + offset : src, copy ? 16u : 0u);
    }
  } else {
#pragma unroll 1
    for (int j = 0; j < 4096 / 8 / 32; ++j) {
      const int offset = (j / kSegJ) * 4096 + 8 * 32 * (j % kSegJ);
      for (int e = 0; e < 8; ++e) {
        reinterpret_cast<uint16_t*>(dst + 512 * j)[e] =
            offset + e < room ? reinterpret_cast<const uint16_t*>(src)[lane_first + offset + e] : uint16_t{0};
      }
    }
  }
  cp_async_commit();
}

// Gate row g of P4's outputs: 0, 1 dy (dpostgate), 2, 3 u (dpregate), 4, 5 pregate (du) of rows b0,
// b1; output (f', a, m_local) at f' 16 Wm + a Wm + m_local, swizzled (cluster_post_offset). P4
// writes each output over its gate row; the rows are then copied out.
__device__ __forceinline__ int gate_tensor(int g) { return g < 2 ? 4 + g : g - 2; }  // staged row

// The chunks of a gate row, in units (gate row, half row) of one warp: chunk i = 32 j + lane is run
// i / K = (f', a) (K = Wm / 8 chunks per run), column chunk i % K, at position f' 4096 + a 256 +
// rank Wm + 8 (i % K) and at swizzled chunk i of the row. With R = 32 / K runs per j step, chunk
// 32 j + lane is position lane_t + (j R / 16) 4096 + (j R % 16) 256.
template <int kN>
struct GateLanes {
  using C = BwdClusterShape<kN>;
  static constexpr int K = C::Wm / 8, R = 32 / K;
  static_assert(K >= 1 && K <= 32 && 16 % R == 0, "runs tile the warp");
  int lane_t;     // position of chunk `lane` (j = 0)
  int lane_part;  // lane ^ ((lane / 8) % 2): row_chunk_offset's lane term
  __device__ __forceinline__ explicit GateLanes(int rank) {
    const int lane = threadIdx.x & 31;
    lane_t = (lane / K) * 256 + rank * C::Wm + 8 * (lane % K);
    lane_part = lane ^ ((lane >> 3) & 1);
  }
  __device__ __forceinline__ static constexpr int offset(int j) { return (j * R / 16) * 4096 + (j * R % 16) * 256; }
};

// Calls f(gr, half) for this warp's units (gate row gr, half row) among the gate rows in `rows`.
template <int kN, typename F>
__device__ __forceinline__ void for_gate_units(uint32_t rows, const F& f) {
#pragma unroll 1
  for (int unit = threadIdx.x >> 5; unit < 12; unit += BwdClusterShape<kN>::kWarps) {
    const int gr = unit >> 1, half = unit & 1;
    if ((rows >> gr) & 1) f(gr, half);
  }
}

// Copies the gates of this CTA's outputs (rows in `rows`, bit g: gate row g) into the gate region,
// positions below the length (P4 computes past it but stores nothing there).
template <int kN, typename T>
__device__ __forceinline__ void bwd_cluster_stage_gates(const BwdParams& p, const SlotRows& s, uint32_t rows,
                                                        const GateLanes<kN>& lanes, unsigned char* gates) {
  const int room = static_cast<int>(p.length) - lanes.lane_t;
  for_gate_units<kN>(rows, [&](int gr, int half) {
    const T* src = bwd_row<T>(p, s, gate_tensor(gr)) + lanes.lane_t;
    unsigned char* row = gates + gr * 8192 + 4096 * half;
    if (p.vector_io) {
      const uint32_t row_base = smem_address(row);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const int offset = GateLanes<kN>::offset(8 * half + j);
        if (offset < room) cp_async_16(row_base + row_chunk_offset(j, lanes.lane_part), src + offset);
      }
    } else {
#pragma unroll 1
      for (int j = 0; j < 8; ++j) {
        const int offset = GateLanes<kN>::offset(8 * half + j);
        for (int e = 0; e < 8; ++e) {
          if (offset + e < room) *reinterpret_cast<T*>(row + row_chunk_offset(j, lanes.lane_part) + 2 * e) = src[offset + e];
        }
      }
    }
  });
  cp_async_commit();
}

// Copies P4's outputs (written over gate rows 0, 1 dpostgate, 2, 3 dpregate, 4, 5 du) to global
// memory, positions below the length: 16-byte stores of each run of Wm consecutive outputs.
template <int kN, typename T>
__device__ __forceinline__ void bwd_cluster_copy_out(const BwdParams& p, const SlotRows& s, uint32_t rows,
                                                     const GateLanes<kN>& lanes, const unsigned char* gates) {
  const int room = static_cast<int>(p.length) - lanes.lane_t;
  for_gate_units<kN>(rows, [&](int gr, int half) {
    void* tensor = gr < 2 ? p.dpostgate : gr < 4 ? p.dpregate : p.du;
    T* dst = static_cast<T*>(tensor) + s.offset + ((gr & 1) ? s.row1 : 0) + lanes.lane_t;
    const unsigned char* row = gates + gr * 8192 + 4096 * half;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int offset = GateLanes<kN>::offset(8 * half + j);
      const unsigned char* from = row + row_chunk_offset(j, lanes.lane_part);
      if (p.vector_io) {
        if (offset < room) *reinterpret_cast<uint4*>(dst + offset) = *reinterpret_cast<const uint4*>(from);
      } else {
        for (int e = 0; e < 8; ++e) {
          if (offset + e < room) dst[offset + e] = reinterpret_cast<const T*>(from)[e];
        }
      }
    }
  });
}

template <int kN, typename T, bool kSplit>
__global__ void __cluster_dims__(BwdClusterShape<kN>::RS, 1, 1) __launch_bounds__(256, BwdClusterShape<kN>::kMinBlocks)
    bwd_cluster_kernel(const BwdParams p) {
  namespace cg = cooperative_groups;
  using C = BwdClusterShape<kN>;
  using Plane = FwdSmem<4096>;
  constexpr int RS = C::RS, W = C::W, Wm = C::Wm, kC = C::kCols;
  extern __shared__ __align__(128) unsigned char smem[];
  unsigned char* stage = smem + C::kPlaneBytes;
  unsigned char* gates = stage + C::kGateOffset;
  __shared__ float cluster_max[C::kRankSlots][4][2];  // [rank][kind: u, pregate, dy, postgate][row]
  __shared__ uint32_t warp_max[C::kWarps][4];   // [warp][kind]: rows b0 | b1 packed

  cg::cluster_group cluster = cg::this_cluster();
  const int rank = static_cast<int>(cluster.block_rank());
  FFC_FUSED_KERNEL_PROLOGUE(kN, p.frags, smem);  // tid, lane, warp, smem_base, g, bound, small_norm, lane_tile
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
  const GateLanes<kN> gate_lanes(rank);
  // Staged rows: bit t, the tensor exists (the others are never staged or read).
  uint32_t used = 0;
#pragma unroll
  for (int t = 0; t < 8; ++t) used |= bwd_tensor<char>(p, t) != nullptr ? 1u << t : 0u;

  // Every CTA of the cluster has started before any of them touches another's shared memory. Within
  // the loop, a CTA's remote writes of the next pair (maxima, scattered stage) come after the
  // maxima barrier, which every CTA reaches only once it is done with the previous pair's planes.
  cluster.sync();
#pragma unroll 1
  for (int64_t pair = first; pair < last; ++pair) {
    const SlotRows s = pair_rows(p, head, pair, last);
    const uint32_t data = s.row1 != 0 ? used : used & 0x55u;  // rows with data this pair
    unsigned char* stage = smem + opaque(C::kPlaneBytes);    // staging addresses are not loop invariants
    unsigned char* gates = stage + C::kGateOffset;
    __syncthreads();  // the previous pair's reads of the staging region (gates, pulled slot) are done
    bwd_cluster_stage<kN, T>(p, s, used, data, rank, stage);
    cp_async_wait_all();
    __syncthreads();

    // ---- P1a: per-row maxima of this CTA's share, published to the cluster ----------------------
    // Packed 16-bit maxima of the kinds u, pregate, dy, postgate per row (absent rows are zeros; the
    // maxima are values of T: exact through the packed warp reduction, NaN kept).
    {
      constexpr int kPer = 4096 / 8 / C::kThreads;  // chunks per thread and row
      uint32_t m[4];
      couple_maxima<T, kPer>([&](int row, int i) { return stage + row * 8192 + 16 * (tid + i * C::kThreads); },
                             pre_gated, post_gated, m);
      if (lane == 0) {
#pragma unroll
        for (int kind = 0; kind < 4; ++kind) warp_max[warp][kind] = m[kind];
      }
    }
    __syncthreads();
    if (tid < RS * 8) {  // thread (r, e) writes entry e = (kind, row) of this CTA's maxima into CTA r
      using PK = Packed<T>;
      const int r = tid / 8, e = tid % 8;
      uint32_t m = 0u;
      for (int w = 0; w < C::kWarps; ++w) m = __vmaxu2(m, warp_max[w][e / 2]);
      st_cluster(cluster_address(smem_address(&cluster_max[rank][0][0]), r) + 4 * e, (e & 1) ? PK::high(m) : PK::low(m));
    }
    cluster.sync();
    core::BackwardScales bs;
    {
      float m[4][2];
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        float v = 0.0f;
#pragma unroll
        for (int r = 0; r < RS; ++r) v = max_nan(v, cluster_max[r][e / 2][e % 2]);
        m[e / 2][e % 2] = v;
      }
      bs = couple_scales(m, pre_gated, post_gated, bound);
    }
    const RowFactors in_factors[2] = {RowFactors::input(bs.x), RowFactors::input(bs.dc)};

    // ---- P1b: radix-RS stage of both slots on this CTA's columns, scattered (DSMEM) --------------
#pragma unroll
    for (int k = 0; k < 2 * W / kC / C::kThreads; ++k) {
      const int unit = opaque(tid) + k * C::kThreads;  // (addresses from tid are not hoisted and spilled)
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
            unpack<T, kC>(v, out);
          };
          load(value + r, x[r]);
          if (gate) {
            float gv[kC];
            load(value + r + 2, gv);
#pragma unroll
            for (int j = 0; j < kC; ++j) x[r][j] *= gv[j];
          }
          apply_input_ratio<kC>(x[r], in_factors[q].ratio[r]);
        }
#pragma unroll
        for (int j = 0; j < kC; ++j) z[j][f] = make_float2(x[0][j], x[1][j]);
      }
      cluster_small_stage_scatter<RS, kC>(z, in_factors[q].common * small_norm, p.twiddles, col, smem_base, q);
    }
    cluster.sync();
    // The input staging is consumed: the gates of this CTA's outputs load while P2 / P3 compute
    // (gate rows g: bit g; P4 writes its outputs over them, the du rows even without a pregate).
    const uint32_t out_rows = ((want_dpost ? 3u : 0u) | (want_dpre ? 12u : 0u) | (want_du ? 48u : 0u)) &
                              (s.row1 != 0 ? 63u : 21u);
    bwd_cluster_stage_gates<kN, T>(p, s, pre_gated ? out_rows : out_rows & 15u, gate_lanes, gates);

    // ---- P2, P3: the local block of both slots, as bwd_kernel at N = 4096 -----------------------
#pragma unroll 1
    for (int ct = warp; ct < 16; ct += C::kWarps) {  // both slots' tiles, one twiddle load
      outer_tile<4096, 2>(g, p.twiddles, smem_base, 0, lane_tile.row * 256 + 16 * ct + lane_tile.col, ct, lane);
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
      if (want_dk) accumulate_dk(acc[k], cz, cw, bs.dk_z, bs.dk_w);
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
      // Slot z's chunks are all loaded before the first store waits on one (one exposed DSMEM
      // latency), then slot w's (held in registers across the barrier).
      uint4 pulled[kPull];
      auto remote_chunk = [&](int k, int slot) {
        int c, a, plane, block;
        chunk_of(k, c, a, plane, block);
        return cluster_address(smem_base, block) + Plane::offset(slot, plane, a * 256 + rank * Wm + 8 * c);
      };
      if (want_dpost) {
#pragma unroll
        for (int k = 0; k < kPull; ++k) pulled[k] = ld_cluster_v4(remote_chunk(k, 0));
#pragma unroll
        for (int k = 0; k < kPull; ++k) {
          int c, a, plane, block;
          chunk_of(k, c, a, plane, block);
          *reinterpret_cast<uint4*>(smem + Plane::offset(C::kPulledSlot, plane, a * 256 + block * Wm + 8 * c)) =
              pulled[k];
        }
      }
#pragma unroll
      for (int k = 0; k < kPull; ++k) pulled[k] = ld_cluster_v4(remote_chunk(k, 1));
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

    // The output scales: the common factor of each slot folds into the inverse radix-RS twiddles; a
    // row whose factor differs (zero, non-finite, or another power of two) multiplies its own.
    const RowFactors out_factors[2] = {RowFactors::output(bs.x), RowFactors::output(bs.dc)};
    const float out_z = spectrum_max * out_factors[0].common * kUnitary * small_norm;
    const float out_w = spectrum_max * out_factors[1].common * kUnitary * small_norm;
    // ---- P4: inverse outer + radix-RS stages per (slot, 8-column tile); each output times its
    // staged gate, written over it (whole rows: positions past the length are not stored) ----------
    const int w_mode = !pre_gated ? kDuPlain : want_dpre ? kDuDpre : kDuGated;
#pragma unroll 1
    for (int unit = warp; unit < 2 * (Wm / 8); unit += C::kWarps) {
      const int q = unit / (Wm / 8), nt = unit % (Wm / 8);
      if (q == 0 && !want_dpost) continue;
      with_output_mode(q == 0 ? int{kDpost} : w_mode, [&](auto mode) {
        constexpr int kMode = decltype(mode)::value;
        float acc_re[RS][4], acc_im[RS][4];
        cluster_outer_inverse<RS>(g, smem_base, kMode == kDpost ? C::kPulledSlot : 1, nt, acc_re, acc_im);
        const float out_scale = kMode == kDpost ? out_z : out_w;
        const RowFactors& out = out_factors[kMode == kDpost ? 0 : 1];
        const bool rows_differ = !out.uniform();
        const int ml = 8 * nt + 2 * (lane & 3);  // local column
        const int m = rank * Wm + ml;
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int a = (lane >> 2) + 8 * half;
          float2 v[2][RS];
          cluster_small_inverse<RS>(p.twiddles, acc_re, acc_im, half, m, out_scale, v);
          if (rows_differ) {
#pragma unroll
            for (int e = 0; e < 2; ++e)
#pragma unroll
              for (int f = 0; f < RS; ++f) v[e][f] = make_float2(v[e][f].x * out.ratio[0], v[e][f].y * out.ratio[1]);
          }
          const uint32_t at0 = cluster_post_offset<kN>(0, 0, a, ml);
#pragma unroll
          for (int f = 0; f < RS; ++f) {
            unsigned char* at = gates + cluster_post_offset_block<kN>(at0, f);
#pragma unroll
            for (int r = 0; r < 2; ++r) {
              // Gate rows r (dy: dpostgate), 2 + r (u: dpregate), 4 + r (pregate: du).
              put_outputs<kMode, T>(at + ((kMode == kDpost ? 0 : 2) + r) * 8192, at + (4 + r) * 8192,
                                    r ? v[0][f].y : v[0][f].x, r ? v[1][f].y : v[1][f].x);
            }
          }
        }
      });
    }
    __syncthreads();
    bwd_cluster_copy_out<kN, T>(p, s, out_rows, gate_lanes, gates);
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
