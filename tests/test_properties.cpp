// Properties of the convolution that hold for any correct implementation, checked on the CPU
// backend in fp32 (relative tolerance 1e-6 = the fp32 accuracy the backend guarantees):
// a delta filter shifts the input, linearity, causality (no output depends on a later input) and
// circular-shift equivariance in circular mode.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "conv_case.hpp"

namespace ffc::testing {
using namespace ffc::reference;
namespace {

constexpr double kTol = 1e-6;

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// y for given u (B=1..) and k, f32, on the CPU plan.
std::vector<double> convolve(const Plan& plan, int64_t batch, int64_t heads, int64_t length,
                             const std::vector<double>& u, const std::vector<double>& k,
                             int64_t filter_length) {
  HostTensor tu(DType::kF32, {batch, heads, length}), tk(DType::kF32, {heads, filter_length});
  HostTensor ty(DType::kF32, {batch, heads, length});
  for (int64_t i = 0; i < tu.numel(); ++i) tu.set(i, u[i]);
  for (int64_t i = 0; i < tk.numel(); ++i) tk.set(i, k[i]);
  std::vector<unsigned char> ws(plan.workspace_bytes(heads));
  ForwardArgs args;
  args.u = tu.view();
  args.y = ty.view();
  args.k = tk.view();
  args.workspace = ws.data();
  args.workspace_bytes = ws.size();
  plan.forward(args);
  return ty.read_back();
}

std::vector<double> randn(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d;
  std::vector<double> v(n);
  for (double& x : v) x = static_cast<float>(d(rng));
  return v;
}

class Properties : public ::testing::TestWithParam<int64_t> {};

TEST_P(Properties, DeltaFilterShiftsTheInput) {
  const int64_t n = GetParam();
  Plan plan = Plan::create({.fft_size = n, .backend = Backend::kCpu});
  for (int64_t shift : {int64_t{0}, int64_t{1}, n / 4 - 1}) {
    // Causal: L = N/2, y[t] = u[t - shift] (0 before the shift).
    const int64_t length = n / 2, lk = shift + 1;
    const std::vector<double> u = randn(3 * length, 11);
    std::vector<double> k(lk, 0.0);
    k[shift] = 1.0;
    const std::vector<double> y = convolve(plan, 3, 1, length, u, k, lk);
    for (int64_t b = 0; b < 3; ++b) {
      for (int64_t t = 0; t < length; ++t) {
        const double expect = t >= shift ? u[b * length + t - shift] : 0.0;
        ASSERT_NEAR(y[b * length + t], expect, kTol * 4) << "shift " << shift << " t " << t;
      }
    }
    // Circular: L = N, y[t] = u[(t - shift) mod N].
    const std::vector<double> uc = randn(2 * n, 12);
    const std::vector<double> yc = convolve(plan, 2, 1, n, uc, k, lk);
    for (int64_t b = 0; b < 2; ++b) {
      for (int64_t t = 0; t < n; ++t) {
        ASSERT_NEAR(yc[b * n + t], uc[b * n + (t - shift + n) % n], kTol * 4) << "circular t " << t;
      }
    }
  }
}

TEST_P(Properties, IsLinear) {
  const int64_t n = GetParam(), length = n / 2 + 3, lk = n / 3 + 1;
  Plan plan = Plan::create({.fft_size = n, .backend = Backend::kCpu});
  const std::vector<double> u1 = randn(2 * 3 * length, 1), u2 = randn(2 * 3 * length, 2);
  const std::vector<double> k = randn(3 * lk, 3);
  const double a = 0.75, b = -1.5;  // exact in float
  std::vector<double> mix(u1.size());
  for (size_t i = 0; i < mix.size(); ++i) mix[i] = a * u1[i] + b * u2[i];
  const std::vector<double> y1 = convolve(plan, 2, 3, length, u1, k, lk);
  const std::vector<double> y2 = convolve(plan, 2, 3, length, u2, k, lk);
  const std::vector<double> ym = convolve(plan, 2, 3, length, mix, k, lk);
  std::vector<double> expect(ym.size());
  for (size_t i = 0; i < expect.size(); ++i) expect[i] = a * y1[i] + b * y2[i];
  EXPECT_LE(relative_l2(ym, expect), kTol);
}

TEST_P(Properties, IsCausal) {
  // Causal mode (L + Lk - 1 <= N): perturbing u[t'] leaves y[t] for t < t' unchanged up to fp32
  // rounding of the transform (a wrap-around bug would change them by O(|y|)).
  const int64_t n = GetParam(), length = n / 2, lk = n / 2;
  Plan plan = Plan::create({.fft_size = n, .backend = Backend::kCpu});
  const std::vector<double> k = randn(lk, 21);
  std::vector<double> u = randn(length, 22);
  const std::vector<double> y0 = convolve(plan, 1, 1, length, u, k, lk);
  for (int64_t tp : {int64_t{1}, length / 3, length - 1}) {
    std::vector<double> u2 = u;
    u2[tp] += 100.0;
    const std::vector<double> y1 = convolve(plan, 1, 1, length, u2, k, lk);
    const double scale = std::max(max_abs(y0), max_abs(y1));
    for (int64_t t = 0; t < tp; ++t) {
      ASSERT_LE(std::abs(y1[t] - y0[t]), kTol * scale) << "t' = " << tp << ", t = " << t;
    }
    // And the perturbation does reach y[t'] (the test can fail).
    EXPECT_GT(std::abs(y1[tp] - y0[tp]), 1.0);
  }
}

TEST_P(Properties, CircularShiftEquivariance) {
  const int64_t n = GetParam();
  Plan plan = Plan::create({.fft_size = n, .backend = Backend::kCpu});
  const std::vector<double> u = randn(n, 31), k = randn(n, 32);
  const std::vector<double> y = convolve(plan, 1, 1, n, u, k, n);
  for (int64_t s : {int64_t{1}, n / 2 + 5}) {
    std::vector<double> us(n), expect(n);
    for (int64_t t = 0; t < n; ++t) {
      us[(t + s) % n] = u[t];
      expect[(t + s) % n] = y[t];
    }
    EXPECT_LE(relative_l2(convolve(plan, 1, 1, n, us, k, n), expect), kTol) << "shift " << s;
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, Properties, ::testing::Values(16, 256, 2048, 32768, 262144));

}  // namespace
}  // namespace ffc::testing
