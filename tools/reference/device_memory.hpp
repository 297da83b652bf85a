// Host or CUDA device buffers for the program, the benchmark and the tests, so that one test body runs on every backend.
// Without CUDA (or with device = -1) buffers are plain host memory.
#pragma once

#include <cstddef>
#include <memory>

#include "ffc/ffc.hpp"
#include "inputs.hpp"

namespace ffc::reference {

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

}  // namespace ffc::reference
