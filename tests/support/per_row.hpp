// Shared by the per-row suites (test_magnitudes, test_nonfinite): the per-row tolerances of each
// backend (docs/numerics.md, "Per-row scaling") and the (backend, N) test parameter.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "conv_case.hpp"

namespace ffc::testing {

// A row's relative L2 bound: the CPU's forward bound (it rounds once); on CUDA 2u for f16 and 1.3u
// for bf16 (the tensor-wide 5e-4 / 3e-3 hold over many rows, one row spreads about twice as wide).
inline double row_tolerance(Backend backend, DType dtype) {
  if (backend == Backend::kCpu) return reference::forward_tolerance(Backend::kCpu, dtype);
  return dtype == DType::kBF16 ? 5e-3 : 1e-3;
}

// dk per head: the backends' dk bounds (test_backward.cpp, test_cuda_backward.cpp).
inline double dk_tolerance(Backend backend) { return backend == Backend::kCpu ? 1e-6 : 1e-3; }

using BackendSize = std::tuple<Backend, int>;

inline std::string backend_size_name(const ::testing::TestParamInfo<BackendSize>& info) {
  return std::string(std::get<0>(info.param) == Backend::kCuda ? "Cuda" : "Cpu") + "_N" +
         std::to_string(std::get<1>(info.param));
}

}  // namespace ffc::testing
