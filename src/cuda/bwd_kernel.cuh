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
// Phases of one iteration (barriers between them), with the forward kernel's stages (fwd_kernel.cuh):
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

#include "cuda/fwd_kernel.cuh"

namespace ffc::cuda {

// kW: warps per CTA. The default is 8 at N = 4096 and 4 below. Launches with both gates at N = 2048
// take kBwdStagedWarps (8: two CTAs per SM instead of four, with room for double-buffered staging of
// their eight rows per pair); the others, compute-bound, keep the default.
template <int kN>
inline constexpr int kBwdWarps = kN >= 4096 ? 8 : 4;
template <int kN>
inline constexpr int kBwdStagedWarps = kN == 2048 ? 8 : kBwdWarps<kN>;

template <int kN, int kW = kBwdWarps<kN>>
struct BwdShape {
  using F = FwdShape<kN>;
  static constexpr int N = kN;
  static constexpr int RS = F::RS, M = F::M, kRows = F::kRows, kCols = F::kCols;
  static constexpr bool kOuter = F::kOuter;
  static constexpr int kCouples = kN >= 1024 ? 1 : 1024 / kN;  // pairs per iteration
  static constexpr int kSlots = 2 * kCouples;                  // complex sequences per iteration
  static constexpr int kWarps = kW;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kMinBlocks = 16 / kWarps;  // caps registers at 128
  static constexpr int kUnits3 = kCouples * kRows;    // P3 units (couple, row)
  static constexpr int kAccUnits = kUnits3 / kWarps;  // P3 units (and dk accumulators) per warp
  // Staged 16-bit rows: at N = 4096, P4 addresses them in tile fragments (positions 256 apart in
  // one access), so their 16-byte chunks are swizzled (fwd_kernel.cuh swizzled()) and they are
  // staged by cp.async; smaller sizes stage whole linear rows with one bulk copy each.
  static constexpr bool kBulkStage = !kOuter;
  static constexpr int kRowBytes = 2 * kN;
  static constexpr int kStageRows = 8 * kCouples;     // u0 u1 pre0 pre1 dy0 dy1 post0 post1 per couple
  static constexpr int kPlaneBytes = kSlots * 4 * kN;
  static constexpr int kStageBytes = kStageRows * kRowBytes;
  // Bulk-staged sizes double-buffer the staging where kMinBlocks CTAs still fit an SM: the next
  // iteration's rows load while this one computes.
  static constexpr int kBuffers = kBulkStage && kMinBlocks * (kPlaneBytes + 2 * kStageBytes) <= 200 * 1024 ? 2 : 1;
  static constexpr int kSmemBytes = kPlaneBytes + kBuffers * kStageBytes;

