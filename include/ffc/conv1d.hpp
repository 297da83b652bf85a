// flashfftconv C++ API: short depthwise convolution (conv1d), a sibling of the FFT convolution.
//
//   y[b, c, t] = act(bias[c] + sum_{j < K} w[g(c), j] * x[b, c, t + j - P])   (x = 0 outside [0, L))
//
// for t in [0, L_out), with g(c) = c / (H / G) (G = groups: consecutive channels share a filter),
// act = identity or SiLU. Padding: symmetric, as nn.Conv1d (P = padding, L_out = L + 2 P - K + 1),
// or causal (P = K - 1 on the left only, L_out = L). Layouts (B, H, L) and (B, L, H).
//
//   auto conv = ffc::Conv1dPlan::create({});                      // CUDA if present, else CPU
//   ffc::Conv1dForwardArgs a;
//   a.x = x;  a.weight = w;  a.y = y;  a.causal = true;           // x (B, H, L), w (G, K)
//   conv.forward(a);
//
// Backward: dx (dtype of x), dweight (f32, (G, K)) and dbias (f32, (H,)), each computed only when
// given, deterministically (sums over batch and time in a fixed order), recomputing the activation's
// input when SiLU is on. Errors: ffc::Error naming the argument, the value and the rule, before any
// output is written. Execution is const, thread-safe, allocates no device memory and only enqueues
// work on the given stream (CUDA plans).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "ffc/ffc.hpp"

namespace ffc {

enum class Conv1dLayout : int { kBHL = 0, kBLH = 1 };

enum class Activation : int { kNone = 0, kSilu = 1 };

FFC_CXX_API const char* to_string(Conv1dLayout layout);
FFC_CXX_API const char* to_string(Activation activation);

// The largest kernel size K.
inline constexpr int64_t kConv1dMaxKernelSize = 1024;

// The operation's parameters, shared by the forward and backward arguments.
struct Conv1dOptions {
  int64_t padding = 0;  // zeros on each side (nn.Conv1d); must be 0 or K - 1 with causal
  bool causal = false;  // K - 1 zeros on the left only; L_out = L
  Conv1dLayout layout = Conv1dLayout::kBHL;
  Activation activation = Activation::kNone;
};

// L_out for input length L, kernel size K and `options` (may be <= 0: then the call is rejected).
FFC_CXX_API int64_t conv1d_output_length(int64_t length, int64_t kernel_size, const Conv1dOptions& options);

struct Conv1dForwardArgs {
  Tensor x;                    // (B, H, L) or (B, L, H): f32, f16 or bf16
  Tensor weight;               // (G, K): f32, f16 or bf16; H % G == 0, 1 <= K <= 1024
  std::optional<Tensor> bias;  // (H,): f32, f16 or bf16
  Tensor y;                    // (B, H, L_out) or (B, L_out, H), dtype of x; must not overlap x
  Conv1dOptions options;
};

struct Conv1dBackwardArgs {
  Tensor dy;                      // like y: the gradient of the forward's output
  Tensor x;                       // the forward's input
  Tensor weight;                  // the forward's weight
  std::optional<Tensor> bias;     // the forward's bias (needed with SiLU, else ignored)
  std::optional<Tensor> dx;       // like x, written
  std::optional<Tensor> dweight;  // (G, K) f32, written
  std::optional<Tensor> dbias;    // (H,) f32, written
  Conv1dOptions options;
  void* workspace = nullptr;  // Conv1dPlan::backward_workspace_bytes(args) bytes
  std::size_t workspace_bytes = 0;
};

struct Conv1dPlanOptions {
  Backend backend = Backend::kAuto;  // kAuto: CUDA when a GPU is present, else CPU
  int device = -1;                   // CUDA device ordinal; -1 = the current device
  int num_threads = 0;               // CPU worker threads, 0 .. 1024 (0: the shared pool's default)
};

struct Conv1dPlanInfo {
  Backend backend = Backend::kCpu;
  int device = -1;
};

namespace detail {
class Conv1dBackendImpl;
}

class FFC_CXX_API Conv1dPlan {
 public:
  static Conv1dPlan create(const Conv1dPlanOptions& options);

  Conv1dPlan(Conv1dPlan&&) noexcept;
  Conv1dPlan& operator=(Conv1dPlan&&) noexcept;
  ~Conv1dPlan();

  Conv1dPlanInfo info() const;

  void forward(const Conv1dForwardArgs& args, Stream stream = nullptr) const;

  // Workspace of a backward call with these arguments' shapes, dtypes and options (the tensors'
  // data pointers are not read).
  std::size_t backward_workspace_bytes(const Conv1dBackwardArgs& args) const;

  void backward(const Conv1dBackwardArgs& args, Stream stream = nullptr) const;

 private:
  explicit Conv1dPlan(std::unique_ptr<detail::Conv1dBackendImpl> impl);
  std::unique_ptr<detail::Conv1dBackendImpl> impl_;
};

}  // namespace ffc
