// Input magnitudes, on every backend: the forward and backward against float64 with u, the gates,
// the filter and dy scaled from 1e-6 to 1e4 each, rows of one batch pair ten decades apart, zero
// rows and zero halves, f16 subnormal inputs, the original FlashFFTConv's usual test inputs (randn
// x 0.02, half zero, decaying filter; the f16 NaN of issue 11) and outputs beyond the dtype's range.
// The CPU cases run everywhere; the CUDA cases skip where no GPU is present.
//
// Every row is checked on its own (docs/numerics.md, "Per-row scaling"): a row's error is bounded
// relative to that row's float64 norm, so a small row next to a large one in a pair, or a row of
// tiny values, cannot hide in a tensor-wide norm. The bound is
//   ||y_row - ref_row|| <= tol ||ref_row|| + sqrt(L) * spacing / 2,
// where spacing is the output dtype's subnormal spacing (an output below the dtype's normal range
// carries that absolute rounding whatever the kernel does). tol per row: CPU the forward's bound
// (u_dtype + 1e-6, it rounds once); CUDA f16 2u = 1e-3 and bf16 1.3u = 5e-3 (the tensor-wide
// bounds 5e-4 and 3e-3 of test_cuda_conv.cpp hold over many rows; a single row of a few hundred
// elements spreads about twice as wide). dk is checked per head against the same backends' dk
// bounds. Rows whose inputs are zero must come out exactly zero.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <cstdio>
#include <sstream>
#include <string>
#include <tuple>

#include "backward_call.hpp"
#include "conv_case.hpp"
#include "device_memory.hpp"
#include "per_row.hpp"
#include "gpu_skip.hpp"

