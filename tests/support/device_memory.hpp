// Host or CUDA device buffers for tests and tools, so that one test body runs on every backend.
// Without CUDA (or with device = -1) buffers are plain host memory.
#pragma once

#include <cstddef>
#include <memory>

#include "ffc/ffc.hpp"
#include "inputs.hpp"

// In a GoogleTest body: skips the test, with the reason, where this machine has no CUDA device.
#define SKIP_WITHOUT_GPU()                                                                         \
  do {                                                                                             \
    if (::ffc::cuda_device_count() == 0) {                                                         \
      GTEST_SKIP() << "no CUDA device on this machine: the GPU suite runs on the lent H100 "       \
                      "(scripts/gpu_check.sh)";                                                    \
    }                                                                                              \
  } while (0)

namespace ffc::testing {

class Buffer {
 public:
  Buffer() = default;
  Buffer(int device, std::size_t bytes);
  Buffer(Buffer&&) noexcept;
  Buffer& operator=(Buffer&&) noexcept;
  ~Buffer();

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  // A view with the host tensor's shape and dtype over this buffer.
  Tensor view(const HostTensor& like) const;
  void download(HostTensor& into) const;  // synchronous copy back

 private:
  int device_ = -1;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

class MemorySpace {
 public:
  explicit MemorySpace(int device) : device_(device) {}
  Buffer allocate(std::size_t bytes) const { return Buffer(device_, bytes); }
  Buffer upload(const HostTensor& t) const;
  void synchronize() const;
  int device() const { return device_; }

 private:
  int device_;
};

}  // namespace ffc::testing
