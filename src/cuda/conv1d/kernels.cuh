// The conv1d kernels, templated on the element types they read and write. Built for sm_80 and up
// (cmake/FfcCuda.cmake: FFC_CUDA_ARCHS_PORTABLE). 64-bit element offsets throughout; no atomics:
// every sum has a fixed order.
//
// correlate_bhl_kernel (layout (B, H, L)): one block per (row, tile of 2048 x kWindows outputs;
//   two windows for rows of 4096 outputs or more); 256 threads, 8 consecutive outputs per window.
//   Per chunk of 256 taps: the tile's input segment plus its halo goes to shared memory as f32, each
//   thread issuing up to kLoadBatch loads (16-byte vectors when the rows are aligned; zeros outside
//   the row) before it converts any, so the segment is in flight at once; the chunk's taps too; each
//   thread slides a 16-register window along its inputs, 64 FMAs per 8 taps with one shared load per
//   tap for x and one broadcast for w. The shared index m + m / 32 keeps the threads' stride-8
//   windows on distinct banks. Outputs leave as one 16-byte store per thread and window where aligned.
// correlate_blh_kernel (layout (B, L, H)): one block per (b, tile of 128 times, 32 channels); lane =
//   channel, warp = 16 consecutive times (two windows of 8); shared rows of 32 channels (one bank per
//   lane, batched 16-byte loads), taps in chunks of 32 with each channel's own filter chunk in
//   shared memory.
// Both compute out[t] = sum_j w[j] in[t + j - offset] (+ bias, epilogue): the forward (offset P),
// dx (dz with the flipped filter, offset K - 1 - P) and SiLU's dz (z recomputed, times dy).
//
// dw_partials_bhl_kernel / dw_partials_blh_kernel (K > 32; backward_fused.cuh serves K <= 32):
//   one block per (channel or 32-channel tile, part);
//   a part is a contiguous range of (batch, time tile) items. For each chunk of 64 taps (8 per warp,
//   in registers) the block walks its items: dz tile and x tile (with the chunk's halo) to shared
//   memory, each thread accumulating its taps over its times. BHL: lanes split the times and a
//   butterfly of shuffles sums them at the end; BLH: a thread owns (channel, taps) alone. The
//   part's sums go to the workspace; dw_finish_kernel / dbias_finish_kernel add the parts and the
//   group's channels in a fixed order (deterministic).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "cuda/check.hpp"
#include "cuda/conv1d/index_math.hpp"
#include "cuda/conv1d/launch.hpp"
#include "cuda/stages/io.cuh"

