#include "device_memory.hpp"

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#ifdef FFC_REFERENCE_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace ffc::reference {
namespace {

#ifdef FFC_REFERENCE_WITH_CUDA
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}
#endif

}  // namespace

Buffer::Buffer(int device, std::size_t bytes) : device_(device), bytes_(bytes) {
  if (bytes == 0) return;
  if (device < 0) {
    data_ = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!data_) throw std::bad_alloc();
    return;
  }
#ifdef FFC_REFERENCE_WITH_CUDA
  check(cudaSetDevice(device), "cudaSetDevice");
  check(cudaMalloc(&data_, bytes), "cudaMalloc");
#else
  throw std::runtime_error("device buffer requested in a build without CUDA");
#endif
}

Buffer::Buffer(Buffer&& o) noexcept
    : device_(o.device_), data_(std::exchange(o.data_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    this->~Buffer();
    device_ = o.device_;
    data_ = std::exchange(o.data_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

Buffer::~Buffer() {
  if (!data_) return;
  if (device_ < 0) {
    std::free(data_);
  } else {
#ifdef FFC_REFERENCE_WITH_CUDA
    cudaFree(data_);
#endif
  }
  data_ = nullptr;
}

Tensor Buffer::view(const HostTensor& like) const {
  Tensor t = const_cast<HostTensor&>(like).view();
  t.data = data_;
  return t;
}

void Buffer::download(HostTensor& into) const {
  if (bytes_ == 0) return;
  if (device_ < 0) {
    std::memcpy(into.data(), data_, bytes_);
    return;
  }
#ifdef FFC_REFERENCE_WITH_CUDA
  check(cudaMemcpy(into.data(), data_, bytes_, cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
#endif
}

Buffer MemorySpace::upload(const HostTensor& t) const {
  Buffer b(device_, t.bytes());
  if (t.bytes() == 0) return b;
  if (device_ < 0) {
    std::memcpy(b.data(), const_cast<HostTensor&>(t).data(), t.bytes());
  } else {
#ifdef FFC_REFERENCE_WITH_CUDA
    check(cudaMemcpy(b.data(), const_cast<HostTensor&>(t).data(), t.bytes(), cudaMemcpyHostToDevice),
          "cudaMemcpy H2D");
#endif
  }
  return b;
}

void MemorySpace::synchronize() const {
#ifdef FFC_REFERENCE_WITH_CUDA
  if (device_ >= 0) check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
#endif
}

}  // namespace ffc::reference