  static_assert(kUnits3 % kWarps == 0, "P3 units must divide evenly over warps");
  static_assert((kSlots * M / kCols) % kThreads == 0, "FMA phase units must divide evenly");
  static_assert(!kOuter || (RS * 16) % kWarps == 0, "outer tiles must divide evenly");
  static_assert(kWarps * kAccUnits * 256 * 8 <= kPlaneBytes, "the dk reduction reuses the planes");
};

// Staged row of couple c: tensor 0 u0, 1 u1, 2 pre0, 3 pre1, 4 dy0, 5 dy1, 6 post0, 7 post1. Slot
// side 0 (z) takes values u and gates pregate, side 1 (w) values dy and gates postgate.
__device__ __forceinline__ int bwd_stage_row(int c, int tensor) { return 8 * c + tensor; }

template <typename T>
__device__ __forceinline__ const T* bwd_tensor(const BwdParams& p, int tensor) {
  const int kind = tensor >> 1;
  const void* t = kind == 0 ? p.u : kind == 1 ? p.pregate : kind == 2 ? p.dy : p.postgate;
  return static_cast<const T*>(t);
}

// Row `tensor` (0 u0 .. 7 post1: odd tensors are row b1) of a pair in global memory.
template <typename T>
__device__ __forceinline__ const T* bwd_row(const BwdParams& p, const SlotRows& s, int tensor) {
  return bwd_tensor<T>(p, tensor) + s.offset + ((tensor & 1) ? s.row1 : 0);
}

// The rows of couple (pair) `pair` of head `head`; invalid past `last`.
__device__ __forceinline__ SlotRows pair_rows(const BwdParams& p, int64_t head, int64_t pair, int64_t last) {
  SlotRows r{};
  r.valid = pair < last;
  if (!r.valid) return r;
  r.head = head;
  const int64_t b0 = 2 * pair;
  r.offset = (b0 * p.heads + head) * p.length;
  r.row1 = b0 + 1 < p.batch ? p.heads * p.length : 0;
  return r;
}

// Byte offset of element n within a staged row.
template <int kN>
__device__ __forceinline__ uint32_t stage_byte(int n) {
  return BwdShape<kN>::kBulkStage ? static_cast<uint32_t>(2 * n) : swizzled(n);
}

// Where one iteration's staging rows come from (row i = 8 couple + tensor) and, at N = 4096, where
// its result rows go; written by warp 0 at the top of each iteration.
template <int kStageRows>
struct StagePlan {
  const unsigned char* src[kStageRows];  // the global row (or, absent, its tensor)
  unsigned char* out[6];                 // dpostgate, du, dpregate rows b0, b1 (N = 4096), or null
  uint32_t used;                         // bit i: row i's tensor exists (others are never staged)
  uint32_t data;                         // bit i: row i exists this iteration (else staged as zeros)
};

// Warp 0 plans the iteration of couples base .. base + kCouples - 1 (and sets their rows).
template <int kN, typename T>
__device__ __forceinline__ void plan_iteration(const BwdParams& p, int64_t head, int64_t base, int64_t last,
                                               StagePlan<BwdShape<kN>::kStageRows>& plan, SlotRows* rows) {
  using S = BwdShape<kN>;
  static_assert(S::kStageRows <= 32, "one lane per staged row");
  const int i = threadIdx.x;
  bool used = false, data = false;
  if (i < S::kStageRows) {
    const int c = i >> 3, tensor = i & 7;
    const SlotRows s = pair_rows(p, head, base + c, last);
    if (tensor == 0) rows[c] = s;
    const T* t = bwd_tensor<T>(p, tensor);
    used = t != nullptr;
    data = used && s.valid && !((tensor & 1) && s.row1 == 0);
    plan.src[i] = reinterpret_cast<const unsigned char*>(data ? bwd_row<T>(p, s, tensor) : t);
  }
  if (i < 6) {  // result row o = 2 kind + r (kind 0 dpostgate, 1 du, 2 dpregate)
    const SlotRows s = pair_rows(p, head, base, last);
    void* t = i < 2 ? p.dpostgate : i < 4 ? p.du : p.dpregate;
    const bool has = t != nullptr && s.valid && !((i & 1) && s.row1 == 0);
    plan.out[i] = has ? reinterpret_cast<unsigned char*>(static_cast<T*>(t) + s.offset + ((i & 1) ? s.row1 : 0))
                      : nullptr;
  }
  const uint32_t used_bits = __ballot_sync(0xffffffffu, used), data_bits = __ballot_sync(0xffffffffu, data);
  if (i == 0) {
    plan.used = used_bits;
    plan.data = data_bits;
  }
  __syncwarp();
}

// Warp 0, N < 4096, 16-byte aligned rows: one bulk copy per row with data (its positions below the
// length), completing on the mbarrier `bar`. Positions at or past the length stay zero (kernel
// start, absent-row fill): no phase of these sizes writes staged rows.
template <int kN>
__device__ __forceinline__ void bulk_stage_rows(const BwdParams& p, const StagePlan<BwdShape<kN>::kStageRows>& plan,
                                                uint32_t stage_base, uint32_t bar) {
  using S = BwdShape<kN>;
  static_assert(S::kBulkStage && S::kStageRows <= 32, "one lane per row");
  const int lane = threadIdx.x & 31;
  const uint32_t rows = plan.used & plan.data, bytes = 2 * static_cast<uint32_t>(p.length);
  if (lane == 0) mbarrier_arrive_expect_tx(bar, __popc(rows) * bytes);
  if ((rows >> lane) & 1) bulk_load(stage_base + lane * S::kRowBytes, plan.src[lane], bytes, bar);
}

// All threads, N = 4096, 16-byte aligned rows: cp.async of every staged row whole into swizzled
// chunks, data below the length and zeros elsewhere (source size 0), so P4 may overwrite staged
// rows entirely. Warp w copies row w: chunk 32 j + lane.
template <int kN>
__device__ __forceinline__ void cp_stage_rows(const BwdParams& p, const StagePlan<BwdShape<kN>::kStageRows>& plan,
                                              uint32_t stage_base) {
  using S = BwdShape<kN>;
  static_assert(!S::kBulkStage && S::kWarps == S::kStageRows, "one warp per staged row");
  const int lane = threadIdx.x & 31, row = threadIdx.x >> 5, lane_part = lane ^ ((lane >> 3) & 1);
  if ((plan.used >> row) & 1) {
    const unsigned char* src = plan.src[row] + 16 * lane;
    // Chunks 32 j + lane below the length hold data (none when the row is absent).
    const int data_chunks = (plan.data >> row) & 1 ? static_cast<int>(p.length >> 3) - lane : 0;
    const uint32_t dst = stage_base + row * S::kRowBytes;
#pragma unroll
    for (int j = 0; j < kN / 8 / 32; ++j) {
      const bool copy = 32 * j < data_chunks;
      cp_async_16_zfill(dst + row_chunk_offset(j, lane_part), copy ? src + 512 * j : src - 16 * lane, copy ? 16u : 0u);
    }
  }
  cp_async_commit();
}

// All threads, unaligned rows: element copies of every staged row, zeros past the length and for
// absent rows.
template <int kN, int kThreads>
__device__ __forceinline__ void copy_stage_rows(const BwdParams& p, const StagePlan<BwdShape<kN>::kStageRows>& plan,
                                                unsigned char* stage) {
  using S = BwdShape<kN>;
  const int length = static_cast<int>(p.length);
  for (int i = threadIdx.x; i < S::kStageRows * kN; i += kThreads) {
    const int row = i / kN, n = i % kN;
    if (!((plan.used >> row) & 1)) continue;
    const bool copy = ((plan.data >> row) & 1) && n < length;
    *reinterpret_cast<uint16_t*>(stage + row * S::kRowBytes + stage_byte<kN>(n)) =
        copy ? reinterpret_cast<const uint16_t*>(plan.src[row])[n] : uint16_t{0};
  }
}

// All threads: zeros over the staged rows that exist as tensors but not this iteration (row b1 of
// an odd batch's last pair, couples past the group's end).
template <int kN, int kThreads>
__device__ __forceinline__ void zero_absent_rows(uint32_t absent, unsigned char* stage) {
  using S = BwdShape<kN>;
#pragma unroll 1
  for (int row = 0; row < S::kStageRows; ++row) {
    if (!((absent >> row) & 1)) continue;
    for (int i = threadIdx.x; i < S::kRowBytes / 16; i += kThreads) {
      reinterpret_cast<uint4*>(stage + row * S::kRowBytes)[i] = make_uint4(0, 0, 0, 0);
    }
  }
}

// kC staged values of row `tensor` of couple c at n (n a multiple of kC), as floats.
template <int kN, typename T, int kC>
__device__ __forceinline__ void load_staged_row(const unsigned char* stage, int c, int tensor, int n, float (&out)[kC]) {
  using V = typename VecOf<kC * sizeof(T)>::type;
  const V v = *reinterpret_cast<const V*>(stage + bwd_stage_row(c, tensor) * BwdShape<kN>::kRowBytes + stage_byte<kN>(n));
  unpack<T, kC>(v, out);
}

// One row of a slot's sequence at n .. n + kC - 1: staged value row `value` times its gate row
// (value + 2) when gated (absent rows are staged as zeros).
template <int kN, typename T, int kC>
__device__ __forceinline__ void load_slot_row(const unsigned char* stage, int c, int value, bool gated, int n,
                                              float (&x)[kC]) {
  load_staged_row<kN, T, kC>(stage, c, value, n, x);
  if (gated) {
    float g[kC];
    load_staged_row<kN, T, kC>(stage, c, value + 2, n, g);
#pragma unroll
    for (int j = 0; j < kC; ++j) x[j] *= g[j];
  }
}

// The staged 16-bit pair at `at` (positions t, t + 1 of a row), as floats.
template <typename T>
__device__ __forceinline__ float2 staged_pair(const unsigned char* at) {
  return unpack2<T>(*reinterpret_cast<const uint32_t*>(at));
}

// What the output phase makes of a slot's inverse at a pair of positions (results a, b): slot z
// gives dpostgate over the staged dy pair; slot w gives du over the pregate pair and dpregate
// over the u pair, du alone over the pregate pair, or (no pregate) du alone into the unused
// pregate row. A compile-time mode keeps the per-element code free of branches.
enum OutputMode : int { kDpost, kDuDpre, kDuGated, kDuPlain };

template <int kMode, typename T>
__device__ __forceinline__ void put_outputs(unsigned char* value_at, unsigned char* pre_at, float a, float b) {
  auto scaled = [&](unsigned char* at) {  // (a, b) times the staged pair at `at`, written over it
    const float2 g = staged_pair<T>(at);
    *reinterpret_cast<uint32_t*>(at) = pack_io<T>(a * g.x, b * g.y);
  };
  if constexpr (kMode == kDpost || kMode == kDuDpre) scaled(value_at);
  if constexpr (kMode == kDuDpre || kMode == kDuGated) scaled(pre_at);
  if constexpr (kMode == kDuPlain) *reinterpret_cast<uint32_t*>(pre_at) = pack_io<T>(a, b);
}

// Calls f(std::integral_constant<int, mode>) for a runtime mode.
template <typename F>
__device__ __forceinline__ void with_output_mode(int mode, F&& f) {
  switch (mode) {
    case kDpost: f(std::integral_constant<int, kDpost>{}); break;
    case kDuDpre: f(std::integral_constant<int, kDuDpre>{}); break;
    case kDuGated: f(std::integral_constant<int, kDuGated>{}); break;
    default: f(std::integral_constant<int, kDuPlain>{}); break;
  }
}

// Byte offset, within a staged row at N = 4096, of positions a 256 + 8 nt + 2 (lane % 4) + {0, 1}
// for a = lane / 4 (+ 8: add 4096): swizzled() of those positions, whose chunk 32 a + nt swizzles
// to 32 a + (nt ^ (a % 8) ^ ((nt / 8) % 2)).
__device__ __forceinline__ uint32_t output_pair_offset(int nt, int lane) {
  const int a = lane >> 2;
  return static_cast<uint32_t>(a * 512 + ((nt ^ a ^ ((nt >> 3) & 1)) << 4) + 4 * (lane & 3));
}

// Copies the result rows (written over the staging rows dy, pregate, u of rows b0, b1) to
// dpostgate, du and dpregate, positions below the length: 16-byte accesses when rows are aligned
// (unit = (result row, half row) per warp, chunk 32 j + lane of the half).
template <int kN>
__device__ __forceinline__ void copy_results(const BwdParams& p, const StagePlan<BwdShape<kN>::kStageRows>& plan,
                                             const unsigned char* stage) {
  using S = BwdShape<kN>;
  static_assert(S::kCouples == 1 && kN == 4096, "the copied rows are couple 0's at N = 4096");
  const int length = static_cast<int>(p.length);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, lane_part = lane ^ ((lane >> 3) & 1);
#pragma unroll 1
  for (int unit = warp; unit < 12; unit += S::kWarps) {
    const int o = unit >> 1, half = unit & 1;
    unsigned char* dst = plan.out[o];
    if (dst == nullptr) continue;
    // dpostgate lies over dy (row 4 + r), du over pregate (2 + r), dpregate over u (r).
    const unsigned char* row = stage + ((o < 2 ? 4 : o < 4 ? 2 : 0) + (o & 1)) * S::kRowBytes;
    if (p.vector_io) {
      const int chunks = (length >> 3) - 256 * half - lane;  // chunk 32 j + lane of the half: j below
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        if (32 * j < chunks) {
          *reinterpret_cast<uint4*>(dst + 16 * (256 * half + 32 * j + lane)) =
              *reinterpret_cast<const uint4*>(row + 4096 * half + row_chunk_offset(j, lane_part));
        }
      }
    } else {
      for (int n = 2048 * half + lane; n < min(length, 2048 * (half + 1)); n += 32) {
        reinterpret_cast<uint16_t*>(dst)[n] = *reinterpret_cast<const uint16_t*>(row + swizzled(n));
      }
    }
  }
}

