// The FFT stage loops (see stage_kernels.hpp and, for the math, fft_engine.hpp), compiled once per
// instruction set: the including file defines FFC_STAGE_KERNELS_NAMESPACE (baseline, avx2) and
// gets that namespace's stage_kernels() table. Included by those files only, once each.
//
// Each stage runs its small radix-r DFTs on groups of kStageLanes columns at once (the lanes are
// independent DFTs, so every arithmetic loop vectorizes); power-of-two radices use a radix-2
// codelet, other radices a direct O(r^2) DFT. No library templates here (see stage_kernels.hpp).
#ifndef FFC_STAGE_KERNELS_NAMESPACE
#error "define FFC_STAGE_KERNELS_NAMESPACE (the instruction set's namespace) before including this file"
#endif

#include "cpu/stage_kernels.hpp"

namespace ffc::cpu::FFC_STAGE_KERNELS_NAMESPACE {
namespace {

constexpr int kLanes = kStageLanes;

template <typename T>
using Rows = T (*)[kLanes];  // x[a][lane]: r rows of kLanes columns

constexpr int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// In-place R-point DFT of kLanes columns for a power-of-two R: radix-2 decimation in frequency with
// the loops fully unrolled; the output lands in bit-reversed slots. kInverse conjugates the twiddles.
template <int R, bool kInverse, typename T>
void codelet_pow2(const StageView<T>& s, Rows<T> xr, Rows<T> xi) {
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
template <bool kInverse, typename T>
void codelet_direct(const StageView<T>& s, Rows<T> xr, Rows<T> xi) {
  const int r = s.radix;
  T yr[kMaxStageRadix][kLanes], yi[kMaxStageRadix][kLanes];
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
    for (int v = 0; v < kLanes; ++v) {
      xr[f][v] = yr[f][v];
      xi[f][v] = yi[f][v];
    }
  }
}

// The radix-r DFT of one group; R is the radix when known at compile time (0 = read it from s).
template <int R, bool kInverse, typename T>
void codelet(const StageView<T>& s, Rows<T> xr, Rows<T> xi) {
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

// Column c in [0, N / r) is small DFT number m = c % stride of block c / stride, whose inputs sit at
// base(c) + a * stride; group g holds columns g * kLanes .. g * kLanes + kLanes - 1, one per lane.
// The three group shapes follow; each loads the group into (xr, xi), runs the codelet, stores.

// stride % kLanes == 0: the lanes are columns m0 .. m0 + kLanes - 1 of one block (contiguous).
template <int R, bool kInverse, typename T>
void contiguous_group(const StageView<T>& s, T* re, T* im, int64_t g, Rows<T> xr, Rows<T> xi) {
  const int r = R > 0 ? R : s.radix;
  const int64_t stride = s.stride;
  const int64_t c0 = g * kLanes;
  const int64_t m0 = c0 % stride;
  T* pr = re + (c0 / stride) * s.span + m0;
  T* pi = im + (c0 / stride) * s.span + m0;
  for (int a = 0; a < r; ++a) {
    const T* lr = pr + a * stride;
    const T* li = pi + a * stride;
    if (kInverse && stride > 1) {
      const T* wr = s.tw_re + a * stride + m0;
      const T* wi = s.tw_im + a * stride + m0;
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
      const T* wr = s.tw_re + f * stride + m0;
      const T* wi = s.tw_im + f * stride + m0;
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
}

// stride == 1 (the last stage): every small DFT is r contiguous elements without a stage twiddle;
// lane v takes block c0 + v (a transposition through the local buffer).
template <int R, bool kInverse, typename T>
void last_stage_group(const StageView<T>& s, T* re, T* im, int64_t g, Rows<T> xr, Rows<T> xi) {
  const int r = R > 0 ? R : s.radix;
  const int64_t c0 = g * kLanes;
  const int lanes = static_cast<int>(min64(kLanes, s.size / r - c0));
  T* pr = re + c0 * r;
  T* pi = im + c0 * r;
  for (int v = 0; v < kLanes; ++v) {
    const int lane = v < lanes ? v : lanes - 1;
    for (int a = 0; a < r; ++a) {
      xr[a][v] = pr[lane * r + a];
      xi[a][v] = pi[lane * r + a];
    }
  }
  codelet<R, kInverse>(s, xr, xi);
  for (int v = 0; v < lanes; ++v) {
    for (int f = 0; f < r; ++f) {
      pr[v * r + f] = xr[s.bit_reversed[f]][v];
      pi[v * r + f] = xi[s.bit_reversed[f]][v];
    }
  }
}

// Other short strides: the lanes span several blocks (gathered, twiddled one by one).
template <int R, bool kInverse, typename T>
void strided_group(const StageView<T>& s, T* re, T* im, int64_t g, Rows<T> xr, Rows<T> xi) {
  const int r = R > 0 ? R : s.radix;
  const int64_t stride = s.stride;
  const int64_t c0 = g * kLanes;
  const int lanes = static_cast<int>(min64(kLanes, s.size / r - c0));
  int64_t base[kLanes], m_of[kLanes];
  for (int v = 0; v < kLanes; ++v) {
    const int64_t c = c0 + (v < lanes ? v : lanes - 1);
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

// Column groups [begin, end) of one stage, through one local buffer.
template <int R, bool kInverse, typename T>
void run_groups(const StageView<T>& s, T* re, T* im, int64_t begin, int64_t end) {
  alignas(64) T xr[R > 0 ? R : kMaxStageRadix][kLanes];
  alignas(64) T xi[R > 0 ? R : kMaxStageRadix][kLanes];
  if (s.stride % kLanes == 0) {
    for (int64_t g = begin; g < end; ++g) contiguous_group<R, kInverse>(s, re, im, g, xr, xi);
  } else if (s.stride == 1) {
    for (int64_t g = begin; g < end; ++g) last_stage_group<R, kInverse>(s, re, im, g, xr, xi);
  } else {
    for (int64_t g = begin; g < end; ++g) strided_group<R, kInverse>(s, re, im, g, xr, xi);
  }
}

template <bool kInverse, typename T>
void run_radix(const StageView<T>& s, T* re, T* im, int64_t begin, int64_t end) {
  switch (s.radix) {
    case 8: run_groups<8, kInverse>(s, re, im, begin, end); break;
    case 16: run_groups<16, kInverse>(s, re, im, begin, end); break;
    case 32: run_groups<32, kInverse>(s, re, im, begin, end); break;
    default: run_groups<0, kInverse>(s, re, im, begin, end); break;
  }
}

template <typename T>
void run_stage(const StageView<T>& s, bool inverse, T* re, T* im, int64_t begin, int64_t end) {
  if (inverse) {
    run_radix<true>(s, re, im, begin, end);
  } else {
    run_radix<false>(s, re, im, begin, end);
  }
}

constexpr StageKernels kKernels{&run_stage<float>, &run_stage<double>};

}  // namespace

const StageKernels* stage_kernels() { return &kKernels; }

}  // namespace ffc::cpu::FFC_STAGE_KERNELS_NAMESPACE
