// CPU execution of the Monarch factorization (core/factorization.hpp): the same stages, twiddles
// and digit-reversed spectrum order as the GPU kernels, in T = float or double.
//
// Data are split planes (re[N], im[N]) transformed in place. Each stage runs its small radix-r DFTs
// on groups of kLanes columns at once (the lanes are independent DFTs, so every arithmetic loop
// vectorizes); power-of-two radices use a radix-2 codelet, other radices (future mixed-radix sizes)
// a direct O(r^2) DFT.
//
//   forward (decimation in frequency), stage s = 0 .. S-1, for every block and column m:
//     x[f * stride + m] = w_span^{f m} * sum_a w_r^{a f} x[a * stride + m]
//   inverse (decimation in time), stage s = S-1 .. 0:
//     x[a * stride + m] = sum_f w_r^{-a f} (w_span^{-f m} x[f * stride + m])
//
// The inverse is unnormalized: inverse(forward(x)) = N x.
#pragma once

#include <algorithm>
#include <complex>
#include <cstdint>
#include <vector>

#include "core/factorization.hpp"

namespace ffc::cpu {

template <typename T>
class FftEngine {
 public:
  static constexpr int kLanes = 8;
  static constexpr int kMaxRadix = 64;

  explicit FftEngine(const core::Factorization& factorization) : size_(factorization.size()) {
    for (const core::Stage& s : factorization.stages()) stages_.push_back(make_stage(s));
  }

  int64_t size() const { return size_; }

  void forward(T* re, T* im) const {
    for (const StageData& s : stages_) run_stage<false>(s, re, im);
  }

  void inverse(T* re, T* im) const {
    for (auto it = stages_.rbegin(); it != stages_.rend(); ++it) run_stage<true>(*it, re, im);
  }

 private:
  struct StageData {
    int radix = 0;
    int64_t span = 0;
    int64_t stride = 0;
    bool power_of_two = false;
    std::vector<int> bit_reversed;     // codelet output slot of frequency f (power-of-two radix)
    std::vector<T> codelet_re, codelet_im;  // w_r^j, j < r: codelet twiddles / direct DFT matrix row
    std::vector<T> tw_re, tw_im;       // w_span^{f m}, [f][m], f < r, m < stride
  };

  static StageData make_stage(const core::Stage& s) {
    StageData d;
    d.radix = s.radix;
    d.span = s.span;
    d.stride = s.stride;
    d.power_of_two = (s.radix & (s.radix - 1)) == 0;
    int bits = 0;
    while ((1 << bits) < s.radix) ++bits;
    d.bit_reversed.resize(s.radix);
    for (int f = 0; f < s.radix; ++f) {
      int r = 0;
      for (int b = 0; b < bits; ++b) r |= ((f >> b) & 1) << (bits - 1 - b);
      d.bit_reversed[f] = d.power_of_two ? r : f;
    }
    for (int j = 0; j < s.radix; ++j) {
      const std::complex<double> w = core::twiddle(s.radix, j);
      d.codelet_re.push_back(static_cast<T>(w.real()));
      d.codelet_im.push_back(static_cast<T>(w.imag()));
    }
    d.tw_re.resize(static_cast<size_t>(s.span));
    d.tw_im.resize(static_cast<size_t>(s.span));
    for (int f = 0; f < s.radix; ++f) {
      for (int64_t m = 0; m < s.stride; ++m) {
        const std::complex<double> w = core::twiddle(s.span, f * m);
        d.tw_re[f * s.stride + m] = static_cast<T>(w.real());
        d.tw_im[f * s.stride + m] = static_cast<T>(w.imag());
      }
    }
    return d;
  }

  // In-place r-point DFT of kLanes columns, x[a][lane]. Power-of-two radices: radix-2 decimation in
  // frequency, output in bit-reversed slots. kInverse conjugates the twiddles.
  template <bool kInverse>
  static void codelet_pow2(const StageData& s, T (*xr)[kLanes], T (*xi)[kLanes]) {
    const int r = s.radix;
    for (int len = r; len >= 2; len >>= 1) {
      const int half = len >> 1;
      const int step = r / len;
      for (int start = 0; start < r; start += len) {
        for (int j = 0; j < half; ++j) {
          const T cr = s.codelet_re[j * step];
          const T ci = kInverse ? -s.codelet_im[j * step] : s.codelet_im[j * step];
          T* ar = xr[start + j];
          T* ai = xi[start + j];
          T* br = xr[start + j + half];
          T* bi = xi[start + j + half];
          for (int v = 0; v < kLanes; ++v) {
            const T dr = ar[v] - br[v], di = ai[v] - bi[v];
            ar[v] += br[v];
            ai[v] += bi[v];
            br[v] = dr * cr - di * ci;
            bi[v] = dr * ci + di * cr;
          }
        }
      }
    }
  }

