// The per-row scaling of core/row_scales.hpp as the kernels apply it. Each stage that scales a pair
// already multiplies every element by one factor (folded into its twiddles), so that factor becomes
// the pair's common scale and a row whose own scale differs from it pays one multiply per element
// for the ratio; rows of one pair usually share their power of two, and then nothing is added.
#pragma once

#include <cstdint>

#include "core/row_scales.hpp"

namespace ffc::cuda {

// The larger of two non-negative floats or NaN: their bit patterns order as unsigned integers with
// NaN above inf, so a NaN is never dropped (fmaxf would drop it).
__device__ __forceinline__ float max_nan(float a, float b) {
  return __uint_as_float(max(__float_as_uint(a), __float_as_uint(b)));
}

// A pair's two row scales as a common factor and per-row ratios.
struct RowFactors {
  float common;    // a power of two
  float ratio[2];  // row r's factor over `common`: 1 in the usual case, a power of two, 0 or NaN

  // Input side: common = the scale of the first row that enters the transform (1 when neither
  // does); ratio 0 means the row enters as zeros (it must be zeroed, not multiplied: NaN * 0 is NaN).
  __device__ __forceinline__ static RowFactors input(const core::RowScale (&s)[2]) {
    const float common = s[0].in != 0.0f ? s[0].in : (s[1].in != 0.0f ? s[1].in : 1.0f);
    return {common, {s[0].in / common, s[1].in / common}};
  }
  // Output side, matching input(s): common = 1 / input's common, ratio[r] = out[r] x input's common
  // (1 / input ratio for a row that entered, 0 for a zero row, NaN for a non-finite one). All exact.
  __device__ __forceinline__ static RowFactors output(const core::RowScale (&s)[2]) {
    const float in_common = input(s).common;
    return {1.0f / in_common, {s[0].out * in_common, s[1].out * in_common}};
  }
  __device__ __forceinline__ bool uniform() const { return ratio[0] == 1.0f && ratio[1] == 1.0f; }
};

// x *= ratio for a row that enters (ratio != 0), zeros for one that does not.
template <int kC>
__device__ __forceinline__ void apply_input_ratio(float (&x)[kC], float ratio) {
  if (ratio == 1.0f) return;
#pragma unroll
  for (int j = 0; j < kC; ++j) x[j] = ratio == 0.0f ? 0.0f : x[j] * ratio;
}

}  // namespace ffc::cuda