namespace ffc::cuda::conv1d {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kOutPerThread = 8;                         // consecutive outputs per window
constexpr int kLoadBatch = 4;     // global loads a thread issues before using any (BHL segments)
constexpr int kBlhLoadBatch = 3;  // the same for the BLH rows: 160 rows x 4 vectors fit 3 per thread
constexpr int kBhlTile = kThreads * kOutPerThread;       // outputs per window pass, BHL
constexpr int kBhlTapChunk = 256;
constexpr int kBlhChannels = 32;
constexpr int kBlhWindows = 2;                           // windows of 8 times per warp, BLH
constexpr int kBlhTile = kWarps * kBlhWindows * kOutPerThread;  // 128 times per block, BLH
constexpr int kBlhTapChunk = 32;
constexpr int kBlhRows = kBlhTile + kBlhTapChunk;
// Windows of 2048 outputs per BHL block: two for rows of 4096 outputs or more (more loads in flight).
__host__ __device__ constexpr int bhl_windows(int64_t out_length) { return out_length >= 2 * kBhlTile ? 2 : 1; }
constexpr int kDwTapChunk = (kThreads / 32) * 8;         // 64: 8 taps per warp
constexpr int kDwBhlTile = 1024;                         // times per item, BHL
constexpr int kDwBlhTile = 64;                           // times per item, BLH

__host__ __device__ constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
__host__ __device__ constexpr int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Grids and channel counts fit 31 bits (the kernels' block and channel arithmetic is 32-bit).
inline void check_conv1d_grid(int64_t blocks, int64_t channels, const char* what) {
  if (blocks > INT32_MAX || channels > INT32_MAX) {
    core::throw_error(Status::kNotSupported, std::string("x: the ") + what + " grid of " + std::to_string(blocks) +
                                                 " blocks, or H, exceeds 2^31 - 1 (rule: fewer rows or shorter rows)");
  }
}

// A value of a small tensor of run-time dtype (ffc::DType codes: 0 f32, 1 f16, 2 bf16).
__device__ __forceinline__ float load_dtype(const void* data, int dtype, int64_t i) {
  if (dtype == 0) return static_cast<const float*>(data)[i];
  if (dtype == 1) return __half2float(static_cast<const __half*>(data)[i]);
  return __bfloat162float(static_cast<const __nv_bfloat16*>(data)[i]);
}

// Tap j (< K) of the filter of channel c, as the correlation uses it. Channel counts fit 31 bits
// (checked at launch), so the channel's group is a 32-bit division.
__device__ __forceinline__ float filter_tap(const void* weight, int weight_dtype, int64_t channels_per_group,
                                            int64_t kernel_size, int64_t c, int64_t k) {
  const int64_t g = static_cast<uint32_t>(c) / static_cast<uint32_t>(channels_per_group);
  return load_dtype(weight, weight_dtype, g * kernel_size + k);
}
__device__ __forceinline__ float filter_tap(const CorrelateParams& p, int64_t c, int64_t j) {
  return filter_tap(p.weight, p.weight_dtype, p.channels_per_group, p.kernel_size, c, p.flip ? p.kernel_size - 1 - j : j);
}

__device__ __forceinline__ float sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }

template <typename In>
__device__ __forceinline__ float apply_epilogue(const CorrelateParams& p, float z, const In* dy, int64_t index) {
  if (p.epilogue == Epilogue::kSilu) return z * sigmoid(z);
  if (p.epilogue == Epilogue::kSiluGrad) {
    const float s = sigmoid(z);
    return IoTraits<In>::to_float(dy[index]) * (s * (1.0f + z * (1.0f - s)));
  }
  return z;
}


// ---- the window: acc[r] += sum_{j < kc} w[j] * x[base + j + r], r < 8 ------------------------------
// `at(i)` reads staged input i; taps beyond kc are skipped (not multiplied by zero: a non-finite
// input then reaches only the outputs that depend on it).
template <typename At>
__device__ __forceinline__ void accumulate_window(float (&acc)[kOutPerThread], const float* w, int w_stride,
                                                  int kc, int base, At at) {
  float buf[2 * kOutPerThread];
#pragma unroll
  for (int e = 0; e < kOutPerThread; ++e) buf[e] = at(base + e);
  for (int j0 = 0; j0 < kc; j0 += kOutPerThread) {
#pragma unroll
    for (int e = 0; e < kOutPerThread; ++e) buf[kOutPerThread + e] = at(base + j0 + kOutPerThread + e);
#pragma unroll
    for (int q = 0; q < kOutPerThread; ++q) {
      if (j0 + q < kc) {
        const float wq = w[(j0 + q) * w_stride];
#pragma unroll
        for (int r = 0; r < kOutPerThread; ++r) acc[r] = fmaf(wq, buf[q + r], acc[r]);
      }
    }
#pragma unroll
    for (int e = 0; e < kOutPerThread; ++e) buf[e] = buf[kOutPerThread + e];
  }
}

// ---- BHL ---------------------------------------------------------------------------------------------
__device__ __forceinline__ int bank_padded(int m) { return m + (m >> 5); }

// xs[bank_padded(i)] = row[start + i] (0 outside [0, len)) for i < n. Each thread issues up to
// kLoadBatch loads (16-byte vectors where the row is aligned) before it converts and stores any, so
// a block has all of its segment in flight at once.
template <typename In>
__device__ void stage_row_segment(const In* row, int64_t len, int64_t start, int n, float* xs) {
  constexpr int V = 16 / sizeof(In);
  if (aligned16(row) && len % V == 0) {
    const int64_t a = floor_div(start, V) * V;  // aligned vector start; a vector is wholly in or out
    const int shift = static_cast<int>(start - a);
    const int vectors = static_cast<int>(ceil_div(n + shift, V));
    for (int q0 = threadIdx.x; q0 < vectors; q0 += kLoadBatch * kThreads) {
      union {
        uint4 raw;
        In v[V];
      } u[kLoadBatch];
#pragma unroll
      for (int e = 0; e < kLoadBatch; ++e) {
        const int q = q0 + e * kThreads;
        const int64_t pos = a + int64_t{q} * V;
        u[e].raw = q < vectors && pos >= 0 && pos + V <= len ? *reinterpret_cast<const uint4*>(row + pos)
                                                               : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int e = 0; e < kLoadBatch; ++e) {
        const int q = q0 + e * kThreads;
#pragma unroll
        for (int k = 0; k < V; ++k) {
          const int i = q * V + k - shift;
          if (q < vectors && i >= 0 && i < n) xs[bank_padded(i)] = IoTraits<In>::to_float(u[e].v[k]);
        }
      }
    }
    return;
  }
  for (int i0 = threadIdx.x; i0 < n; i0 += kLoadBatch * kThreads) {
    float v[kLoadBatch];
#pragma unroll
    for (int e = 0; e < kLoadBatch; ++e) {
      const int i = i0 + e * kThreads;
      const int64_t s = start + i;
      v[e] = i < n && s >= 0 && s < len ? IoTraits<In>::to_float(row[s]) : 0.0f;
    }
#pragma unroll
    for (int e = 0; e < kLoadBatch; ++e) {
      if (i0 + e * kThreads < n) xs[bank_padded(i0 + e * kThreads)] = v[e];
    }
  }
}

// Register slots per thread that hold `values` values of In plus a misaligned start's V - 1.
template <typename In>
constexpr int prefetch_slots(int values) {
  constexpr int V = 16 / sizeof(In);
  return static_cast<int>(ceil_div(ceil_div(values + V - 1, V), kThreads));
}

// A BHL row segment's loads issued now and stored to shared memory later (software pipelining: the
// fused backward issues tile i + 1's loads before computing tile i). Slot e of a thread holds the V
// values [a + q V, a + (q + 1) V) of the row, q = threadIdx.x + e kThreads, a = start rounded down
// to a multiple of V: one 16-byte load where `vector` (an aligned row whose length is a multiple of
// V: a slot is wholly in or out of the row), else V element loads. Zeros outside [0, len).
template <typename In, int kSlots>
struct SegmentPrefetch {
  static constexpr int V = 16 / sizeof(In);
  union Slot {
    uint4 raw;
    In v[V];
  } slot[kSlots];

