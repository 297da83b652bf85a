// correlate_bhl_direct_kernel: the BHL correlation for 16-bit rows (In = Out = T), K <= kMaxTaps
// (8 or 16), 16-byte aligned rows whose lengths are multiples of 8: no shared memory and no block
// barrier. A block serves kVec x 2048 outputs of one row; thread i owns the output vectors
// v = v0 + i + 256 u (u < kVec, 8 outputs each, warp-coalesced). For output vector v the inputs
// [8 v - offset, 8 v - offset + 7 + K - 1] lie in the kQ aligned input vectors from
// a = 8 v - offset - kShift, kShift = (-offset) mod 8 (uniform over the launch, so a template
// parameter: the sliding window indexes registers at compile-time offsets). The thread issues all of
// its kVec x kQ 16-byte loads before it converts any (the vectors its neighbours also load come
// from L1), holds its filter's taps in registers, and stores each output vector with one 16-byte
// store. Taps j >= K are skipped, not multiplied by zero (a non-finite input reaches only the outputs
// that depend on it).
// Included by kernels.cuh after the helpers it uses (filter_tap, apply_epilogue, ceil_div) and
// before launch_correlate, which dispatches to it.
#pragma once

#include <type_traits>

namespace ffc::cuda::conv1d {

constexpr int kDirectVec = 4;  // output vectors per thread

template <typename T, int kShift, int kMaxTaps>
__global__ void __launch_bounds__(kThreads) correlate_bhl_direct_kernel(const CorrelateParams p) {
  constexpr int V = 8;
  constexpr int kQ = (kShift + V - 1 + kMaxTaps + V - 1) / V;  // input vectors per output vector
  union Vec {
    uint4 raw;
    T v[V];
  };
  const int64_t out_vectors = p.out_length / V, in_vectors = p.in_length / V;
  const uint32_t blocks_per_row = static_cast<uint32_t>(ceil_div(out_vectors, int64_t{kThreads} * kDirectVec));
  const int64_t row = blockIdx.x / blocks_per_row;
  const int64_t v0 = int64_t{blockIdx.x % blocks_per_row} * kThreads * kDirectVec + threadIdx.x;
  const int64_t c = static_cast<uint32_t>(row) % static_cast<uint32_t>(p.channels);
  const uint4* in = reinterpret_cast<const uint4*>(static_cast<const T*>(p.in) + row * p.in_length);
  const int64_t a0 = split_vectors(-p.offset, V).vectors;  // the launcher chose kShift = its shift
  Vec raw[kDirectVec][kQ];
#pragma unroll
  for (int u = 0; u < kDirectVec; ++u) {
#pragma unroll
    for (int q = 0; q < kQ; ++q) {
      const int64_t iv = v0 + u * kThreads + a0 + q;
      raw[u][q].raw = v0 + u * kThreads < out_vectors && iv >= 0 && iv < in_vectors ? in[iv] : make_uint4(0, 0, 0, 0);
    }
  }
  const int K = static_cast<int>(p.kernel_size);
  float w[kMaxTaps];
#pragma unroll
  for (int j = 0; j < kMaxTaps; ++j) w[j] = j < K ? filter_tap(p, c, j) : 0.0f;
  const float bias = p.bias ? load_dtype(p.bias, p.bias_dtype, c) : 0.0f;
  const T* dy = static_cast<const T*>(p.dy);
#pragma unroll
  for (int u = 0; u < kDirectVec; ++u) {
    const int64_t v = v0 + u * kThreads;
    if (v >= out_vectors) break;
    float x[kQ * V];
#pragma unroll
    for (int q = 0; q < kQ; ++q) {
#pragma unroll
      for (int e = 0; e < V; ++e) x[q * V + e] = IoTraits<T>::to_float(raw[u][q].v[e]);
    }
    float acc[V];
#pragma unroll
    for (int r = 0; r < V; ++r) acc[r] = 0.0f;
#pragma unroll
    for (int j = 0; j < kMaxTaps; ++j) {
      if (j < K) {
#pragma unroll
        for (int r = 0; r < V; ++r) acc[r] = fmaf(w[j], x[kShift + j + r], acc[r]);
      }
    }
    const int64_t index = row * p.out_length + v * V;
    Vec o;
#pragma unroll
    for (int r = 0; r < V; ++r) o.v[r] = IoTraits<T>::from_float(apply_epilogue(p, acc[r] + bias, dy, index + r));
    *reinterpret_cast<uint4*>(static_cast<T*>(p.out) + index) = o.raw;
  }
}

// Whether the direct kernel serves p (In = Out = T, 16-bit).
template <typename T>
bool direct_bhl_applies(const CorrelateParams& p) {
  constexpr int V = 8;
  return !p.blh && sizeof(T) == 2 && p.kernel_size <= 16 && p.in_length % V == 0 && p.out_length % V == 0 &&
         aligned16(p.in) && aligned16(p.out) && (p.dy == nullptr || aligned16(p.dy));
}

// f(std::integral_constant<int, shift>{}) for a window offset 0 <= shift < 8 known only at run time:
// the direct kernels take it as a template parameter.
template <typename F>
void with_vector_shift(int shift, F&& f) {
  switch (shift) {
    case 0: f(std::integral_constant<int, 0>{}); break;
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 5: f(std::integral_constant<int, 5>{}); break;
    case 6: f(std::integral_constant<int, 6>{}); break;
    default: f(std::integral_constant<int, 7>{}); break;
  }
}

template <typename T, int kMaxTaps>
void launch_direct_bhl_taps(const CorrelateParams& p, unsigned blocks, cudaStream_t stream) {
  with_vector_shift(split_vectors(-p.offset, 8).shift, [&](auto shift) {
    correlate_bhl_direct_kernel<T, decltype(shift)::value, kMaxTaps><<<blocks, kThreads, 0, stream>>>(p);
  });
}

// Launches the direct kernel; the caller checked direct_bhl_applies.
template <typename T>
void launch_direct_bhl(const CorrelateParams& p, cudaStream_t stream) {
  const int64_t per_row = ceil_div(p.out_length / 8, int64_t{kThreads} * kDirectVec);
  const int64_t blocks = p.batch * p.channels * per_row;
  if (blocks == 0) return;
  check_conv1d_grid(blocks, p.channels, "conv1d");
  if (p.kernel_size <= 8) {
    launch_direct_bhl_taps<T, 8>(p, static_cast<unsigned>(blocks), stream);
  } else {
    launch_direct_bhl_taps<T, 16>(p, static_cast<unsigned>(blocks), stream);
  }
}

}  // namespace ffc::cuda::conv1d
