#include "core/factorization.hpp"

#include <cmath>
#include <numbers>
#include <string>

#include "core/errors.hpp"

namespace ffc::core {
namespace {

// The size table: radices per log2(N), outermost stage first. Every size is one small radix
// (2, 4 or 8, done with FMAs in the fused GPU kernels' load and store phases) followed by 16-point
// stages (the tensor-core k16 shape): N = RS x 16 x ... x 16. Adding a size (a power of two or,
// later, a mixed-radix 3*2^k, 5*2^k) is one line here plus, for the GPU, one entry of CudaSizes in
// src/cuda/sizes.hpp.
const std::vector<int>& radices_for_log2(int log2n) {
  static const std::vector<int> kTable[] = {
      {}, {}, {}, {},                // 1 .. 8: below the table
      {16},                          // 16
      {2, 16},                       // 32
      {4, 16},                       // 64
      {8, 16},                       // 128
      {16, 16},                      // 256
      {2, 16, 16},                   // 512
      {4, 16, 16},                   // 1024
      {8, 16, 16},                   // 2048
      {16, 16, 16},                  // 4096
      {2, 16, 16, 16},               // 8192
      {4, 16, 16, 16},               // 16384
      {8, 16, 16, 16},               // 32768
      {16, 16, 16, 16},              // 65536
      {2, 16, 16, 16, 16},           // 131072
      {4, 16, 16, 16, 16},           // 262144
      {8, 16, 16, 16, 16},           // 524288
      {16, 16, 16, 16, 16},          // 1048576
      {2, 16, 16, 16, 16, 16},       // 2097152
      {4, 16, 16, 16, 16, 16},       // 4194304
  };
  return kTable[log2n];
}

bool is_power_of_two(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

int log2_exact(int64_t n) {
  int k = 0;
  while ((int64_t{1} << k) < n) ++k;
  return k;
}

}  // namespace

bool Factorization::in_size_table(int64_t n) {
  return is_power_of_two(n) && n >= kMinSize && n <= kMaxSize;
}

std::vector<int> Factorization::table_radices(int64_t n) {
  if (!in_size_table(n)) {
    throw_error(Status::kInvalidArgument,
                "fft_size: " + std::to_string(n) + " is not supported (rule: a power of two from " +
                    std::to_string(kMinSize) + " to " + std::to_string(kMaxSize) + ")");
  }
  return radices_for_log2(log2_exact(n));
}

Factorization::Factorization(std::vector<int> radices) : radices_(std::move(radices)) {
  if (radices_.empty()) throw_error(Status::kInternal, "factorization: no radices");
  size_ = 1;
  for (int r : radices_) {
    if (r < 2) throw_error(Status::kInternal, "factorization: radix " + std::to_string(r) + " < 2");
    size_ *= r;
  }
  int64_t span = size_;
  for (int r : radices_) {
    stages_.push_back(Stage{r, span, span / r});
    span /= r;
  }
}

int64_t Factorization::position_of(int64_t frequency) const {
  int64_t position = 0;
  for (const Stage& stage : stages_) {
    position += (frequency % stage.radix) * stage.stride;
    frequency /= stage.radix;
  }
  return position;
}

int64_t Factorization::frequency_at(int64_t position) const {
  int64_t frequency = 0;
  int64_t weight = 1;
  for (const Stage& stage : stages_) {
    frequency += (position / stage.stride) * weight;
    position %= stage.stride;
    weight *= stage.radix;
  }
  return frequency;
}

std::complex<double> twiddle(int64_t m, int64_t e) {
  int64_t r = e % m;
  if (r < 0) r += m;
  // Fold the angle into [0, pi/4] by the symmetries of sin/cos so that the library functions see
  // small, exactly formed arguments: angle = 2 pi r / m = (pi / 4) * (8 r / m).
  // q = 8r = octant * m + rest, with 0 <= rest < m.
  const int64_t q = 8 * r;
  const int64_t octant = q / m;
  const int64_t rest = q % m;
  const double pi_4 = std::numbers::pi / 4;
  // Within an octant the angle is t = (pi/4) * rest / m (or its complement for odd octants).
  double t = pi_4 * static_cast<double>(rest) / static_cast<double>(m);
  bool complement = (octant % 2) == 1;
  if (complement) t = pi_4 * static_cast<double>(m - rest) / static_cast<double>(m);
  double c = std::cos(t), s = std::sin(t);
  // Angle theta = octant * pi/4 + (rest/m) * pi/4. For odd octants theta = (octant+1) pi/4 - t.
  double cr, sr;  // cos(theta), sin(theta)
  switch (octant) {
    case 0: cr = c; sr = s; break;       // theta = t
    case 1: cr = s; sr = c; break;       // theta = pi/2 - t
    case 2: cr = -s; sr = c; break;      // theta = pi/2 + t
    case 3: cr = -c; sr = s; break;      // theta = pi - t
    case 4: cr = -c; sr = -s; break;     // theta = pi + t
    case 5: cr = -s; sr = -c; break;     // theta = 3pi/2 - t
    case 6: cr = s; sr = -c; break;      // theta = 3pi/2 + t
    default: cr = c; sr = -s; break;     // theta = 2pi - t
  }
  return {cr, -sr};  // exp(-i theta)
}

}  // namespace ffc::core
