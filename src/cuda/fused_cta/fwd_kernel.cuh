// The fused forward convolution kernel for N = 256 .. 4096 (one template: FwdShape<N> descriptor,
// I/O dtype, precision mode); 8192 .. 32768 run fused_cluster/fwd_cluster_kernel.cuh. Both are
// built from the stage library (stages/fwd_stages.cuh).
//
// Work: items are (head h, batch pair p) in head-major order; rows b0 = 2p and b1 = 2p + 1 of head h
// travel as the real and imaginary parts of one complex sequence z (the filter is real, so they
// never mix). A persistent CTA takes kPairs items per iteration and keeps them in shared memory as
// f16 real/imaginary planes (4N bytes per pair, XOR-swizzled 16-byte chunks, conflict-free for every
// access below). HBM traffic: u, the gates and y once each, all through 16-byte accesses; the
// spectrum comes from L2.
//
// Phases of one iteration (barriers between them), with N = RS x [16] x 16 x 16:
//   stage  : cp.async of the next iteration's raw u / pregate rows and of this iteration's postgate
//            rows, issued while the previous phases compute (staging regions A and B).
//   P1     : pass A bounds max |pregate * u| per row from the staged rows (packed 16-bit maxima) and
//            sets a power-of-two scale per row (core/row_scales.hpp) so no f16 intermediate can
//            overflow and both rows fill the range (a zero or non-finite row enters as zeros); pass B
//            does the radix-RS stage in f32 (+ twiddle w_N^{n' f} / sqrt(RS)), scales and stores f16
//            planes.
//   P2     : (N = 4096) outer 16-point stage on 16x16 tiles: ldmatrix.trans -> G X on the tensor
//            cores -> twiddle w_4096 (f32) -> f16 -> stmatrix back in place.
//   P3     : per 256-element row: G X, twiddle w_256, X G (register-chained), times the normalized
//            filter spectrum, then the inverse: X conj(G), twiddle, movmatrix transpose, conj(G) X,
//            the outer stage's inverse twiddle, f16 -> stmatrix back in place.
//   P4     : (N = 4096) inverse outer stage per 8-column tile on the tensor cores, times the output
//            scale and the staged postgate, written over the tile in the I/O dtype, then copied out
//            with 16-byte stores.
//   P5     : (N < 4096) inverse radix-RS stage in f32 from shared memory, staged postgate, 16-byte
//            stores.
// Every stage is unitary (1/sqrt(r)), so with |s x| <= 32752 / sqrt(2N) per row every f16 value is
// bounded by the pair's L2 norm and cannot overflow; each row's output scale max|K| / s undoes its s
// and the spectrum's normalization (0 for a zero row, NaN for a non-finite one). With kSplit (f16 I/O) the register-chained products carry hi + lo operands.
#pragma once

#include "cuda/stages/fwd_stages.cuh"