  // Row segment [start, start + n) of a BHL row.
  __device__ __forceinline__ void issue_row(const In* row, int64_t len, int64_t start, int n, bool vector) {
    const int64_t a = floor_div(start, V) * V;
    const int vectors = static_cast<int>(ceil_div(n + (start - a), V));
#pragma unroll
    for (int e = 0; e < kSlots; ++e) {
      const int q = threadIdx.x + e * kThreads;
      const int64_t pos = a + int64_t{q} * V;
      if (vector) {
        slot[e].raw = q < vectors && pos >= 0 && pos + V <= len ? *reinterpret_cast<const uint4*>(row + pos)
                                                                : make_uint4(0, 0, 0, 0);
      } else {
#pragma unroll
        for (int k = 0; k < V; ++k) {
          const int64_t s = pos + k;
          slot[e].v[k] = q < vectors && s >= 0 && s < len ? row[s] : IoTraits<In>::from_float(0.0f);
        }
      }
    }
  }
  // xs[bank_padded(i)] = the segment's value i, i < n (the segment issued with the same start, n).
  __device__ __forceinline__ void store_row(int64_t start, int n, float* xs) const {
    const int shift = static_cast<int>(start - floor_div(start, V) * V);
#pragma unroll
    for (int e = 0; e < kSlots; ++e) {
      const int q = threadIdx.x + e * kThreads;
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const int i = q * V + k - shift;
        if (i >= 0 && i < n) xs[bank_padded(i)] = IoTraits<In>::to_float(slot[e].v[k]);
      }
    }
  }
};

