// Core math without any backend: the size table, the digit-reversed positions, twiddle accuracy,
// the 16-bit conversions, and the Monarch stages themselves (FftEngine in double) against a direct
// DFT, mixed radices included.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <random>
#include <set>

#include "core/factorization.hpp"
#include "core/half.hpp"
#include "cpu/fft_engine.hpp"
#include "ffc/ffc.hpp"

namespace ffc {
namespace {

TEST(SizeTable, EveryPowerOfTwoFrom16To4M) {
  for (int k = 0; k <= 23; ++k) {
    const int64_t n = int64_t{1} << k;
    const bool expected = k >= 4 && k <= 22;
    EXPECT_EQ(core::Factorization::in_size_table(n), expected) << n;
    if (!expected) continue;
    const std::vector<int> radices = core::Factorization::table_radices(n);
    int64_t product = 1;
    for (int r : radices) {
      EXPECT_TRUE(r == 2 || r == 4 || r == 8 || r == 16) << "radix " << r << " for N = " << n;
      product *= r;
    }
    EXPECT_EQ(product, n);
  }
}

TEST(SizeTable, RejectsOtherSizesWithTheRule) {
  for (int64_t n : {int64_t{0}, int64_t{-16}, int64_t{8}, int64_t{17}, int64_t{48}, int64_t{1} << 23}) {
    try {
      core::Factorization::table_radices(n);
      FAIL() << "accepted " << n;
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), Status::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("fft_size"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(std::to_string(n)), std::string::npos) << e.what();
    }
  }
}

TEST(Factorization, PositionsAreABijection) {
  for (const std::vector<int>& radices :
       std::vector<std::vector<int>>{{16}, {16, 16}, {32, 16, 8}, {3, 16}, {5, 4, 2}, {16, 16, 16}}) {
    const core::Factorization f(radices);
    std::set<int64_t> seen;
    for (int64_t freq = 0; freq < f.size(); ++freq) {
      const int64_t p = f.position_of(freq);
      ASSERT_GE(p, 0);
      ASSERT_LT(p, f.size());
      EXPECT_EQ(f.frequency_at(p), freq);
      seen.insert(p);
    }
    EXPECT_EQ(static_cast<int64_t>(seen.size()), f.size());
  }
}

TEST(Twiddle, MatchesLongDoubleToAFewUlps) {
  for (int64_t m : {int64_t{16}, int64_t{1000}, int64_t{4194304}, int64_t{3} << 20}) {
    const int64_t exponents[] = {0, 1, m / 8, m / 4 - 1, m / 3, m / 2 + 7, m - 1, 5 * m + 3, -7};
    for (int64_t e : exponents) {
      const std::complex<double> w = core::twiddle(m, e);
      const long double angle = -2.0L * 3.141592653589793238462643383279502884L *
                                static_cast<long double>(((e % m) + m) % m) / static_cast<long double>(m);
      EXPECT_NEAR(w.real(), static_cast<double>(std::cos(angle)), 4e-16) << m << " " << e;
      EXPECT_NEAR(w.imag(), static_cast<double>(std::sin(angle)), 4e-16) << m << " " << e;
    }
  }
}

TEST(Half, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t bits = 0; bits < 0x10000u; ++bits) {
    const uint16_t h = static_cast<uint16_t>(bits);
    const float f = core::half_to_float(h);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(core::half_to_float(core::float_to_half(f))));
    } else {
      EXPECT_EQ(core::float_to_half(f), h) << std::hex << bits;
    }
  }
}

