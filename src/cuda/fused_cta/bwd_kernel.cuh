// The fused backward kernel for N = 256 .. 4096 (one template: BwdShape<N> descriptor, I/O dtype,
// precision mode). Gradients of y = postgate * conv(pregate * u, k), with x = pregate * u and
// dc = postgate * dy:
//   dpostgate = dy * conv(x, k)                    (Z = DFT(x), inverse of Z K)
//   du        = pregate * corr(dc, k)              (W = DFT(dc), inverse of W conj(K))
//   dpregate  = u * corr(dc, k)
//   dk[j]     = sum_b corr(dc_b, x_b)[j] = IDFT(sum_b W_b conj(Z_b))[j] / N
// One pass reads dy, u and the gates once and writes du, dpregate and dpostgate once; the filter
// gradient leaves as one partial spectrum per (head, group) of batch pairs, which the f32 kernels
// of dk_kernel.cuh (finish, output) sum in group order and transform back: deterministic, no
// atomics.
//
// Work: CTA = (head h, group g), looping over the group's batch pairs, kCouples pairs per
// iteration. Pair (b0, b1) travels as two complex sequences, z = x_b0 + i x_b1 and w = dc_b0 +
// i dc_b1 (slots 2c and 2c + 1 of couple c; the filter is real, so the rows never mix in the
// convolutions). Since x and dc are real, Re IDFT(W conj(Z)) = corr(dc_b0, x_b0) + corr(dc_b1,
// x_b1) (the cross terms land in the imaginary part), so the per-pair product W conj(Z) of the
// two complex spectra is all dk needs; it is accumulated in f32 registers, in the fragment order
// of the tensor-core tiles.
//
// Phases of one iteration (barriers between them), with the forward stages (stages/fwd_stages.cuh):
//   stage : the 8 raw rows of each couple (u, pregate, dy, postgate for b0 and b1), planned by
//           warp 0 (StagePlan), land in staging rows that also serve the output phase (no re-read
//           of HBM): N < 4096 one bulk (TMA) copy per linear row, double-buffered below 2048 so
//           the next iteration's rows load during this one; N = 4096 whole swizzled rows by
//           cp.async with zero fill, one warp per row.
//   P1    : pass A bounds max |pregate u| and max |postgate dy| per row and sets power-of-two row
//           scales (core/row_scales.hpp: tied across the pair for dk, zero and non-finite rows enter
//           as zeros); pass B does the radix-RS stage in f32 and stores f16 planes.
//   P2    : (N = 4096) outer 16-point stage on the tensor cores.
//   P3    : per (couple, 256-element row): forward inner stages of z and w, acc += conj(Z) W / P (P
//           the pair's tied scale product), then Z K and W conj(K) through the inverse inner
//           stages, back in place.
//   P4/P5 : inverse outer (N = 4096) or radix-RS (N < 4096) stage, output scales, times the staged
//           gates: dpostgate from slot z, du and dpregate from slot w. P4 writes the results over
//           the staging rows they replace (dy, pregate, u; a compile-time OutputMode per tile
//           loop) and copies them out with 16-byte stores; P5 stores from registers.
// After the group: the warps' accumulators are summed (couples in order) through shared memory and
// written as the (head, group) partial spectrum in the natural block-major positions.
#pragma once

#include "cuda/stages/bwd_stages.cuh"