template <typename Out>
__device__ __forceinline__ void store8(Out* dst, const float (&v)[kOutPerThread], int count, bool vector) {
  constexpr int V = 16 / sizeof(Out);
  if (vector && count == kOutPerThread) {
#pragma unroll
    for (int h = 0; h < kOutPerThread / V; ++h) {
      union {
        uint4 raw;
        Out v[V];
      } u;
#pragma unroll
      for (int e = 0; e < V; ++e) u.v[e] = IoTraits<Out>::from_float(v[h * V + e]);
      reinterpret_cast<uint4*>(dst)[h] = u.raw;
    }
    return;
  }
#pragma unroll
  for (int r = 0; r < kOutPerThread; ++r) {
    if (r < count) dst[r] = IoTraits<Out>::from_float(v[r]);
  }
}

// The epilogue and store of one thread's window of outputs t .. t + 7 of a BHL row.
template <typename In, typename Out>
__device__ __forceinline__ void finish_bhl_window(const CorrelateParams& p, int64_t row, int64_t c, int64_t t,
                                                  const float (&acc)[kOutPerThread]) {
  if (t >= p.out_length) return;
  const int count = static_cast<int>(min64(kOutPerThread, p.out_length - t));
  const float bias = p.bias ? load_dtype(p.bias, p.bias_dtype, c) : 0.0f;
  const int64_t index = row * p.out_length + t;
  const In* dy = static_cast<const In*>(p.dy);
  float v[kOutPerThread];
#pragma unroll
  for (int r = 0; r < kOutPerThread; ++r) v[r] = r < count ? apply_epilogue(p, acc[r] + bias, dy, index + r) : 0.0f;
  constexpr int VO = 16 / sizeof(Out);
  store8(static_cast<Out*>(p.out) + index, v, count, aligned16(p.out) && p.out_length % VO == 0);
}

template <typename In, typename Out, int kWindows>
__global__ void __launch_bounds__(kThreads) correlate_bhl_kernel(const CorrelateParams p) {
  constexpr int kTile = kWindows * kBhlTile;
  constexpr int kSegment = kTile + kBhlTapChunk;
  __shared__ float xs[kSegment + kSegment / 32 + 1];
  __shared__ float ws[kBhlTapChunk];
  // Grids and channel counts fit 31 bits (checked at launch): 32-bit index arithmetic.
  const uint32_t tiles = static_cast<uint32_t>(ceil_div(p.out_length, kTile));
  const int64_t row = blockIdx.x / tiles;
  const int64_t t0 = int64_t{blockIdx.x % tiles} * kTile;
  const int64_t c = static_cast<uint32_t>(row) % static_cast<uint32_t>(p.channels);
  const In* in = static_cast<const In*>(p.in) + row * p.in_length;
  const int base = threadIdx.x * kOutPerThread;
  float acc[kWindows][kOutPerThread] = {};
  for (int64_t c0 = 0; c0 < p.kernel_size; c0 += kBhlTapChunk) {
    const int kc = static_cast<int>(min64(kBhlTapChunk, p.kernel_size - c0));
    const int staged = kTile + (kc + kOutPerThread - 1) / kOutPerThread * kOutPerThread;
    __syncthreads();  // the previous chunk's reads are done
    stage_row_segment(in, p.in_length, t0 + c0 - p.offset, staged, xs);
    for (int k = threadIdx.x; k < kc; k += kThreads) ws[k] = filter_tap(p, c, c0 + k);
    __syncthreads();
#pragma unroll
    for (int w = 0; w < kWindows; ++w) {
      accumulate_window(acc[w], ws, 1, kc, w * kBhlTile + base, [&](int i) { return xs[bank_padded(i)]; });
    }
  }
#pragma unroll
  for (int w = 0; w < kWindows; ++w) finish_bhl_window<In, Out>(p, row, c, t0 + w * kBhlTile + base, acc[w]);
}