namespace ffc::testing {
using namespace ffc::reference;
namespace {

// (b, h, t) -> factor applied to an element.
using Pattern = std::function<double(int64_t b, int64_t h, int64_t t)>;

Pattern constant(double s) {
  return [s](int64_t, int64_t, int64_t) { return s; };
}

// Multiplies every element of a (B, H, L) or (H, L) tensor by pattern(b, h, t) (b = 0 for (H, L)).
void scale_by(HostTensor& x, const Pattern& p) {
  if (x.numel() == 0) return;
  const std::vector<int64_t>& s = x.shape();
  const int64_t len = s.back(), heads = s[s.size() - 2];
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t t = i % len, h = (i / len) % heads, b = i / (len * heads);
    x.set(i, x.value(i) * p(b, h, t));
  }
}

double largest_finite(DType d) {
  switch (d) {
    case DType::kF16: return 65504.0;
    case DType::kBF16: return static_cast<double>(std::numeric_limits<float>::max()) * (1.0 - std::ldexp(1.0, -9));
    case DType::kF32: return std::numeric_limits<float>::max();
  }
  return 0;
}

// Spacing of the dtype's subnormals (the absolute rounding of outputs below its normal range).
double subnormal_spacing(DType d) {
  switch (d) {
    case DType::kF16: return std::ldexp(1.0, -24);
    case DType::kBF16: return std::ldexp(1.0, -133);
    case DType::kF32: return std::ldexp(1.0, -149);
  }
  return 0;
}

// Worst row error seen by a check, relative to its bound's relative part (for the record).
struct RowReport {
  double worst = 0;
  int64_t failures = 0;
};

// Checks each row of length `len`: NaN/inf only where the reference overflows the dtype, exact
// zeros where `zero_row(row)`, the per-row bound elsewhere. Elements within 2 tol of the dtype's
// largest value may round either way and are left out.
RowReport expect_rows(const std::vector<double>& got, const std::vector<double>& ref, int64_t len, DType dtype,
                      double tol, const std::string& what, const std::function<bool(int64_t)>& zero_row = {},
                      const std::vector<double>& row_factor = {}) {
  RowReport report;
  EXPECT_EQ(got.size(), ref.size()) << what;
  if (got.size() != ref.size() || len == 0) return report;
  const double top = largest_finite(dtype), floor = subnormal_spacing(dtype) / 2;
  const int64_t rows = static_cast<int64_t>(ref.size()) / len;
  for (int64_t r = 0; r < rows && report.failures < 5; ++r) {
    const size_t base = static_cast<size_t>(r * len);
    if (zero_row && zero_row(r)) {
      for (int64_t t = 0; t < len; ++t) {
        if (got[base + t] != 0.0 || ref[base + t] != 0.0) {
          ADD_FAILURE() << what << ": row " << r << " of zero inputs has y[" << t << "] = " << got[base + t];
          ++report.failures;
          break;
        }
      }
      continue;
    }
    double err2 = 0, ref2 = 0;
    int64_t counted = 0;
    for (int64_t t = 0; t < len; ++t) {
      const double g = got[base + t], e = ref[base + t];
      if (std::abs(e) > top * (1 + 2 * tol)) {
        if (!(std::isinf(g) && (g > 0) == (e > 0))) {
          ADD_FAILURE() << what << ": row " << r << " t " << t << ": reference " << e
                        << " overflows the output dtype, got " << g << " (expected inf of its sign)";
          ++report.failures;
        }
        continue;
      }
      if (std::abs(e) >= top * (1 - 2 * tol)) continue;
      err2 += (g - e) * (g - e);
      ref2 += e * e;
      ++counted;
    }
    const double err = std::sqrt(err2), norm = std::sqrt(ref2);
    const double row_tol = tol * (row_factor.empty() ? 1.0 : row_factor[static_cast<size_t>(r)]);
    const double bound = row_tol * norm + std::sqrt(static_cast<double>(counted)) * floor;
    if (!(err <= bound)) {
      ADD_FAILURE() << what << ": row " << r << " error " << err << " > bound " << bound << " (row norm " << norm
                    << ", tol " << row_tol << ")";
      ++report.failures;
    }
    // The record keeps rows whose bound is relative (not rows at the output's subnormal floor).
    const double floor_term = std::sqrt(static_cast<double>(counted)) * floor;
    if (row_tol * norm >= floor_term && std::isfinite(err)) {
      report.worst = std::max(report.worst, err / norm / (row_tol / tol));
    }
  }
  return report;
}

// Worst per-row error relative to the row's norm (divided by the tie factor where one applies; rows
// at the output's subnormal floor left out),
// per (backend, output, dtype), printed at the end for the record (docs/numerics.md).
std::map<std::string, double>& worst_errors() {
  static std::map<std::string, double> worst;
  return worst;
}

void record(Backend backend, const char* output, DType dtype, const RowReport& r) {
  const std::string key = std::string(to_string(backend)) + " " + output + " " + to_string(dtype);
  double& w = worst_errors()[key];
  w = std::max(w, r.worst);
}

class PrintWorstErrors : public ::testing::Environment {
 public:
  void TearDown() override {
    for (const auto& [key, value] : worst_errors()) std::printf("worst row error %-28s %.2e\n", key.c_str(), value);
  }
};
const auto* const kPrintWorst = ::testing::AddGlobalTestEnvironment(new PrintWorstErrors);

std::string label(Backend backend, const ConvCase& c, const std::string& scenario) {
  std::ostringstream s;
  s << to_string(backend) << " " << scenario << ": " << c.describe();
  return s.str();
}

using Param = BackendSize;

class Magnitudes : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    backend_ = std::get<0>(GetParam());
    n_ = std::get<1>(GetParam());
    if (backend_ == Backend::kCuda) SKIP_WITHOUT_GPU();
  }
  Plan plan() const { return Plan::create({.fft_size = n_, .backend = backend_}); }
  std::vector<DType> dtypes() const {
    if (backend_ == Backend::kCuda) return {DType::kF16, DType::kBF16};
    return {DType::kF32, DType::kF16, DType::kBF16};
  }
  ConvCase base(DType dtype, bool pre, bool post) const {
    ConvCase c;
    c.fft_size = n_;
    c.batch = 3;  // a pair and a lone row
    c.heads = 4;
    c.length = n_ / 2;
    c.filter_length = n_ / 2;
    c.dtype = dtype;
    c.pregate = pre;
    c.postgate = post;
    c.filter = Distribution::kDecaying;
    return c;
  }
  // Inputs with the filter at unit gain (1 / sqrt(sum k^2) per head), then scaled by the patterns.
  static ConvInputs inputs(const ConvCase& c, uint64_t seed, const Pattern& u, const Pattern& pre,
                           const Pattern& post, double k) {
    ConvInputs in = ConvInputs::make(c, seed);
    for (int64_t h = 0; h < c.heads; ++h) {
      double s2 = 0;
      for (int64_t j = 0; j < c.filter_length; ++j) s2 += in.k.value(h * c.filter_length + j) * in.k.value(h * c.filter_length + j);
      const double g = s2 > 0 ? k / std::sqrt(s2) : k;
      for (int64_t j = 0; j < c.filter_length; ++j) in.k.set(h * c.filter_length + j, in.k.value(h * c.filter_length + j) * g);
    }
    scale_by(in.u, u);
    if (c.pregate) scale_by(in.pre, pre);
    if (c.postgate) scale_by(in.post, post);
    return in;
  }
  RowReport forward(const ConvCase& c, ConvInputs& in, const std::string& scenario,
                    const std::function<bool(int64_t)>& zero_row = {}) const {
    const Plan p = plan();
    const std::vector<double> y = run_library(p, c, in);
    const RowReport r = expect_rows(y, run_oracle(c, in), c.length, c.dtype, row_tolerance(backend_, c.dtype),
                                    label(backend_, c, scenario), zero_row);
    record(backend_, "y", c.dtype, r);
    return r;
  }
  Backend backend_ = Backend::kCpu;
  int64_t n_ = 0;
};

