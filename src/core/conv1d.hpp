// The short depthwise convolution's problem and the validation of its arguments (no CUDA). Every
// failure throws ffc::Error(kInvalidArgument) naming the argument, the value and the rule.
//
// One primitive serves the forward and the backward: a correlation of rows of length `in_length`
// with a K-tap filter, shifted by `offset`,
//   out[t] = sum_{j < K} w[j] * in[t + j - offset],   t in [0, out_length),  in = 0 outside,
// where the forward has offset = P (the left padding), and dx is the same correlation of dz (length
// L_out) with the flipped filter and offset K - 1 - P, giving L samples.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/validate.hpp"
#include "ffc/conv1d.hpp"
#include "ffc/ffc.hpp"

namespace ffc::core {

struct Conv1dProblem {
  int64_t batch = 0;        // B
  int64_t channels = 0;     // H
  int64_t length = 0;       // L
  int64_t out_length = 0;   // L_out
  int64_t kernel_size = 0;  // K
  int64_t groups = 0;       // G: channel c uses filter c / (H / G)
  int64_t left_pad = 0;     // P
  Conv1dLayout layout = Conv1dLayout::kBHL;
  Activation activation = Activation::kNone;
  DType dtype = DType::kF32;         // x, y, dy, dx
  DType weight_dtype = DType::kF32;  // weight
  bool has_bias = false;
  DType bias_dtype = DType::kF32;
  // Backward: the gradients asked for.
  bool want_dx = false, want_dweight = false, want_dbias = false;

  int64_t channels_per_group() const { return groups > 0 ? channels / groups : 0; }
  // The element index of (b, c, t) in a tensor of this layout with `len` samples per row.
  int64_t index(int64_t b, int64_t c, int64_t t, int64_t len) const {
    return layout == Conv1dLayout::kBHL ? (b * channels + c) * len + t : (b * len + t) * channels + c;
  }
};

// The shapes, dtypes and options of a forward call (not the data pointers).
Conv1dProblem conv1d_forward_shape(const Conv1dForwardArgs& args);

// The shapes, dtypes and options of a backward call (not the data pointers, not the workspace).
Conv1dProblem conv1d_backward_shape(const Conv1dBackwardArgs& args);

// Everything of a forward call: conv1d_forward_shape, data pointers, memory kinds and overlaps.
Conv1dProblem validate_conv1d_forward(const Conv1dForwardArgs& args, const MemoryCheck& memory);

// Everything of a backward call, with the workspace the backend needs (`workspace_need` bytes).
Conv1dProblem validate_conv1d_backward(const Conv1dBackwardArgs& args, std::size_t workspace_need,
                                       const MemoryCheck& memory);

}  // namespace ffc::core