// ---- BLH ---------------------------------------------------------------------------------------------
// xs[i][cc] = x[b, start + i, ch0 + cc] (0 outside) for i < rows, cc < 32; batched loads as in
// stage_row_segment (16-byte vectors of a time row's channels where aligned).
template <typename In>
__device__ void stage_blh_rows(const In* x, int64_t channels, int64_t b, int64_t len, int64_t start, int64_t ch0,
                               int rows, float (*xs)[kBlhChannels]) {
  constexpr int V = 16 / sizeof(In);
  constexpr int kVecPerRow = kBlhChannels / V;
  if (aligned16(x) && channels % V == 0) {
    const int n = rows * kVecPerRow;
    for (int q0 = threadIdx.x; q0 < n; q0 += kBlhLoadBatch * kThreads) {
      union {
        uint4 raw;
        In v[V];
      } u[kBlhLoadBatch];
#pragma unroll
      for (int e = 0; e < kBlhLoadBatch; ++e) {
        const int q = q0 + e * kThreads;
        const int64_t s = start + q / kVecPerRow, ch = ch0 + (q % kVecPerRow) * V;
        u[e].raw = q < n && s >= 0 && s < len && ch < channels
                       ? *reinterpret_cast<const uint4*>(x + (b * len + s) * channels + ch)
                       : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int e = 0; e < kBlhLoadBatch; ++e) {
        const int q = q0 + e * kThreads;
        if (q < n) {
#pragma unroll
          for (int k = 0; k < V; ++k) xs[q / kVecPerRow][(q % kVecPerRow) * V + k] = IoTraits<In>::to_float(u[e].v[k]);
        }
      }
    }
    return;
  }
  const int n = rows * kBlhChannels;
  for (int q0 = threadIdx.x; q0 < n; q0 += kBlhLoadBatch * kThreads) {
    float v[kBlhLoadBatch];
#pragma unroll
    for (int e = 0; e < kBlhLoadBatch; ++e) {
      const int q = q0 + e * kThreads;
      const int64_t s = start + q / kBlhChannels, ch = ch0 + q % kBlhChannels;
      v[e] = q < n && s >= 0 && s < len && ch < channels ? IoTraits<In>::to_float(x[(b * len + s) * channels + ch]) : 0.0f;
    }
#pragma unroll
    for (int e = 0; e < kBlhLoadBatch; ++e) {
      const int q = q0 + e * kThreads;
      if (q < n) xs[q / kBlhChannels][q % kBlhChannels] = v[e];
    }
  }
}

// ws[k][cc] = tap c0 + k of channel ch0 + cc (0 for channels past the end), k < kc.
__device__ __forceinline__ void stage_blh_taps(const CorrelateParams& p, int64_t ch0, int64_t c0, int kc,
                                               float (*ws)[kBlhChannels]) {
  for (int q = threadIdx.x; q < kc * kBlhChannels; q += kThreads) {
    const int k = q / kBlhChannels, cc = q % kBlhChannels;
    ws[k][cc] = ch0 + cc < p.channels ? filter_tap(p, ch0 + cc, c0 + k) : 0.0f;
  }
}