// Each of u, pregate, postgate and k alone at 1e-6 .. 1e4 (the others at unit scale); where the
// output would overflow f16, postgate (or u) takes the excess back, so the large factor still runs
// through the transform.
TEST_P(Magnitudes, ForwardEachFactorFromTinyToHuge) {
  uint64_t seed = 1;
  const double mags[] = {1e-6, 1e-4, 1e-2, 1e2, 1e4};
  for (DType dtype : dtypes()) {
    for (double m : mags) {
      for (int which = 0; which < 4; ++which) {  // u, pre, post, k
        double s[4] = {1, 1, 1, 1};
        s[which] = m;
        if (dtype == DType::kF16 && m > 1e2) s[which == 2 ? 0 : 2] = 1e2 / m;
        for (int gating = 0; gating < 4; ++gating) {
          if ((which == 1 && !(gating & 1)) || (which == 2 && !(gating & 2))) continue;
          if (which != 0 && gating != 3) continue;  // gate and filter scales: fully gated only
          ConvCase c = base(dtype, gating & 1, gating & 2);
          c.use_spectrum = (seed % 2) == 0;
          ConvInputs in = inputs(c, seed++, constant(s[0]), constant(s[1]), constant(s[2]), s[3]);
          std::ostringstream sc;
          sc << "scale u " << s[0] << " pre " << s[1] << " post " << s[2] << " k " << s[3];
          forward(c, in, sc.str());
        }
      }
    }
  }
}

// The original FlashFFTConv's usual test inputs (its tests' randn x 0.02, second half zero, filter
// randn x 0.02 x exp(-0.1 t)): f16 gave all-NaN outputs at N = 256 (issue 11).
TEST_P(Magnitudes, ForwardOriginalsTestInputs) {
  for (DType dtype : dtypes()) {
    for (int gating = 0; gating < 4; ++gating) {
      ConvCase c = base(dtype, gating & 1, gating & 2);
      c.batch = 4;
      c.filter = Distribution::kRandn;
      ConvInputs in = ConvInputs::make(c, 11 + gating);
      const int64_t half = c.length / 2;
      const Pattern first_half = [half](int64_t, int64_t, int64_t t) { return t < half ? 0.02 : 0.0; };
      scale_by(in.u, first_half);
      if (c.pregate) scale_by(in.pre, first_half);
      if (c.postgate) scale_by(in.post, first_half);
      scale_by(in.k, [](int64_t, int64_t, int64_t t) { return 0.02 * std::exp(-0.1 * static_cast<double>(t)); });
      forward(c, in, "randn x 0.02, half zero");
    }
  }
}

