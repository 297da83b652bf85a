// Validation of user-facing arguments. Every check is unconditional (no NDEBUG dependence) and every
// failure throws ffc::Error(kInvalidArgument) with a message that names the argument, the value and
// the rule. Backends run these before touching any output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "ffc/ffc.hpp"

namespace ffc::core {

// The most CPU worker threads a plan (or FFC_NUM_THREADS) may ask for.
inline constexpr int kMaxThreads = 1024;

// PlanOptions::num_threads: 0 (the pool's default) or 1 .. kMaxThreads.
void check_num_threads(int num_threads);

// The validated shape of one forward call.
struct ConvProblem {
  int64_t batch = 0;   // B
  int64_t heads = 0;   // H
  int64_t length = 0;  // L
  DType dtype = DType::kF32;
  bool has_pregate = false;
  bool has_postgate = false;
  bool time_domain_filter = false;  // k given (else a spectrum)
  int64_t filter_length = 0;        // Lk (time-domain filter only)
  DType filter_dtype = DType::kF32;

  int64_t rows() const { return batch * heads; }
};

// The validated shape of one backward call: the forward's problem plus the gradients requested.
struct BackwardProblem : ConvProblem {
  bool want_du = false;
  bool want_dk = false;
  bool want_dpregate = false;
  bool want_dpostgate = false;
  int64_t grad_filter_length = 0;  // Lk_grad: dk's length (when dk is requested)
};

// Backend hook: throws if `data` (of `bytes` bytes, named `name`) is not memory the backend can use.
using MemoryCheck = std::function<void(const char* name, const void* data, std::size_t bytes)>;

// Bytes a backend needs for `heads` filters (spectrum) or for the time-domain-filter workspace.
using BytesForHeads = std::function<std::size_t(int64_t heads)>;

// Checks a (rank, contiguity, dtype, null data, alignment) tensor named `name` against `dims`
// (e.g. "(B, H, L)"); returns its byte size.
std::size_t check_tensor(const char* name, const Tensor& t, int rank, const char* dims);

// The filter k: (H, Lk), 1 <= Lk <= fft_size.
void check_filter(const Tensor& k, int64_t fft_size);

ConvProblem validate_forward(const ForwardArgs& args, int64_t fft_size,
                             const BytesForHeads& spectrum_bytes,
                             const BytesForHeads& workspace_bytes, const MemoryCheck& memory);

// Bytes a backend needs for a backward call of `batch` rows and `heads` heads.
using BytesForProblem = std::function<std::size_t(int64_t batch, int64_t heads)>;

// Every argument of a backward call, before anything is written: shapes and dtypes (dy, du,
// dpregate, dpostgate as u; dk f32 (H, Lk_grad), 1 <= Lk_grad <= fft_size), the filter form, gate
// gradients only with their gates, at least one gradient, the workspace, memory kinds, and that no
// gradient overlaps an input, the workspace or another gradient (du may be dy itself).
BackwardProblem validate_backward(const BackwardArgs& args, int64_t fft_size,
                                  const BytesForHeads& spectrum_bytes,
                                  const BytesForProblem& workspace_bytes,
                                  const MemoryCheck& memory);

}  // namespace ffc::core
