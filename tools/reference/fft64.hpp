// A float64 FFT of the reference's own (no code shared with the library's transforms): the float64
// oracle's transform where the build has no FFTW (oracle.cpp without FFC_REFERENCE_WITH_FFTW).
//
// Iterative radix-2 (decimation in time) over a power-of-two length, with every twiddle factor
// computed once, in long double after exact reduction of the angle to [0, pi/4], and rounded to
// double. The real transforms are FFTW's r2c/c2r conventions, through a complex FFT of half the
// length. Relative L2 error ~1e-16 * sqrt(log2 N), about FFTW's in double.
#pragma once

#include <complex>
#include <cstdint>
#include <vector>

namespace ffc::reference {

// A complex FFT of length n (a power of two >= 1):
//   forward: X[f] = sum_t x[t] e^{-2 pi i f t / n};  inverse: the same with e^{+...}, unnormalized.
class ComplexFft64 {
 public:
  explicit ComplexFft64(int64_t n);  // std::invalid_argument unless n is a power of two >= 1
  int64_t size() const { return n_; }
  void forward(std::complex<double>* data) const { run(data, false); }
  void inverse(std::complex<double>* data) const { run(data, true); }

 private:
  void run(std::complex<double>* data, bool inverse) const;
  int64_t n_;
  // The stage of half-span h (butterflies over 2h points) uses e^{-2 pi i j / 2h}, j < h, stored
  // contiguously at [h - 1 + j]: n - 1 values.
  std::vector<std::complex<double>> twiddle_;
};

// A real FFT of length n (a power of two >= 1), in FFTW's conventions:
//   r2c: X[f] = sum_{t < n} x[t] e^{-2 pi i f t / n}, f <= n / 2 (imaginary parts of X[0] and
//        X[n/2] exactly zero);
//   c2r: x[t] = sum_{f < n} X[f] e^{+2 pi i f t / n} with X[n - f] = conj(X[f]), unnormalized
//        (c2r(r2c(x)) = n x); the imaginary parts of X[0] and X[n/2] are ignored.
class RealFft64 {
 public:
  explicit RealFft64(int64_t n);  // std::invalid_argument unless n is a power of two >= 1
  int64_t size() const { return n_; }
  int64_t bins() const { return n_ / 2 + 1; }
  // `count` <= n values of `in`, zero-padded to n; `out` gets bins() values.
  void r2c(const double* in, int64_t count, std::complex<double>* out);
  // bins() values of `in`; `out` gets n values.
  void c2r(const std::complex<double>* in, double* out);

 private:
  int64_t n_;
  ComplexFft64 half_;                           // length max(1, n / 2)
  std::vector<std::complex<double>> twiddle_;   // e^{-2 pi i f / n}, f < n / 2
  std::vector<std::complex<double>> scratch_;   // n / 2 values
};

// e^{-2 pi i j / n} for 0 <= j < n, n >= 1: the angle reduced exactly (integer arithmetic) to
// [0, pi/4], then long double cos/sin, rounded to double.
std::complex<double> unit_root(int64_t j, int64_t n);

// unit_root(j, n) for j < count (count <= n), with cos/sin evaluated only on [0, pi/4] (once per
// angle there when 8 divides n).
std::vector<std::complex<double>> unit_roots(int64_t n, int64_t count);

}  // namespace ffc::reference
