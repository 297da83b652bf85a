// flashfftconv C++ API.
//
// A Plan is made once for an FFT size N and a backend, then executed many times:
//
//   auto plan = ffc::Plan::create({.fft_size = 4096});            // CUDA if present, else CPU
//   std::vector<std::byte> spectrum(plan.spectrum_bytes(H));       // device memory for CUDA plans
//   plan.transform_filter(k, spectrum.data(), spectrum.size());    // once per filter
//   plan.forward({.u = u, .y = y, .spectrum = {spectrum.data(), spectrum.size(), H}});
//
// Semantics: y = postgate * conv_N(pregate * u, k)[..., :L], the first L samples of the length-N
// circular convolution of the zero-padded input and filter (causal when L + Lk - 1 <= N, circular
// when L == N). u, gates, y: (B, H, L), one dtype; k: (H, Lk), Lk <= N.
//
// Backward: given dy = dLoss/dy, Plan::backward computes any of du, dk (summed over the batch, f32),
// dpregate and dpostgate, recomputing what it needs from the forward's inputs (nothing is stored by
// the forward).
//
// Errors: every function throws ffc::Error (status + message naming the argument, the value and
// the rule). Validation happens before any output is touched. Execution is const, thread-safe,
// allocates no device memory and only enqueues work on the given stream (CUDA plans).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(_WIN32)
#define FFC_CXX_API __declspec(dllexport)
#else
#define FFC_CXX_API __attribute__((visibility("default")))
#endif

namespace ffc {

enum class Status : int {
  kSuccess = 0,
  kInvalidArgument = 1,
  kNotSupported = 2,
  kNoDevice = 3,
  kCudaError = 4,
  kOutOfMemory = 5,
  kInternal = 6,
};

enum class DType : int { kF32 = 0, kF16 = 1, kBF16 = 2 };

enum class Backend : int { kAuto = 0, kCpu = 1, kCuda = 2 };

// Which CUDA algorithms a plan may choose from. kAuto: the FFC_CUDA_PATH environment variable
// (auto, fused, portable) when set, else the fastest that runs on the device. kFused: the fused
// Hopper kernels (sm_90). kPortable: the kernels that run from sm_80 on, without clusters; on a
// Hopper GPU this forces them (for tests and comparison).
enum class CudaPath : int { kAuto = 0, kFused = 1, kPortable = 2 };

FFC_CXX_API const char* to_string(Status status);
FFC_CXX_API const char* to_string(DType dtype);
FFC_CXX_API const char* to_string(Backend backend);
FFC_CXX_API std::size_t dtype_size(DType dtype);

// The only exception type the library throws.
class FFC_CXX_API Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

// A non-owning view of a tensor of rank 1 to 3. Strides are in elements, row-major contiguous
// except where they address no element (size-1 dimensions, every dimension of an empty tensor).
struct FFC_CXX_API Tensor {
  void* data = nullptr;
  DType dtype = DType::kF32;
  int ndim = 0;
  int64_t shape[3] = {0, 0, 0};
  int64_t strides[3] = {0, 0, 0};

