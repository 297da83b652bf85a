// fused_backward_bhl_direct_kernel: the fused conv1d backward (dx and the dweight / dbias partials,
// fused_layout.hpp's identities) for 16-bit BHL rows, K <= kMaxTaps = 8, without shared
// memory staging (fused_layout.hpp: direct_backward_applies). A block serves one tile of a row (parts per
// row = tiles); thread i owns the position vectors v = v0 + i + 256 u (u < kVec, 8 positions each,
// warp-coalesced) and, per vector, issues three sets of 16-byte loads before converting any:
//   - its own dz vector (the dweight / dbias terms of t = 8 v .. 8 v + 7);
//   - the x window x[8 v - P ...] of those terms, from the aligned vector below 8 v - P: its offset
//     kShiftP = (-P) mod 8 is a template parameter (compile-time register indices);
//   - the dz window dz[8 v - D ...] of dx[8 v .. 8 v + 7] (D = K - 1 - P): its offset (-D) mod 8
//     depends on K, so it is applied at run time: a word shift by two selects and a half-word shift
//     by one byte permute per word.
// dx leaves as one 16-byte store per vector. The K + 1 sums per thread are reduced by a shuffle
// butterfly per warp and a fixed-order sum over the warps into the block's partials (deterministic).
// Included by backward_fused.cuh.
#pragma once