  // Direct DFT for other radices: y[f] = sum_a w_r^{+-a f} x[a] (natural output order).
  template <bool kInverse>
  static void codelet_direct(const StageData& s, T (*xr)[kLanes], T (*xi)[kLanes]) {
    const int r = s.radix;
    T yr[kMaxRadix][kLanes], yi[kMaxRadix][kLanes];
    for (int f = 0; f < r; ++f) {
      for (int v = 0; v < kLanes; ++v) yr[f][v] = yi[f][v] = T(0);
      for (int a = 0; a < r; ++a) {
        const int j = static_cast<int>((int64_t{a} * f) % r);
        const T cr = s.codelet_re[j];
        const T ci = kInverse ? -s.codelet_im[j] : s.codelet_im[j];
        for (int v = 0; v < kLanes; ++v) {
          yr[f][v] += xr[a][v] * cr - xi[a][v] * ci;
          yi[f][v] += xr[a][v] * ci + xi[a][v] * cr;
        }
      }
    }
    for (int f = 0; f < r; ++f) {
      std::copy(yr[f], yr[f] + kLanes, xr[f]);
      std::copy(yi[f], yi[f] + kLanes, xi[f]);
    }
  }

  // One stage over all blocks. Columns c in [0, N / r) are processed kLanes at a time; column c is
  // small DFT number m = c % stride of block c / stride, whose inputs sit at base(c) + a * stride.
  template <bool kInverse>
  void run_stage(const StageData& s, T* re, T* im) const {
    const int r = s.radix;
    const int64_t columns = size_ / r;
    const bool twiddled = s.stride > 1;
    T xr[kMaxRadix][kLanes], xi[kMaxRadix][kLanes];
    int64_t base[kLanes], m_of[kLanes];
    for (int64_t c0 = 0; c0 < columns; c0 += kLanes) {
      const int lanes = static_cast<int>(std::min<int64_t>(kLanes, columns - c0));
      for (int v = 0; v < kLanes; ++v) {
        const int64_t c = c0 + std::min(v, lanes - 1);
        m_of[v] = c % s.stride;
        base[v] = (c / s.stride) * s.span + m_of[v];
      }
      // Gather: x[slot][lane]. The inverse applies the conjugate stage twiddle on the way in.
      for (int a = 0; a < r; ++a) {
        for (int v = 0; v < kLanes; ++v) {
          const int64_t at = base[v] + a * s.stride;
          T vr = re[at], vi = im[at];
          if (kInverse && twiddled) {
            const T wr = s.tw_re[a * s.stride + m_of[v]], wi = -s.tw_im[a * s.stride + m_of[v]];
            const T tr = vr * wr - vi * wi;
            vi = vr * wi + vi * wr;
            vr = tr;
          }
          xr[a][v] = vr;
          xi[a][v] = vi;
        }
      }
      if (s.power_of_two) {
        codelet_pow2<kInverse>(s, xr, xi);
      } else {
        codelet_direct<kInverse>(s, xr, xi);
      }
      // Scatter: output index f of the DFT goes to base + f * stride; the forward applies the
      // stage twiddle on the way out.
      for (int f = 0; f < r; ++f) {
        const int slot = s.bit_reversed[f];
        for (int v = 0; v < lanes; ++v) {
          const int64_t at = base[v] + f * s.stride;
          T vr = xr[slot][v], vi = xi[slot][v];
          if (!kInverse && twiddled) {
            const T wr = s.tw_re[f * s.stride + m_of[v]], wi = s.tw_im[f * s.stride + m_of[v]];
            const T tr = vr * wr - vi * wi;
            vi = vr * wi + vi * wr;
            vr = tr;
          }
          re[at] = vr;
          im[at] = vi;
        }
      }
    }
  }

  int64_t size_ = 0;
  std::vector<StageData> stages_;
};

}  // namespace ffc::cpu
