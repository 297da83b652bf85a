// CUDA runtime errors as ffc::Error(kCudaError) naming the call and the CUDA error.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "core/errors.hpp"

namespace ffc::cuda {

inline void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    core::throw_error(Status::kCudaError, std::string(what) + " failed: " + cudaGetErrorName(e) + " (" +
                                              cudaGetErrorString(e) + ")");
  }
}

}  // namespace ffc::cuda
