// The float64 reference's own FFT (tools/reference/fft64.hpp), the program's float64 oracle where
// the build has no FFTW: twiddles against long double, the complex and real transforms against
// direct DFTs in long double on small lengths and against FFTW on long ones (up to 2^22), and the
// convolutions built on it (fft64_conv, fft64_backward) against the direct sums and FFTW's.
// Bound: relative L2 error <= 1e-15 (double rounding is 1.1e-16; a radix-2 FFT's error grows like
// sqrt(log2 N)).
#include <gtest/gtest.h>

#ifdef FFC_REFERENCE_WITH_FFTW
#include <fftw3.h>
#endif

#include <cmath>
#include <complex>
#include <random>
#include <stdexcept>
#include <vector>

#include "fft64.hpp"
#include "oracle.hpp"

namespace ffc::testing {
using namespace ffc::reference;
namespace {

using cd = std::complex<double>;
using cld = std::complex<long double>;

constexpr double kTolerance = 1e-15;
constexpr long double kTwoPi = 6.283185307179586476925286766559005768L;

std::vector<double> random_reals(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = dist(rng);
  return v;
}

std::vector<cd> random_complex(int64_t n, uint64_t seed) {
  const std::vector<double> r = random_reals(2 * n, seed);
  std::vector<cd> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = cd(r[2 * i], r[2 * i + 1]);
  return v;
}

// sign -1: forward, +1: inverse (unnormalized); in long double with exact angle reduction mod n.
std::vector<cd> direct_dft(const std::vector<cd>& x, int sign) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<cld> roots(x.size());  // e^{sign 2 pi i m / n}
  for (int64_t m = 0; m < n; ++m) {
    const long double a = kTwoPi * static_cast<long double>(m) / static_cast<long double>(n);
    roots[m] = cld(std::cos(a), sign * std::sin(a));
  }
  std::vector<cd> out(x.size());
  for (int64_t f = 0; f < n; ++f) {
    cld acc(0.0L, 0.0L);
    for (int64_t t = 0; t < n; ++t) acc += cld(x[t].real(), x[t].imag()) * roots[(f * t) % n];
    out[f] = cd(static_cast<double>(acc.real()), static_cast<double>(acc.imag()));
  }
  return out;
}

template <class T>
double relative_error(const std::vector<T>& got, const std::vector<T>& want) {
  long double num = 0.0L, den = 0.0L;
  for (size_t i = 0; i < want.size(); ++i) {
    num += std::norm(std::complex<long double>(got[i]) - std::complex<long double>(want[i]));
    den += std::norm(std::complex<long double>(want[i]));
  }
  return den == 0.0L ? static_cast<double>(std::sqrt(num)) : static_cast<double>(std::sqrt(num / den));
}

TEST(ReferenceFft, UnitRootsAreCorrectlyRoundedToWithinAnUlp) {
  for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 1000, 1024, 4096, 1 << 20}) {
    const int64_t count = std::min<int64_t>(n, 5000);
    const std::vector<cd> table = unit_roots(n, count);
    for (int64_t j = 0; j < count; ++j) {
      const long double a = kTwoPi * static_cast<long double>(j) / static_cast<long double>(n);
      const cd want(static_cast<double>(std::cos(a)), static_cast<double>(-std::sin(a)));
      const cd one = unit_root(j, n);
      ASSERT_LE(std::abs(one - want), 2.3e-16) << "n " << n << " j " << j;
      ASSERT_EQ(table[j], one) << "n " << n << " j " << j;
    }
  }
  // Exact values at the quarter and eighth turns.
  EXPECT_EQ(unit_root(0, 16), cd(1.0, 0.0));
  EXPECT_EQ(unit_root(4, 16), cd(0.0, -1.0));
  EXPECT_EQ(unit_root(8, 16), cd(-1.0, 0.0));
  EXPECT_EQ(unit_root(12, 16), cd(0.0, 1.0));
  EXPECT_EQ(unit_root(2, 16).real(), -unit_root(2, 16).imag());
}

TEST(ReferenceFft, RejectsLengthsThatAreNotPowersOfTwo) {
  for (int64_t n : {0, -4, 3, 12, 1000}) {
    EXPECT_THROW(ComplexFft64{n}, std::invalid_argument) << n;
    EXPECT_THROW(RealFft64{n}, std::invalid_argument) << n;
  }
}

