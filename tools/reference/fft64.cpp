#include "fft64.hpp"

#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

namespace ffc::reference {
namespace {

using cd = std::complex<double>;

void require_power_of_two(int64_t n, const char* what) {
  if (n < 1 || (n & (n - 1)) != 0) {
    throw std::invalid_argument(std::string(what) + ": length " + std::to_string(n) +
                                " is not a power of two >= 1");
  }
}

// 2 pi j / n for 0 <= j < n, written as 2 pi num / (4 n) with num in [0, n / 2] (an angle in
// [0, pi/4]) plus the exact symmetry that maps it back: every step is integer arithmetic.
struct Reduced {
  int64_t num;     // the reduced angle is 2 pi num / (4 n), in [0, pi/4]
  int octant;      // 0: theta = a; 1: pi/2 - a; 2: pi/2 + a; 3: pi - a (theta in [0, pi])
  bool mirrored;   // theta is 2 pi - (the above): conjugate
};

Reduced reduce(int64_t j, int64_t n) {
  Reduced r{0, 0, false};
  if (2 * j > n) {  // e^{-i theta} = conj(e^{-i (2 pi - theta)})
    j = n - j;
    r.mirrored = true;
  }
  if (8 * j <= n) {
    r = {4 * j, 0, r.mirrored};
  } else if (4 * j <= n) {
    r = {n - 4 * j, 1, r.mirrored};
  } else if (8 * j <= 3 * n) {
    r = {4 * j - n, 2, r.mirrored};
  } else {
    r = {2 * n - 4 * j, 3, r.mirrored};
  }
  return r;
}

// e^{-i theta} from cos a, sin a of the reduced angle.
cd assemble(const Reduced& r, double cos_a, double sin_a) {
  double c = 0.0, s = 0.0;  // cos theta, sin theta
  switch (r.octant) {
    case 0: c = cos_a; s = sin_a; break;
    case 1: c = sin_a; s = cos_a; break;
    case 2: c = -sin_a; s = cos_a; break;
    default: c = -cos_a; s = sin_a; break;
  }
  return r.mirrored ? cd(c, s) : cd(c, -s);
}

constexpr long double kTwoPi = 6.283185307179586476925286766559005768L;

std::pair<double, double> cos_sin(int64_t num, int64_t den) {
  const long double a = kTwoPi * static_cast<long double>(num) / static_cast<long double>(den);
  return {static_cast<double>(std::cos(a)), static_cast<double>(std::sin(a))};
}

}  // namespace

std::complex<double> unit_root(int64_t j, int64_t n) {
  if (n < 1 || j < 0 || j >= n) throw std::invalid_argument("unit_root: need 0 <= j < n");
  const Reduced r = reduce(j, n);
  const auto [c, s] = cos_sin(r.num, 4 * n);
  return assemble(r, c, s);
}

std::vector<std::complex<double>> unit_roots(int64_t n, int64_t count) {
  if (n < 1 || count < 0 || count > n) throw std::invalid_argument("unit_roots: need 0 <= count <= n");
  std::vector<cd> out(static_cast<size_t>(count));
  if (n % 8 != 0) {
    for (int64_t j = 0; j < count; ++j) out[j] = unit_root(j, n);
    return out;
  }
  // Reduced numerators are multiples of 4 here: the angles 2 pi i / n, i <= n / 8.
  std::vector<std::pair<double, double>> base(static_cast<size_t>(n / 8 + 1));
  for (int64_t i = 0; i <= n / 8; ++i) base[i] = cos_sin(i, n);
  for (int64_t j = 0; j < count; ++j) {
    const Reduced r = reduce(j, n);
    const auto [c, s] = base[static_cast<size_t>(r.num / 4)];
    out[j] = assemble(r, c, s);
  }
  return out;
}

ComplexFft64::ComplexFft64(int64_t n) : n_(n) {
  require_power_of_two(n, "ComplexFft64");
  if (n < 2) return;
  const std::vector<cd> roots = unit_roots(n, n / 2);  // e^{-2 pi i f / n}, f < n / 2
  twiddle_.resize(static_cast<size_t>(n - 1));
  for (int64_t h = 1; h < n; h <<= 1) {
    const int64_t stride = n / (2 * h);  // e^{-2 pi i j / 2h} = e^{-2 pi i (j stride) / n}
    for (int64_t j = 0; j < h; ++j) twiddle_[h - 1 + j] = roots[j * stride];
  }
}

void ComplexFft64::run(std::complex<double>* data, bool inverse) const {
  const int64_t n = n_;
  for (int64_t i = 1, j = 0; i < n; ++i) {  // bit-reversal permutation
    int64_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(data[i], data[j]);
  }
  // Array-oriented access to std::complex<double> as double[2] is allowed ([complex.numbers]).
  double* d = reinterpret_cast<double*>(data);
  const double* tw = reinterpret_cast<const double*>(twiddle_.data());
  const double sign = inverse ? -1.0 : 1.0;  // the inverse uses the conjugate twiddles
  for (int64_t h = 1; h < n; h <<= 1) {
    const double* w = tw + 2 * (h - 1);
    for (int64_t start = 0; start < n; start += 2 * h) {
      double* a = d + 2 * start;
      double* b = a + 2 * h;
      for (int64_t j = 0; j < h; ++j) {
        const double wr = w[2 * j], wi = sign * w[2 * j + 1];
        const double xr = b[2 * j], xi = b[2 * j + 1];
        const double br = xr * wr - xi * wi, bi = xr * wi + xi * wr;
        const double ar = a[2 * j], ai = a[2 * j + 1];
        a[2 * j] = ar + br;
        a[2 * j + 1] = ai + bi;
        b[2 * j] = ar - br;
        b[2 * j + 1] = ai - bi;
      }
    }
  }
}

RealFft64::RealFft64(int64_t n) : n_(n), half_((require_power_of_two(n, "RealFft64"), n >= 2 ? n / 2 : 1)) {
  if (n >= 2) {
    twiddle_ = unit_roots(n, n / 2);
    scratch_.resize(static_cast<size_t>(n / 2));
  }
}

void RealFft64::r2c(const double* in, int64_t count, std::complex<double>* out) {
  if (count < 0 || count > n_) throw std::invalid_argument("RealFft64::r2c: count out of range");
  if (n_ == 1) {
    out[0] = cd(count > 0 ? in[0] : 0.0, 0.0);
    return;
  }
  const int64_t m = n_ / 2;
  cd* z = scratch_.data();
  // z[t] = x[2t] + i x[2t + 1], zero-padded.
  for (int64_t t = 0; t < m; ++t) {
    const double re = 2 * t < count ? in[2 * t] : 0.0;
    const double im = 2 * t + 1 < count ? in[2 * t + 1] : 0.0;
    z[t] = cd(re, im);
  }
  half_.forward(z);
  // Even and odd halves' spectra E[f] = (Z[f] + conj Z[m - f]) / 2, O[f] = (Z[f] - conj Z[m - f]) / 2i,
  // X[f] = E[f] + e^{-2 pi i f / n} O[f].
  out[0] = cd(z[0].real() + z[0].imag(), 0.0);
  out[m] = cd(z[0].real() - z[0].imag(), 0.0);
  for (int64_t f = 1; f < m; ++f) {
    const double zr = z[f].real(), zi = z[f].imag();
    const double cr = z[m - f].real(), ci = -z[m - f].imag();  // conj Z[m - f]
    const double er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);
    const double or_ = 0.5 * (zi - ci), oi = -0.5 * (zr - cr);  // (Z - conj) / 2i
    const double wr = twiddle_[f].real(), wi = twiddle_[f].imag();
    out[f] = cd(er + (or_ * wr - oi * wi), ei + (or_ * wi + oi * wr));
  }
}

