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
  static constexpr int kLanes = 16;  // one 64-byte line of floats per row per visit
  static constexpr int kMaxRadix = 64;

  explicit FftEngine(const core::Factorization& factorization) : size_(factorization.size()) {
    for (const core::Stage& s : factorization.stages()) stages_.push_back(make_stage(s));
  }

  int64_t size() const { return size_; }

  void forward(T* re, T* im) const {
    for (size_t s = 0; s < stages_.size(); ++s) run_stage(s, false, re, im, 0, groups(s));
  }

  void inverse(T* re, T* im) const {
    for (size_t s = stages_.size(); s-- > 0;) run_stage(s, true, re, im, 0, groups(s));
  }

  // Stage-level access, for splitting one transform across threads: stage s consists of groups(s)
  // independent column groups; run_stage processes groups [begin, end). A transform is the stages
  // in order (forward: 0 .. S-1; inverse: S-1 .. 0), each complete before the next starts.
  size_t num_stages() const { return stages_.size(); }
  int64_t groups(size_t s) const { return (size_ / stages_[s].radix + kLanes - 1) / kLanes; }
  void run_stage(size_t s, bool inverse, T* re, T* im, int64_t begin, int64_t end) const {
    const StageData& d = stages_[s];
    if (inverse) {
      dispatch<true>(d, re, im, begin, end);
    } else {
      dispatch<false>(d, re, im, begin, end);
    }
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

  // In-place R-point DFT of kLanes columns, x[a][lane], for a power-of-two R: radix-2 decimation in
  // frequency with the loops fully unrolled; the output lands in bit-reversed slots. kInverse
  // conjugates the twiddles.
  template <int R, bool kInverse>
  static void codelet_pow2(const StageData& s, T (*xr)[kLanes], T (*xi)[kLanes]) {
#pragma GCC unroll 8
    for (int len = R; len >= 2; len >>= 1) {
      const int half = len >> 1;
      const int step = R / len;
#pragma GCC unroll 32
      for (int start = 0; start < R; start += len) {
#pragma GCC unroll 16
        for (int j = 0; j < half; ++j) {
          const T cr = s.codelet_re[j * step];
          const T ci = kInverse ? -s.codelet_im[j * step] : s.codelet_im[j * step];
          T* ar = xr[start + j];
          T* ai = xi[start + j];
          T* br = xr[start + j + half];
          T* bi = xi[start + j + half];
          if (j == 0) {  // w = 1
            for (int v = 0; v < kLanes; ++v) {
              const T dr = ar[v] - br[v], di = ai[v] - bi[v];
              ar[v] += br[v];
              ai[v] += bi[v];
              br[v] = dr;
              bi[v] = di;
            }
          } else {
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

  template <int R, bool kInverse>
  static void codelet(const StageData& s, T (*xr)[kLanes], T (*xi)[kLanes]) {
    if constexpr (R > 0) {
      codelet_pow2<R, kInverse>(s, xr, xi);
    } else if (s.power_of_two) {
      switch (s.radix) {  // radices outside the unrolled set
        case 2: codelet_pow2<2, kInverse>(s, xr, xi); break;
        case 4: codelet_pow2<4, kInverse>(s, xr, xi); break;
        case 64: codelet_pow2<64, kInverse>(s, xr, xi); break;
        default: codelet_direct<kInverse>(s, xr, xi); break;
      }
    } else {
      codelet_direct<kInverse>(s, xr, xi);
    }
  }

  template <bool kInverse>
  void dispatch(const StageData& s, T* re, T* im, int64_t begin, int64_t end) const {
    switch (s.radix) {
      case 8: run_groups<8, kInverse>(s, re, im, begin, end); break;
      case 16: run_groups<16, kInverse>(s, re, im, begin, end); break;
      case 32: run_groups<32, kInverse>(s, re, im, begin, end); break;
      default: run_groups<0, kInverse>(s, re, im, begin, end); break;
    }
  }

  // Column groups [begin, end) of one stage. Column c in [0, N / r) is small DFT number
  // m = c % stride of block c / stride, whose inputs sit at base(c) + a * stride; group g holds
  // columns g * kLanes .. g * kLanes + kLanes - 1, one per lane. R is the radix when known at
  // compile time (0 = read it from the stage).
  template <int R, bool kInverse>
  void run_groups(const StageData& s, T* re, T* im, int64_t begin, int64_t end) const {
    const int r = R > 0 ? R : s.radix;
    const int64_t stride = s.stride;
    const int64_t columns = size_ / r;
    alignas(64) T xr[R > 0 ? R : kMaxRadix][kLanes];
    alignas(64) T xi[R > 0 ? R : kMaxRadix][kLanes];
    for (int64_t g = begin; g < end; ++g) {
      const int64_t c0 = g * kLanes;
      const int lanes = static_cast<int>(std::min<int64_t>(kLanes, columns - c0));
      if (stride % kLanes == 0) {
        // Contiguous lanes: columns m0 .. m0 + kLanes - 1 of one block.
        const int64_t m0 = c0 % stride;
        T* pr = re + (c0 / stride) * s.span + m0;
        T* pi = im + (c0 / stride) * s.span + m0;
        for (int a = 0; a < r; ++a) {
          const T* lr = pr + a * stride;
          const T* li = pi + a * stride;
          if (kInverse && stride > 1) {
            const T* wr = s.tw_re.data() + a * stride + m0;
            const T* wi = s.tw_im.data() + a * stride + m0;
            for (int v = 0; v < kLanes; ++v) {
              xr[a][v] = lr[v] * wr[v] + li[v] * wi[v];  // times conj(w)
              xi[a][v] = li[v] * wr[v] - lr[v] * wi[v];
            }
          } else {
            for (int v = 0; v < kLanes; ++v) {
              xr[a][v] = lr[v];
              xi[a][v] = li[v];
            }
          }
        }
        codelet<R, kInverse>(s, xr, xi);
        for (int f = 0; f < r; ++f) {
          const T* sr = xr[s.bit_reversed[f]];
          const T* si = xi[s.bit_reversed[f]];
          T* orr = pr + f * stride;
          T* oi = pi + f * stride;
          if (!kInverse && stride > 1) {
            const T* wr = s.tw_re.data() + f * stride + m0;
            const T* wi = s.tw_im.data() + f * stride + m0;
            for (int v = 0; v < kLanes; ++v) {
              orr[v] = sr[v] * wr[v] - si[v] * wi[v];
              oi[v] = sr[v] * wi[v] + si[v] * wr[v];
            }
          } else {
            for (int v = 0; v < kLanes; ++v) {
              orr[v] = sr[v];
              oi[v] = si[v];
            }
          }
        }
      } else if (stride == 1) {
        // The last stage: every small DFT is r contiguous elements and has no stage twiddle; lane v
        // takes block c0 + v (a transposition through the local buffer).
        const T* pr = re + c0 * r;
        const T* pi = im + c0 * r;
        for (int v = 0; v < kLanes; ++v) {
          const int lane = std::min(v, lanes - 1);
          for (int a = 0; a < r; ++a) {
            xr[a][v] = pr[lane * r + a];
            xi[a][v] = pi[lane * r + a];
          }
        }
        codelet<R, kInverse>(s, xr, xi);
        T* qr = re + c0 * r;
        T* qi = im + c0 * r;
        for (int v = 0; v < lanes; ++v) {
          for (int f = 0; f < r; ++f) {
            qr[v * r + f] = xr[s.bit_reversed[f]][v];
            qi[v * r + f] = xi[s.bit_reversed[f]][v];
          }
        }
      } else {
        // Other short strides: lanes span several blocks.
        int64_t base[kLanes], m_of[kLanes];
        for (int v = 0; v < kLanes; ++v) {
          const int64_t c = c0 + std::min(v, lanes - 1);
          m_of[v] = c % stride;
          base[v] = (c / stride) * s.span + m_of[v];
        }
        for (int a = 0; a < r; ++a) {
          for (int v = 0; v < kLanes; ++v) {
            const int64_t at = base[v] + a * stride;
            T vr = re[at], vi = im[at];
            if (kInverse) {
              const T wr = s.tw_re[a * stride + m_of[v]], wi = -s.tw_im[a * stride + m_of[v]];
              const T tr = vr * wr - vi * wi;
              vi = vr * wi + vi * wr;
              vr = tr;
            }
            xr[a][v] = vr;
            xi[a][v] = vi;
          }
        }
        codelet<R, kInverse>(s, xr, xi);
        for (int f = 0; f < r; ++f) {
          const int slot = s.bit_reversed[f];
          for (int v = 0; v < lanes; ++v) {
            const int64_t at = base[v] + f * stride;
            T vr = xr[slot][v], vi = xi[slot][v];
            if (!kInverse) {
              const T wr = s.tw_re[f * stride + m_of[v]], wi = s.tw_im[f * stride + m_of[v]];
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
  }

  int64_t size_ = 0;
  std::vector<StageData> stages_;
};

}  // namespace ffc::cpu