TEST(ReferenceFft, ComplexMatchesTheDirectDft) {
  for (int64_t n = 1; n <= 2048; n *= 2) {
    const std::vector<cd> x = random_complex(n, 100 + static_cast<uint64_t>(n));
    const ComplexFft64 fft(n);
    std::vector<cd> fwd = x, inv = x;
    fft.forward(fwd.data());
    fft.inverse(inv.data());
    EXPECT_LE(relative_error(fwd, direct_dft(x, -1)), kTolerance) << "forward, n " << n;
    EXPECT_LE(relative_error(inv, direct_dft(x, +1)), kTolerance) << "inverse, n " << n;
    fft.inverse(fwd.data());  // n x
    for (cd& v : fwd) v /= static_cast<double>(n);
    EXPECT_LE(relative_error(fwd, x), kTolerance) << "round trip, n " << n;
  }
}

TEST(ReferenceFft, RealMatchesTheDirectDft) {
  for (int64_t n = 1; n <= 2048; n *= 2) {
    for (int64_t count : {n, (n + 1) / 2, int64_t{1}}) {
      const std::vector<double> x = random_reals(count, 200 + static_cast<uint64_t>(n + count));
      std::vector<cd> padded(static_cast<size_t>(n));
      for (int64_t t = 0; t < count; ++t) padded[t] = x[t];
      const std::vector<cd> full = direct_dft(padded, -1);
      RealFft64 fft(n);
      std::vector<cd> spec(static_cast<size_t>(fft.bins()));
      fft.r2c(x.data(), count, spec.data());
      EXPECT_LE(relative_error(spec, std::vector<cd>(full.begin(), full.begin() + fft.bins())), kTolerance)
          << "r2c, n " << n << " count " << count;
      EXPECT_EQ(spec.front().imag(), 0.0);
      EXPECT_EQ(spec.back().imag(), 0.0);
      // c2r of the spectrum gives n x (zero-padded).
      std::vector<double> back(static_cast<size_t>(n));
      fft.c2r(spec.data(), back.data());
      std::vector<double> want(static_cast<size_t>(n), 0.0);
      for (int64_t t = 0; t < count; ++t) want[t] = x[t] * static_cast<double>(n);
      EXPECT_LE(relative_error(back, want), kTolerance) << "c2r, n " << n << " count " << count;
    }
  }
}

TEST(ReferenceFft, RealInverseOfAHermitianSpectrumMatchesTheDirectDft) {
  for (int64_t n = 2; n <= 1024; n *= 2) {
    RealFft64 fft(n);
    std::vector<cd> half = random_complex(fft.bins(), 300 + static_cast<uint64_t>(n));
    std::vector<cd> with_junk = half;  // imaginary parts at DC and Nyquist are ignored (FFTW's c2r)
    half.front().imag(0.0);
    half.back().imag(0.0);
    std::vector<cd> full(static_cast<size_t>(n));
    for (int64_t f = 0; f < fft.bins(); ++f) full[f] = half[f];
    for (int64_t f = fft.bins(); f < n; ++f) full[f] = std::conj(half[n - f]);
    const std::vector<cd> want = direct_dft(full, +1);
    std::vector<double> got(static_cast<size_t>(n)), got_junk(static_cast<size_t>(n));
    fft.c2r(half.data(), got.data());
    fft.c2r(with_junk.data(), got_junk.data());
    std::vector<cd> got_c(got.begin(), got.end());
    EXPECT_LE(relative_error(got_c, want), kTolerance) << "n " << n;
    EXPECT_EQ(got, got_junk) << "n " << n;
  }
}

#ifdef FFC_REFERENCE_WITH_FFTW
TEST(ReferenceFft, RealMatchesFftwUpTo4Mi) {
  for (int64_t n : {int64_t{1} << 12, int64_t{1} << 16, int64_t{1} << 20, int64_t{1} << 22}) {
    const std::vector<double> x = random_reals(n, 400 + static_cast<uint64_t>(n));
    double* real = fftw_alloc_real(static_cast<size_t>(n));
    fftw_complex* spec = fftw_alloc_complex(static_cast<size_t>(n / 2 + 1));
    const fftw_plan forward = fftw_plan_dft_r2c_1d(static_cast<int>(n), real, spec, FFTW_ESTIMATE);
    const fftw_plan inverse = fftw_plan_dft_c2r_1d(static_cast<int>(n), spec, real, FFTW_ESTIMATE);
    std::copy(x.begin(), x.end(), real);
    fftw_execute(forward);
    std::vector<cd> want_spec(static_cast<size_t>(n / 2 + 1));
    for (size_t f = 0; f < want_spec.size(); ++f) want_spec[f] = cd(spec[f][0], spec[f][1]);
    fftw_execute(inverse);
    std::vector<double> want_back(real, real + n);
    fftw_destroy_plan(forward);
    fftw_destroy_plan(inverse);
    fftw_free(real);
    fftw_free(spec);

    RealFft64 fft(n);
    std::vector<cd> got_spec(want_spec.size());
    fft.r2c(x.data(), n, got_spec.data());
    EXPECT_LE(relative_error(got_spec, want_spec), kTolerance) << "r2c, n " << n;
    std::vector<double> got_back(static_cast<size_t>(n));
    fft.c2r(want_spec.data(), got_back.data());
    EXPECT_LE(relative_error(got_back, want_back), kTolerance) << "c2r, n " << n;
  }
}
#endif