namespace ffc::cuda::conv1d {

template <typename T, int kShiftP, int kMaxTaps>
__global__ void __launch_bounds__(kThreads) fused_backward_bhl_direct_kernel(const FusedBackwardParams p) {
  constexpr int V = 8;
  constexpr int kVec = kDirectBackwardTile / (kThreads * V);  // position vectors per thread
  static_assert(kMaxTaps <= kDirectBackwardMaxTaps, "the direct backward's register budget");
  constexpr int kQx = (kShiftP + kMaxTaps + 14) / V;   // x vectors of a dweight window
  constexpr int kQz = (7 + kMaxTaps + 14) / V;         // dz vectors of a dx window (run-time offset <= 7)
  constexpr int kWords = 4 * kQz;
  constexpr int kSpan = V + kMaxTaps - 1;              // values of a window
  union Vec {
    uint4 raw;
    uint32_t w[4];
    T v[V];
  };
  union Pair {
    uint32_t w;
    T v[2];
  };
  __shared__ float red[kWarps][kMaxTaps + 1];
  const FusedLayout& f = p.layout;
  // Grid and channel counts fit 31 bits (checked at launch).
  const uint32_t row = blockIdx.x / static_cast<uint32_t>(f.parts_per_row);
  const int64_t part = blockIdx.x % static_cast<uint32_t>(f.parts_per_row);
  const int64_t b = row / static_cast<uint32_t>(p.channels), c = row % static_cast<uint32_t>(p.channels);
  const int K = static_cast<int>(p.kernel_size);
  const int64_t P = p.padding, D = p.kernel_size - 1 - p.padding;
  const uint4* dz = reinterpret_cast<const uint4*>(static_cast<const T*>(p.dz) + int64_t{row} * p.out_length);
  const uint4* x = reinterpret_cast<const uint4*>(static_cast<const T*>(p.x) + int64_t{row} * p.length);
  const int64_t nz = p.out_length / V, nx = p.length / V;
  const int64_t v0 = part * kThreads * kVec + threadIdx.x;
  const int64_t mP = split_vectors(-P, V).vectors;  // the launcher chose kShiftP = its shift
  const VectorSplit dz_window = split_vectors(-D, V);
  const int64_t mD = dz_window.vectors;
  const int sigma = dz_window.shift;  // uniform over the launch
  const auto load = [](const uint4* src, int64_t i, int64_t n) { return i >= 0 && i < n ? src[i] : make_uint4(0, 0, 0, 0); };
  Vec own[kVec], xw[kVec][kQx], zw[kVec][kQz];
#pragma unroll
  for (int u = 0; u < kVec; ++u) {
    const int64_t v = v0 + u * kThreads;
    own[u].raw = load(dz, v, nz);
#pragma unroll
    for (int q = 0; q < kQx; ++q) xw[u][q].raw = v < nz ? load(x, v + mP + q, nx) : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int q = 0; q < kQz; ++q) zw[u][q].raw = v < nx && p.dx != nullptr ? load(dz, v + mD + q, nz) : make_uint4(0, 0, 0, 0);
  }
  float wf[kMaxTaps];  // the flipped taps: dx[s] = sum_j w[K - 1 - j] dz[s + j - D]
#pragma unroll
  for (int j = 0; j < kMaxTaps; ++j) {
    wf[j] = j < K ? filter_tap(p.weight, p.weight_dtype, p.channels_per_group, p.kernel_size, c, K - 1 - j) : 0.0f;
  }
  float acc_dw[kMaxTaps];
#pragma unroll
  for (int j = 0; j < kMaxTaps; ++j) acc_dw[j] = 0.0f;
  float acc_db = 0.0f;
  const uint32_t perm = sigma & 1 ? 0x5432u : 0x3210u;
#pragma unroll
  for (int u = 0; u < kVec; ++u) {
    const int64_t v = v0 + u * kThreads;
    if (v < nx && p.dx != nullptr) {
      uint32_t w[kWords];
#pragma unroll
      for (int q = 0; q < kQz; ++q) {
#pragma unroll
        for (int e = 0; e < 4; ++e) w[4 * q + e] = zw[u][q].w[e];
      }
      // Shift by sigma / 2 words (two selects), then by sigma % 2 values (a byte permute).
#pragma unroll
      for (int i = 0; i + 1 < kWords; ++i) w[i] = sigma & 2 ? w[i + 1] : w[i];
#pragma unroll
      for (int i = 0; i + 2 < kWords; ++i) w[i] = sigma & 4 ? w[i + 2] : w[i];
      float e[kSpan + 1];
#pragma unroll
      for (int i = 0; i < (kSpan + 1) / 2; ++i) {
        Pair pr;
        pr.w = __byte_perm(w[i], w[i + 1], perm);
        e[2 * i] = IoTraits<T>::to_float(pr.v[0]);
        e[2 * i + 1] = IoTraits<T>::to_float(pr.v[1]);
      }
      float acc[V];
#pragma unroll
      for (int r = 0; r < V; ++r) acc[r] = 0.0f;
#pragma unroll
      for (int j = 0; j < kMaxTaps; ++j) {
        if (j < K) {
#pragma unroll
          for (int r = 0; r < V; ++r) acc[r] = fmaf(wf[j], e[j + r], acc[r]);
        }
      }
      Vec o;
#pragma unroll
      for (int r = 0; r < V; ++r) o.v[r] = IoTraits<T>::from_float(acc[r]);
      reinterpret_cast<uint4*>(static_cast<T*>(p.dx) + int64_t{row} * p.length)[v] = o.raw;
    }
    if (v < nz) {
      float d[V], xe[kQx * V];
#pragma unroll
      for (int r = 0; r < V; ++r) d[r] = IoTraits<T>::to_float(own[u].v[r]);
#pragma unroll
      for (int q = 0; q < kQx; ++q) {
#pragma unroll
        for (int e = 0; e < V; ++e) xe[q * V + e] = IoTraits<T>::to_float(xw[u][q].v[e]);
      }
#pragma unroll
      for (int r = 0; r < V; ++r) acc_db += d[r];
#pragma unroll
      for (int j = 0; j < kMaxTaps; ++j) {
        if (j < K) {
#pragma unroll
          for (int r = 0; r < V; ++r) acc_dw[j] = fmaf(d[r], xe[kShiftP + j + r], acc_dw[j]);
        }
      }
    }
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
  for (int j = 0; j < kMaxTaps; ++j) {
    if (j < K) {
      const float s = warp_sum(acc_dw[j]);
      if (lane == 0) red[warp][j] = s;
    }
  }
  const float s = warp_sum(acc_db);
  if (lane == 0) red[warp][kMaxTaps] = s;
  __syncthreads();
  if (static_cast<int>(threadIdx.x) <= K) {
    const int j = static_cast<int>(threadIdx.x) < K ? threadIdx.x : kMaxTaps;
    float sum = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) sum += red[w][j];
    p.partials[((b * f.parts_per_row + part) * p.channels + c) * (K + 1) + threadIdx.x] = sum;
  }
}

template <typename T, int kMaxTaps>
void launch_direct_backward_taps(const FusedBackwardParams& p, unsigned blocks, cudaStream_t stream) {
  with_vector_shift(split_vectors(-p.padding, 8).shift, [&](auto shift) {
    fused_backward_bhl_direct_kernel<T, decltype(shift)::value, kMaxTaps><<<blocks, kThreads, 0, stream>>>(p);
  });
}

// The direct backward for p (p.direct: p.layout is direct_backward_layout's).
template <typename T>
void launch_direct_backward(const FusedBackwardParams& p, cudaStream_t stream) {
  const int64_t blocks = p.batch * p.channels * p.layout.parts_per_row;
  if (blocks == 0 || p.layout.tiles == 0) return;
  check_conv1d_grid(blocks, p.channels, "direct conv1d backward");
  launch_direct_backward_taps<T, kDirectBackwardMaxTaps>(p, static_cast<unsigned>(blocks), stream);
  check_cuda(cudaGetLastError(), "conv1d direct backward launch");
}

}  // namespace ffc::cuda::conv1d