// The CTA's dk accumulators -> its positions of the (head, group) partial spectrum `out`. Warp w's
// accumulator k holds P3 unit w + k kWarps = (couple, row); the couples' sums are taken in order
// through `red` (kWarps x kAccUnits x 2 KB of free shared memory). acc = (4 sigma)^2 s_z s_w
// conj(Z) W / N per pair (c = 4 sigma x unitary DFT) with the scales undone; the partial holds
// sum W conj(Z) of the true DFTs, at natural block-major positions.
template <int kWarps, int kAccUnits, int kCouples, int kRows>
__device__ __forceinline__ void write_dk_partial(float2* red, const float2 (&acc)[kAccUnits][8], int n,
                                                 float2* out) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int k = 0; k < kAccUnits; ++k)
#pragma unroll
    for (int j = 0; j < 8; ++j) red[((warp * kAccUnits + k) * 32 + lane) * 8 + j] = acc[k][j];
  __syncthreads();
  const float to_true = static_cast<float>(n) * kUnitary * kUnitary;
  for (int idx = threadIdx.x; idx < kRows * 256; idx += kWarps * 32) {
    const int row = idx >> 8, slot_lane = (idx >> 3) & 31, slot = idx & 7;
    float2 sum = make_float2(0.0f, 0.0f);
#pragma unroll
    for (int c = 0; c < kCouples; ++c) {
      const int unit = c * kRows + row;
      const float2 v = red[(((unit % kWarps) * kAccUnits + unit / kWarps) * 32 + slot_lane) * 8 + slot];
      sum.x += v.x;
      sum.y += v.y;
    }
    // Slot j of lane l holds tile row l / 4 + 8 ((j / 2) % 2), column 2 (l % 4) + j % 2 + 8 (j / 4).
    const int r16 = (slot_lane >> 2) + 8 * ((slot >> 1) & 1);
    const int col = 2 * (slot_lane & 3) + (slot & 1) + 8 * (slot >> 2);
    out[row * 256 + r16 * 16 + col] = make_float2(sum.x * to_true, sum.y * to_true);
  }
}

