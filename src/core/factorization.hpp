// The Monarch factorization of an FFT: the single source of the transform's math for every backend.
//
// A length-N complex DFT X[f] = sum_n x[n] w_N^{nf}, w_N = exp(-2 pi i / N), is split into stages of
// small DFTs (radices r_0 * r_1 * ... = N). Stage s works on blocks of `span` = r_s * ... * r_{S-1}
// consecutive elements; inside a block, element a * stride + m (a < r_s, m < stride = span / r_s)
// is input a of the small DFT number m. With n = a * stride + m and f = f_a + r_s * f_m
// (decimation in frequency, Gentleman-Sande):
//
//   X[f_a + r_s f_m] = sum_m w_stride^{m f_m} [ w_span^{m f_a} sum_a x[a stride + m] w_r^{a f_a} ]
//
// so stage s computes, in place, y[f_a * stride + m] = w_span^{m f_a} * DFT_r(x[. * stride + m])[f_a]
// and the next stage recurses into each block of `stride` elements. The forward transform thus
// leaves X[f] at position p(f) = sum_s f_s * stride_s, where f_s are the mixed-radix digits of f
// (least significant digit = stage 0): the "digit-reversed" order. The inverse runs the stages
// backwards (decimation in time) with conjugate twiddles and returns natural order, so a
// convolution never permutes: filter spectra are simply stored in position order.
#pragma once

#include <complex>
#include <cstdint>
#include <vector>

namespace ffc::core {

struct Stage {
  int radix = 0;       // r_s
  int64_t span = 0;    // length of each block this stage splits (N for stage 0)
  int64_t stride = 0;  // span / radix: distance between the inputs of one small DFT
};

class Factorization {
 public:
  // Smallest and largest FFT sizes of the library's size table.
  static constexpr int64_t kMinSize = 16;
  static constexpr int64_t kMaxSize = int64_t{1} << 22;

  // Whether n is in the size table (today: powers of two in [kMinSize, kMaxSize]).
  static bool in_size_table(int64_t n);
  // The table's radices for n (outermost stage first); throws ffc::Error if n is not in it.
  static std::vector<int> table_radices(int64_t n);

  // Any radices >= 2 (mixed radix included); the backends' size tables decide what they run.
  explicit Factorization(std::vector<int> radices);
  static Factorization for_size(int64_t n) { return Factorization(table_radices(n)); }

  int64_t size() const { return size_; }
  const std::vector<int>& radices() const { return radices_; }
  const std::vector<Stage>& stages() const { return stages_; }

  // Position where the forward transform leaves frequency f, and its inverse.
  int64_t position_of(int64_t frequency) const;
  int64_t frequency_at(int64_t position) const;

 private:
  std::vector<int> radices_;
  std::vector<Stage> stages_;
  int64_t size_ = 0;
};

// w_m^e = exp(-2 pi i e / m) in double precision, with the exponent reduced exactly (integer
// arithmetic) before the angle is formed, so large spans lose no accuracy.
std::complex<double> twiddle(int64_t m, int64_t e);

// The r x r DFT matrix entry w_r^{a f}.
inline std::complex<double> dft_entry(int r, int64_t a, int64_t f) { return twiddle(r, a * f); }

}  // namespace ffc::core
