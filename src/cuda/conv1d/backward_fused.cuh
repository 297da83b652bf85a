// The fused conv1d backward for K <= kFusedMaxTaps: one pass over dz and x gives dx and the
// per-block partial sums of dweight and dbias (fused_layout.hpp has the tiling and its identities;
// launch.hpp the partials' layout). kMaxTaps (8, 16 or 32, the smallest >= K) sizes the
// accumulators and the staged halo.
//
// fused_backward_bhl_kernel (layout (B, H, L)): one block per (row b H + c, part); 256 threads with
//   8 consecutive positions each. Per tile of 2048 positions: the dz segment [s0 - D, ...) and the
//   x segment [s0 - (K - 1), ...) go to shared memory as f32 (16-byte loads, zeros outside the rows;
//   the next tile's loads are issued into registers before this tile is computed); dx[s0 + 8 i .. + 7] is the sliding-window correlation of dz with the flipped taps;
//   the thread's 8 owned dz entries t = s0 - D + 8 i + r (those inside [0, out_length)) add
//   dz[t] x[t + j - P] to its K tap accumulators and dz[t] to its bias accumulator, in registers
//   across the block's tiles. At the end a shuffle butterfly per tap and a fixed-order sum over the
//   8 warps leave K + 1 partials per block.
// fused_backward_blh_kernel (layout (B, L, H)): one block per (b, 32-channel tile, part); lane =
//   channel, warp w = positions 16 w .. 16 w + 15 of a 128-position tile (two windows of 8); the
//   same dx window and tap accumulators per (channel, window); at the end the 8 warps' sums of each
//   channel are added in warp order through shared memory.
// 16-bit BHL calls with K <= 8 and aligned rows take the direct kernel instead (direct_backward.cuh).
// Deterministic: every sum has an order fixed by the shape (and the SM count, through the parts).
#pragma once

#include "cuda/conv1d/kernels.cuh"