namespace ffc::cuda {

// kArch: kHopperArch (the fused_cta algorithm: bulk copies on an mbarrier, stmatrix) or 80
// (portable_cta: the same staging layout filled by element copies, stmatrix emulated).
template <int kN, typename T, bool kSplit, int kW = kBwdWarps<kN>, int kArch = kHopperArch>
__global__ void __launch_bounds__(BwdShape<kN, kW>::kThreads, BwdShape<kN, kW>::kMinBlocks)
    bwd_kernel(const BwdParams p) {
  static_assert(kN <= 4096, "larger sizes use bwd_cluster_kernel");
  using S = BwdShape<kN, kW>;
  constexpr bool kBulk = S::kBulkStage && kArch >= 90;  // linear rows by bulk copies
  constexpr int RS = S::RS, M = S::M, kC = S::kCols, C = S::kCouples;
  extern __shared__ __align__(128) unsigned char smem[];
  __shared__ SlotRows rows_of[S::kBuffers][C];               // per staging buffer
  __shared__ StagePlan<S::kStageRows> plan_of[S::kBuffers];
  __shared__ unsigned int max_bits[C][4][2];  // per couple: max |u|, |pregate|, |dy|, |postgate| per row
  __shared__ RowFactors in_factors[S::kSlots];  // per slot: input scale (common) and row ratios
  __shared__ float out_row[S::kSlots][2];       // per slot and row: output scale (core::RowScale::out)
  __shared__ float dk_factor[C][2];             // per couple: dk_z, dk_w

  FFC_FUSED_KERNEL_PROLOGUE(kN, p.frags, smem);  // tid, lane, warp, smem_base, g, bound, small_norm, lane_tile
  const int64_t head = blockIdx.x / p.groups;
  const int group = static_cast<int>(blockIdx.x % p.groups);
  const int64_t per = (p.pairs_per_head + p.groups - 1) / p.groups;
  const int64_t first = group * per;
  const int64_t last = min(first + per, p.pairs_per_head);
  const bool want_dk = p.dk_partial != nullptr;
  const bool want_dpost = p.dpostgate != nullptr;
  const bool want_du = p.du != nullptr, want_dpre = p.dpregate != nullptr;
  const bool pre_gated = p.pregate != nullptr, post_gated = p.postgate != nullptr;
  auto gated = [&](int side) { return side ? post_gated : pre_gated; };  // slot side z: pregate, w: postgate

  float2 acc[S::kAccUnits][8];
#pragma unroll
  for (int k = 0; k < S::kAccUnits; ++k)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[k][j] = make_float2(0.0f, 0.0f);

  // Staging starts zero (bulk-staged sizes never write positions past the length).
  __shared__ __align__(8) uint64_t stage_bar[S::kBuffers];  // bulk copies of a buffer's rows complete here
  for (int i = tid; i < S::kBuffers * S::kStageBytes / 16; i += S::kThreads) {
    reinterpret_cast<uint4*>(smem + S::kPlaneBytes)[i] = make_uint4(0, 0, 0, 0);
  }
  if constexpr (kArch >= 90) {
    if (tid < S::kBuffers) mbarrier_init(smem_address(&stage_bar[tid]), 1);
    fence_proxy_async();  // the zeros precede the bulk copies' writes
  }
  const bool vector = p.vector_io != 0;
  // Iteration i (couples first + i kCouples ...) uses buffer i % kBuffers. Warp 0 plans (and, bulk
  // staged, loads) iteration i + kBuffers - 1 at the top of iteration i; with two buffers the
  // prologue does iteration 0, so each iteration's rows load while the previous one computes.
  auto plan_and_load = [&](int64_t i) {
    const int b = static_cast<int>(i % S::kBuffers);
    const int64_t base = first + i * C;
    if (base >= last) return;
    plan_iteration<kN, T>(p, head, base, last, plan_of[b], rows_of[b]);
    if constexpr (kBulk) {
      if (vector) {
        bulk_stage_rows<kN>(p, plan_of[b], smem_address(smem + S::kPlaneBytes + b * S::kStageBytes),
                            smem_address(&stage_bar[b]));
      }
    }
  };
  __syncthreads();  // the barriers are initialized, the buffers zero
  if (S::kBuffers == 2 && warp == 0) plan_and_load(0);
  const int64_t iterations = (last - first + C - 1) / C;

#pragma unroll 1
  for (int64_t it = 0; it < iterations; ++it) {
    const int b = static_cast<int>(it % S::kBuffers);
    // Staging addresses are not loop invariants (hoisted, they spill).
    unsigned char* stage = smem + opaque(S::kPlaneBytes + b * S::kStageBytes);
    const StagePlan<S::kStageRows>& plan = plan_of[b];
    const SlotRows* rows = rows_of[b];
    // The barrier orders the previous iteration's accesses (plan, rows, scales, staging, planes)
    // before this iteration's writes; the fence orders its generic staging accesses before the
    // bulk copies issued now.
    if constexpr (kArch >= 90) fence_proxy_async();
    __syncthreads();
    if (warp == 0) plan_and_load(it + S::kBuffers - 1);
    if (tid < 8 * C) (&max_bits[0][0][0])[tid] = 0u;
    __syncthreads();
    if (!vector || (S::kBulkStage && !kBulk)) {
      copy_stage_rows<kN, S::kThreads>(p, plan, stage);
      __syncthreads();
    } else if constexpr (kBulk) {
      const uint32_t absent = plan.used & ~plan.data;
      if (absent != 0) {  // rare: an odd batch's last pair, the group's end
        zero_absent_rows<kN, S::kThreads>(absent, stage);
        __syncthreads();
      }
      mbarrier_wait(smem_address(&stage_bar[b]), static_cast<uint32_t>(it / S::kBuffers) & 1u);
    } else if constexpr (!S::kBulkStage) {
      cp_stage_rows<kN>(p, plan, smem_address(stage));
      cp_async_wait_all();
      __syncthreads();
    }

    // ---- P1, pass A: max |value| and max |gate| per row ------------------------------------------
    // Whole warps per couple; packed 16-bit maxima of the kinds u, pregate, dy, postgate per row
    // (the maxima are values of T: exact through the packed warp reduction).
    {
      using PK = Packed<T>;
      constexpr int kPerCouple = S::kThreads / C;   // threads per couple
      constexpr int kPer = (kN / 8) / kPerCouple;   // chunks per thread and row
      static_assert(kPerCouple % 32 == 0 && kPer >= 1 && (kN / 8) % kPerCouple == 0, "P1a mapping");
      const int c = tid / kPerCouple, t = tid % kPerCouple;
      uint32_t m[4];
      couple_maxima<T, kPer>(
          [&](int row, int i) {
            return stage + bwd_stage_row(c, row) * S::kRowBytes + stage_byte<kN>(8 * (t + i * kPerCouple));
          },
          pre_gated, post_gated, m);
      if (lane == 0) {
#pragma unroll
        for (int kind = 0; kind < 4; ++kind) {
          atomicMax(&max_bits[c][kind][0], __float_as_uint(PK::low(m[kind])));
          atomicMax(&max_bits[c][kind][1], __float_as_uint(PK::high(m[kind])));
        }
      }
    }
    __syncthreads();
    if (tid < C) {
      float m[4][2];
#pragma unroll
      for (int kind = 0; kind < 4; ++kind) {
        m[kind][0] = __uint_as_float(max_bits[tid][kind][0]);
        m[kind][1] = __uint_as_float(max_bits[tid][kind][1]);
      }
      const core::BackwardScales bs = couple_scales(m, pre_gated, post_gated, bound);
      in_factors[2 * tid] = RowFactors::input(bs.x);
      in_factors[2 * tid + 1] = RowFactors::input(bs.dc);
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        out_row[2 * tid][r] = bs.x[r].out;
        out_row[2 * tid + 1][r] = bs.dc[r].out;
      }
      dk_factor[tid][0] = bs.dk_z;
      dk_factor[tid][1] = bs.dk_w;
    }
    __syncthreads();

    // ---- P1, pass B: radix-RS stage (f32), scale, f16 planes --------------------------------------
#pragma unroll
    for (int k = 0; k < S::kSlots * (M / kC) / S::kThreads; ++k) {
      const int unit = opaque(tid) + k * S::kThreads;  // (addresses from tid are not hoisted and spilled)
      const int q = unit / (M / kC);
      const int col = (unit % (M / kC)) * kC;
      const int c = q >> 1, value = 4 * (q & 1);
      const RowFactors in = in_factors[q];
      float2 z[kC][RS];
#pragma unroll
      for (int f = 0; f < RS; ++f) {
        float x0[kC], x1[kC];
        load_slot_row<kN, T, kC>(stage, c, value, gated(q & 1), f * M + col, x0);
        load_slot_row<kN, T, kC>(stage, c, value + 1, gated(q & 1), f * M + col, x1);
        apply_input_ratio<kC>(x0, in.ratio[0]);
        apply_input_ratio<kC>(x1, in.ratio[1]);
#pragma unroll
        for (int j = 0; j < kC; ++j) z[j][f] = make_float2(x0[j], x1[j]);
      }
      small_stage_store<kN, kC>(z, in.common * small_norm, p.twiddles, smem, q, col);
    }
    __syncthreads();

    // ---- P2: outer 16-point stage (tensor cores) ----------------------------------------------------
    if constexpr (S::kOuter) {
      // Per (block, column tile): every slot's tile, with one twiddle load.
#pragma unroll 1
      for (int unit = warp; unit < RS * 16; unit += S::kWarps) {
        const int block = unit / 16, ct = unit % 16;
        outer_tile<kN, S::kSlots, kArch>(g, p.twiddles, smem_base, 0, block * 4096 + lane_tile.row * 256 + 16 * ct + lane_tile.col,
                                  ct, lane);
      }
      __syncthreads();
    }

    // ---- P3: inner rows of z and w, dk accumulation, filter, inverse inner --------------------------
#pragma unroll
    for (int k = 0; k < S::kAccUnits; ++k) {
      const int unit = warp + k * S::kWarps;
      const int c = unit / S::kRows, row = unit % S::kRows;
      const int qz = 2 * c;
      const int n = row * 256 + lane_tile.row * 16 + lane_tile.col;
      float2 kk[8], tw_inner[8];  // reloaded (L1) per unit: registers are the limit here
      load_slots(kk, p.spectrum + ((head * S::kRows + row) * 32 + lane) * 8);
      load_slots(tw_inner, p.twiddles + FwdTableLayout::kInner + lane * 8);
      CTile cz = forward_inner<kN, kSplit>(g, smem_base, qz, n, tw_inner);
      CTile cw = forward_inner<kN, kSplit>(g, smem_base, qz + 1, n, tw_inner);
      if (want_dk && rows[c].valid) accumulate_dk(acc[k], cz, cw, dk_factor[c][0], dk_factor[c][1]);
      // W conj(K) goes to the A layout first (half the registers of the f32 tile while z's
      // inverse runs).
      multiply_conj(cw, kk);
      AFrag w_hi, w_lo;
      to_a<kSplit>(cw, w_hi, w_lo);
      if (want_dpost) {
        multiply(cz, kk);
        inverse_inner<kN, kSplit, S::kOuter, kArch>(cz, g, p.twiddles, smem_base, qz, n, row % 16, tw_inner, lane);
      }
      inverse_inner_a<kN, kSplit, S::kOuter, kArch>(w_hi, w_lo, g, p.twiddles, smem_base, qz + 1, n, row % 16, tw_inner, lane);
    }
    __syncthreads();

    // ---- P4 / P5: inverse outer / small stages, gates, outputs -------------------------------------
    const float spectrum_max = __ldg(p.spectrum_max + head);
    if constexpr (S::kOuter) {
      // P4 (N = 4096): per (slot, 8-column tile): results written over the staging rows they
      // replace (dpostgate over dy, du over pregate, dpregate over u; whole rows, which the next
      // iteration stages whole again), then 16-byte copies out.
      static_assert(C == 1 && RS == 1, "the staged outer path is N = 4096");
      // Registers 2 h, 2 h + 1 of outer_inverse_n8 hold positions (lane / 4 + 8 h) 256 + 8 nt +
      // 2 (lane % 4) + {0, 1}.
      // The output scales per slot and row (the input scales are powers of two: exact reciprocals).
      auto inverse_tile = [&](int q, int nt, float (&re)[4], float (&im)[4]) {
        outer_inverse_n8(g, smem_base + FwdSmem<kN>::offset(q, lane >> 4, lane_tile.row * 256 + 8 * nt), re, im);
        const float out0 = spectrum_max * out_row[q][0] * kUnitary, out1 = spectrum_max * out_row[q][1] * kUnitary;
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          re[k] *= out0;
          im[k] *= out1;
        }
      };
      // Slot z (dpostgate) then slot w (du, dpregate), each tile loop in its output mode.
      const int w_mode = !pre_gated ? kDuPlain : want_dpre ? kDuDpre : kDuGated;
#pragma unroll 1
      for (int q = want_dpost ? 0 : 1; q < 2; ++q) {
        with_output_mode(q == 0 ? int{kDpost} : w_mode, [&](auto mode) {
#pragma unroll 1
          for (int nt = warp; nt < 32; nt += S::kWarps) {
            float re[4], im[4];
            inverse_tile(q, nt, re, im);
            unsigned char* at = stage + output_pair_offset(nt, lane);
#pragma unroll
            for (int h = 0; h < 2; ++h) {
#pragma unroll
              for (int r = 0; r < 2; ++r) {
                // Rows r of dy (slot z) or u (slot w), and of pregate.
                unsigned char* value_at = at + 4096 * h + ((decltype(mode)::value == kDpost ? 4 : 0) + r) * S::kRowBytes;
                put_outputs<decltype(mode)::value, T>(value_at, at + 4096 * h + (2 + r) * S::kRowBytes,
                                                      r ? im[2 * h] : re[2 * h], r ? im[2 * h + 1] : re[2 * h + 1]);
              }
            }
          }
        });
      }
      __syncthreads();
      copy_results<kN>(p, plan, stage);
    } else {
      // P5 (N <= 2048): inverse radix-RS stage in f32 from the planes, output scale, staged gates,
      // stores from registers.
      const bool vector = p.vector_io != 0;
      const int w_mode = !pre_gated ? kDuPlain : want_dpre ? kDuDpre : kDuGated;
#pragma unroll 1
      for (int k = 0; k < S::kSlots * (M / kC) / S::kThreads; ++k) {
        const int unit = tid + k * S::kThreads;
        const int q = unit / (M / kC);
        const int col = (unit % (M / kC)) * kC;
        const int c = q >> 1, side = q & 1;
        const SlotRows s = rows[c];
        if (!s.valid || (side == 0 && !want_dpost)) continue;
        float2 z[kC][RS];
        small_stage_inverse<kN, kC>(z, p.twiddles, smem, q, col);
        const float out_scale[2] = {spectrum_max * out_row[q][0] * small_norm,
                                    spectrum_max * out_row[q][1] * small_norm};
        with_output_mode(side == 0 ? int{kDpost} : w_mode, [&](auto mode) {
          constexpr int kMode = decltype(mode)::value;
          // v times the staged row `tensor` of couple c at t, stored to `out` (row offset `at`).
          auto put = [&](const float (&v)[kC], int tensor, void* out, int64_t at, int t) {
            float g[kC];
            load_staged_row<kN, T, kC>(stage, c, tensor, t, g);
#pragma unroll
            for (int j = 0; j < kC; ++j) g[j] *= v[j];
            store_chunk<T, kC>(static_cast<T*>(out) + at, t, p.length, vector, g);
          };
#pragma unroll
          for (int f = 0; f < RS; ++f) {
            const int t = f * M + col;
#pragma unroll
            for (int r = 0; r < 2; ++r) {
              if (r == 1 && s.row1 == 0) break;
              const int64_t at = s.offset + (r ? s.row1 : 0);
              float v[kC];
#pragma unroll
              for (int j = 0; j < kC; ++j) v[j] = (r ? z[j][f].y * out_scale[1] : z[j][f].x * out_scale[0]);
              if constexpr (kMode == kDpost) {
                put(v, 4 + r, p.dpostgate, at, t);  // dpostgate = dy * conv
              } else {
                if constexpr (kMode == kDuDpre) put(v, r, p.dpregate, at, t);  // dpregate = u * corr
                if (want_du) {
                  if constexpr (kMode == kDuPlain) {
                    store_chunk<T, kC>(static_cast<T*>(p.du) + at, t, p.length, vector, v);
                  } else {
                    put(v, 2 + r, p.du, at, t);  // du = pregate * corr
                  }
                }
              }
            }
          }
        });
      }
    }
  }

  // ---- the group's partial dk spectrum ------------------------------------------------------------
  if (!want_dk) return;
  __syncthreads();  // the planes are free
  write_dk_partial<S::kWarps, S::kAccUnits, C, S::kRows>(reinterpret_cast<float2*>(smem), acc, kN,
                                                           p.dk_partial + (head * p.groups + group) * static_cast<int64_t>(kN));
}

}  // namespace ffc::cuda
