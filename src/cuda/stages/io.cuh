// Global-memory access for the kernels: row chunks of 2, 4 or 8 consecutive elements of a 16-bit
// or f32 row, with implicit zero padding past the row length and a vectorized path when rows are
// aligned. All offsets are 64-bit.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace ffc::cuda {

template <typename T>
struct IoTraits;

template <>
struct IoTraits<__half> {
  __device__ __forceinline__ static float to_float(__half v) { return __half2float(v); }
  __device__ __forceinline__ static __half from_float(float v) { return __float2half_rn(v); }
};

template <>
struct IoTraits<__nv_bfloat16> {
  __device__ __forceinline__ static float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
  __device__ __forceinline__ static __nv_bfloat16 from_float(float v) { return __float2bfloat16_rn(v); }
};

template <>
struct IoTraits<float> {
  __device__ __forceinline__ static float to_float(float v) { return v; }
  __device__ __forceinline__ static float from_float(float v) { return v; }
};

// An unsigned vector type of `kBytes` bytes.
template <int kBytes>
struct VecOf;
template <>
struct VecOf<2> {
  using type = unsigned short;
};
template <>
struct VecOf<4> {
  using type = uint32_t;
};
template <>
struct VecOf<8> {
  using type = uint2;
};
template <>
struct VecOf<16> {
  using type = uint4;
};
template <>
struct VecOf<32> {
  struct type {
    uint4 a, b;
  };
};

// Two packed 16-bit values (low half first) as floats: exact bit moves for bf16 (one instruction
// each), the hardware conversion for f16.
template <typename T>
__device__ __forceinline__ float2 unpack2(uint32_t bits);
template <>
__device__ __forceinline__ float2 unpack2<__nv_bfloat16>(uint32_t bits) {
  return make_float2(__uint_as_float(bits << 16), __uint_as_float(bits & 0xffff0000u));
}
template <>
__device__ __forceinline__ float2 unpack2<__half>(uint32_t bits) {
  return __half22float2(*reinterpret_cast<const __half2*>(&bits));
}

// The kC (even) 16-bit values of a loaded vector as floats.
template <typename T, int kC, typename V>
__device__ __forceinline__ void unpack(const V& v, float (&out)[kC]) {
  static_assert(kC % 2 == 0 && sizeof(V) == 2 * kC, "whole 32-bit words of 16-bit values");
  const uint32_t* w = reinterpret_cast<const uint32_t*>(&v);
#pragma unroll
  for (int j = 0; j < kC / 2; ++j) {
    const float2 f = unpack2<T>(w[j]);
    out[2 * j] = f.x;
    out[2 * j + 1] = f.y;
  }
}

// out[j] = row[n + j] for n + j < length, else 0. `row` may be null (an absent row: zeros).
template <typename T, int kC>
__device__ __forceinline__ void load_chunk(const T* row, int64_t n, int64_t length, bool vector,
                                           float (&out)[kC]) {
  if (row == nullptr) {
#pragma unroll
    for (int j = 0; j < kC; ++j) out[j] = 0.0f;
    return;
  }
  if (vector && n + kC <= length && kC * sizeof(T) <= 16) {
    using V = typename VecOf<kC * sizeof(T)>::type;
    const V v = *reinterpret_cast<const V*>(row + n);
    const T* e = reinterpret_cast<const T*>(&v);
#pragma unroll
    for (int j = 0; j < kC; ++j) out[j] = IoTraits<T>::to_float(e[j]);
  } else {
#pragma unroll
    for (int j = 0; j < kC; ++j) out[j] = n + j < length ? IoTraits<T>::to_float(row[n + j]) : 0.0f;
  }
}

// row[n + j] = in[j] for n + j < length.
template <typename T, int kC>
__device__ __forceinline__ void store_chunk(T* row, int64_t n, int64_t length, bool vector,
                                            const float (&in)[kC]) {
  if (vector && n + kC <= length && kC * sizeof(T) <= 16) {
    using V = typename VecOf<kC * sizeof(T)>::type;
    V v;
    T* e = reinterpret_cast<T*>(&v);
#pragma unroll
    for (int j = 0; j < kC; ++j) e[j] = IoTraits<T>::from_float(in[j]);
    *reinterpret_cast<V*>(row + n) = v;
  } else {
#pragma unroll
    for (int j = 0; j < kC; ++j) {
      if (n + j < length) row[n + j] = IoTraits<T>::from_float(in[j]);
    }
  }
}

}  // namespace ffc::cuda
