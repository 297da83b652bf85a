// A non-finite input stays where exact arithmetic puts it, on every backend: two batch rows share
// one complex transform, so without care a NaN in one row would spread to its partner. For a NaN
// (or inf) placed at each position of each row of a pair and of the lone row in turn, in each
// input, the outputs that depend on it are NaN (as torch.fft makes them: a transform spreads a NaN
// over its whole row) and every other output matches the float64 result of the clean inputs:
//
//   forward   u or pregate at (b, h, t): y row (b, h) NaN;  postgate: y[b, h, t];  k[h, j]: head h
//   backward  dy (b, h, t): du, dpregate rows, dpostgate[b, h, t], dk head h
//             u:           dpostgate row, dpregate[b, h, t], dk head h
//             pregate:     dpostgate row, du[b, h, t], dk head h
//             postgate:    du, dpregate rows, dk head h
//
// Every position is tried at the smallest size of each backend, a spread of positions above it.
// The CUDA cases skip where no GPU is present.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "backward_call.hpp"
#include "conv_case.hpp"
#include "device_memory.hpp"
#include "per_row.hpp"
#include "gpu_skip.hpp"

namespace ffc::testing {
using namespace ffc::reference;
namespace {

enum class Input { kU, kPre, kPost, kK, kDy };
const char* input_name(Input i) {
  switch (i) {
    case Input::kU: return "u";
    case Input::kPre: return "pregate";
    case Input::kPost: return "postgate";
    case Input::kK: return "k";
    case Input::kDy: return "dy";
  }
  return "?";
}

// Which elements of an output must be NaN: none, one element, one (b, h) row, or a head's rows.
struct Poisoned {
  enum Kind { kNone, kElement, kRow, kHead } kind = kNone;
  int64_t b = 0, h = 0, t = 0;
  bool covers(int64_t ob, int64_t oh, int64_t ot) const {
    switch (kind) {
      case kNone: return false;
      case kElement: return ob == b && oh == h && ot == t;
      case kRow: return ob == b && oh == h;
      case kHead: return oh == h;
    }
    return false;
  }
};

// Checks a (rows_b, H, len) output: NaN where `p` covers, and elsewhere within tol of the clean
// float64 result per row (relative to the row's norm). Returns false after the first failure.
bool expect_isolated(const std::vector<double>& got, const std::vector<double>& ref, int64_t heads, int64_t len,
                     const Poisoned& p, double tol, const std::string& what) {
  if (got.size() != ref.size()) {
    ADD_FAILURE() << what << ": size " << got.size() << " vs " << ref.size();
    return false;
  }
  const int64_t rows = static_cast<int64_t>(ref.size()) / len;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t b = r / heads, h = r % heads;
    double e2 = 0, r2 = 0;
    for (int64_t t = 0; t < len; ++t) {
      const double g = got[static_cast<size_t>(r * len + t)], e = ref[static_cast<size_t>(r * len + t)];
      if (p.covers(b, h, t)) {
        if (!std::isnan(g)) {
          ADD_FAILURE() << what << ": expected NaN at (" << b << ", " << h << ", " << t << "), got " << g;
          return false;
        }
        continue;
      }
      e2 += (g - e) * (g - e);
      r2 += e * e;
    }
    // NaN compares false: a NaN that leaked into this row fails here.
    if (!(std::sqrt(e2) <= tol * std::sqrt(r2) + 1e-30)) {
      ADD_FAILURE() << what << ": row (" << b << ", " << h << ") error " << std::sqrt(e2) << " > " << tol << " x "
                    << std::sqrt(r2) << " (NaN leaked or accuracy lost)";
      return false;
    }
  }
  return true;
}

using Param = BackendSize;

class NonFinite : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    backend_ = std::get<0>(GetParam());
    n_ = std::get<1>(GetParam());
    if (backend_ == Backend::kCuda) SKIP_WITHOUT_GPU();
    dtype_ = backend_ == Backend::kCuda ? DType::kF16 : DType::kBF16;
    c_.fft_size = n_;
    c_.batch = 3;  // rows 0 and 1 share a transform, row 2 is alone
    c_.heads = 2;
    c_.length = n_ / 2;
    c_.filter_length = n_ / 2;
    c_.dtype = dtype_;
    c_.pregate = c_.postgate = true;
    c_.filter = Distribution::kDecaying;
    in_ = ConvInputs::make(c_, 5);
    for (int64_t i = 0; i < in_.k.numel(); ++i) in_.k.set(i, in_.k.value(i) * 0.1);
    std::mt19937_64 rng(6);
    dy_ = HostTensor(dtype_, {c_.batch, c_.heads, c_.length});
    dy_.fill(Distribution::kRandn, rng);
  }
  // The positions tried in a row of length L: all of them at the smallest size, else a spread.
  std::vector<int64_t> positions() const {
    const int64_t len = c_.length;
    if (n_ == smallest()) {
      std::vector<int64_t> all;
      for (int64_t t = 0; t < len; ++t) all.push_back(t);
      return all;
    }
    return {0, 1, len / 3, len / 2, len - 2, len - 1};
  }
  int64_t smallest() const { return backend_ == Backend::kCuda ? 256 : 16; }
  HostTensor& tensor(ConvInputs& in, HostTensor& dy, Input which) const {
    switch (which) {
      case Input::kU: return in.u;
      case Input::kPre: return in.pre;
      case Input::kPost: return in.post;
      case Input::kK: return in.k;
      case Input::kDy: return dy;
    }
    return in.u;
  }
  std::string what(Input which, int64_t b, int64_t h, int64_t t, double bad) const {
    std::ostringstream s;
    s << to_string(backend_) << " N=" << n_ << " " << (std::isnan(bad) ? "NaN" : "inf") << " in " << input_name(which)
      << "[" << b << ", " << h << ", " << t << "]";
    return s.str();
  }

  Backend backend_ = Backend::kCpu;
  int64_t n_ = 0;
  DType dtype_ = DType::kF16;
  ConvCase c_;
  ConvInputs in_;
  HostTensor dy_;
};