// conj(Z) W of one row's spectrum slots, added to acc with the pair's scales undone: 4 FMAs per slot
// on Z s and W, with s = dk_z dk_w = 1 / P (core::BackwardScales; 0 for a pair that contributes
// nothing, NaN for one with a non-finite value). The spectra are bounded (|Z|, |W| < 2^17:
// pair_bound keeps the unitary intermediates below 2^15, and c = 4 sigma x unitary), so for s in
// [2^-60, 2^60] Z s neither overflows nor loses bits that matter next to the other terms. Outside
// that range each side is unscaled by its own factor (no f32 overflow where the true product is
// representable). The branch is uniform over the CTA.
__device__ __forceinline__ void accumulate_dk(float2 (&acc)[8], const CTile& cz, const CTile& cw, float inv_z,
                                              float inv_w) {
  const float s = inv_z * inv_w;  // NaN fails both comparisons: the separate path carries it
  const bool joint = s >= 0x1p-60f && s <= 0x1p60f;
  // (This form of the two paths, with the factors chosen ahead of the branch, allocates registers
  // better in the cluster kernels than scaling inside each branch: 24 against 36 bytes of spills.)
  const float sz = joint ? s : inv_z, sw = joint ? 1.0f : inv_w;
  if (joint) {
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const float zr = cz.r(j) * sz, zi = cz.i(j) * sz;
      acc[j].x = fmaf(zr, cw.r(j), fmaf(zi, cw.i(j), acc[j].x));
      acc[j].y = fmaf(zr, cw.i(j), fmaf(-zi, cw.r(j), acc[j].y));
    }
  } else {
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const float zr = cz.r(j) * sz, zi = cz.i(j) * sz;
      const float wr = cw.r(j) * sw, wi = cw.i(j) * sw;
      acc[j].x = fmaf(zr, wr, fmaf(zi, wi, acc[j].x));
      acc[j].y = fmaf(zr, wi, fmaf(-zi, wr, acc[j].y));
    }
  }
}

