#include "core/conv1d.hpp"

#include <string>
#include <vector>

#include "core/errors.hpp"

namespace ffc {

const char* to_string(Conv1dLayout layout) {
  switch (layout) {
    case Conv1dLayout::kBHL: return "bhl";
    case Conv1dLayout::kBLH: return "blh";
  }
  return "invalid layout";
}

const char* to_string(Activation activation) {
  switch (activation) {
    case Activation::kNone: return "none";
    case Activation::kSilu: return "silu";
  }
  return "invalid activation";
}

int64_t conv1d_output_length(int64_t length, int64_t kernel_size, const Conv1dOptions& options) {
  if (options.causal) return length;
  return length + 2 * options.padding - kernel_size + 1;
}

}  // namespace ffc

namespace ffc::core {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

const char* dims_of(Conv1dLayout layout, bool output) {
  if (layout == Conv1dLayout::kBHL) return output ? "(B, H, L_out)" : "(B, H, L)";
  return output ? "(B, L_out, H)" : "(B, L, H)";
}

struct Range {
  const char* begin = nullptr;
  const char* end = nullptr;
};

Range range_of(const Tensor& t) {
  const char* p = static_cast<const char*>(t.data);
  return {p, p + t.numel() * static_cast<int64_t>(dtype_size(t.dtype))};
}

bool overlaps(Range a, Range b) {
  return a.begin != a.end && b.begin != b.end && a.begin < b.end && b.begin < a.end;
}

struct Named {
  const char* name;
  Range range;
};

// No output overlaps an input or an earlier output.
void check_no_overlap(const std::vector<Named>& inputs, const std::vector<Named>& outputs) {
  for (size_t o = 0; o < outputs.size(); ++o) {
    for (const Named& in : inputs) {
      if (overlaps(outputs[o].range, in.range)) {
        throw_invalid(std::string(outputs[o].name) + ": overlaps " + in.name +
                      " (rule: outputs must not overlap the inputs)");
      }
    }
    for (size_t e = 0; e < o; ++e) {
      if (overlaps(outputs[o].range, outputs[e].range)) {
        throw_invalid(std::string(outputs[o].name) + ": overlaps " + outputs[e].name +
                      " (rule: outputs must not overlap each other)");
      }
    }
  }
}

void check_layout_and_activation(const Conv1dOptions& o) {
  if (o.layout != Conv1dLayout::kBHL && o.layout != Conv1dLayout::kBLH) {
    throw_invalid("layout: code " + str(static_cast<int>(o.layout)) + " is not a layout (rule: BHL = 0, BLH = 1)");
  }
  if (o.activation != Activation::kNone && o.activation != Activation::kSilu) {
    throw_invalid("activation: code " + str(static_cast<int>(o.activation)) +
                  " is not an activation (rule: NONE = 0, SILU = 1)");
  }
}

// x, weight, bias and the options -> the problem (y's length computed, not checked against y).
Conv1dProblem read_problem(const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias,
                           const Conv1dOptions& o) {
  check_layout_and_activation(o);
  Conv1dProblem p;
  p.layout = o.layout;
  p.activation = o.activation;
  check_tensor("x", x, 3, dims_of(o.layout, false));
  p.batch = x.shape[0];
  p.channels = o.layout == Conv1dLayout::kBHL ? x.shape[1] : x.shape[2];
  p.length = o.layout == Conv1dLayout::kBHL ? x.shape[2] : x.shape[1];
  p.dtype = x.dtype;

  check_tensor("weight", weight, 2, "(G, K)");
  p.groups = weight.shape[0];
  p.kernel_size = weight.shape[1];
  p.weight_dtype = weight.dtype;
  if (p.kernel_size < 1 || p.kernel_size > kConv1dMaxKernelSize) {
    throw_invalid("weight: kernel size K = " + str(p.kernel_size) + " (rule: 1 <= K <= " +
                  str(kConv1dMaxKernelSize) + ")");
  }
  if (p.groups < 1) {
    throw_invalid("weight: " + str(p.groups) + " filters (rule: G >= 1 filters of shape (G, K))");
  }
  if (p.channels % p.groups != 0) {
    throw_invalid("weight: G = " + str(p.groups) + " filters for H = " + str(p.channels) +
                  " channels (rule: H is a multiple of G; channel c uses filter c / (H / G))");
  }
  if (bias) {
    check_tensor("bias", *bias, 1, "(H,)");
    if (bias->shape[0] != p.channels) {
      throw_invalid("bias: " + str(bias->shape[0]) + " values for H = " + str(p.channels) +
                    " channels (rule: bias has shape (H,))");
    }
    p.has_bias = true;
    p.bias_dtype = bias->dtype;
  }

  if (o.padding < 0) throw_invalid("padding: " + str(o.padding) + " (rule: padding >= 0)");
  if (o.causal) {
    if (o.padding != 0 && o.padding != p.kernel_size - 1) {
      throw_invalid("padding: " + str(o.padding) + " with causal and K = " + str(p.kernel_size) +
                    " (rule: causal pads K - 1 on the left; padding is 0 or K - 1)");
    }
    p.left_pad = p.kernel_size - 1;
    p.out_length = p.length;
  } else {
    if (o.padding > kConv1dMaxKernelSize) {
      throw_invalid("padding: " + str(o.padding) + " (rule: padding <= " + str(kConv1dMaxKernelSize) + ")");
    }
    p.left_pad = o.padding;
    p.out_length = conv1d_output_length(p.length, p.kernel_size, o);
    if (p.out_length < 1) {
      throw_invalid("x: length L = " + str(p.length) + " with padding = " + str(o.padding) +
                    " and K = " + str(p.kernel_size) + " gives L_out = " + str(p.out_length) +
                    " (rule: L + 2 * padding >= K)");
    }
  }
  return p;
}

// A tensor shaped like the problem's input (out = false) or output (out = true), in the given dtype.
void check_like(const char* name, const Tensor& t, const Conv1dProblem& p, bool out, DType dtype,
                const char* dtype_rule) {
  const char* dims = dims_of(p.layout, out);
  check_tensor(name, t, 3, dims);
  const int64_t len = out ? p.out_length : p.length;
  const int64_t want[3] = {p.batch, p.layout == Conv1dLayout::kBHL ? p.channels : len,
                           p.layout == Conv1dLayout::kBHL ? len : p.channels};
  for (int i = 0; i < 3; ++i) {
    if (t.shape[i] != want[i]) {
      throw_invalid(std::string(name) + ": shape " + tuple_string(t.shape, 3) + ", expected " +
                    tuple_string(want, 3) + " (rule: " + name + " has shape " + dims + " in the " +
                    to_string(p.layout) + " layout)");
    }
  }
  if (t.dtype != dtype) {
    throw_invalid(std::string(name) + ": dtype " + to_string(t.dtype) + ", expected " +
                  to_string(dtype) + " (rule: " + dtype_rule + ")");
  }
}

void check_f32_shape(const char* name, const Tensor& t, int rank, const int64_t* want, const char* dims) {
  check_tensor(name, t, rank, dims);
  for (int i = 0; i < rank; ++i) {
    if (t.shape[i] != want[i]) {
      throw_invalid(std::string(name) + ": shape " + tuple_string(t.shape, rank) + ", expected " +
                    tuple_string(want, rank) + " (rule: " + name + " has shape " + dims + ")");
    }
  }
  if (t.dtype != DType::kF32) {
    throw_invalid(std::string(name) + ": dtype " + to_string(t.dtype) + " (rule: " + name +
                  " is f32, whatever the dtypes of x and weight)");
  }
}

std::size_t bytes_of(const Tensor& t) {
  return static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype);
}

}  // namespace