TEST_P(NonFinite, ForwardStaysInItsRow) {
  const Plan plan = Plan::create({.fft_size = n_, .backend = backend_});
  const std::vector<double> ref = run_oracle(c_, in_);
  const double tol = row_tolerance(backend_, dtype_);
  const double kNaN = std::numeric_limits<double>::quiet_NaN(), kInf = std::numeric_limits<double>::infinity();
  for (Input which : {Input::kU, Input::kPre, Input::kPost, Input::kK}) {
    for (int64_t b = 0; b < c_.batch; ++b) {
      for (int64_t t : positions()) {
        const int64_t h = (b + t) % c_.heads;
        const double bad = (t % 5 == 3) ? kInf : kNaN;
        ConvInputs in = in_;
        HostTensor unused;
        HostTensor& x = tensor(in, unused, which);
        Poisoned p;
        p.b = b;
        p.h = h;
        p.t = t;
        if (which == Input::kK) {
          if (b > 0 || t >= c_.filter_length) continue;
          x.set(h * c_.filter_length + t, bad);
          p.kind = Poisoned::kHead;
        } else {
          x.set((b * c_.heads + h) * c_.length + t, bad);
          // inf in a postgate times a finite conv is inf (or NaN at an exact zero): not a NaN test.
          if (which == Input::kPost && !std::isnan(bad)) continue;
          p.kind = which == Input::kPost ? Poisoned::kElement : Poisoned::kRow;
        }
        const std::vector<double> y = run_library(plan, c_, in);
        if (!expect_isolated(y, ref, c_.heads, c_.length, p, tol, what(which, b, h, t, bad))) return;
      }
    }
  }
}

TEST_P(NonFinite, BackwardStaysInItsRow) {
  const Plan plan = Plan::create({.fft_size = n_, .backend = backend_});
  GradCase gc;
  gc.conv = c_;
  const ConvGradients ref = reference_gradients(gc, in_, dy_);
  const double tol = row_tolerance(backend_, dtype_);
  const double dk_tol = dk_tolerance(backend_);
  const double kNaN = std::numeric_limits<double>::quiet_NaN();
  for (Input which : {Input::kDy, Input::kU, Input::kPre, Input::kPost}) {
    for (int64_t b = 0; b < c_.batch; ++b) {
      for (int64_t t : positions()) {
        const int64_t h = (b + t) % c_.heads;
        ConvInputs in = in_;
        HostTensor dy = dy_;
        tensor(in, dy, which).set((b * c_.heads + h) * c_.length + t, kNaN);
        const DeviceGradients got = run_device_backward(plan, gc, in, dy);
        const Poisoned none, element{Poisoned::kElement, b, h, t}, row{Poisoned::kRow, b, h, t},
            head{Poisoned::kHead, b, h, t};
        const bool dc_side = which == Input::kDy || which == Input::kPost;
        // du: NaN row when dc is; one element when pregate[t] is (du = pregate dx).
        const Poisoned du = dc_side ? row : (which == Input::kPre ? element : none);
        // dpregate = u dx: row when dc is; one element when u[t] is.
        const Poisoned dpre = dc_side ? row : (which == Input::kU ? element : none);
        // dpostgate = dy c: row when x (u or pregate) is; one element when dy[t] is.
        const Poisoned dpost = dc_side ? (which == Input::kDy ? element : none) : row;
        const std::string w = what(which, b, h, t, kNaN);
        if (!expect_isolated(got.g.du, ref.du, c_.heads, c_.length, du, tol, "du " + w) ||
            !expect_isolated(got.g.dpregate, ref.dpregate, c_.heads, c_.length, dpre, tol, "dpregate " + w) ||
            !expect_isolated(got.g.dpostgate, ref.dpostgate, c_.heads, c_.length, dpost, tol, "dpostgate " + w) ||
            !expect_isolated(got.g.dk, ref.dk, c_.heads, gc.lkg(), head, dk_tol, "dk " + w)) {
          return;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cpu, NonFinite,
                         ::testing::Combine(::testing::Values(Backend::kCpu), ::testing::Values(16, 256, 4096)),
                         backend_size_name);
INSTANTIATE_TEST_SUITE_P(Cuda, NonFinite,
                         ::testing::Combine(::testing::Values(Backend::kCuda),
                                            ::testing::Values(256, 512, 1024, 2048, 4096, 8192, 16384, 32768,
                                                              65536, 1048576)),
                         backend_size_name);

}  // namespace
}  // namespace ffc::testing
