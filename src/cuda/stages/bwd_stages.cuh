// The backward stage library: the launch shape (BwdShape), the staging plan of the eight raw rows of
// a couple (u, pregate, dy, postgate of b0 and b1), the per-row maxima and scales, the output
// modes and copies, and the dk accumulation that the fused backward kernels (fused_cta/bwd_kernel.cuh,
// fused_cluster/bwd_cluster_kernel.cuh) share. The math is described in fused_cta/bwd_kernel.cuh.
#pragma once

#include "cuda/stages/fwd_stages.cuh"

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
  // one access), so their 16-byte chunks are swizzled (layout.hpp swizzled()) and they are
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

}  // namespace ffc::cuda