// A warp's packed maxima (sign-cleared bit patterns, warp-reduced: a NaN is kept) over the staged
// rows of one couple: m[kind] holds max |value| of row b0 (low half) and b1 (high half) for the kinds
// u, pregate, dy, postgate; the gate kinds stay zero without their gate. chunk_at(row, i) is the
// address of the thread's chunk i (i < kPer) of staged row `row` (0 u0, 1 u1, ..., 7 post1). The
// maxima are values of T, exact in the packed reduction.
template <typename T, int kPer, typename ChunkAt>
__device__ __forceinline__ void couple_maxima(const ChunkAt& chunk_at, bool pre_gated, bool post_gated,
                                              uint32_t (&m)[4]) {
#pragma unroll
  for (int kind = 0; kind < 4; ++kind) {
    typename Packed<T>::T2 r0 = {}, r1 = {};
    if (!((kind == 1 && !pre_gated) || (kind == 3 && !post_gated))) {
#pragma unroll
      for (int i = 0; i < kPer; ++i) {
        fold_absmax<T>(r0, chunk_at(2 * kind, i));
        fold_absmax<T>(r1, chunk_at(2 * kind + 1, i));
      }
    }
    m[kind] = Packed<T>::fold(r0, r1);
  }
  warp_hmax2(m[0], m[1]);
  warp_hmax2(m[2], m[3]);
}