namespace ffc::cuda {

// kArch: kHopperArch (the fused_cta algorithm) or 80 (portable_cta: stmatrix emulated, the same
// data flow otherwise).
template <int kN, typename T, bool kSplit, int kArch = kHopperArch>
__global__ void __launch_bounds__(FwdShape<kN>::kThreads, FwdShape<kN>::kMinBlocks)
    fwd_kernel(const FwdParams p) {
  static_assert(kN <= 4096, "larger sizes use fwd_cluster_kernel");
  using S = FwdShape<kN>;
  using Smem = FwdSmem<kN>;
  constexpr int RS = S::RS, M = S::M, kC = S::kCols, P = S::kPairs;
  extern __shared__ __align__(128) unsigned char smem[];
  unsigned char* stage = smem + P * S::kPairBytes;       // region A: raw u, pregate rows
  const bool gated = p.pregate != nullptr;
  // Region A: u rows (and pregate rows when gated); region B: postgate rows (swizzled), if any.
  const int input_stage_bytes = (gated ? 4 : 2) * P * S::kStageRowBytes;
  unsigned char* stage_b = stage + input_stage_bytes;
  __shared__ SlotRows slots[2][P];
  __shared__ unsigned int max_bits[2][P][2];  // per row: max |u| (float bits; NaN above inf)
  __shared__ unsigned int pre_bits[2][P][2];  // per row: max |pregate| (gated)

  FFC_FUSED_KERNEL_PROLOGUE(kN, p.frags, smem);  // tid, lane, warp, smem_base, g, bound, small_norm, lane_tile
  constexpr int kUnits1 = P * M / kC;  // FMA-phase units: (pair slot, column group)
  static_assert((M / kC) % 32 == 0, "a warp's FMA units belong to one pair slot");

  const int64_t iterations = (p.items + P - 1) / P;
  if (tid < 2 * P) {
    if (tid < P) slots[0][tid] = slot_rows(p, static_cast<int64_t>(blockIdx.x) * P + tid);
    max_bits[0][tid >> 1][tid & 1] = 0u;
    pre_bits[0][tid >> 1][tid & 1] = 0u;
  }
  zero_stage<kN>(stage, input_stage_bytes);
  __syncthreads();
  if (blockIdx.x < iterations) {
    stage_inputs<kN, T>(p, slots[0], stage);
    stage_post<kN, T>(p, slots[0], stage_b);
  }
  // The rows' scales of pair slot q from the pass-A maxima of the current iteration.
  int parity = 0;
  auto row_scales = [&](int q, core::RowScale (&rs)[2]) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float m = __uint_as_float(max_bits[parity][q][r]);
      if (gated) m *= __uint_as_float(pre_bits[parity][q][r]);
      rs[r] = core::row_scale(m, bound);
    }
  };

  for (int64_t it = blockIdx.x; it < iterations; it += gridDim.x, parity ^= 1) {
    const SlotRows* cur = slots[parity];
    cp_async_wait_all();
    __syncthreads();

    // ---- P1, pass A: a bound on max |pregate * u| per row ---------------------------------------
    {
      // max |u| * max |pregate| per row from the staged raw rows (packed 16-bit maxima of the bit
      // patterns, so a NaN is kept; the bound may exceed the true maximum, which only lowers the scale).
      using PK = Packed<T>;
      constexpr int kChunks = kN / 8;  // 16-byte chunks per staged row
      static_assert(kChunks % 32 == 0, "a warp scans one row");
#pragma unroll 1
      for (int i = tid; i < P * 2 * kChunks; i += S::kThreads) {
        const int q = i / (2 * kChunks), c = i % (2 * kChunks);
        const int row = c / kChunks, chunk = c % kChunks;  // row 0: u0 | pre0, row 1: u1 | pre1
        typename PK::T2 mu = {}, mp = {};
        fold_absmax<T>(mu, stage + stage_row<kN>(q, row) * S::kStageRowBytes + 16 * chunk);
        if (gated) fold_absmax<T>(mp, stage + stage_row<kN>(q, 2 + row) * S::kStageRowBytes + 16 * chunk);
        uint32_t m = PK::fold(mu, mp);  // low half: max |u|, high half: max |pregate|
        warp_hmax(m);
        if (lane == 0) {
          atomicMax(&max_bits[parity][q][row], __float_as_uint(PK::low(m)));
          if (gated) atomicMax(&pre_bits[parity][q][row], __float_as_uint(PK::high(m)));
        }
      }
    }
    __syncthreads();

    // ---- P1, pass B: radix-RS stage (f32), scale, f16 to shared memory -----------------------------
#pragma unroll
    for (int k = 0; k < kUnits1 / S::kThreads; ++k) {
      const int unit = tid + k * S::kThreads;
      const int q = unit / (M / kC);
      const int col = (unit % (M / kC)) * kC;
      core::RowScale rs[2];
      row_scales(q, rs);
      if constexpr (RS == 1 && std::is_same<T, __half>::value) {
        // f16 I/O without a small stage: the packed product where it is exact (packed_row_scale).
        PackedRowScale packed[2];
        if (packed_row_scale(rs[0], __uint_as_float(max_bits[parity][q][0]), packed[0]) &&
            packed_row_scale(rs[1], __uint_as_float(max_bits[parity][q][1]), packed[1])) {
          p1_packed_f16<kN>(stage, smem + Smem::offset(q, 0, col), smem + Smem::offset(q, 1, col), cur[q], q,
                            col, gated, packed);
          continue;
        }
      }
      const RowFactors in = RowFactors::input(rs);
      float2 z[kC][RS];
#pragma unroll
      for (int f = 0; f < RS; ++f) {
        float x0[kC], x1[kC];
        load_inputs<kN, T, kC>(p, cur[q], stage, q, f * M + col, in, x0, x1);
#pragma unroll
        for (int j = 0; j < kC; ++j) z[j][f] = make_float2(x0[j], x1[j]);
      }
      small_stage_store<kN, kC>(z, in.common * small_norm, p.twiddles, smem, q, col);
    }
    // The next iteration's slots (and, staged, its inputs: the staging buffer is consumed).
    const int64_t next = it + gridDim.x;
    if (tid < 2 * P) {
      if (tid < P) slots[parity ^ 1][tid] = slot_rows(p, next * P + tid);
      max_bits[parity ^ 1][tid >> 1][tid & 1] = 0u;
      pre_bits[parity ^ 1][tid >> 1][tid & 1] = 0u;
    }
    __syncthreads();
    if (next < iterations) stage_inputs<kN, T>(p, slots[parity ^ 1], stage);

    // ---- P2: outer 16-point stage (tensor cores) -----------------------------------------------------
    if constexpr (S::kOuter) {
#pragma unroll 1
      for (int unit = warp; unit < P * RS * 16; unit += S::kWarps) {
        const int q = unit / (RS * 16);
        const int block = (unit / 16) % RS;
        const int ct = unit % 16;
        outer_tile<kN, 1, kArch>(g, p.twiddles, smem_base, q, block * 4096 + lane_tile.row * 256 + 16 * ct + lane_tile.col, ct, lane);
      }
      __syncthreads();
    }

    // ---- P3: inner 16 x 16 rows, filter, inverse inner --------------------------------------------
    {
      constexpr int kUnits3 = P * S::kRows;
      float2 tw_inner[8];
      load_slots(tw_inner, p.twiddles + FwdTableLayout::kInner + lane * 8);
      // The spectrum slots of the next unit are fetched while the current one computes.
      auto spectrum_at = [&](int unit) {
        const SlotRows& s = cur[unit / S::kRows];
        const int64_t head = s.valid ? s.head : 0;
        return p.spectrum + ((head * S::kRows + unit % S::kRows) * 32 + lane) * 8;
      };
      float2 k_next[8];
      if (warp < kUnits3) load_slots(k_next, spectrum_at(warp));
#pragma unroll 1
      for (int unit = warp; unit < kUnits3; unit += S::kWarps) {
        const int q = unit / S::kRows;
        const int row = unit % S::kRows;
        float2 k[8];
#pragma unroll
        for (int j = 0; j < 8; ++j) k[j] = k_next[j];
        if (unit + S::kWarps < kUnits3) load_slots(k_next, spectrum_at(unit + S::kWarps));
        inner_row<kN, kSplit, S::kOuter, kArch>(g, p.twiddles, smem_base, q, row * 256 + lane_tile.row * 16 + lane_tile.col,
                                         row % 16, k, tw_inner, lane);
      }
      __syncthreads();
    }

    // ---- P4 / P5: inverse outer / small stages, postgate, store y ---------------------------------
    const bool vector = p.vector_io != 0;
    if constexpr (S::kOuter) {
      // P4 (N = 4096): inverse outer stage per 8-column tile, times the output scale and the staged
      // postgate, written back over the tile (y0 in the real plane, y1 in the imaginary plane, as
      // the I/O dtype in natural order); then the postgate staging of the next iteration starts and
      // the rows are copied out with 16-byte stores.
      static_assert(P == 1 && RS == 1, "the staged outer path is N = 4096");
      const SlotRows s = cur[0];
      core::RowScale rs[2];
      row_scales(0, rs);
      const float spectrum_max = s.valid ? __ldg(p.spectrum_max + s.head) : 0.0f;
      const float out0 = spectrum_max * rs[0].out * kUnitary * small_norm;
      const float out1 = spectrum_max * rs[1].out * kUnitary * small_norm;
      const bool gated_out = p.postgate != nullptr;
#pragma unroll 1
      for (int nt = warp; nt < 32 && s.valid; nt += S::kWarps) {
        const uint32_t tile = smem_base + Smem::offset(0, lane >> 4, lane_tile.row * 256 + 8 * nt);
        float re[4], im[4];
        outer_inverse_n8(g, tile, re, im);
        // Registers 0, 1: row a = g, columns m, m + 1; registers 2, 3: row g + 8.
        const int m = 8 * nt + 2 * (lane & 3);
        float y0[4], y1[4];
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          y0[k] = re[k] * out0;
          y1[k] = im[k] * out1;
        }
        if (gated_out) {
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int t = ((lane >> 2) + 8 * h) * 256 + m;
            const uint32_t g0 = *reinterpret_cast<const uint32_t*>(stage_b + swizzled(t));
            const uint32_t g1 = *reinterpret_cast<const uint32_t*>(stage_b + S::kStageRowBytes + swizzled(t));
            const T* e0 = reinterpret_cast<const T*>(&g0);
            const T* e1 = reinterpret_cast<const T*>(&g1);
            y0[2 * h] *= IoTraits<T>::to_float(e0[0]);
            y0[2 * h + 1] *= IoTraits<T>::to_float(e0[1]);
            y1[2 * h] *= IoTraits<T>::to_float(e1[0]);
            y1[2 * h + 1] *= IoTraits<T>::to_float(e1[1]);
          }
        }
        uint32_t out[4];
        out[0] = pack_io<T>(y0[0], y0[1]);
        out[1] = pack_io<T>(y0[2], y0[3]);
        out[2] = pack_io<T>(y1[0], y1[1]);
        out[3] = pack_io<T>(y1[2], y1[3]);
        store_matrix_x4<kArch>(tile, out);
      }
      __syncthreads();
      if (it + gridDim.x < iterations) stage_post<kN, T>(p, slots[parity ^ 1], stage_b);
      if (s.valid) copy_out<kN, T>(p, s, smem);
    } else {
      // P5 (N <= 2048): inverse radix-RS stage in f32 from shared memory, output scale, staged
      // postgate, 16-byte stores; then the postgate staging of the next iteration starts.
#pragma unroll
      for (int k = 0; k < kUnits1 / S::kThreads; ++k) {
        const int unit = tid + k * S::kThreads;
        const int q = unit / (M / kC);
        const int col = (unit % (M / kC)) * kC;
        const SlotRows s = cur[q];
        if (!s.valid) continue;
        float2 z[kC][RS];
        small_stage_inverse<kN, kC>(z, p.twiddles, smem, q, col);
        T* y0 = static_cast<T*>(p.y) + s.offset;
        T* y1 = s.row1 ? y0 + s.row1 : nullptr;
        core::RowScale rs[2];
        row_scales(q, rs);
        const float spectrum_max = __ldg(p.spectrum_max + s.head);
        const float out0 = spectrum_max * rs[0].out * small_norm, out1 = spectrum_max * rs[1].out * small_norm;
        float o0[RS][kC], o1[RS][kC];
#pragma unroll
        for (int j = 0; j < kC; ++j) {
#pragma unroll
          for (int f = 0; f < RS; ++f) {
            o0[f][j] = z[j][f].x * out0;
            o1[f][j] = z[j][f].y * out1;
          }
        }
#pragma unroll
        for (int f = 0; f < RS; ++f) {
          const int t = f * M + col;
          if (p.postgate != nullptr) {
            float g0[kC], g1[kC];
            load_staged_swizzled<kN, T, kC>(stage_b, 2 * q, t, g0);
            load_staged_swizzled<kN, T, kC>(stage_b, 2 * q + 1, t, g1);
#pragma unroll
            for (int j = 0; j < kC; ++j) {
              o0[f][j] *= g0[j];
              o1[f][j] *= g1[j];
            }
          }
          store_chunk<T, kC>(y0, t, p.length, vector, o0[f]);
          if (y1) store_chunk<T, kC>(y1, t, p.length, vector, o1[f]);
        }
      }
      __syncthreads();
      if (it + gridDim.x < iterations) stage_post<kN, T>(p, slots[parity ^ 1], stage_b);
    }
    // No barrier here: the next iteration's first barrier (after its staging wait, or after its
    // pass A, which touches only global memory or the staging buffer) orders these shared-memory
    // reads before its writes to the data planes.
  }
}

}  // namespace ffc::cuda
