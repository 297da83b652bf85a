// The C++ API of the short depthwise convolution: Conv1dPlan (backend choice) and its validated
// entry points.
#include <string>

#include "backend/backend.hpp"
#include "backend/conv1d_backend.hpp"
#include "core/conv1d.hpp"
#include "core/errors.hpp"
#include "ffc/conv1d.hpp"

namespace ffc {
namespace {

core::MemoryCheck memory_check(const detail::Conv1dBackendImpl& backend) {
  return [&backend](const char* name, const void* data, std::size_t bytes) {
    if (bytes > 0) backend.check_memory(name, data, bytes);
  };
}

}  // namespace

Conv1dPlan::Conv1dPlan(std::unique_ptr<detail::Conv1dBackendImpl> impl) : impl_(std::move(impl)) {}
Conv1dPlan::Conv1dPlan(Conv1dPlan&&) noexcept = default;
Conv1dPlan& Conv1dPlan::operator=(Conv1dPlan&&) noexcept = default;
Conv1dPlan::~Conv1dPlan() = default;

Conv1dPlan Conv1dPlan::create(const Conv1dPlanOptions& options) {
  if (options.backend != Backend::kAuto && options.backend != Backend::kCpu &&
      options.backend != Backend::kCuda) {
    core::throw_invalid("backend: code " + std::to_string(static_cast<int>(options.backend)) +
                        " is not a backend (rule: AUTO = 0, CPU = 1, CUDA = 2)");
  }
  core::check_num_threads(options.num_threads);
  Backend backend = options.backend;
  if (backend == Backend::kAuto) {
    backend = detail::cuda_device_count_noexcept() > 0 ? Backend::kCuda : Backend::kCpu;
  }
  return Conv1dPlan(backend == Backend::kCuda ? detail::make_cuda_conv1d_backend(options.device)
                                              : detail::make_cpu_conv1d_backend(options.num_threads));
}

Conv1dPlanInfo Conv1dPlan::info() const { return {impl_->kind(), impl_->device()}; }

void Conv1dPlan::forward(const Conv1dForwardArgs& args, Stream stream) const {
  const core::Conv1dProblem p = core::validate_conv1d_forward(args, memory_check(*impl_));
  if (p.batch == 0 || p.channels == 0 || p.out_length == 0) return;
  impl_->forward(p, args, stream);
}

std::size_t Conv1dPlan::backward_workspace_bytes(const Conv1dBackwardArgs& args) const {
  return impl_->backward_workspace_bytes(core::conv1d_backward_shape(args));
}

void Conv1dPlan::backward(const Conv1dBackwardArgs& args, Stream stream) const {
  const core::Conv1dProblem shape = core::conv1d_backward_shape(args);
  const core::Conv1dProblem p = core::validate_conv1d_backward(
      args, impl_->backward_workspace_bytes(shape), memory_check(*impl_));
  if (p.channels == 0) return;
  const bool empty = p.batch == 0 || p.out_length == 0;
  if (empty && !p.want_dweight && !p.want_dbias) return;
  impl_->backward(p, args, stream);
}

}  // namespace ffc
