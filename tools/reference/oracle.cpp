#include "oracle.hpp"

#ifdef FFC_REFERENCE_WITH_FFTW
#include <fftw3.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "fft64.hpp"

namespace ffc::reference {
namespace {

using cd = std::complex<double>;

// The float64 real transform of length N under the FFT convolutions below: forward(in, count, out)
// is the r2c of `count` values zero-padded to N (N / 2 + 1 bins into `out`), inverse(in) the
// unnormalized c2r of N / 2 + 1 bins into real() (N values).

// Our own float64 FFT (fft64.hpp).
class OwnTransform {
 public:
  explicit OwnTransform(int64_t n) : fft_(n), real_(static_cast<size_t>(n)) {}
  void forward(const double* in, int64_t count, cd* out) { fft_.r2c(in, count, out); }
  void inverse(const cd* in) { fft_.c2r(in, real_.data()); }
  double* real() { return real_.data(); }

 private:
  RealFft64 fft_;
  std::vector<double> real_;
};

#ifdef FFC_REFERENCE_WITH_FFTW
std::mutex& fftw_planner_mutex() {
  static std::mutex m;  // FFTW's planner is not thread-safe
  return m;
}

// FFTW in double precision (FFTW_ESTIMATE plans).
class FftwTransform {
 public:
  explicit FftwTransform(int64_t n) : n_(n), bins_(n / 2 + 1) {
    real_ = fftw_alloc_real(static_cast<size_t>(n));
    spec_ = fftw_alloc_complex(static_cast<size_t>(bins_));
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    forward_ = fftw_plan_dft_r2c_1d(static_cast<int>(n), real_, spec_, FFTW_ESTIMATE);
    inverse_ = fftw_plan_dft_c2r_1d(static_cast<int>(n), spec_, real_, FFTW_ESTIMATE);
  }
  ~FftwTransform() {
    {
      std::lock_guard<std::mutex> lock(fftw_planner_mutex());
      fftw_destroy_plan(forward_);
      fftw_destroy_plan(inverse_);
    }
    fftw_free(real_);
    fftw_free(spec_);
  }
  FftwTransform(const FftwTransform&) = delete;
  FftwTransform& operator=(const FftwTransform&) = delete;
  void forward(const double* in, int64_t count, cd* out) {
    std::fill(real_, real_ + n_, 0.0);
    std::copy_n(in, count, real_);
    fftw_execute(forward_);
    for (int64_t f = 0; f < bins_; ++f) out[f] = {spec_[f][0], spec_[f][1]};
  }
  void inverse(const cd* in) {
    for (int64_t f = 0; f < bins_; ++f) {
      spec_[f][0] = in[f].real();
      spec_[f][1] = in[f].imag();
    }
    fftw_execute(inverse_);
  }
  double* real() { return real_; }

 private:
  int64_t n_, bins_;
  double* real_;
  fftw_complex* spec_;
  fftw_plan forward_, inverse_;
};
using Float64Transform = FftwTransform;
#else
using Float64Transform = OwnTransform;
#endif

double gate_at(const std::vector<double>& gate, int64_t i) { return gate.empty() ? 1.0 : gate[i]; }

}  // namespace

std::vector<double> direct_conv(const ConvSpec& s, const std::vector<double>& u,
                                const std::vector<double>& k, const std::vector<double>& pre,
                                const std::vector<double>& post) {
  std::vector<double> y(static_cast<size_t>(s.batch * s.heads * s.length));
  std::vector<double> x(static_cast<size_t>(s.length));
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t h = 0; h < s.heads; ++h) {
      const int64_t row = (b * s.heads + h) * s.length;
      for (int64_t t = 0; t < s.length; ++t) x[t] = u[row + t] * gate_at(pre, row + t);
      const double* kh = k.data() + h * s.filter_length;
      for (int64_t t = 0; t < s.length; ++t) {
        double acc = 0.0;
        for (int64_t src = 0; src < s.length; ++src) {
          int64_t lag = (t - src) % s.fft_size;
          if (lag < 0) lag += s.fft_size;
          if (lag < s.filter_length) acc += x[src] * kh[lag];
        }
        y[row + t] = acc * gate_at(post, row + t);
      }
    }
  }
  return y;
}