Conv1dProblem conv1d_forward_shape(const Conv1dForwardArgs& args) {
  Conv1dProblem p = read_problem(args.x, args.weight, args.bias, args.options);
  check_like("y", args.y, p, true, p.dtype, "y has the dtype of x");
  return p;
}

Conv1dProblem conv1d_backward_shape(const Conv1dBackwardArgs& args) {
  Conv1dProblem p = read_problem(args.x, args.weight, args.bias, args.options);
  check_like("dy", args.dy, p, true, p.dtype, "dy has the dtype of x");
  if (!args.dx && !args.dweight && !args.dbias) {
    throw_invalid("dx, dweight and dbias: none given (rule: request at least one gradient)");
  }
  if (args.dx) {
    check_like("dx", *args.dx, p, false, p.dtype, "dx has the dtype of x");
    p.want_dx = true;
  }
  if (args.dweight) {
    const int64_t want[2] = {p.groups, p.kernel_size};
    check_f32_shape("dweight", *args.dweight, 2, want, "(G, K)");
    p.want_dweight = true;
  }
  if (args.dbias) {
    const int64_t want[1] = {p.channels};
    check_f32_shape("dbias", *args.dbias, 1, want, "(H,)");
    p.want_dbias = true;
  }
  return p;
}

Conv1dProblem validate_conv1d_forward(const Conv1dForwardArgs& args, const MemoryCheck& memory) {
  Conv1dProblem p = conv1d_forward_shape(args);
  memory("x", args.x.data, bytes_of(args.x));
  memory("weight", args.weight.data, bytes_of(args.weight));
  if (args.bias) memory("bias", args.bias->data, bytes_of(*args.bias));
  memory("y", args.y.data, bytes_of(args.y));
  std::vector<Named> inputs = {{"x", range_of(args.x)}, {"weight", range_of(args.weight)}};
  if (args.bias) inputs.push_back({"bias", range_of(*args.bias)});
  check_no_overlap(inputs, {{"y", range_of(args.y)}});
  return p;
}

Conv1dProblem validate_conv1d_backward(const Conv1dBackwardArgs& args, std::size_t workspace_need,
                                       const MemoryCheck& memory) {
  Conv1dProblem p = conv1d_backward_shape(args);
  std::vector<Named> inputs = {{"dy", range_of(args.dy)}, {"x", range_of(args.x)},
                               {"weight", range_of(args.weight)}};
  if (args.bias) inputs.push_back({"bias", range_of(*args.bias)});
  std::vector<Named> outputs;
  if (args.dx) outputs.push_back({"dx", range_of(*args.dx)});
  if (args.dweight) outputs.push_back({"dweight", range_of(*args.dweight)});
  if (args.dbias) outputs.push_back({"dbias", range_of(*args.dbias)});
  for (const std::vector<Named>* group : {&inputs, &outputs}) {
    for (const Named& t : *group) memory(t.name, t.range.begin, static_cast<std::size_t>(t.range.end - t.range.begin));
  }
  if (args.workspace_bytes < workspace_need) {
    throw_invalid("workspace: " + str(static_cast<int64_t>(args.workspace_bytes)) + " bytes given, " +
                  str(static_cast<int64_t>(workspace_need)) +
                  " needed (rule: Conv1dPlan::backward_workspace_bytes(args))");
  }
  if (workspace_need > 0) {
    if (args.workspace == nullptr) {
      throw_invalid("workspace: null but " + str(static_cast<int64_t>(workspace_need)) + " bytes are needed");
    }
    memory("workspace", args.workspace, workspace_need);
    const char* w = static_cast<const char*>(args.workspace);
    outputs.push_back({"workspace", {w, w + workspace_need}});
  }
  check_no_overlap(inputs, outputs);
  return p;
}

}  // namespace ffc::core