namespace ffc::cuda::conv1d {

constexpr int kFusedBlhTile = kBlhTile;  // positions per BLH tile (128)

// acc_dw[j] += sum_{r in [r_lo, r_hi)} d[r] * at(base + r + j), j < K (taps in chunks of 8 from a
// 16-value register window, as accumulate_window does for the outputs).
template <int kMaxTaps, bool kGuard, typename At>
__device__ __forceinline__ void accumulate_taps(float (&acc_dw)[kMaxTaps], const float (&d)[kOutPerThread], int K,
                                                int base, int r_lo, int r_hi, At at) {
#pragma unroll
  for (int j0 = 0; j0 < kMaxTaps; j0 += kOutPerThread) {
    if (j0 < K) {
      float xb[2 * kOutPerThread];
#pragma unroll
      for (int e = 0; e < 2 * kOutPerThread; ++e) xb[e] = at(base + j0 + e);
#pragma unroll
      for (int q = 0; q < kOutPerThread; ++q) {
        if (j0 + q < K) {
#pragma unroll
          for (int r = 0; r < kOutPerThread; ++r) {
            if (!kGuard || (r >= r_lo && r < r_hi)) acc_dw[j0 + q] = fmaf(d[r], xb[r + q], acc_dw[j0 + q]);
          }
        }
      }
    }
  }
}

// The dweight / dbias terms of one thread's window of 8 owned dz entries, t_first = the first's index.
template <int kMaxTaps, typename At>
__device__ __forceinline__ void window_dw(float (&acc_dw)[kMaxTaps], float& acc_db, const float (&d)[kOutPerThread],
                                          int64_t t_first, int64_t out_length, int K, int base, At at) {
  const int r_lo = static_cast<int>(t_first < 0 ? min64(-t_first, kOutPerThread) : 0);
  const int r_hi = static_cast<int>(min64(kOutPerThread, out_length - t_first > 0 ? out_length - t_first : 0));
  if (r_lo >= r_hi) return;
#pragma unroll
  for (int r = 0; r < kOutPerThread; ++r) acc_db += r >= r_lo && r < r_hi ? d[r] : 0.0f;
  if (r_lo == 0 && r_hi == kOutPerThread) {
    accumulate_taps<kMaxTaps, false>(acc_dw, d, K, base, r_lo, r_hi, at);
  } else {
    accumulate_taps<kMaxTaps, true>(acc_dw, d, K, base, r_lo, r_hi, at);
  }
}

template <typename Dz, typename X, int kMaxTaps>
__global__ void __launch_bounds__(kThreads) fused_backward_bhl_kernel(const FusedBackwardParams p) {
  constexpr int kSegment = kBhlTile + kMaxTaps + kOutPerThread;
  __shared__ float dzs[kSegment + kSegment / 32 + 1];
  __shared__ float xs[kSegment + kSegment / 32 + 1];
  __shared__ float ws[kMaxTaps];
  __shared__ float red[kWarps][kMaxTaps + 1];
  const FusedLayout& f = p.layout;
  // Grid and channel counts fit 31 bits (checked at launch).
  const uint32_t row = blockIdx.x / static_cast<uint32_t>(f.parts_per_row);
  const int64_t part = blockIdx.x % static_cast<uint32_t>(f.parts_per_row);
  const int64_t b = row / static_cast<uint32_t>(p.channels), c = row % static_cast<uint32_t>(p.channels);
  const int K = static_cast<int>(p.kernel_size);
  const int64_t D = p.kernel_size - 1 - p.padding;  // the dx offset
  const Dz* dz = static_cast<const Dz*>(p.dz) + int64_t{row} * p.out_length;
  const X* x = static_cast<const X*>(p.x) + int64_t{row} * p.length;
  for (int k = threadIdx.x; k < K; k += kThreads) {
    ws[k] = filter_tap(p.weight, p.weight_dtype, p.channels_per_group, p.kernel_size, c, K - 1 - k);
  }
  const int base = threadIdx.x * kOutPerThread;
  const int staged = kBhlTile + (K + kOutPerThread - 1) / kOutPerThread * kOutPerThread + kOutPerThread;
  float acc_dw[kMaxTaps] = {};
  float acc_db = 0.0f;
  const int64_t first = f.tile_lo + part * f.tiles_per_part;
  const int64_t end = min64(f.tile_lo + f.tiles, first + f.tiles_per_part);
  // Tile i + 1's loads are issued before tile i is computed.
  SegmentPrefetch<Dz, prefetch_slots<Dz>(kSegment)> next_dz;
  SegmentPrefetch<X, prefetch_slots<X>(kSegment)> next_x;
  const bool vector_dz = aligned16(dz) && p.out_length % next_dz.V == 0;
  const bool vector_x = aligned16(x) && p.length % next_x.V == 0;
  if (first < end) {
    next_dz.issue_row(dz, p.out_length, first * kBhlTile - D, staged, vector_dz);
    next_x.issue_row(x, p.length, first * kBhlTile - (K - 1), staged, vector_x);
  }
  for (int64_t i = first; i < end; ++i) {
    const int64_t s0 = i * kBhlTile;
    __syncthreads();  // the previous tile's reads are done (and ws is written)
    next_dz.store_row(s0 - D, staged, dzs);
    next_x.store_row(s0 - (K - 1), staged, xs);
    __syncthreads();
    if (i + 1 < end) {
      next_dz.issue_row(dz, p.out_length, s0 + kBhlTile - D, staged, vector_dz);
      next_x.issue_row(x, p.length, s0 + kBhlTile - (K - 1), staged, vector_x);
    }
    const int64_t s = s0 + base;
    if (p.dx != nullptr && s >= 0 && s < p.length) {
      float acc[kOutPerThread] = {};
      accumulate_window(acc, ws, 1, K, base, [&](int m) { return dzs[bank_padded(m)]; });
      constexpr int VO = 16 / sizeof(X);
      store8(static_cast<X*>(p.dx) + int64_t{row} * p.length + s, acc, static_cast<int>(min64(kOutPerThread, p.length - s)),
             aligned16(p.dx) && p.length % VO == 0);
    }
    float d[kOutPerThread];
#pragma unroll
    for (int r = 0; r < kOutPerThread; ++r) d[r] = dzs[bank_padded(base + r)];
    window_dw(acc_dw, acc_db, d, s0 - D + base, p.out_length, K, base, [&](int m) { return xs[bank_padded(m)]; });
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
  for (int j = 0; j < kMaxTaps; ++j) {
    if (j < K) {
      const float v = warp_sum(acc_dw[j]);
      if (lane == 0) red[warp][j] = v;
    }
  }
  const float v = warp_sum(acc_db);
  if (lane == 0) red[warp][kMaxTaps] = v;
  __syncthreads();
  if (static_cast<int>(threadIdx.x) <= K) {
    const int j = static_cast<int>(threadIdx.x) < K ? threadIdx.x : kMaxTaps;
    float sum = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) sum += red[w][j];
    p.partials[((b * f.parts_per_row + part) * p.channels + c) * (K + 1) + threadIdx.x] = sum;
  }
}

template <typename Dz, typename X, int kMaxTaps>
__global__ void __launch_bounds__(kThreads) fused_backward_blh_kernel(const FusedBackwardParams p) {
  constexpr int kRows = kFusedBlhTile + kMaxTaps + kOutPerThread;
  static_assert(2 * kRows >= kWarps * (kMaxTaps + 1), "the staging buffers hold the reduction");
  __shared__ float stage[2][kRows][kBlhChannels];  // dz rows, x rows; then the reduction
  __shared__ float ws[kMaxTaps][kBlhChannels];
  float(*dzs)[kBlhChannels] = stage[0];
  float(*xs)[kBlhChannels] = stage[1];
  const FusedLayout& f = p.layout;
  const uint32_t ctiles = static_cast<uint32_t>(ceil_div(p.channels, kBlhChannels));
  const uint32_t row = blockIdx.x / static_cast<uint32_t>(f.parts_per_row);
  const int64_t part = blockIdx.x % static_cast<uint32_t>(f.parts_per_row);
  const int64_t b = row / ctiles, ch0 = int64_t{row % ctiles} * kBlhChannels;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t ch = ch0 + lane;
  const int K = static_cast<int>(p.kernel_size);
  const int64_t D = p.kernel_size - 1 - p.padding;
  for (int q = threadIdx.x; q < K * kBlhChannels; q += kThreads) {
    const int k = q / kBlhChannels, cc = q % kBlhChannels;
    ws[k][cc] = ch0 + cc < p.channels
                    ? filter_tap(p.weight, p.weight_dtype, p.channels_per_group, p.kernel_size, ch0 + cc, K - 1 - k)
                    : 0.0f;
  }
  const int rows = kFusedBlhTile + (K + kOutPerThread - 1) / kOutPerThread * kOutPerThread + kOutPerThread;
  float acc_dw[kMaxTaps] = {};
  float acc_db = 0.0f;
  const int64_t first = f.tile_lo + part * f.tiles_per_part;
  const int64_t end = min64(f.tile_lo + f.tiles, first + f.tiles_per_part);
  X* dx = static_cast<X*>(p.dx);
  for (int64_t i = first; i < end; ++i) {
    const int64_t s0 = i * kFusedBlhTile;
    __syncthreads();
    stage_blh_rows(static_cast<const Dz*>(p.dz), p.channels, b, p.out_length, s0 - D, ch0, rows, dzs);
    stage_blh_rows(static_cast<const X*>(p.x), p.channels, b, p.length, s0 - (K - 1), ch0, rows, xs);
    __syncthreads();
#pragma unroll
    for (int w = 0; w < kBlhWindows; ++w) {
      const int base = (warp * kBlhWindows + w) * kOutPerThread;
      if (dx != nullptr && ch < p.channels) {
        float acc[kOutPerThread] = {};
        accumulate_window(acc, &ws[0][lane], kBlhChannels, K, base, [&](int m) { return dzs[m][lane]; });
#pragma unroll
        for (int r = 0; r < kOutPerThread; ++r) {
          const int64_t s = s0 + base + r;
          if (s >= 0 && s < p.length) dx[(b * p.length + s) * p.channels + ch] = IoTraits<X>::from_float(acc[r]);
        }
      }
      float d[kOutPerThread];
#pragma unroll
      for (int r = 0; r < kOutPerThread; ++r) d[r] = dzs[base + r][lane];
      window_dw(acc_dw, acc_db, d, s0 - D + base, p.out_length, K, base, [&](int m) { return xs[m][lane]; });
    }
  }
  // red[w][j][lane]: warp w's sum of tap j (j = K: the bias) for the channel of `lane`.
  float* red = &stage[0][0][0];
  __syncthreads();
#pragma unroll
  for (int j = 0; j < kMaxTaps; ++j) {
    if (j < K) red[(warp * (kMaxTaps + 1) + j) * kBlhChannels + lane] = acc_dw[j];
  }
  red[(warp * (kMaxTaps + 1) + kMaxTaps) * kBlhChannels + lane] = acc_db;
  __syncthreads();
  for (int q = threadIdx.x; q < (K + 1) * kBlhChannels; q += kThreads) {
    const int j = q / kBlhChannels, cc = q % kBlhChannels;
    if (ch0 + cc >= p.channels) continue;
    const int slot = j < K ? j : kMaxTaps;
    float sum = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) sum += red[(w * (kMaxTaps + 1) + slot) * kBlhChannels + cc];
    p.partials[((b * f.parts_per_row + part) * p.channels + ch0 + cc) * (K + 1) + j] = sum;
  }
}