  // A row-major contiguous view.
  static Tensor contiguous(const void* data, DType dtype, std::initializer_list<int64_t> shape);
  int64_t numel() const;
};

// An opaque cudaStream_t (nullptr = the legacy default stream). Ignored by CPU plans.
using Stream = void*;

struct PlanOptions {
  int64_t fft_size = 0;              // N, a power of two
  Backend backend = Backend::kAuto;  // kAuto: CUDA when a GPU is present and supports N, else CPU
  int device = -1;                   // CUDA device ordinal; -1 = the current device
  int num_threads = 0;               // CPU worker threads, 0 .. 1024 (of the process-wide pool);
                                     // 0 = the pool's default: FFC_NUM_THREADS or all hardware threads
  CudaPath cuda_path = CudaPath::kAuto;  // CUDA plans: which algorithms may run (see CudaPath)
};

// A filter already transformed by Plan::transform_filter for `heads` filters. `bytes` must be exactly
// spectrum_bytes(heads) of the plan that reads it; the size per head differs between backends and FFT
// sizes, so a spectrum made by another plan is rejected.
struct FilterSpectrum {
  const void* data = nullptr;
  std::size_t bytes = 0;
  int64_t heads = 0;
};

struct ForwardArgs {
  Tensor u;                                // (B, H, L)
  Tensor y;                                // (B, H, L), written; may be u itself
  std::optional<Tensor> k;                 // (H, Lk) time-domain filter, or
  std::optional<FilterSpectrum> spectrum;  // a transformed filter (exactly one of the two)
  std::optional<Tensor> pregate;           // (B, H, L)
  std::optional<Tensor> postgate;          // (B, H, L)
  void* workspace = nullptr;               // with k: workspace_bytes(H) bytes; with a spectrum:
                                           // workspace_bytes(0) (0 but for two-pass algorithms)
  std::size_t workspace_bytes = 0;
};

// Arguments of Plan::backward. With x = pregate * u (zero-padded to N), c = conv_N(x, k) and
// dc = postgate * dy (t < L, 0 beyond), the gradients are
//   dpostgate = dy * c[:L]
//   dx = corr_N(dc, k) (dx[s] = sum_t dc[t] k[(t - s) mod N]),  du = pregate * dx[:L],
//   dpregate = u * dx[:L]
//   dk[h, j] = sum_b sum_t dc[b, h, t] x[b, h, (t - j) mod N],  j < Lk_grad
// Each output is computed only when given. Outputs must not overlap the inputs or each other, except
// du, which may be dy itself (in place).
struct BackwardArgs {
  Tensor dy;                                 // (B, H, L): gradient of y
  Tensor u;                                  // (B, H, L): the forward's input
  std::optional<Tensor> k;                   // (H, Lk) time-domain filter, or
  std::optional<FilterSpectrum> spectrum;    // the forward's transformed filter (exactly one)
  std::optional<Tensor> pregate, postgate;   // the forward's gates
  std::optional<Tensor> du;                  // (B, H, L), dtype of u
  std::optional<Tensor> dk;                  // (H, Lk_grad) f32, 1 <= Lk_grad <= N (normally Lk)
  std::optional<Tensor> dpregate;            // (B, H, L), requires pregate
  std::optional<Tensor> dpostgate;           // (B, H, L), requires postgate
  void* workspace = nullptr;                 // backward_workspace_bytes(B, H) bytes (either filter form)
  std::size_t workspace_bytes = 0;
};

struct PlanInfo {
  int64_t fft_size = 0;
  Backend backend = Backend::kCpu;
  int device = -1;
  std::vector<int> radices;  // the Monarch factorization of N, outermost stage first
  std::string algorithm;     // what runs the plan: "cpu", or the CUDA algorithm ("fused_cta", ...)
};

namespace detail {
class PlanImpl;
}

class FFC_CXX_API Plan {
 public:
  static Plan create(const PlanOptions& options);

  Plan(Plan&&) noexcept;
  Plan& operator=(Plan&&) noexcept;
  ~Plan();

  PlanInfo info() const;
  std::size_t spectrum_bytes(int64_t heads) const;
  // Workspace of a forward call with a time-domain filter for `heads` heads; workspace_bytes(0): of
  // a call with a spectrum (0 but for the two-pass CUDA algorithms, which stage through HBM).
  std::size_t workspace_bytes(int64_t heads) const;

  // k: (H, Lk) -> spectrum (spectrum_bytes(H) bytes, backend memory).
  void transform_filter(const Tensor& k, void* spectrum, std::size_t bytes,
                        Stream stream = nullptr) const;

  void forward(const ForwardArgs& args, Stream stream = nullptr) const;

  // Bytes of the workspace a backward call with B = batch and H = heads needs (with k or with a
  // spectrum alike).
  std::size_t backward_workspace_bytes(int64_t batch, int64_t heads) const;

  // The gradients requested in `args` (see BackwardArgs). Validation is complete before any output
  // is written; the result is deterministic (the same bits for any thread count).
  void backward(const BackwardArgs& args, Stream stream = nullptr) const;

 private:
  explicit Plan(std::unique_ptr<detail::PlanImpl> impl);
  std::unique_ptr<detail::PlanImpl> impl_;
};

// Whether `backend` can run FFT size n.
FFC_CXX_API bool fft_size_supported(Backend backend, int64_t n);

// Number of usable CUDA devices (0 without CUDA support, driver or device; never throws).
FFC_CXX_API int cuda_device_count();

FFC_CXX_API const char* version_string();

}  // namespace ffc

// The short depthwise convolution (Conv1dPlan).
#include "ffc/conv1d.hpp"