TEST(Half, RoundsToNearestEven) {
  // Midpoints between consecutive halves round to the even one, just above rounds up.
  for (uint32_t bits = 0; bits < 0x7bffu; ++bits) {
    const float lo = core::half_to_float(static_cast<uint16_t>(bits));
    const float hi = core::half_to_float(static_cast<uint16_t>(bits + 1));
    const float mid = 0.5f * (lo + hi);  // exact in float
    const uint16_t even = (bits & 1u) ? static_cast<uint16_t>(bits + 1) : static_cast<uint16_t>(bits);
    ASSERT_EQ(core::float_to_half(mid), even) << std::hex << bits;
    ASSERT_EQ(core::float_to_half(std::nextafter(mid, hi)), bits + 1) << std::hex << bits;
    ASSERT_EQ(core::float_to_half(std::nextafter(mid, lo)), bits) << std::hex << bits;
  }
  EXPECT_EQ(core::float_to_half(65520.0f), 0x7c00);  // rounds to infinity
  EXPECT_EQ(core::float_to_half(65519.0f), 0x7bff);
}

TEST(BFloat16, RoundsToNearestEvenAndKeepsNaN) {
  EXPECT_EQ(core::float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(core::bf16_to_float(core::float_to_bf16(1.0f + std::ldexp(1.0f, -8))), 1.0f);  // tie: even
  EXPECT_EQ(core::bf16_to_float(core::float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8))),
            1.0f + std::ldexp(1.0f, -6));  // tie: to even (up)
  EXPECT_TRUE(std::isnan(core::bf16_to_float(core::float_to_bf16(std::nanf("")))));
  EXPECT_TRUE(std::isinf(core::bf16_to_float(core::float_to_bf16(INFINITY))));
}

// The Monarch stages in double against a direct O(N^2) DFT, for table sizes and mixed radices.
class StagesVsDirectDft : public ::testing::TestWithParam<std::vector<int>> {};

TEST_P(StagesVsDirectDft, ForwardMatchesAndInverseRestores) {
  const core::Factorization f(GetParam());
  const int64_t n = f.size();
  cpu::FftEngine<double> engine(f);
  std::mt19937_64 rng(42);
  std::normal_distribution<double> normal;
  std::vector<double> re(n), im(n);
  for (int64_t i = 0; i < n; ++i) {
    re[i] = normal(rng);
    im[i] = normal(rng);
  }
  const std::vector<double> re0 = re, im0 = im;
  engine.forward(re.data(), im.data());
  double err = 0, norm = 0;
  for (int64_t freq = 0; freq < n; ++freq) {
    std::complex<long double> acc = 0;
    for (int64_t t = 0; t < n; ++t) {
      const long double angle = -2.0L * 3.141592653589793238462643383279502884L *
                                static_cast<long double>((t * freq) % n) / static_cast<long double>(n);
      acc += std::complex<long double>(re0[t], im0[t]) *
             std::complex<long double>(std::cos(angle), std::sin(angle));
    }
    const int64_t p = f.position_of(freq);
    err += std::norm(std::complex<double>(re[p], im[p]) -
                     std::complex<double>(static_cast<double>(acc.real()), static_cast<double>(acc.imag())));
    norm += static_cast<double>(std::norm(acc));
  }
  EXPECT_LT(std::sqrt(err / norm), 1e-13);
  engine.inverse(re.data(), im.data());
  double back = 0, ref = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double scale = 1.0 / static_cast<double>(n);
    back += std::pow(re[i] * scale - re0[i], 2) + std::pow(im[i] * scale - im0[i], 2);
    ref += re0[i] * re0[i] + im0[i] * im0[i];
  }
  EXPECT_LT(std::sqrt(back / ref), 1e-13);
}

INSTANTIATE_TEST_SUITE_P(Radices, StagesVsDirectDft,
                         ::testing::Values(std::vector<int>{16}, std::vector<int>{32},
                                           std::vector<int>{8, 8}, std::vector<int>{16, 16},
                                           std::vector<int>{32, 16, 8}, std::vector<int>{16, 16, 16},
                                           std::vector<int>{3, 16}, std::vector<int>{5, 16},
                                           std::vector<int>{16, 3, 2}, std::vector<int>{2, 2, 2, 2}));

}  // namespace
}  // namespace ffc
