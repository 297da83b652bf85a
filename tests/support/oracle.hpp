// Independent float64 references for the convolution (they share no code with the library's
// transforms): a direct O(N L) sum for small sizes and an FFTW double-precision FFT convolution.
//
//   y[b, h, t] = post[b, h, t] * sum_{s < L} pre[b, h, s] u[b, h, s] k[h, (t - s) mod N],  t < L
//
// with k zero beyond Lk. Inputs are the exact values the library sees (already rounded to their
// dtype), as doubles.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace ffc::testing {

struct ConvSpec {
  int64_t batch = 1, heads = 1, length = 0, filter_length = 0, fft_size = 0;
};

// pre/post may be empty (no gate). Returns y as (B, H, L) doubles.
std::vector<double> direct_conv(const ConvSpec& spec, const std::vector<double>& u,
                                const std::vector<double>& k, const std::vector<double>& pre,
                                const std::vector<double>& post);

// Same with FFTW in double precision; `progress(done_rows, rows)` is called after each row if set.
std::vector<double> fftw_conv(const ConvSpec& spec, const std::vector<double>& u,
                              const std::vector<double>& k, const std::vector<double>& pre,
                              const std::vector<double>& post,
                              const std::function<void(int64_t, int64_t)>& progress = {});

// direct_conv for small problems, fftw_conv otherwise.
std::vector<double> reference_conv(const ConvSpec& spec, const std::vector<double>& u,
                                   const std::vector<double>& k, const std::vector<double>& pre,
                                   const std::vector<double>& post);

// ||a - b|| / ||b|| over all elements (b is the reference). NaN anywhere gives +inf.
double relative_l2(const std::vector<double>& a, const std::vector<double>& b);

// A plain float32 FFTW convolution of the same problem (r2c, multiply, c2r), for timing
// comparisons; returns seconds per call (median of `repeats`) and writes y.
double fftw_float_conv_seconds(const ConvSpec& spec, const std::vector<float>& u,
                               const std::vector<float>& k, std::vector<float>& y, int threads,
                               int repeats);

}  // namespace ffc::testing