// The convolutions on the own FFT against the direct sums (small) and fftw_conv / fftw_backward
// (FFTW's where the build has it).
TEST(ReferenceFft, ConvolutionsMatchTheDirectSumsAndFftw) {
  struct Shape {
    int64_t batch, heads, length, filter_length, fft_size;
  };
  for (const Shape& sh : {Shape{2, 3, 100, 37, 256}, Shape{1, 2, 64, 64, 64}, Shape{1, 1, 1, 1, 1},
                          Shape{1, 1, 3, 2, 4}, Shape{2, 2, 300, 512, 512}}) {
    const ConvSpec spec{sh.batch, sh.heads, sh.length, sh.filter_length, sh.fft_size};
    const int64_t elements = sh.batch * sh.heads * sh.length;
    const std::vector<double> u = random_reals(elements, 1), pre = random_reals(elements, 2),
                              post = random_reals(elements, 3), dy = random_reals(elements, 4),
                              k = random_reals(sh.heads * sh.filter_length, 5);
    const std::vector<double> want = direct_conv(spec, u, k, pre, post);
    const std::vector<double> got = fft64_conv(spec, u, k, pre, post);
    EXPECT_LE(relative_l2(got, want), kTolerance) << "N " << sh.fft_size;
    EXPECT_LE(relative_l2(fft64_conv(spec, u, k, {}, {}), direct_conv(spec, u, k, {}, {})), kTolerance);
    EXPECT_LE(relative_l2(got, fftw_conv(spec, u, k, pre, post)), kTolerance);

    const int64_t lkg = sh.filter_length;
    const ConvGradients gw = direct_backward(spec, lkg, u, k, pre, post, dy);
    const ConvGradients gg = fft64_backward(spec, lkg, u, k, pre, post, dy);
    const ConvGradients gf = fftw_backward(spec, lkg, u, k, pre, post, dy);
    EXPECT_LE(relative_l2(gg.du, gw.du), kTolerance);
    EXPECT_LE(relative_l2(gg.dk, gw.dk), kTolerance);
    EXPECT_LE(relative_l2(gg.dpregate, gw.dpregate), kTolerance);
    EXPECT_LE(relative_l2(gg.dpostgate, gw.dpostgate), kTolerance);
    EXPECT_LE(relative_l2(gg.du, gf.du), kTolerance);
    EXPECT_LE(relative_l2(gg.dk, gf.dk), kTolerance);
  }
}

TEST(ReferenceFft, LongConvolutionMatchesFftw) {
  const ConvSpec spec{1, 2, 1 << 19, 1 << 19, 1 << 20};
  const int64_t elements = spec.batch * spec.heads * spec.length;
  const std::vector<double> u = random_reals(elements, 6), pre = random_reals(elements, 7),
                            post = random_reals(elements, 8), k = random_reals(spec.heads * spec.filter_length, 9);
  EXPECT_LE(relative_l2(fft64_conv(spec, u, k, pre, post), fftw_conv(spec, u, k, pre, post)), kTolerance);
}

TEST(ReferenceFft, FftwAvailabilityAndTheFloatTimingSentinel) {
  const ConvSpec spec{1, 1, 8, 8, 16};
  std::vector<float> u(8, 1.0f), k(8, 1.0f), y(8, -7.0f);
  const double seconds = fftw_float_conv_seconds(spec, u, k, y, 1, 1);
#ifdef FFC_REFERENCE_WITH_FFTW
  EXPECT_TRUE(fftw_available());
  EXPECT_TRUE(std::isfinite(seconds));
  EXPECT_GE(seconds, 0.0);
  EXPECT_FLOAT_EQ(y[7], 8.0f);
#else
  EXPECT_FALSE(fftw_available());
  EXPECT_TRUE(std::isnan(seconds));
  EXPECT_EQ(y[7], -7.0f);
#endif
}

}  // namespace
}  // namespace ffc::testing