void RealFft64::c2r(const std::complex<double>* in, double* out) {
  if (n_ == 1) {
    out[0] = in[0].real();
    return;
  }
  const int64_t m = n_ / 2;
  cd* z = scratch_.data();
  // Z[f] = 2 E[f] + 2i O[f] with 2 E[f] = X[f] + conj X[m - f], 2 O[f] = (X[f] - conj X[m - f])
  // e^{+2 pi i f / n}; the inverse of length m then gives n x (FFTW's unnormalized c2r).
  {
    const double x0 = in[0].real(), xm = in[m].real();  // imaginary parts ignored, as FFTW does
    z[0] = cd(x0 + xm, x0 - xm);
  }
  for (int64_t f = 1; f < m; ++f) {
    const double xr = in[f].real(), xi = in[f].imag();
    const double cr = in[m - f].real(), ci = -in[m - f].imag();  // conj X[m - f]
    const double er = xr + cr, ei = xi + ci;
    const double dr = xr - cr, di = xi - ci;
    const double wr = twiddle_[f].real(), wi = -twiddle_[f].imag();  // e^{+2 pi i f / n}
    const double or_ = dr * wr - di * wi, oi = dr * wi + di * wr;
    z[f] = cd(er - oi, ei + or_);  // E + i O
  }
  half_.inverse(z);
  for (int64_t t = 0; t < m; ++t) {
    out[2 * t] = z[t].real();
    out[2 * t + 1] = z[t].imag();
  }
}

}  // namespace ffc::reference
