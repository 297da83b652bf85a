// The interface between the Plan (API layer, above) and the backends (below; they implement it and
// depend only on core and this header). A backend receives arguments that
// core::validate_forward / core::validate_backward have already checked (apart from the memory
// kind, which it checks itself through check_memory) and must not throw after it has started
// writing outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/factorization.hpp"
#include "core/validate.hpp"
#include "ffc/ffc.hpp"

namespace ffc::detail {

class BackendImpl {
 public:
  virtual ~BackendImpl() = default;

  virtual Backend kind() const = 0;
  virtual int device() const = 0;  // CUDA ordinal, -1 for the CPU
  virtual std::string algorithm() const = 0;  // what runs the plan (PlanInfo::algorithm)

  virtual std::size_t spectrum_bytes(int64_t heads) const = 0;
  virtual std::size_t workspace_bytes(int64_t heads) const = 0;

  // Throws ffc::Error(kInvalidArgument) if `data` is memory of the wrong kind or device.
  virtual void check_memory(const char* name, const void* data, std::size_t bytes) const = 0;

  // k validated: (H, Lk); spectrum has spectrum_bytes(H) bytes.
  virtual void transform_filter(const Tensor& k, void* spectrum, Stream stream) const = 0;

  // Arguments validated by core::validate_forward into `problem`.
  virtual void forward(const core::ConvProblem& problem, const ForwardArgs& args,
                       Stream stream) const = 0;

  // Workspace bytes of a backward call (B = batch, H = heads), whichever filter form it gets.
  virtual std::size_t backward_workspace_bytes(int64_t batch, int64_t heads) const = 0;

  // Arguments validated by core::validate_backward into `problem`. Called whenever H > 0 and there
  // is something to write: also with B == 0 or L == 0 when dk is requested (dk is then all zeros).
  // Must be deterministic (the same bits for any thread count or run).
  virtual void backward(const core::BackwardProblem& problem, const BackwardArgs& args,
                        Stream stream) const = 0;
};

// The CPU backend: always available.
std::unique_ptr<BackendImpl> make_cpu_backend(const core::Factorization& factorization,
                                              int num_threads);

// The CUDA backend. In builds without CUDA these report "not built" / zero devices.
bool cuda_backend_supports(int64_t fft_size);
// `path` restricts the algorithm table (PlanOptions::cuda_path).
std::unique_ptr<BackendImpl> make_cuda_backend(const core::Factorization& factorization,
                                               int device, CudaPath path);
int cuda_device_count_noexcept();
// CUDA device that owns `data`, or -1 for host, managed or unknown memory (never throws).
int cuda_pointer_device(const void* data);

}  // namespace ffc::detail