namespace {

template <class Transform>
std::vector<double> transform_conv(const ConvSpec& s, const std::vector<double>& u,
                                   const std::vector<double>& k, const std::vector<double>& pre,
                                   const std::vector<double>& post,
                                   const std::function<void(int64_t, int64_t)>& progress) {
  const int64_t n = s.fft_size, bins = n / 2 + 1;
  std::vector<double> y(static_cast<size_t>(s.batch * s.heads * s.length));
  Transform transform(n);
  std::vector<cd> kf(static_cast<size_t>(s.heads * bins)), spec(static_cast<size_t>(bins));
  std::vector<double> x(static_cast<size_t>(s.length));
  for (int64_t h = 0; h < s.heads; ++h) {
    transform.forward(k.data() + h * s.filter_length, s.filter_length, kf.data() + h * bins);
  }
  const int64_t rows = s.batch * s.heads;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t h = r % s.heads, row = r * s.length;
    for (int64_t t = 0; t < s.length; ++t) x[t] = u[row + t] * gate_at(pre, row + t);
    transform.forward(x.data(), s.length, spec.data());
    for (int64_t f = 0; f < bins; ++f) spec[f] = spec[f] * kf[h * bins + f];
    transform.inverse(spec.data());
    const double* real = transform.real();
    for (int64_t t = 0; t < s.length; ++t) {
      y[row + t] = real[t] / static_cast<double>(n) * gate_at(post, row + t);
    }
    if (progress) progress(r + 1, rows);
  }
  return y;
}

}  // namespace

std::vector<double> reference_conv(const ConvSpec& s, const std::vector<double>& u,
                                   const std::vector<double>& k, const std::vector<double>& pre,
                                   const std::vector<double>& post) {
  const double direct_work = static_cast<double>(s.batch * s.heads) * static_cast<double>(s.length) *
                             static_cast<double>(s.length);
  return direct_work <= 2e7 ? direct_conv(s, u, k, pre, post) : fftw_conv(s, u, k, pre, post);
}

ConvGradients direct_backward(const ConvSpec& s, int64_t grad_filter_length,
                              const std::vector<double>& u, const std::vector<double>& k,
                              const std::vector<double>& pre, const std::vector<double>& post,
                              const std::vector<double>& dy) {
  const int64_t n = s.fft_size, len = s.length, lkg = grad_filter_length;
  const size_t elements = static_cast<size_t>(s.batch * s.heads * len);
  ConvGradients g;
  g.du.assign(elements, 0.0);
  g.dk.assign(static_cast<size_t>(s.heads * lkg), 0.0);
  if (!pre.empty()) g.dpregate.assign(elements, 0.0);
  if (!post.empty()) g.dpostgate.assign(elements, 0.0);
  std::vector<double> x(static_cast<size_t>(len)), dc(static_cast<size_t>(len));
  // k[(t - s) mod N], zero beyond Lk.
  auto filter = [&](const double* kh, int64_t lag) {
    lag %= n;
    if (lag < 0) lag += n;
    return lag < s.filter_length ? kh[lag] : 0.0;
  };
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t h = 0; h < s.heads; ++h) {
      const int64_t row = (b * s.heads + h) * len;
      const double* kh = k.data() + h * s.filter_length;
      for (int64_t t = 0; t < len; ++t) {
        x[t] = u[row + t] * gate_at(pre, row + t);
        dc[t] = dy[row + t] * gate_at(post, row + t);
      }
      for (int64_t t = 0; t < len; ++t) {
        double c = 0.0, dx = 0.0;
        for (int64_t m = 0; m < len; ++m) {
          c += x[m] * filter(kh, t - m);
          dx += dc[m] * filter(kh, m - t);
        }
        g.du[row + t] = dx * gate_at(pre, row + t);
        if (!pre.empty()) g.dpregate[row + t] = dx * u[row + t];
        if (!post.empty()) g.dpostgate[row + t] = c * dy[row + t];
      }
      for (int64_t j = 0; j < lkg; ++j) {
        double acc = 0.0;
        for (int64_t t = 0; t < len; ++t) {
          int64_t src = (t - j) % n;
          if (src < 0) src += n;
          if (src < len) acc += dc[t] * x[src];
        }
        g.dk[h * lkg + j] += acc;
      }
    }
  }
  return g;
}

