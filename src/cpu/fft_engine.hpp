// CPU execution of the Monarch factorization (core/factorization.hpp): the same stages, twiddles
// and digit-reversed spectrum order as the GPU kernels, in T = float or double.
//
// Data are split planes (re[N], im[N]) transformed in place. Each stage runs its small radix-r DFTs
// on groups of kLanes columns at once (the lanes are independent DFTs, so every arithmetic loop
// vectorizes); power-of-two radices use a radix-2 codelet, other radices (future mixed-radix sizes)
// a direct O(r^2) DFT. The engine holds the tables; the loops are in stage_kernels_impl.hpp,
// compiled per instruction set, and the engine runs the copy of the Isa it was made with
// (isa.hpp). FMA contraction makes the AVX2 copy differ from the baseline in the last bits; each is
// deterministic.
//
//   forward (decimation in frequency), stage s = 0 .. S-1, for every block and column m:
//     x[f * stride + m] = w_span^{f m} * sum_a w_r^{a f} x[a * stride + m]
//   inverse (decimation in time), stage s = S-1 .. 0:
//     x[a * stride + m] = sum_f w_r^{-a f} (w_span^{-f m} x[f * stride + m])
//
// The inverse is unnormalized: inverse(forward(x)) = N x.
#pragma once

#include <complex>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/factorization.hpp"
#include "cpu/isa.hpp"
#include "cpu/stage_kernels.hpp"

namespace ffc::cpu {

template <typename T>
class FftEngine {
 public:
  static constexpr int kLanes = kStageLanes;

  explicit FftEngine(const core::Factorization& factorization, Isa isa = Isa::kBaseline)
      : size_(factorization.size()), isa_(isa), run_stage_(kernel(stage_kernels(isa))) {
    for (const core::Stage& s : factorization.stages()) stages_.push_back(make_stage(s));
  }

  int64_t size() const { return size_; }
  Isa isa() const { return isa_; }

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
    run_stage_(view(stages_[s]), inverse, re, im, begin, end);
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

  static StageFn<T> kernel(const StageKernels& kernels) {
    if constexpr (std::is_same_v<T, float>) {
      return kernels.f32;
    } else {
      static_assert(std::is_same_v<T, double>, "FftEngine<T>: T is float or double");
      return kernels.f64;
    }
  }

  StageView<T> view(const StageData& d) const {
    return {size_, d.radix, d.span, d.stride, d.power_of_two, d.bit_reversed.data(), d.codelet_re.data(),
            d.codelet_im.data(), d.tw_re.data(), d.tw_im.data()};
  }

  int64_t size_ = 0;
  Isa isa_;
  StageFn<T> run_stage_;
  std::vector<StageData> stages_;
};

}  // namespace ffc::cpu