// Rows of one batch pair up to nine decades apart in u and three in the gates: each row is
// accurate relative to itself.
TEST_P(Magnitudes, ForwardRowsOfDifferentMagnitudes) {
  for (DType dtype : dtypes()) {
    for (int gating : {0, 3}) {
      ConvCase c = base(dtype, gating & 1, gating & 2);
      c.batch = 4;
      const Pattern u_rows = [](int64_t b, int64_t h, int64_t) { return std::pow(10.0, -6 + (3 * b + 5 * h) % 10); };
      const Pattern gate_rows = [](int64_t b, int64_t h, int64_t) { return std::pow(10.0, -((b + 2 * h) % 4)); };
      ConvInputs in = inputs(c, 40 + gating, u_rows, gate_rows, gate_rows, 1.0);
      forward(c, in, "rows 1e-6 .. 1e3");
    }
  }
}

// Rows whose u or pregate is zero come out exactly zero, and their partners are accurate.
TEST_P(Magnitudes, ForwardZeroRowsAreExactlyZero) {
  for (DType dtype : dtypes()) {
    for (int gating : {0, 1, 3}) {
      ConvCase c = base(dtype, gating & 1, gating & 2);
      c.batch = 4;
      const int64_t heads = c.heads;
      // Rows (b, h) with (b + h) % 3 == 0 are zero in u; with pregate, (b + h) % 3 == 1 in it too.
      const auto zero_u = [](int64_t b, int64_t h) { return (b + h) % 3 == 0; };
      const auto zero_pre = [](int64_t b, int64_t h) { return (b + h) % 3 == 1; };
      ConvInputs in = inputs(c, 60 + gating, [&](int64_t b, int64_t h, int64_t) { return zero_u(b, h) ? 0.0 : 1e-3; },
                             [&](int64_t b, int64_t h, int64_t) { return zero_pre(b, h) ? 0.0 : 1.0; }, constant(1.0), 1.0);
      forward(c, in, "zero rows", [&](int64_t r) {
        const int64_t b = r / heads, h = r % heads;
        return zero_u(b, h) || (c.pregate && zero_pre(b, h));
      });
    }
  }
}

// f16 inputs in f16's subnormal range (randn x 2^-18), gated and not.
TEST_P(Magnitudes, ForwardSubnormalHalfInputs) {
  for (int gating : {0, 3}) {
    ConvCase c = base(DType::kF16, gating & 1, gating & 2);
    const double tiny = std::ldexp(1.0, -18);
    ConvInputs in = inputs(c, 70 + gating, constant(tiny), constant(gating ? tiny : 1.0), constant(1.0), 1.0);
    forward(c, in, "f16 subnormal inputs");
  }
}

// Outputs beyond f16's range come out as inf of the reference's sign; the rest of their rows stays
// accurate.
TEST_P(Magnitudes, ForwardOverflowIsInfinite) {
  ConvCase c = base(DType::kF16, false, true);
  ConvInputs in = inputs(c, 80, constant(3e3), constant(1.0), [](int64_t b, int64_t, int64_t t) {
    return (t % 7 == 0 && b != 1) ? 50.0 : 1.0;
  }, 1.0);
  const std::vector<double> ref = run_oracle(c, in);
  const double top = largest_finite(DType::kF16);
  ASSERT_GT(std::count_if(ref.begin(), ref.end(), [top](double v) { return std::abs(v) > 1.01 * top; }), 0)
      << "the case must overflow somewhere";
  const Plan p = plan();
  expect_rows(run_library(p, c, in), ref, c.length, c.dtype, row_tolerance(backend_, c.dtype),
              label(backend_, c, "overflowing outputs"));
}

// ---- backward ------------------------------------------------------------------------------------

struct BackwardScenario {
  std::string name;
  Pattern u, pre, post, dy;
  double k = 1.0;
  std::function<bool(int64_t b, int64_t h)> zero_x = {}, zero_dc = {};  // rows known to be zero
};