namespace {

template <class Transform>
ConvGradients transform_backward(const ConvSpec& s, int64_t grad_filter_length,
                                 const std::vector<double>& u, const std::vector<double>& k,
                                 const std::vector<double>& pre, const std::vector<double>& post,
                                 const std::vector<double>& dy) {
  const int64_t n = s.fft_size, bins = n / 2 + 1, len = s.length, lkg = grad_filter_length;
  const size_t elements = static_cast<size_t>(s.batch * s.heads * len);
  ConvGradients g;
  g.du.assign(elements, 0.0);
  g.dk.assign(static_cast<size_t>(s.heads * lkg), 0.0);
  if (!pre.empty()) g.dpregate.assign(elements, 0.0);
  if (!post.empty()) g.dpostgate.assign(elements, 0.0);
  Transform transform(n);
  double* real = transform.real();
  // r2c of `in` (length <= N, zero-padded) into `out`.
  auto forward = [&](const double* in, int64_t count, std::vector<cd>& out) {
    out.resize(static_cast<size_t>(bins));
    transform.forward(in, count, out.data());
  };
  // real = c2r(in) / N.
  auto inverse_of = [&](const std::vector<cd>& in) {
    transform.inverse(in.data());
    for (int64_t t = 0; t < n; ++t) real[t] /= static_cast<double>(n);
  };
  std::vector<cd> kf, xf, dcf, prod(static_cast<size_t>(bins)), dkf;
  std::vector<double> x(static_cast<size_t>(len)), dc(static_cast<size_t>(len));
  for (int64_t h = 0; h < s.heads; ++h) {
    forward(k.data() + h * s.filter_length, s.filter_length, kf);
    dkf.assign(static_cast<size_t>(bins), cd(0.0, 0.0));
    for (int64_t b = 0; b < s.batch; ++b) {
      const int64_t row = (b * s.heads + h) * len;
      for (int64_t t = 0; t < len; ++t) {
        x[t] = u[row + t] * gate_at(pre, row + t);
        dc[t] = dy[row + t] * gate_at(post, row + t);
      }
      forward(x.data(), len, xf);
      forward(dc.data(), len, dcf);
      for (int64_t f = 0; f < bins; ++f) dkf[f] += dcf[f] * std::conj(xf[f]);
      if (!post.empty()) {
        for (int64_t f = 0; f < bins; ++f) prod[f] = xf[f] * kf[f];
        inverse_of(prod);
        for (int64_t t = 0; t < len; ++t) g.dpostgate[row + t] = real[t] * dy[row + t];
      }
      for (int64_t f = 0; f < bins; ++f) prod[f] = dcf[f] * std::conj(kf[f]);
      inverse_of(prod);
      for (int64_t t = 0; t < len; ++t) {
        g.du[row + t] = real[t] * gate_at(pre, row + t);
        if (!pre.empty()) g.dpregate[row + t] = real[t] * u[row + t];
      }
    }
    inverse_of(dkf);
    std::copy_n(real, lkg, g.dk.begin() + h * lkg);
  }
  return g;
}

}  // namespace

bool fftw_available() noexcept {
#ifdef FFC_REFERENCE_WITH_FFTW
  return true;
#else
  return false;
#endif
}

std::vector<double> fftw_conv(const ConvSpec& s, const std::vector<double>& u,
                              const std::vector<double>& k, const std::vector<double>& pre,
                              const std::vector<double>& post,
                              const std::function<void(int64_t, int64_t)>& progress) {
  return transform_conv<Float64Transform>(s, u, k, pre, post, progress);
}

std::vector<double> fft64_conv(const ConvSpec& s, const std::vector<double>& u,
                               const std::vector<double>& k, const std::vector<double>& pre,
                               const std::vector<double>& post,
                               const std::function<void(int64_t, int64_t)>& progress) {
  return transform_conv<OwnTransform>(s, u, k, pre, post, progress);
}

ConvGradients fftw_backward(const ConvSpec& s, int64_t grad_filter_length,
                            const std::vector<double>& u, const std::vector<double>& k,
                            const std::vector<double>& pre, const std::vector<double>& post,
                            const std::vector<double>& dy) {
  return transform_backward<Float64Transform>(s, grad_filter_length, u, k, pre, post, dy);
}

ConvGradients fft64_backward(const ConvSpec& s, int64_t grad_filter_length,
                             const std::vector<double>& u, const std::vector<double>& k,
                             const std::vector<double>& pre, const std::vector<double>& post,
                             const std::vector<double>& dy) {
  return transform_backward<OwnTransform>(s, grad_filter_length, u, k, pre, post, dy);
}