template <typename Dz, typename X, int kMaxTaps>
void launch_fused_backward_taps(const FusedBackwardParams& p, int64_t blocks, cudaStream_t stream) {
  if (p.blh) {
    fused_backward_blh_kernel<Dz, X, kMaxTaps><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  } else {
    fused_backward_bhl_kernel<Dz, X, kMaxTaps><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  }
}

template <typename Dz, typename X>
void launch_fused_backward(const FusedBackwardParams& p, cudaStream_t stream) {
  const int64_t rows = p.blh ? p.batch * ceil_div(p.channels, kBlhChannels) : p.batch * p.channels;
  const int64_t blocks = rows * p.layout.parts_per_row;
  if (blocks == 0 || p.layout.tiles == 0) return;
  if (blocks > INT32_MAX || p.channels > INT32_MAX || p.kernel_size > kFusedMaxTaps) {
    core::throw_error(Status::kNotSupported, "x: the fused conv1d backward grid of " + std::to_string(blocks) +
                                                 " blocks, H, or K = " + std::to_string(p.kernel_size) +
                                                 " exceeds its limits (rule: blocks and H < 2^31, K <= 32)");
  }
  if (p.kernel_size <= 8) {
    launch_fused_backward_taps<Dz, X, 8>(p, blocks, stream);
  } else if (p.kernel_size <= 16) {
    launch_fused_backward_taps<Dz, X, 16>(p, blocks, stream);
  } else {
    launch_fused_backward_taps<Dz, X, 32>(p, blocks, stream);
  }
  check_cuda(cudaGetLastError(), "conv1d fused backward launch");
}

}  // namespace ffc::cuda::conv1d

#include "cuda/conv1d/direct_backward.cuh"

namespace ffc::cuda::conv1d {

template <typename T>
void fused_backward_for(const FusedBackwardParams& p, cudaStream_t stream) {
  if constexpr (sizeof(T) == 2) {
    if (p.direct) {
      launch_direct_backward<T>(p, stream);
      return;
    }
  }
  if (p.dz_f32) {
    launch_fused_backward<float, T>(p, stream);
  } else {
    launch_fused_backward<T, T>(p, stream);
  }
}

}  // namespace ffc::cuda::conv1d