int frexp_exponent(double v) {
  int e = 0;
  std::frexp(v, &e);
  return e;
}

// The documented price of the backward's tied pair scales (docs/numerics.md, "Backward"): the
// rows b0 = 2p, b1 = 2p + 1 of a head share the products of their x and dc scales, so a row whose
// max |x| max |dc| lies E binades (by the exponents of both maxima) below its partner's gives up E
// binades of range, at most ceil(E / 2) on each side: its du, dpregate and dpostgate keep the
// dtype's accuracy times 2^ceil(E / 2). Rows with a zero side take no part (factor 1).
std::vector<double> tie_factors(const ConvCase& c, const ConvInputs& in, const HostTensor& dy) {
  const int64_t rows = c.batch * c.heads, len = c.length;
  std::vector<int> binades(static_cast<size_t>(rows), 0);
  std::vector<bool> active(static_cast<size_t>(rows), false);
  for (int64_t r = 0; r < rows; ++r) {
    double mx = 0, mdc = 0;
    for (int64_t t = 0; t < len; ++t) {
      const int64_t i = r * len + t;
      mx = std::max(mx, std::abs(static_cast<double>(static_cast<float>(in.u.value(i) * (c.pregate ? in.pre.value(i) : 1.0)))));
      mdc = std::max(mdc, std::abs(static_cast<double>(static_cast<float>(dy.value(i) * (c.postgate ? in.post.value(i) : 1.0)))));
    }
    active[static_cast<size_t>(r)] = mx > 0 && mdc > 0;
    if (active[static_cast<size_t>(r)]) binades[static_cast<size_t>(r)] = frexp_exponent(mx) + frexp_exponent(mdc);
  }
  std::vector<double> factor(static_cast<size_t>(rows), 1.0);
  for (int64_t b = 0; b + 1 < c.batch; b += 2) {
    for (int64_t h = 0; h < c.heads; ++h) {
      const size_t r0 = static_cast<size_t>(b * c.heads + h), r1 = r0 + static_cast<size_t>(c.heads);
      if (!active[r0] || !active[r1]) continue;
      const int e = std::abs(binades[r0] - binades[r1]);
      factor[binades[r0] < binades[r1] ? r0 : r1] = std::ldexp(1.0, (e + 1) / 2);
    }
  }
  return factor;
}

void check_backward(Backend backend, const GradCase& gc, ConvInputs& in, HostTensor& dy, const BackwardScenario& s) {
  const Plan plan = Plan::create({.fft_size = gc.conv.fft_size, .backend = backend});
  const DeviceGradients got = run_device_backward(plan, gc, in, dy);
  const ConvGradients ref = reference_gradients(gc, in, dy);
  const ConvCase& c = gc.conv;
  const double tol = row_tolerance(backend, c.dtype);
  const std::string what = label(backend, c, s.name);
  const int64_t heads = c.heads;
  const auto row_is = [heads](const std::function<bool(int64_t, int64_t)>& f) {
    return [heads, f](int64_t r) { return f && f(r / heads, r % heads); };
  };
  // du and dpregate vanish with dc (= postgate dy); dpostgate = dy c vanishes with x (= pregate u).
  const std::vector<double> tie = tie_factors(c, in, dy);
  record(backend, "du", c.dtype, expect_rows(got.g.du, ref.du, c.length, c.dtype, tol, "du " + what, row_is(s.zero_dc), tie));
  if (c.pregate) {
    record(backend, "dpregate", c.dtype,
           expect_rows(got.g.dpregate, ref.dpregate, c.length, c.dtype, tol, "dpregate " + what, row_is(s.zero_dc), tie));
  }
  if (c.postgate) {
    record(backend, "dpostgate", c.dtype,
           expect_rows(got.g.dpostgate, ref.dpostgate, c.length, c.dtype, tol, "dpostgate " + what, row_is(s.zero_x), tie));
  }
  record(backend, "dk", c.dtype, expect_rows(got.g.dk, ref.dk, gc.lkg(), DType::kF32, dk_tolerance(backend), "dk " + what));
}