ConvGradients reference_backward(const ConvSpec& s, int64_t grad_filter_length,
                                 const std::vector<double>& u, const std::vector<double>& k,
                                 const std::vector<double>& pre, const std::vector<double>& post,
                                 const std::vector<double>& dy) {
  const double direct_work = static_cast<double>(s.batch * s.heads) * static_cast<double>(s.length) *
                             static_cast<double>(2 * s.length + grad_filter_length);
  return direct_work <= 2e7 ? direct_backward(s, grad_filter_length, u, k, pre, post, dy)
                            : fftw_backward(s, grad_filter_length, u, k, pre, post, dy);
}

double relative_l2(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw std::invalid_argument("relative_l2: size mismatch");
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return std::numeric_limits<double>::infinity();
    const double d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  if (den == 0.0) return num == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::sqrt(num / den);
}

double fftw_float_conv_seconds(const ConvSpec& s, const std::vector<float>& u,
                               const std::vector<float>& k, std::vector<float>& y, int threads,
                               int repeats) {
#ifndef FFC_REFERENCE_WITH_FFTW
  (void)s, (void)u, (void)k, (void)y, (void)threads, (void)repeats;
  return std::numeric_limits<double>::quiet_NaN();  // built without FFTW: not measured
#else
  const int64_t n = s.fft_size, bins = n / 2 + 1, rows = s.batch * s.heads;
  threads = std::max(1, threads);
  struct Worker {
    float* real;
    fftwf_complex* spec;
    fftwf_plan forward, inverse;
  };
  std::vector<Worker> workers(static_cast<size_t>(threads));
  std::vector<std::complex<float>> kf(static_cast<size_t>(s.heads * bins));
  {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    for (Worker& w : workers) {
      w.real = fftwf_alloc_real(static_cast<size_t>(n));
      w.spec = fftwf_alloc_complex(static_cast<size_t>(bins));
      w.forward = fftwf_plan_dft_r2c_1d(static_cast<int>(n), w.real, w.spec, FFTW_MEASURE);
      w.inverse = fftwf_plan_dft_c2r_1d(static_cast<int>(n), w.spec, w.real, FFTW_MEASURE);
    }
  }
  const float inv_n = 1.0f / static_cast<float>(n);
  auto run_once = [&] {
    // Filter transform (as the library does per call with a time-domain filter), then the rows.
    auto work = [&](int id) {
      Worker& w = workers[static_cast<size_t>(id)];
      for (int64_t h = id; h < s.heads; h += threads) {
        std::fill(w.real, w.real + n, 0.0f);
        std::copy_n(k.data() + h * s.filter_length, s.filter_length, w.real);
        fftwf_execute(w.forward);
        for (int64_t f = 0; f < bins; ++f) kf[h * bins + f] = {w.spec[f][0] * inv_n, w.spec[f][1] * inv_n};
      }
    };
    auto rows_work = [&](int id) {
      Worker& w = workers[static_cast<size_t>(id)];
      for (int64_t r = id; r < rows; r += threads) {
        const int64_t h = r % s.heads;
        std::fill(w.real + s.length, w.real + n, 0.0f);
        std::copy_n(u.data() + r * s.length, s.length, w.real);
        fftwf_execute(w.forward);
        for (int64_t f = 0; f < bins; ++f) {
          const std::complex<float> z = std::complex<float>(w.spec[f][0], w.spec[f][1]) * kf[h * bins + f];
          w.spec[f][0] = z.real();
          w.spec[f][1] = z.imag();
        }
        fftwf_execute(w.inverse);
        std::copy_n(w.real, s.length, y.data() + r * s.length);
      }
    };
    std::vector<std::thread> pool;
    for (int id = 1; id < threads; ++id) pool.emplace_back(work, id);
    work(0);
    for (auto& t : pool) t.join();
    pool.clear();
    for (int id = 1; id < threads; ++id) pool.emplace_back(rows_work, id);
    rows_work(0);
    for (auto& t : pool) t.join();
  };
  std::vector<double> times;
  run_once();  // warm-up
  for (int i = 0; i < std::max(1, repeats); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run_once();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    for (Worker& w : workers) {
      fftwf_destroy_plan(w.forward);
      fftwf_destroy_plan(w.inverse);
      fftwf_free(w.real);
      fftwf_free(w.spec);
    }
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
#endif
}

}  // namespace ffc::reference