// The bounds of max |x| and max |dc| per row from a couple's maxima (float bits, indexed [kind][row]:
// u, pregate, dy, postgate), and the pair's backward scales (core/row_scales.hpp).
__device__ __forceinline__ core::BackwardScales couple_scales(const float (&m)[4][2], bool pre_gated,
                                                              bool post_gated, float bound) {
  float mx[2], mdc[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    mx[r] = pre_gated ? m[0][r] * m[1][r] : m[0][r];
    mdc[r] = post_gated ? m[2][r] * m[3][r] : m[2][r];
  }
  return core::backward_scales(mx, mdc, bound);
}

template <int kN, typename T, bool kSplit, int kW = kBwdWarps<kN>>
__global__ void __launch_bounds__(BwdShape<kN, kW>::kThreads, BwdShape<kN, kW>::kMinBlocks)
    bwd_kernel(const BwdParams p) {
  static_assert(kN <= 4096, "larger sizes use bwd_cluster_kernel");
  using S = BwdShape<kN, kW>;
  constexpr int RS = S::RS, M = S::M, kC = S::kCols, C = S::kCouples;
  extern __shared__ __align__(128) unsigned char smem[];
  __shared__ SlotRows rows_of[S::kBuffers][C];               // per staging buffer
  __shared__ StagePlan<S::kStageRows> plan_of[S::kBuffers];
  __shared__ unsigned int max_bits[C][4][2];  // per couple: max |u|, |pregate|, |dy|, |postgate| per row
  __shared__ RowFactors in_factors[S::kSlots];  // per slot: input scale (common) and row ratios
  __shared__ float out_row[S::kSlots][2];       // per slot and row: output scale (core::RowScale::out)
  __shared__ float dk_factor[C][2];             // per couple: dk_z, dk_w

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const uint32_t smem_base = smem_address(smem);
  DftConsts g;
  g.load(p.frags, lane);
  const float bound = pair_bound(kN);
  const float small_norm = rsqrtf(static_cast<float>(RS));
  const TileLane lane_tile(lane);
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
  if (tid < S::kBuffers) mbarrier_init(smem_address(&stage_bar[tid]), 1);
  fence_proxy_async();  // the zeros precede the bulk copies' writes
  const bool vector = p.vector_io != 0;
  // Iteration i (couples first + i kCouples ...) uses buffer i % kBuffers. Warp 0 plans (and, bulk
  // staged, loads) iteration i + kBuffers - 1 at the top of iteration i; with two buffers the
  // prologue does iteration 0, so each iteration's rows load while the previous one computes.
  auto plan_and_load = [&](int64_t i) {
    const int b = static_cast<int>(i % S::kBuffers);
    const int64_t base = first + i * C;
    if (base >= last) return;
    plan_iteration<kN, T>(p, head, base, last, plan_of[b], rows_of[b]);
    if constexpr (S::kBulkStage) {
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
    fence_proxy_async();
    __syncthreads();
    if (warp == 0) plan_and_load(it + S::kBuffers - 1);
    if (tid < 8 * C) (&max_bits[0][0][0])[tid] = 0u;
    __syncthreads();
    if (!vector) {
      copy_stage_rows<kN, S::kThreads>(p, plan, stage);
      __syncthreads();
    } else if constexpr (S::kBulkStage) {
      const uint32_t absent = plan.used & ~plan.data;
      if (absent != 0) {  // rare: an odd batch's last pair, the group's end
        zero_absent_rows<kN, S::kThreads>(absent, stage);
        __syncthreads();
      }
      mbarrier_wait(smem_address(&stage_bar[b]), static_cast<uint32_t>(it / S::kBuffers) & 1u);
    } else {
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
        outer_tile<kN, S::kSlots>(g, p.twiddles, smem_base, 0, block * 4096 + lane_tile.row * 256 + 16 * ct + lane_tile.col,
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
        inverse_inner<kN, kSplit, S::kOuter>(cz, g, p.twiddles, smem_base, qz, n, row % 16, tw_inner, lane);
      }
      inverse_inner_a<kN, kSplit, S::kOuter>(w_hi, w_lo, g, p.twiddles, smem_base, qz + 1, n, row % 16, tw_inner, lane);
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