// Block (b, 128 times, 32 channels): lane = channel, warp w = times 16 w .. 16 w + 15 (two windows).
template <typename In, typename Out>
__global__ void __launch_bounds__(kThreads, 3) correlate_blh_kernel(const CorrelateParams p) {
  __shared__ float xs[kBlhRows][kBlhChannels];
  __shared__ float ws[kBlhTapChunk][kBlhChannels];
  const uint32_t ctiles = static_cast<uint32_t>(ceil_div(p.channels, kBlhChannels));
  const uint32_t ttiles = static_cast<uint32_t>(ceil_div(p.out_length, kBlhTile));
  const int64_t ch0 = int64_t{blockIdx.x % ctiles} * kBlhChannels;
  const int64_t t0 = int64_t{(blockIdx.x / ctiles) % ttiles} * kBlhTile;
  const int64_t b = blockIdx.x / ctiles / ttiles;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t ch = ch0 + lane;
  float acc[kBlhWindows][kOutPerThread] = {};
  for (int64_t c0 = 0; c0 < p.kernel_size; c0 += kBlhTapChunk) {
    const int kc = static_cast<int>(min64(kBlhTapChunk, p.kernel_size - c0));
    const int rows = kBlhTile + (kc + kOutPerThread - 1) / kOutPerThread * kOutPerThread;
    __syncthreads();
    stage_blh_rows(static_cast<const In*>(p.in), p.channels, b, p.in_length, t0 + c0 - p.offset, ch0, rows, xs);
    stage_blh_taps(p, ch0, c0, kc, ws);
    __syncthreads();
#pragma unroll
    for (int w = 0; w < kBlhWindows; ++w) {
      accumulate_window(acc[w], &ws[0][lane], kBlhChannels, kc, (warp * kBlhWindows + w) * kOutPerThread,
                        [&](int i) { return xs[i][lane]; });
    }
  }
  if (ch >= p.channels) return;
  const float bias = p.bias ? load_dtype(p.bias, p.bias_dtype, ch) : 0.0f;
  const In* dy = static_cast<const In*>(p.dy);
  Out* out = static_cast<Out*>(p.out);
  const int64_t t_first = t0 + warp * kBlhWindows * kOutPerThread;
  const int count = static_cast<int>(min64(kBlhWindows * kOutPerThread, p.out_length - t_first));
  int64_t index = (b * p.out_length + t_first) * p.channels + ch;
#pragma unroll
  for (int w = 0; w < kBlhWindows; ++w) {
#pragma unroll
    for (int r = 0; r < kOutPerThread; ++r, index += p.channels) {
      if (w * kOutPerThread + r < count) out[index] = IoTraits<Out>::from_float(apply_epilogue(p, acc[w][r] + bias, dy, index));
    }
  }
}

}  // namespace ffc::cuda::conv1d

#include "cuda/conv1d/direct_bhl.cuh"

