// f32 FFT blocks on the CUDA cores, in shared memory: the accurate path used where a transform runs
// once per filter or per batch reduction (the filter transform, the backward's dk). Same
// factorization and digit-reversed positions as the tensor-core kernels (radix-16 stages of a
// block of M = 256 or 4096 elements).
#pragma once

#include "cuda/stages/small_dft.cuh"

namespace ffc::cuda {

// w_span^q = exp(-2 pi i q / span) for 0 <= q < span (exact argument, ~1 ulp).
__device__ __forceinline__ float2 twiddle_f32(int q, int span) {
  float s, c;
  sincospif(2.0f * static_cast<float>(q) / static_cast<float>(span), &s, &c);
  return make_float2(c, -s);
}

// Shared-memory slot of element j of an f32 block buffer. The low four index bits are XORed with
// the next four (a permutation within every 256 elements), so that each stage's warp-wide accesses
// touch all 32 banks: without it the stride-1 stage, where a thread takes 16 consecutive elements,
// put a warp's 32 accesses 128 bytes apart, in the same two banks. Every reader and writer of a
// buffer passed to dif_f32 / dit_f32 goes through this mapping.
__device__ __forceinline__ int f32_slot(int j) { return j ^ ((j >> 4) & 15); }

// The twiddles w_S^{m i} (i < 16) of one radix-16 DFT of a stage, from two table loads instead of
// fifteen gathers: w^{m i} = (w^{4m})^{i / 4} (w^m)^{i % 4}, each at most three products from the
// table (a few ulp). pow4[j] = w^{4 m j}, pow1[r] = w^{m r}; m < S / 16, so 4m < S.
template <int M, int S>
struct StageTwiddles {
  float2 pow4[4], pow1[4];
  __device__ __forceinline__ StageTwiddles(int m, const float2* table) {
    const float2 w1 = __ldg(table + m * (M / S));
    const float2 w4 = __ldg(table + 4 * m * (M / S));
    pow1[0] = pow4[0] = make_float2(1.0f, 0.0f);
    pow1[1] = w1;
    pow1[2] = cmul(w1, w1);
    pow1[3] = cmul(pow1[2], w1);
    pow4[1] = w4;
    pow4[2] = cmul(w4, w4);
    pow4[3] = cmul(pow4[2], w4);
  }
  __device__ __forceinline__ float2 operator[](int i) const {
    return (i & 3) == 0 ? pow4[i >> 2] : (i < 4 ? pow1[i] : cmul(pow4[i >> 2], pow1[i & 3]));
  }
};

// One radix-16 stage of span S over an M-point block (S, M compile-time: the index arithmetic is
// shifts and masks). Forward (decimation in frequency): DFT over the 16 inputs a * stride + m, then
// the twiddle w_S^{m f}; inverse (decimation in time): conjugate twiddle, then the inverse DFT.
// `table` holds w_M^q for q < M, so w_S^e = w_M^{e M / S}.
template <int M, int S, int kThreads, bool kInverse, int kBlocks = 1>
__device__ __forceinline__ void radix16_stage(float2* buf, const float2* table) {
  constexpr int stride = S / 16;
  // kBlocks consecutive M-point blocks are transformed together (one DFT per d).
  for (int d = threadIdx.x; d < kBlocks * M / 16; d += kThreads) {
    const int m = d % stride;
    const int base = (d / stride) * S + m;
    StageTwiddles<M, S> w(stride > 1 ? m : 0, table);
    float2 x[16];
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const float2 v = buf[f32_slot(base + i * stride)];
      if constexpr (kInverse && stride > 1) {
        x[i] = cmul_conj(v, w[i]);
      } else {
        x[i] = v;
      }
    }
    if constexpr (kInverse) {
      idft16(x);
    } else {
      dft16(x);
    }
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      if constexpr (!kInverse && stride > 1) {
        buf[f32_slot(base + i * stride)] = cmul(x[i], w[i]);
      } else {
        buf[f32_slot(base + i * stride)] = x[i];
      }
    }
  }
  __syncthreads();
}

// Forward M-point transform of buf, or of kBlocks consecutive blocks (decimation in frequency,
// radix-16 stages, in place): natural order in, digit-reversed positions out, both at the slots of
// f32_slot. `table` holds w_M^q for q < M (FwdTableLayout::kBlock).
// All kThreads threads take part; the caller synchronizes before (the data are written) and the
// function ends with a barrier.
template <int M, int kThreads, int kBlocks = 1>
__device__ __forceinline__ void dif_f32(float2* buf, const float2* table) {
  static_assert(M == 256 || M == 4096, "block sizes of the factorization");
  if constexpr (M == 4096) radix16_stage<M, 4096, kThreads, false, kBlocks>(buf, table);
  radix16_stage<M, 256, kThreads, false, kBlocks>(buf, table);
  radix16_stage<M, 16, kThreads, false, kBlocks>(buf, table);
}

// The inverse (decimation in time, unnormalized): digit-reversed positions in, natural order out.
template <int M, int kThreads, int kBlocks = 1>
__device__ __forceinline__ void dit_f32(float2* buf, const float2* table) {
  static_assert(M == 256 || M == 4096, "block sizes of the factorization");
  radix16_stage<M, 16, kThreads, true, kBlocks>(buf, table);
  radix16_stage<M, 256, kThreads, true, kBlocks>(buf, table);
  if constexpr (M == 4096) radix16_stage<M, 4096, kThreads, true, kBlocks>(buf, table);
}

}  // namespace ffc::cuda