TEST_P(Magnitudes, BackwardFromTinyToHuge) {
  std::vector<BackwardScenario> scenarios;
  for (double m : {1e-6, 1e-3, 1e3}) {
    std::ostringstream s;
    s << m;
    const double back = m > 1e2 ? 1e2 / m : 1.0;  // keeps f16 gradients in range
    scenarios.push_back({"u x " + s.str(), constant(m), constant(1), constant(back), constant(1)});
    scenarios.push_back({"dy x " + s.str(), constant(1), constant(back), constant(1), constant(m)});
    scenarios.push_back({"gates x " + s.str(), constant(back), constant(m), constant(m), constant(back)});
    scenarios.push_back({"k x " + s.str(), constant(1), constant(1), constant(back), constant(1), m});
  }
  // Rows five decades apart in u and in dy, with equal products |x| |dc| (no tie price) ...
  scenarios.push_back({"rows 1e-3 .. 1e2 in u, dy inverse",
                       [](int64_t b, int64_t h, int64_t) { return std::pow(10.0, -3 + (3 * b + h) % 6); }, constant(1),
                       constant(1), [](int64_t b, int64_t h, int64_t) { return std::pow(10.0, 3 - (3 * b + h) % 6); }});
  // ... and with products up to 2^6 apart within a pair (the tie's documented price).
  scenarios.push_back({"rows with products 1 .. 2^6 apart",
                       [](int64_t b, int64_t h, int64_t) { return std::ldexp(1.0, static_cast<int>((b * h) % 4)); }, constant(1),
                       constant(1), [](int64_t b, int64_t h, int64_t) { return std::ldexp(1.0, -static_cast<int>((b + h) % 3)); }});
  scenarios.push_back({"original's inputs (randn x 0.02, half zero)",
                       [this](int64_t, int64_t, int64_t t) { return t < n_ / 4 ? 0.02 : 0.0; },
                       [this](int64_t, int64_t, int64_t t) { return t < n_ / 4 ? 0.02 : 0.0; }, constant(0.02),
                       constant(0.02), 0.02});
  BackwardScenario zeros{"zero rows", constant(1), constant(1), constant(1), constant(1)};
  zeros.zero_x = [](int64_t b, int64_t h) { return (b + h) % 3 == 0; };
  zeros.zero_dc = [](int64_t b, int64_t h) { return (b + 2 * h) % 3 == 1; };
  zeros.u = [zx = zeros.zero_x](int64_t b, int64_t h, int64_t) { return zx(b, h) ? 0.0 : 1.0; };
  zeros.dy = [zd = zeros.zero_dc](int64_t b, int64_t h, int64_t) { return zd(b, h) ? 0.0 : 1.0; };
  scenarios.push_back(zeros);

  uint64_t seed = 300;
  for (DType dtype : dtypes()) {
    for (const BackwardScenario& s : scenarios) {
      GradCase gc;
      gc.conv = base(dtype, true, true);
      gc.conv.batch = 4;
      gc.conv.use_spectrum = (seed % 2) == 1;
      ConvInputs in = inputs(gc.conv, seed, s.u, s.pre, s.post, s.k);
      std::mt19937_64 rng(seed++ * 13);
      HostTensor dy(dtype, {gc.conv.batch, gc.conv.heads, gc.conv.length});
      dy.fill(Distribution::kRandn, rng);
      scale_by(dy, s.dy);
      check_backward(backend_, gc, in, dy, s);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cpu, Magnitudes,
                         ::testing::Combine(::testing::Values(Backend::kCpu), ::testing::Values(16, 256, 4096, 32768)),
                         backend_size_name);
INSTANTIATE_TEST_SUITE_P(Cuda, Magnitudes,
                         ::testing::Combine(::testing::Values(Backend::kCuda),
                                            ::testing::Values(256, 512, 1024, 2048, 4096, 8192, 16384, 32768,
                                                              65536, 1048576)),
                         backend_size_name);

}  // namespace
}  // namespace ffc::testing