namespace ffc::cuda::conv1d {

template <typename In, typename Out>
void launch_correlate(const CorrelateParams& p, cudaStream_t stream) {
  const int windows = bhl_windows(p.out_length);
  const int64_t blocks = p.blh ? p.batch * ceil_div(p.out_length, kBlhTile) * ceil_div(p.channels, kBlhChannels)
                               : p.batch * p.channels * ceil_div(p.out_length, int64_t{windows} * kBhlTile);
  if (blocks == 0) return;
  check_conv1d_grid(blocks, p.channels, "conv1d");
  if constexpr (std::is_same_v<In, Out> && sizeof(In) == 2) {
    if (direct_kernels_enabled() && direct_bhl_applies<In>(p)) {
      launch_direct_bhl<In>(p, stream);
      check_cuda(cudaGetLastError(), "conv1d correlate launch");
      return;
    }
  }
  if (p.blh) {
    correlate_blh_kernel<In, Out><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  } else {
    if (windows == 2) {
      correlate_bhl_kernel<In, Out, 2><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
    } else {
      correlate_bhl_kernel<In, Out, 1><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
    }
  }
  check_cuda(cudaGetLastError(), "conv1d correlate launch");
}

// ---- dweight / dbias partials -----------------------------------------------------------------------
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// The first item of a part: parts split `items` evenly, part p taking [first(p), first(p + 1)).
__device__ __forceinline__ int64_t part_first(int64_t part, int64_t parts, int64_t items) {
  return part * items / parts;
}

template <typename Dz, typename X>
__global__ void __launch_bounds__(kThreads) dw_partials_bhl_kernel(const DwParams p) {
  __shared__ float dzs[kDwBhlTile];
  __shared__ float xs[kDwBhlTile + kDwTapChunk + 8];
  const int64_t c = blockIdx.x / static_cast<uint32_t>(p.parts), part = blockIdx.x % static_cast<uint32_t>(p.parts);
  const int64_t ttiles = ceil_div(p.out_length, kDwBhlTile);
  const int64_t first = part_first(part, p.parts, p.batch * ttiles);
  const int64_t last = part_first(part + 1, p.parts, p.batch * ttiles);
  const int64_t b_first = first / ttiles, tile_first = first % ttiles;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t K = p.kernel_size;
  float* out = p.partials + (part * p.channels + c) * (K + 1);
  for (int64_t c0 = 0; c0 < K; c0 += kDwTapChunk) {
    const int64_t tap0 = c0 + warp * 8;  // this warp's first tap
    float acc[8] = {};
    float bias_sum = 0.0f;
    const bool sums_bias = c0 == 0 && warp == 0;
    // (b, tile) of each item, stepped without a 64-bit division in the loop.
    int64_t b = b_first, tile = tile_first;
    for (int64_t item = first; item < last; ++item, tile = tile + 1 == ttiles ? 0 : tile + 1, b += tile == 0) {
      const int64_t t0 = tile * kDwBhlTile;
      const int valid = static_cast<int>(min64(kDwBhlTile, p.out_length - t0));
      const Dz* dz = static_cast<const Dz*>(p.dz) + (b * p.channels + c) * p.out_length + t0;
      const X* x = static_cast<const X*>(p.x) + (b * p.channels + c) * p.length;
      __syncthreads();
      for (int i = threadIdx.x; i < valid; i += kThreads) dzs[i] = IoTraits<Dz>::to_float(dz[i]);
      const int64_t start = t0 + c0 - p.offset;
      for (int i = threadIdx.x; i < kDwBhlTile + kDwTapChunk + 8; i += kThreads) {
        const int64_t s = start + i;
        xs[i] = (s >= 0 && s < p.length) ? IoTraits<X>::to_float(x[s]) : 0.0f;
      }
      __syncthreads();
      for (int t = lane; t < valid; t += 32) {
        const float d = dzs[t];
        if (sums_bias) bias_sum += d;
#pragma unroll
        for (int q = 0; q < 8; ++q) {
          if (tap0 + q < K) acc[q] = fmaf(d, xs[t + warp * 8 + q], acc[q]);
        }
      }
    }
#pragma unroll
    for (int q = 0; q < 8; ++q) {
      const float v = warp_sum(acc[q]);
      if (lane == 0 && tap0 + q < K) out[tap0 + q] = v;
    }
    if (sums_bias) {
      const float v = warp_sum(bias_sum);
      if (lane == 0) out[K] = v;
    }
  }
}

template <typename Dz, typename X>
__global__ void __launch_bounds__(kThreads) dw_partials_blh_kernel(const DwParams p) {
  __shared__ float dzs[kDwBlhTile][kBlhChannels];
  __shared__ float xs[kDwBlhTile + kDwTapChunk + 8][kBlhChannels];
  const int64_t ctile = blockIdx.x / static_cast<uint32_t>(p.parts), part = blockIdx.x % static_cast<uint32_t>(p.parts);
  const int64_t ttiles = ceil_div(p.out_length, kDwBlhTile);
  const int64_t first = part_first(part, p.parts, p.batch * ttiles);
  const int64_t last = part_first(part + 1, p.parts, p.batch * ttiles);
  const int64_t b_first = first / ttiles, tile_first = first % ttiles;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t K = p.kernel_size, H = p.channels, ch0 = ctile * kBlhChannels, ch = ch0 + lane;
  const Dz* dz_all = static_cast<const Dz*>(p.dz);
  const X* x_all = static_cast<const X*>(p.x);
  for (int64_t c0 = 0; c0 < K; c0 += kDwTapChunk) {
    const int64_t tap0 = c0 + warp * 8;
    float acc[8] = {};
    float bias_sum = 0.0f;
    const bool sums_bias = c0 == 0 && warp == 0;
    int64_t b = b_first, tile = tile_first;
    for (int64_t item = first; item < last; ++item, tile = tile + 1 == ttiles ? 0 : tile + 1, b += tile == 0) {
      const int64_t t0 = tile * kDwBlhTile;
      const int valid = static_cast<int>(min64(kDwBlhTile, p.out_length - t0));
      __syncthreads();
      for (int q = threadIdx.x; q < valid * kBlhChannels; q += kThreads) {
        const int i = q / kBlhChannels, cc = q % kBlhChannels;
        dzs[i][cc] = ch0 + cc < H ? IoTraits<Dz>::to_float(dz_all[(b * p.out_length + t0 + i) * H + ch0 + cc]) : 0.0f;
      }
      const int64_t start = t0 + c0 - p.offset;
      for (int q = threadIdx.x; q < (kDwBlhTile + kDwTapChunk + 8) * kBlhChannels; q += kThreads) {
        const int i = q / kBlhChannels, cc = q % kBlhChannels;
        const int64_t s = start + i;
        xs[i][cc] = (s >= 0 && s < p.length && ch0 + cc < H) ? IoTraits<X>::to_float(x_all[(b * p.length + s) * H + ch0 + cc]) : 0.0f;
      }
      __syncthreads();
      for (int t = 0; t < valid; ++t) {
        const float d = dzs[t][lane];
        if (sums_bias) bias_sum += d;
#pragma unroll
        for (int q = 0; q < 8; ++q) {
          if (tap0 + q < K) acc[q] = fmaf(d, xs[t + warp * 8 + q][lane], acc[q]);
        }
      }
    }
    if (ch < H) {
      float* out = p.partials + (part * H + ch) * (K + 1);
#pragma unroll
      for (int q = 0; q < 8; ++q) {
        if (tap0 + q < K) out[tap0 + q] = acc[q];
      }
      if (sums_bias) out[K] = bias_sum;
    }
  }
}

template <typename Dz, typename X>
void launch_dw_partials(const DwParams& p, cudaStream_t stream) {
  const int64_t tiles = p.blh ? ceil_div(p.channels, kBlhChannels) : p.channels;
  const int64_t blocks = tiles * p.parts;
  if (blocks == 0) return;
  if (blocks > INT32_MAX || p.channels > INT32_MAX) {
    core::throw_error(Status::kNotSupported, "x: the conv1d dweight grid exceeds 2^31 - 1 blocks or H exceeds 2^31 - 1");
  }
  if (p.blh) {
    dw_partials_blh_kernel<Dz, X><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  } else {
    dw_partials_bhl_kernel<Dz, X><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  }
  check_cuda(cudaGetLastError(), "conv1d dweight partials launch");
}

// The per-dtype entry points: In / Out / Dz are the call's dtype T or float.
template <typename T>
void correlate_for(const CorrelateParams& p, cudaStream_t stream) {
  if (p.in_f32) {
    launch_correlate<float, T>(p, stream);
  } else if (p.out_f32) {
    launch_correlate<T, float>(p, stream);
  } else {
    launch_correlate<T, T>(p, stream);
  }
}

template <typename T>
void dw_partials_for(const DwParams& p, cudaStream_t stream) {
  if (p.dz_f32) {
    launch_dw_partials<float, T>(p, stream);
  } else {
    launch_dw_partials<T, T>(p, stream);
  }
}

}  // namespace ffc::cuda::conv1d
