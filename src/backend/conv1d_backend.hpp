// The interface between Conv1dPlan (API layer) and the conv1d backends (CPU, CUDA). A backend
// receives arguments that core::validate_conv1d_forward / _backward have already checked (memory
// kinds through check_memory) and must not throw after it has started writing outputs.
#pragma once

#include <cstddef>
#include <memory>

#include "core/conv1d.hpp"
#include "ffc/conv1d.hpp"
#include "ffc/ffc.hpp"

namespace ffc::detail {

class Conv1dBackendImpl {
 public:
  virtual ~Conv1dBackendImpl() = default;

  virtual Backend kind() const = 0;
  virtual int device() const = 0;  // CUDA ordinal, -1 for the CPU

  // Throws ffc::Error(kInvalidArgument) if `data` is memory of the wrong kind or device.
  virtual void check_memory(const char* name, const void* data, std::size_t bytes) const = 0;

  // Called with B * H * L_out > 0.
  virtual void forward(const core::Conv1dProblem& problem, const Conv1dForwardArgs& args,
                       Stream stream) const = 0;

  virtual std::size_t backward_workspace_bytes(const core::Conv1dProblem& problem) const = 0;

  // Called whenever something is to be written (dweight / dbias are zeros when B * L_out == 0).
  // Deterministic: the same bits for any thread count or run.
  virtual void backward(const core::Conv1dProblem& problem, const Conv1dBackwardArgs& args,
                        Stream stream) const = 0;
};

std::unique_ptr<Conv1dBackendImpl> make_cpu_conv1d_backend(int num_threads);

// In builds without CUDA this throws kNotSupported.
std::unique_ptr<Conv1dBackendImpl> make_cuda_conv1d_backend(int device);

}  // namespace ffc::detail
