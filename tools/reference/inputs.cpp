#include "inputs.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/half.hpp"

namespace ffc::reference {

double round_to(DType dtype, double value) {
  const float f = static_cast<float>(value);
  switch (dtype) {
    case DType::kF32: return f;
    case DType::kF16: return core::half_to_float(core::float_to_half(f));
    case DType::kBF16: return core::bf16_to_float(core::float_to_bf16(f));
  }
  return f;
}

double unit_roundoff(DType dtype) {
  switch (dtype) {
    case DType::kF32: return std::ldexp(1.0, -24);
    case DType::kF16: return std::ldexp(1.0, -11);
    case DType::kBF16: return std::ldexp(1.0, -8);
  }
  return 1.0;
}

const char* distribution_name(Distribution d) {
  switch (d) {
    case Distribution::kRandn: return "randn";
    case Distribution::kDecaying: return "decaying";
    case Distribution::kDynamicRange: return "dynamic_range";
    case Distribution::kUniform: return "uniform";
  }
  return "?";
}

HostTensor::HostTensor(DType dtype, std::vector<int64_t> shape) : dtype_(dtype), shape_(std::move(shape)) {
  numel_ = 1;
  for (int64_t s : shape_) numel_ *= s;
  storage_.assign(static_cast<size_t>(numel_) * dtype_size(dtype_), 0);
  values_.assign(static_cast<size_t>(numel_), 0.0);
}

void HostTensor::set(int64_t i, double value) {
  const float f = static_cast<float>(value);
  switch (dtype_) {
    case DType::kF32:
      std::memcpy(storage_.data() + 4 * i, &f, 4);
      values_[static_cast<size_t>(i)] = f;
      break;
    case DType::kF16: {
      const uint16_t h = core::float_to_half(f);
      std::memcpy(storage_.data() + 2 * i, &h, 2);
      values_[static_cast<size_t>(i)] = core::half_to_float(h);
      break;
    }
    case DType::kBF16: {
      const uint16_t h = core::float_to_bf16(f);
      std::memcpy(storage_.data() + 2 * i, &h, 2);
      values_[static_cast<size_t>(i)] = core::bf16_to_float(h);
      break;
    }
  }
}

void HostTensor::fill(Distribution dist, std::mt19937_64& rng, double scale) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  const int64_t last = shape_.empty() ? 1 : shape_.back();
  for (int64_t i = 0; i < numel_; ++i) {
    double v = 0.0;
    switch (dist) {
      case Distribution::kRandn: v = normal(rng); break;
      case Distribution::kDecaying: {
        const double t = static_cast<double>(i % last);
        v = normal(rng) * std::exp(-t / std::max(1.0, static_cast<double>(last) / 8.0));
        break;
      }
      case Distribution::kDynamicRange: v = normal(rng) * std::pow(10.0, 3.0 * uniform(rng)); break;
      case Distribution::kUniform: v = uniform(rng); break;
    }
    set(i, v * scale);
  }
}

std::vector<double> HostTensor::read_back() const {
  std::vector<double> out(static_cast<size_t>(numel_));
  for (int64_t i = 0; i < numel_; ++i) {
    switch (dtype_) {
      case DType::kF32: {
        float f;
        std::memcpy(&f, storage_.data() + 4 * i, 4);
        out[i] = f;
        break;
      }
      case DType::kF16: {
        uint16_t h;
        std::memcpy(&h, storage_.data() + 2 * i, 2);
        out[i] = core::half_to_float(h);
        break;
      }
      case DType::kBF16: {
        uint16_t h;
        std::memcpy(&h, storage_.data() + 2 * i, 2);
        out[i] = core::bf16_to_float(h);
        break;
      }
    }
  }
  return out;
}

void HostTensor::poison() {
  if (dtype_ == DType::kF32) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (int64_t i = 0; i < numel_; ++i) std::memcpy(storage_.data() + 4 * i, &nan, 4);
  } else {
    const uint16_t nan = dtype_ == DType::kF16 ? 0x7e00 : 0x7fc0;
    for (int64_t i = 0; i < numel_; ++i) std::memcpy(storage_.data() + 2 * i, &nan, 2);
  }
}

Tensor HostTensor::view() {
  Tensor t;
  t.data = storage_.data();
  t.dtype = dtype_;
  t.ndim = static_cast<int>(shape_.size());
  int64_t stride = 1;
  for (int d = t.ndim - 1; d >= 0; --d) {
    t.shape[d] = shape_[static_cast<size_t>(d)];
    t.strides[d] = stride;
    stride *= t.shape[d];
  }
  return t;
}

}  // namespace ffc::reference
