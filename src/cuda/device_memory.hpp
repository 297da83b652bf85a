// Device memory a plan owns (its constant tables): allocated at plan creation, freed on its device
// whichever device is current then, also when plan creation fails after the allocation.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "core/errors.hpp"
#include "cuda/check.hpp"

namespace ffc::cuda {

struct DeviceAllocation {
  void* ptr = nullptr;
  int device = 0;
  DeviceAllocation() = default;
  DeviceAllocation(const DeviceAllocation&) = delete;
  DeviceAllocation& operator=(const DeviceAllocation&) = delete;
  ~DeviceAllocation() {
    if (ptr == nullptr) return;
    int current = -1;
    cudaGetDevice(&current);
    if (current != device) cudaSetDevice(device);
    cudaFree(ptr);
    if (current != device && current >= 0) cudaSetDevice(current);
  }

  // cudaMalloc on the current device `on` (ffc::Error kOutOfMemory naming `what` when it fails for
  // lack of memory, kCudaError otherwise).
  void allocate(std::size_t bytes, int on, const char* what) {
    const cudaError_t e = cudaMalloc(&ptr, bytes);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      ptr = nullptr;
      core::throw_error(Status::kOutOfMemory, std::string("plan: could not allocate ") + std::to_string(bytes) +
                                                  " bytes of device memory for " + what);
    }
    check_cuda(e, "cudaMalloc");
    device = on;
  }
};

}  // namespace ffc::cuda
