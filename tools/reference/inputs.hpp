// Test and benchmark inputs: random tensors of a dtype, kept both as the raw storage the library
// reads and as the exact (rounded) values in double for the oracle.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ffc/ffc.hpp"

namespace ffc::reference {

enum class Distribution {
  kRandn,         // standard normal
  kDecaying,      // standard normal * exp(-t / (length / 8)) along the last axis (filters)
  kDynamicRange,  // standard normal * 10^U(-3, 3) per element (inputs spanning six decades)
  kUniform,       // U(-1, 1)
};

class HostTensor {
 public:
  HostTensor() = default;
  HostTensor(DType dtype, std::vector<int64_t> shape);

  // Fills with `dist` (the decay runs along the last axis), rounding to the dtype.
  void fill(Distribution dist, std::mt19937_64& rng, double scale = 1.0);
  void set(int64_t i, double value);  // rounds to the dtype
  double value(int64_t i) const { return values_[static_cast<size_t>(i)]; }
  const std::vector<double>& values() const { return values_; }

  // Reads back what the library wrote into storage.
  std::vector<double> read_back() const;
  // Fills storage with NaN (or the dtype's NaN pattern) so unwritten outputs are detected.
  void poison();

  Tensor view();
  int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  void* data() { return storage_.data(); }
  std::size_t bytes() const { return storage_.size(); }
  const std::vector<int64_t>& shape() const { return shape_; }

 private:
  DType dtype_ = DType::kF32;
  std::vector<int64_t> shape_;
  int64_t numel_ = 0;
  std::vector<unsigned char> storage_;
  std::vector<double> values_;
};

// Rounds a double to the nearest value of the dtype (as the library's storage would hold it).
double round_to(DType dtype, double value);

// Unit roundoff of a dtype (2^-24, 2^-11, 2^-8).
double unit_roundoff(DType dtype);

const char* distribution_name(Distribution d);

}  // namespace ffc::reference
