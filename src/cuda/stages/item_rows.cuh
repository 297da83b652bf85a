// What the multi-pass algorithms (portable_blocks/, four_step/) share about the rows of an item
// (two batch rows of one head travelling as one complex sequence) and their f32 staging: where
// the rows are, their scaled inputs, the unscaling of outputs.
#pragma once

#include <cstdint>

#include "cuda/stages/fwd_config.hpp"
#include "cuda/stages/io.cuh"

namespace ffc::cuda {

// Row scales bring each row's bound to (2^30, 2^32]: with the transforms' growth (at most N) and the
// normalized spectrum (|K| <= 1) every f32 intermediate stays far below the f32 range.
constexpr float kBlockBound = 4294967296.0f;

// The rows of an item: b0 = 2 pair and b1 = 2 pair + 1 of its head (row1 = 0: b1 does not exist).
struct ItemRows {
  int64_t head, offset, row1;
};

__device__ __forceinline__ ItemRows item_rows(int64_t item, int64_t pairs_per_head, int64_t batch, int64_t heads,
                                              int64_t length) {
  ItemRows r;
  r.head = item / pairs_per_head;
  const int64_t b0 = 2 * (item - r.head * pairs_per_head);
  r.offset = (b0 * heads + r.head) * length;
  r.row1 = b0 + 1 < batch ? heads * length : 0;
  return r;
}

// Row `r` (0, 1) of a (B, H, L) tensor at the item's rows, or null (absent tensor or row).
template <typename T>
__device__ __forceinline__ const T* item_row(const void* tensor, const ItemRows& rows, int r) {
  if (tensor == nullptr || (r == 1 && rows.row1 == 0)) return nullptr;
  return static_cast<const T*>(tensor) + rows.offset + (r ? rows.row1 : 0);
}

// The bound of max |gate * value| of a row from the maxima bits (no gate: the value's maximum).
__device__ __forceinline__ float product_bound(uint32_t value_bits, uint32_t gate_bits, bool gated) {
  const float m = __uint_as_float(value_bits);
  return gated ? m * __uint_as_float(gate_bits) : m;
}

// gate[t] * value[t] * scale for t < length (a row that enters scaled by 0, being zero or
// non-finite, enters as zeros: 0 * NaN would not).
template <typename T>
__device__ __forceinline__ float scaled_input(const T* value, const T* gate, int64_t t, int64_t length, float scale) {
  if (value == nullptr || t >= length || scale == 0.0f) return 0.0f;
  const float v = IoTraits<T>::to_float(value[t]);
  return (gate ? IoTraits<T>::to_float(gate[t]) * v : v) * scale;
}

// The factor from the normalized spectrum (K kUnitary / max|K|) and the unnormalized transforms
// (N) back to the convolution of the scaled rows.
__device__ __forceinline__ float spectrum_factor(const float* spectrum_max, int64_t head, int n) {
  return __ldg(spectrum_max + head) / (kUnitary * static_cast<float>(n));
}

// Stores value * v in the I/O type at `at` of a (B, H, L) output (null: not requested).
template <typename T>
__device__ __forceinline__ void store_product(void* out, int64_t at, const void* value, float v) {
  if (out == nullptr) return;
  const float f = value ? IoTraits<T>::to_float(static_cast<const T*>(value)[at]) * v : v;
  static_cast<T*>(out)[at] = IoTraits<T>::from_float(f);
}

}  // namespace ffc::cuda
