// Independent float64 references for the convolution (they share no code with the library's
// transforms): a direct O(N L) sum for small sizes and a double-precision FFT convolution, through
// FFTW where the build has it (ffc_reference compiled with FFC_REFERENCE_WITH_FFTW, as the tests
// require), else through the reference's own float64 FFT (fft64.hpp, ~1e-16 relative like FFTW's).
//
//   y[b, h, t] = post[b, h, t] * sum_{s < L} pre[b, h, s] u[b, h, s] k[h, (t - s) mod N],  t < L
//
// with k zero beyond Lk. Inputs are the exact values the library sees (already rounded to their
// dtype), as doubles.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace ffc::reference {

struct ConvSpec {
  int64_t batch = 1, heads = 1, length = 0, filter_length = 0, fft_size = 0;
};

// pre/post may be empty (no gate). Returns y as (B, H, L) doubles.
std::vector<double> direct_conv(const ConvSpec& spec, const std::vector<double>& u,
                                const std::vector<double>& k, const std::vector<double>& pre,
                                const std::vector<double>& post);

// Whether this build's float64 FFT convolutions run on FFTW (else on fft64.hpp) and
// fftw_float_conv_seconds measures anything.
bool fftw_available() noexcept;

// Same through a float64 FFT: FFTW's where available, else fft64_conv's (the name is historical);
// `progress(done_rows, rows)` is called after each row if set.
std::vector<double> fftw_conv(const ConvSpec& spec, const std::vector<double>& u,
                              const std::vector<double>& k, const std::vector<double>& pre,
                              const std::vector<double>& post,
                              const std::function<void(int64_t, int64_t)>& progress = {});

// Same through the reference's own float64 FFT (fft64.hpp), in every build.
std::vector<double> fft64_conv(const ConvSpec& spec, const std::vector<double>& u,
                               const std::vector<double>& k, const std::vector<double>& pre,
                               const std::vector<double>& post,
                               const std::function<void(int64_t, int64_t)>& progress = {});

// direct_conv for small problems, fftw_conv otherwise.
std::vector<double> reference_conv(const ConvSpec& spec, const std::vector<double>& u,
                                   const std::vector<double>& k, const std::vector<double>& pre,
                                   const std::vector<double>& post);

// Gradients of y for an upstream gradient dy (B, H, L), in float64 (docs/numerics.md, "Backward"):
// with x = pre * u (zero beyond L), c = conv_N(x, k) and dc = post * dy (zero beyond L),
//   dpostgate = dy * c[:L],  dx[s] = sum_{t < L} dc[t] k[(t - s) mod N],
//   du = pre * dx[:L],  dpregate = u * dx[:L],
//   dk[h, j] = sum_b sum_{t < L} dc[b, h, t] x[b, h, (t - j) mod N],  j < grad_filter_length.
struct ConvGradients {
  std::vector<double> du;         // (B, H, L)
  std::vector<double> dk;         // (H, grad_filter_length)
  std::vector<double> dpregate;   // (B, H, L); empty without pre
  std::vector<double> dpostgate;  // (B, H, L); empty without post
};

// Direct O(L^2 + L Lk_grad) sums per row.
ConvGradients direct_backward(const ConvSpec& spec, int64_t grad_filter_length,
                              const std::vector<double>& u, const std::vector<double>& k,
                              const std::vector<double>& pre, const std::vector<double>& post,
                              const std::vector<double>& dy);

// The same through float64 real transforms of length N: FFTW's where available, else
// fft64_backward's.
ConvGradients fftw_backward(const ConvSpec& spec, int64_t grad_filter_length,
                            const std::vector<double>& u, const std::vector<double>& k,
                            const std::vector<double>& pre, const std::vector<double>& post,
                            const std::vector<double>& dy);

// The same through the reference's own float64 FFT (fft64.hpp), in every build.
ConvGradients fft64_backward(const ConvSpec& spec, int64_t grad_filter_length,
                             const std::vector<double>& u, const std::vector<double>& k,
                             const std::vector<double>& pre, const std::vector<double>& post,
                             const std::vector<double>& dy);

// direct_backward for small problems, fftw_backward otherwise.
ConvGradients reference_backward(const ConvSpec& spec, int64_t grad_filter_length,
                                 const std::vector<double>& u, const std::vector<double>& k,
                                 const std::vector<double>& pre, const std::vector<double>& post,
                                 const std::vector<double>& dy);

// ||a - b|| / ||b|| over all elements (b is the reference). NaN anywhere gives +inf.
double relative_l2(const std::vector<double>& a, const std::vector<double>& b);

// A plain float32 FFTW convolution of the same problem (r2c, multiply, c2r), for timing
// comparisons; returns seconds per call (median of `repeats`) and writes y. Without FFTW
// (!fftw_available()) it measures nothing: it returns a quiet NaN (not available) and leaves y
// as it is.
double fftw_float_conv_seconds(const ConvSpec& spec, const std::vector<float>& u,
                               const std::vector<float>& k, std::vector<float>& y, int threads,
                               int repeats);

}  // namespace ffc::reference
