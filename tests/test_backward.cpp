// The backward pass on the CPU: gradients against independent float64 references (direct sums and
// FFTW in double, tests/support/oracle.hpp) at every FFT size of the table, the adjoint identity,
// float64 finite differences, determinism across runs and thread counts, validation of every
// argument (status, message, nothing written) and the C ABI.
//
// Tolerances (docs/numerics.md, "Backward"): the backend computes in fp32, so with fp32 outputs the
// relative L2 error of du, dpregate and dpostgate stays under 1e-6, as for the forward; 16-bit
// outputs add at most u_dtype (one rounding per element), hence u_dtype + 1e-6. dk is f32 whatever
// the dtype of u: its batch sum and inverse transform run in double, so its error is that of the
// fp32 spectra of x and dc: 1e-6.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <sstream>
#include <thread>

#include "backend/backend.hpp"
#include "c_view.hpp"
#include "conv_case.hpp"
#include "ffc/ffc.h"

namespace ffc::testing {
using namespace ffc::reference;
namespace {

constexpr double kDkTolerance = 1e-6;

double output_tolerance(DType dtype) { return forward_tolerance(Backend::kCpu, dtype); }

// Which gradients to request.
struct Wanted {
  bool du = true, dk = true, dpregate = true, dpostgate = true;  // gate gradients only with gates
};

struct BackwardCase {
  ConvCase conv;                   // shapes, dtypes, gates, distributions, filter form
  int64_t grad_filter_length = 0;  // Lk_grad; 0 = conv.filter_length
  Distribution grad = Distribution::kRandn;  // dy
  Wanted wanted;

  int64_t lkg() const { return grad_filter_length > 0 ? grad_filter_length : conv.filter_length; }
  bool want_du() const { return wanted.du; }
  bool want_dk() const { return wanted.dk; }
  bool want_dpregate() const { return wanted.dpregate && conv.pregate; }
  bool want_dpostgate() const { return wanted.dpostgate && conv.postgate; }
  std::string describe() const {
    std::ostringstream s;
    s << conv.describe() << " Lk_grad=" << lkg() << " dy~" << distribution_name(grad) << " wants"
      << (want_du() ? " du" : "") << (want_dk() ? " dk" : "") << (want_dpregate() ? " dpre" : "")
      << (want_dpostgate() ? " dpost" : "");
    return s.str();
  }
};

struct BackwardInputs {
  ConvInputs in;
  HostTensor dy;
  static BackwardInputs make(const BackwardCase& c, uint64_t seed) {
    BackwardInputs b;
    b.in = ConvInputs::make(c.conv, seed);
    std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
    b.dy = HostTensor(c.conv.dtype, {c.conv.batch, c.conv.heads, c.conv.length});
    b.dy.fill(c.grad, rng);
    return b;
  }
};

// The gradients a call wrote (empty when not requested) and the raw output tensors.
struct Outputs {
  HostTensor du, dk, dpregate, dpostgate;
  ConvGradients read() const {
    ConvGradients g;
    if (!du.shape().empty()) g.du = du.read_back();
    if (!dk.shape().empty()) g.dk = dk.read_back();
    if (!dpregate.shape().empty()) g.dpregate = dpregate.read_back();
    if (!dpostgate.shape().empty()) g.dpostgate = dpostgate.read_back();
    return g;
  }
};

// Poisoned outputs for a case, and the arguments of a call that writes them.
struct Call {
  Outputs out;
  std::vector<unsigned char> workspace, spectrum;
  BackwardArgs args;
};

void make_call(const Plan& plan, const BackwardCase& c, BackwardInputs& b, Call& call) {
  const ConvCase& cc = c.conv;
  const std::vector<int64_t> bhl = {cc.batch, cc.heads, cc.length};
  BackwardArgs& a = call.args;
  a = BackwardArgs{};
  a.dy = b.dy.view();
  a.u = b.in.u.view();
  if (cc.pregate) a.pregate = b.in.pre.view();
  if (cc.postgate) a.postgate = b.in.post.view();
  if (c.want_du()) {
    call.out.du = HostTensor(cc.dtype, bhl);
    call.out.du.poison();
    a.du = call.out.du.view();
  }
  if (c.want_dk()) {
    call.out.dk = HostTensor(DType::kF32, {cc.heads, c.lkg()});
    call.out.dk.poison();
    a.dk = call.out.dk.view();
  }
  if (c.want_dpregate()) {
    call.out.dpregate = HostTensor(cc.dtype, bhl);
    call.out.dpregate.poison();
    a.dpregate = call.out.dpregate.view();
  }
  if (c.want_dpostgate()) {
    call.out.dpostgate = HostTensor(cc.dtype, bhl);
    call.out.dpostgate.poison();
    a.dpostgate = call.out.dpostgate.view();
  }
  call.workspace.assign(plan.backward_workspace_bytes(cc.batch, cc.heads), 0);
  a.workspace = call.workspace.data();
  a.workspace_bytes = call.workspace.size();
  if (cc.use_spectrum) {
    call.spectrum.assign(plan.spectrum_bytes(cc.heads), 0);
    plan.transform_filter(b.in.k.view(), call.spectrum.data(), call.spectrum.size());
    a.spectrum = FilterSpectrum{call.spectrum.data(), call.spectrum.size(), cc.heads};
  } else {
    a.k = b.in.k.view();
  }
}

ConvGradients run_backward(const Plan& plan, const BackwardCase& c, BackwardInputs& b) {
  Call call;
  make_call(plan, c, b, call);
  plan.backward(call.args);
  return call.out.read();
}

ConvGradients run_reference(const BackwardCase& c, const BackwardInputs& b) {
  static const std::vector<double> kNone;
  return reference_backward(c.conv.spec(), c.lkg(), b.in.u.values(), b.in.k.values(),
                            c.conv.pregate ? b.in.pre.values() : kNone,
                            c.conv.postgate ? b.in.post.values() : kNone, b.dy.values());
}

struct Errors {
  double du = 0, dk = 0, dpregate = 0, dpostgate = 0;
};

// Runs a case on the plan and the reference and checks every requested gradient's tolerance.
Errors check_case(const Plan& plan, const BackwardCase& c, uint64_t seed) {
  BackwardInputs b = BackwardInputs::make(c, seed);
  const ConvGradients got = run_backward(plan, c, b);
  const ConvGradients ref = run_reference(c, b);
  Errors e;
  const double tol = output_tolerance(c.conv.dtype);
  if (c.want_du()) {
    e.du = relative_l2(got.du, ref.du);
    EXPECT_LE(e.du, tol) << "du: " << c.describe();
  }
  if (c.want_dk()) {
    e.dk = relative_l2(got.dk, ref.dk);
    EXPECT_LE(e.dk, kDkTolerance) << "dk: " << c.describe();
  }
  if (c.want_dpregate()) {
    e.dpregate = relative_l2(got.dpregate, ref.dpregate);
    EXPECT_LE(e.dpregate, tol) << "dpregate: " << c.describe();
  }
  if (c.want_dpostgate()) {
    e.dpostgate = relative_l2(got.dpostgate, ref.dpostgate);
    EXPECT_LE(e.dpostgate, tol) << "dpostgate: " << c.describe();
  }
  return e;
}

// ---- accuracy at every FFT size ------------------------------------------------------------------

// Worst errors over a sweep, printed once per size for the record (docs/numerics.md).
struct Worst {
  double by_dtype[3][4] = {{-1, -1, -1, -1}, {-1, -1, -1, -1}, {-1, -1, -1, -1}};  // -1: not run
  void add(DType d, const Errors& e, const BackwardCase& c) {
    double* w = by_dtype[static_cast<int>(d)];
    if (c.want_du()) w[0] = std::max(w[0], e.du);
    if (c.want_dk()) w[1] = std::max(w[1], e.dk);
    if (c.want_dpregate()) w[2] = std::max(w[2], e.dpregate);
    if (c.want_dpostgate()) w[3] = std::max(w[3], e.dpostgate);
  }
  std::string str() const {
    static const char* names[] = {"du", "dk", "dpre", "dpost"};
    std::ostringstream s;
    s.precision(2);
    for (int d = 0; d < 3; ++d) {
      s << (d ? "; " : "") << to_string(static_cast<DType>(d)) << ":";
      for (int g = 0; g < 4; ++g) {
        s << " " << names[g] << " ";
        if (by_dtype[d][g] < 0) {
          s << "-";
        } else {
          s << by_dtype[d][g];
        }
      }
    }
    return s.str();
  }
};

class BackwardEveryFftSize : public ::testing::TestWithParam<int> {};

TEST_P(BackwardEveryFftSize, MatchesFloat64Reference) {
  const int log2n = GetParam();
  const int64_t n = int64_t{1} << log2n;
  Plan plan = Plan::create({.fft_size = n, .backend = Backend::kCpu});
  int64_t batch, heads;
  sweep_shape(n, batch, heads);
  const DType dtypes[] = {DType::kF32, DType::kF16, DType::kBF16};
  // Up to 64K every (mode, dtype, gating). Above, every (mode, dtype) with a gating variant that
  // rotates with the size (128K .. 512K), or half of them, alternating with the size (1M .. 4M), to
  // bound the run time; together the large sizes cover every combination of each axis.
  Worst worst;
  uint64_t seed = 5000 + static_cast<uint64_t>(log2n);
  for (int combo = 0; combo < 48; ++combo) {
    const SweepMode& mode = kSweepModes[combo / 12];
    const DType dtype = dtypes[(combo / 4) % 3];
    const int gating = combo % 4;
    if (n > 65536) {
      const int r = combo / 4 + log2n;  // (mode, dtype) index, rotated by the size
      if (n <= 524288 && gating != r % 4) continue;
      if (n > 524288 && (r % 2 != 0 || gating != (r / 2) % 4)) continue;
    }
    BackwardCase c;
    c.conv.fft_size = n;
    c.conv.batch = batch;
    c.conv.heads = heads;
    c.conv.length = mode.length(n);
    c.conv.filter_length = mode.filter_length(n);
    c.conv.dtype = dtype;
    c.conv.pregate = gating & 1;
    c.conv.postgate = gating & 2;
    c.conv.use_spectrum = ((combo + log2n) % 2) == 1;
    worst.add(dtype, check_case(plan, c, seed++), c);
  }
  RecordProperty("worst_errors", worst.str());
  std::cout << "N=" << n << " worst relative L2 errors: " << worst.str() << "\n";
}

INSTANTIATE_TEST_SUITE_P(Log2N, BackwardEveryFftSize, ::testing::Range(4, 23),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return "N" + std::to_string(int64_t{1} << param.param);
                         });

TEST(Backward, GradFilterLengthsOtherThanLk) {
  const int64_t n = 256;
  Plan plan = Plan::create({.fft_size = n, .backend = Backend::kCpu});
  uint64_t seed = 31;
  for (int64_t lkg : {int64_t{1}, int64_t{17}, int64_t{40}, int64_t{100}, n}) {
    for (int64_t length : {int64_t{128}, int64_t{256}, int64_t{77}}) {
      BackwardCase c;
      c.conv.fft_size = n;
      c.conv.batch = 3;
      c.conv.heads = 2;
      c.conv.length = length;
      c.conv.filter_length = 40;
      c.conv.pregate = c.conv.postgate = true;
      c.grad_filter_length = lkg;
      check_case(plan, c, seed++);
    }
  }
}

TEST(Backward, FilterDtypesAndDistributions) {
  Plan plan = Plan::create({.fft_size = 1024, .backend = Backend::kCpu});
  uint64_t seed = 77;
  for (DType kd : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (Distribution ud : {Distribution::kRandn, Distribution::kDynamicRange, Distribution::kUniform}) {
      for (Distribution kdist : {Distribution::kRandn, Distribution::kDecaying}) {
        BackwardCase c;
        c.conv.fft_size = 1024;
        c.conv.batch = 4;
        c.conv.heads = 3;
        c.conv.length = 512;
        c.conv.filter_length = 512;
        c.conv.filter_dtype = kd;
        c.conv.input = ud;
        c.conv.filter = kdist;
        c.conv.pregate = c.conv.postgate = true;
        c.grad = ud;
        check_case(plan, c, seed++);
      }
    }
  }
}

// ---- structure: subsets, filter forms, in place ----------------------------------------------------

BackwardCase structural_case() {
  BackwardCase c;
  c.conv.fft_size = 512;
  c.conv.batch = 5;  // odd: the last pair has one row
  c.conv.heads = 3;
  c.conv.length = 300;
  c.conv.filter_length = 100;
  c.conv.dtype = DType::kF32;
  c.conv.pregate = c.conv.postgate = true;
  return c;
}

TEST(Backward, EachGradientAloneMatchesAllAtOnce) {
  for (int threads : {2, 8}) {  // dk: one head per item (H >= threads) and spread transforms
    Plan plan = Plan::create({.fft_size = 512, .backend = Backend::kCpu, .num_threads = threads});
    BackwardCase all = structural_case();
    BackwardInputs b = BackwardInputs::make(all, 4);
    const ConvGradients expected = run_backward(plan, all, b);
    for (int which = 0; which < 4; ++which) {
      BackwardCase one = all;
      one.wanted = Wanted{which == 0, which == 1, which == 2, which == 3};
      const ConvGradients got = run_backward(plan, one, b);
      EXPECT_EQ(got.du, which == 0 ? expected.du : std::vector<double>{}) << which;
      EXPECT_EQ(got.dk, which == 1 ? expected.dk : std::vector<double>{}) << which;
      EXPECT_EQ(got.dpregate, which == 2 ? expected.dpregate : std::vector<double>{}) << which;
      EXPECT_EQ(got.dpostgate, which == 3 ? expected.dpostgate : std::vector<double>{}) << which;
    }
  }
}

TEST(Backward, GatesAloneAndUngated) {
  Plan plan = Plan::create({.fft_size = 128, .backend = Backend::kCpu});
  uint64_t seed = 91;
  for (int gating = 0; gating < 4; ++gating) {
    for (DType dtype : {DType::kF32, DType::kBF16}) {
      BackwardCase c;
      c.conv.fft_size = 128;
      c.conv.batch = 1;  // a single row: the pair's second row is zero
      c.conv.heads = 4;
      c.conv.length = 100;
      c.conv.filter_length = 29;
      c.conv.dtype = dtype;
      c.conv.pregate = gating & 1;
      c.conv.postgate = gating & 2;
      check_case(plan, c, seed++);
    }
  }
}

TEST(Backward, KAndSpectrumGiveIdenticalBits) {
  Plan plan = Plan::create({.fft_size = 512, .backend = Backend::kCpu});
  BackwardCase c = structural_case();
  c.conv.dtype = DType::kF16;
  BackwardInputs b = BackwardInputs::make(c, 8);
  const ConvGradients with_k = run_backward(plan, c, b);
  c.conv.use_spectrum = true;
  const ConvGradients with_spectrum = run_backward(plan, c, b);
  EXPECT_EQ(with_k.du, with_spectrum.du);
  EXPECT_EQ(with_k.dk, with_spectrum.dk);
  EXPECT_EQ(with_k.dpregate, with_spectrum.dpregate);
  EXPECT_EQ(with_k.dpostgate, with_spectrum.dpostgate);
}

TEST(Backward, DuInPlaceOverDyEqualsOutOfPlace) {
  Plan plan = Plan::create({.fft_size = 512, .backend = Backend::kCpu});
  BackwardCase c = structural_case();
  c.conv.dtype = DType::kBF16;
  BackwardInputs b = BackwardInputs::make(c, 9);
  const ConvGradients expected = run_backward(plan, c, b);
  Call call;
  make_call(plan, c, b, call);
  call.args.du = b.dy.view();  // in place
  plan.backward(call.args);
  EXPECT_EQ(b.dy.read_back(), expected.du);
  EXPECT_EQ(call.out.dk.read_back(), expected.dk);
  EXPECT_EQ(call.out.dpregate.read_back(), expected.dpregate);
  EXPECT_EQ(call.out.dpostgate.read_back(), expected.dpostgate);
}

TEST(Backward, EmptyBatchOrLengthGivesZeroDk) {
  Plan plan = Plan::create({.fft_size = 64, .backend = Backend::kCpu});
  for (const std::vector<int64_t>& shape :
       std::vector<std::vector<int64_t>>{{0, 3, 10}, {2, 3, 0}, {2, 0, 10}}) {
    HostTensor u(DType::kF32, shape), dy(DType::kF32, shape), du(DType::kF32, shape);
    HostTensor k(DType::kF32, {shape[1], 4}), dk(DType::kF32, {shape[1], 7});
    dk.poison();
    std::vector<unsigned char> ws(plan.backward_workspace_bytes(shape[0], shape[1]));
    BackwardArgs a;
    a.u = u.view();
    a.dy = dy.view();
    a.k = k.view();
    a.du = du.view();
    a.dk = dk.view();
    a.workspace = ws.data();
    a.workspace_bytes = ws.size();
    ASSERT_NO_THROW(plan.backward(a));
    for (double v : dk.read_back()) EXPECT_EQ(v, 0.0);
  }
}

// ---- the adjoint identity ----------------------------------------------------------------------------

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double norm(const std::vector<double>& a) { return std::sqrt(dot(a, a)); }

// y = post * conv(pre * u, k) is linear in each of u, k, pre and post, so for any dy
//   <y, dy> = <u, du> = <k, dk> = <pre, dpregate> = <post, dpostgate>.
// With library outputs y = y* + e_y (|e_y| <= tau |y*|) and g = g* + e_g (|e_g| <= tau |g*|),
// |<y, dy> - <theta, g>| <= tau (|y| |dy| + |theta| |g|) (Cauchy-Schwarz); tau = 1e-6 in fp32, and
// the float64 sums add nothing visible.
class Adjoint : public ::testing::TestWithParam<int64_t> {};

TEST_P(Adjoint, InnerProductsAgree) {
  const int64_t n = GetParam();
  Plan plan = Plan::create({.fft_size = n, .backend = Backend::kCpu});
  for (int64_t length : {n / 2, n, n / 2 - 1}) {
    BackwardCase c;
    c.conv.fft_size = n;
    c.conv.batch = n <= 4096 ? 3 : 2;
    c.conv.heads = n <= 4096 ? 4 : 1;
    c.conv.length = length;
    c.conv.filter_length = std::max<int64_t>(1, length / 3);
    c.conv.pregate = c.conv.postgate = true;
    BackwardInputs b = BackwardInputs::make(c, 1234 + static_cast<uint64_t>(length));
    const std::vector<double> y = run_library(plan, c.conv, b.in);
    const ConvGradients g = run_backward(plan, c, b);
    const double lhs = dot(y, b.dy.values());
    const double scale_y = norm(y) * norm(b.dy.values());
    struct Pair {
      const char* name;
      const std::vector<double>& theta;
      const std::vector<double>& grad;
    };
    const Pair pairs[] = {{"u", b.in.u.values(), g.du},
                          {"k", b.in.k.values(), g.dk},
                          {"pregate", b.in.pre.values(), g.dpregate},
                          {"postgate", b.in.post.values(), g.dpostgate}};
    for (const Pair& p : pairs) {
      const double rhs = dot(p.theta, p.grad);
      const double bound = 1e-6 * (scale_y + norm(p.theta) * norm(p.grad));
      EXPECT_LE(std::abs(lhs - rhs), bound)
          << p.name << ": <y, dy> = " << lhs << ", <" << p.name << ", d" << p.name << "> = " << rhs
          << " (N=" << n << " L=" << length << ")";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, Adjoint, ::testing::Values(16, 256, 4096, 65536, 1 << 20),
                         [](const ::testing::TestParamInfo<int64_t>& param) {
                           return "N" + std::to_string(param.param);
                         });

// ---- finite differences in float64 -------------------------------------------------------------------

// The loss l(theta) = <y(theta), dy> with y evaluated by the float64 direct sum of the forward
// (oracle.hpp, direct_conv): its central differences (l(theta + h e_i) - l(theta - h e_i)) / 2h are
// the exact gradient up to float64 rounding (l is linear in each argument, so the difference has no
// truncation error), an independent reference that uses none of the gradient formulas. The library
// gradients (fp32 I/O) must match it to the fp32 tolerance, 1e-6 in relative L2.
TEST(Backward, MatchesFloat64FiniteDifferences) {
  for (int64_t length : {int64_t{40}, int64_t{64}, int64_t{33}}) {
    BackwardCase c;
    c.conv.fft_size = 64;
    c.conv.batch = 3;
    c.conv.heads = 2;
    c.conv.length = length;
    c.conv.filter_length = 20;
    c.conv.pregate = c.conv.postgate = true;
    Plan plan = Plan::create({.fft_size = 64, .backend = Backend::kCpu});
    BackwardInputs b = BackwardInputs::make(c, 55 + static_cast<uint64_t>(length));
    const ConvGradients g = run_backward(plan, c, b);

    std::vector<double> u = b.in.u.values(), k = b.in.k.values(), pre = b.in.pre.values(),
                        post = b.in.post.values();
    const std::vector<double>& dy = b.dy.values();
    auto loss = [&] { return dot(direct_conv(c.conv.spec(), u, k, pre, post), dy); };
    const double h = 0.5;
    auto differences = [&](std::vector<double>& theta) {
      std::vector<double> grad(theta.size());
      for (size_t i = 0; i < theta.size(); ++i) {
        const double saved = theta[i];
        theta[i] = saved + h;
        const double up = loss();
        theta[i] = saved - h;
        const double down = loss();
        theta[i] = saved;
        grad[i] = (up - down) / (2 * h);
      }
      return grad;
    };
    EXPECT_LE(relative_l2(g.du, differences(u)), 1e-6) << "du, L=" << length;
    EXPECT_LE(relative_l2(g.dk, differences(k)), 1e-6) << "dk, L=" << length;
    EXPECT_LE(relative_l2(g.dpregate, differences(pre)), 1e-6) << "dpregate, L=" << length;
    EXPECT_LE(relative_l2(g.dpostgate, differences(post)), 1e-6) << "dpostgate, L=" << length;
  }
}

// ---- determinism -------------------------------------------------------------------------------------

TEST(Backward, IdenticalBitsAcrossRunsAndThreadCounts) {
  std::vector<BackwardCase> cases;
  {
    BackwardCase c;  // many items: heads over the pool
    c.conv.fft_size = 1024;
    c.conv.batch = 5;
    c.conv.heads = 7;
    c.conv.length = 1000;
    c.conv.filter_length = 300;
    c.conv.dtype = DType::kBF16;
    c.conv.pregate = c.conv.postgate = true;
    cases.push_back(c);
  }
  {
    BackwardCase c;  // H = 3: one head per item for 1-3 threads, spread transforms for 8
    c.conv.fft_size = 4096;
    c.conv.batch = 6;
    c.conv.heads = 3;
    c.conv.length = 4000;
    c.conv.filter_length = 4096;
    cases.push_back(c);
  }
  {
    BackwardCase c;  // one head, large N: spread transforms (and their stage chunking) everywhere
    c.conv.fft_size = 131072;
    c.conv.batch = 3;
    c.conv.heads = 1;
    c.conv.length = 100000;
    c.conv.filter_length = 5000;
    c.conv.pregate = true;
    c.conv.input = Distribution::kDynamicRange;
    cases.push_back(c);
  }
  {
    BackwardCase c;  // no dk: (head, pair) items
    c.conv.fft_size = 256;
    c.conv.batch = 9;
    c.conv.heads = 2;
    c.conv.length = 200;
    c.conv.filter_length = 256;
    c.conv.dtype = DType::kF16;
    c.conv.postgate = true;
    c.wanted.dk = false;
    cases.push_back(c);
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    const BackwardCase& c = cases[i];
    BackwardInputs b = BackwardInputs::make(c, 700 + i);
    ConvGradients first;
    bool have_first = false;
    for (int threads : {1, 2, 3, 8}) {
      Plan plan = Plan::create({.fft_size = c.conv.fft_size, .backend = Backend::kCpu,
                                .num_threads = threads});
      for (int run = 0; run < 2; ++run) {
        const ConvGradients g = run_backward(plan, c, b);
        if (!have_first) {
          first = g;
          have_first = true;
          continue;
        }
        EXPECT_EQ(g.du, first.du) << c.describe() << ", " << threads << " threads, run " << run;
        EXPECT_EQ(g.dk, first.dk) << c.describe() << ", " << threads << " threads, run " << run;
        EXPECT_EQ(g.dpregate, first.dpregate) << c.describe() << ", " << threads << " threads";
        EXPECT_EQ(g.dpostgate, first.dpostgate) << c.describe() << ", " << threads << " threads";
      }
    }
  }
}

// Execution is const and thread-safe: concurrent calls on one plan give the sequential result.
TEST(Backward, ConcurrentCallsOnOnePlan) {
  Plan plan = Plan::create({.fft_size = 16384, .backend = Backend::kCpu, .num_threads = 2});
  BackwardCase c;  // one pair: the few-items path that spreads transforms over the pool
  c.conv.fft_size = 16384;
  c.conv.batch = 2;
  c.conv.heads = 1;
  c.conv.length = 16384;
  c.conv.filter_length = 1000;
  c.conv.pregate = c.conv.postgate = true;
  BackwardInputs b = BackwardInputs::make(c, 3);
  const ConvGradients expected = run_backward(plan, c, b);
  std::vector<ConvGradients> got(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) got[t] = run_backward(plan, c, b);
    });
  }
  for (std::thread& t : threads) t.join();
  for (const ConvGradients& g : got) {
    EXPECT_EQ(g.du, expected.du);
    EXPECT_EQ(g.dk, expected.dk);
    EXPECT_EQ(g.dpregate, expected.dpregate);
    EXPECT_EQ(g.dpostgate, expected.dpostgate);
  }
}

// The forward shares the backend's buffers with the backward: the same guarantee for it.
TEST(CpuBackend, ConcurrentForwardCallsOnOnePlan) {
  Plan plan = Plan::create({.fft_size = 16384, .backend = Backend::kCpu, .num_threads = 2});
  ConvCase c;  // one pair: the few-items path
  c.fft_size = 16384;
  c.batch = 2;
  c.heads = 1;
  c.length = 16384;
  c.filter_length = 1000;
  c.pregate = c.postgate = true;
  ConvInputs in = ConvInputs::make(c, 4);
  const std::vector<double> expected = run_library(plan, c, in);
  std::vector<std::vector<double>> got(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] {
      ConvInputs mine = in;
      for (int i = 0; i < 3; ++i) got[t] = run_library(plan, c, mine);
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::vector<double>& y : got) EXPECT_EQ(y, expected);
}

// ---- validation --------------------------------------------------------------------------------------

// Every invalid backward input is rejected with its status, a message naming the argument (and the
// value and the rule), and nothing written: the outputs are poisoned first and compared bytewise.
class BackwardValidation : public ::testing::Test {
 protected:
  static constexpr int64_t kN = 256, kB = 2, kH = 3, kL = 100, kLk = 50;

  void SetUp() override {
    std::mt19937_64 rng(1);
    for (HostTensor* t : {&u, &dy, &pre, &post}) {
      *t = HostTensor(DType::kF16, {kB, kH, kL});
      t->fill(Distribution::kRandn, rng);
    }
    for (HostTensor* t : {&du, &dpre, &dpost}) {
      *t = HostTensor(DType::kF16, {kB, kH, kL});
      t->poison();
    }
    k = HostTensor(DType::kF32, {kH, kLk});
    k.fill(Distribution::kRandn, rng);
    dk = HostTensor(DType::kF32, {kH, kLk});
    dk.poison();
    workspace.assign(plan.backward_workspace_bytes(kB, kH), 0xab);
    spectrum.resize(plan.spectrum_bytes(kH));
    plan.transform_filter(k.view(), spectrum.data(), spectrum.size());
    args.dy = dy.view();
    args.u = u.view();
    args.k = k.view();
    args.pregate = pre.view();
    args.postgate = post.view();
    args.du = du.view();
    args.dk = dk.view();
    args.dpregate = dpre.view();
    args.dpostgate = dpost.view();
    args.workspace = workspace.data();
    args.workspace_bytes = workspace.size();
  }

  using Bytes = std::vector<unsigned char>;
  static Bytes bytes_of(HostTensor& t) {
    const unsigned char* p = static_cast<unsigned char*>(t.data());
    return Bytes(p, p + t.bytes());
  }

  // Runs backward expecting `status`, a message containing every fragment, and nothing written.
  void expect_rejected(const std::vector<std::string>& fragments,
                       Status status = Status::kInvalidArgument) {
    const Bytes before[] = {bytes_of(du), bytes_of(dk), bytes_of(dpre), bytes_of(dpost),
                            bytes_of(dy), bytes_of(u)};
    const Bytes work_before = workspace;
    try {
      plan.backward(args);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), status) << e.what();
      for (const std::string& f : fragments) {
        EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
            << "message \"" << e.what() << "\" lacks \"" << f << "\"";
      }
    }
    const Bytes after[] = {bytes_of(du), bytes_of(dk), bytes_of(dpre), bytes_of(dpost),
                           bytes_of(dy), bytes_of(u)};
    const char* names[] = {"du", "dk", "dpregate", "dpostgate", "dy", "u"};
    for (int i = 0; i < 6; ++i) EXPECT_EQ(before[i], after[i]) << names[i] << " was written";
    EXPECT_EQ(work_before, workspace) << "workspace was written";
  }

  Plan plan = Plan::create({.fft_size = kN, .backend = Backend::kCpu});
  HostTensor u, dy, pre, post, k, du, dk, dpre, dpost;
  Bytes workspace, spectrum;
  BackwardArgs args;
};

TEST_F(BackwardValidation, ValidArgumentsRun) {
  ASSERT_NO_THROW(plan.backward(args));
  for (HostTensor* t : {&du, &dk, &dpre, &dpost}) {
    for (double v : t->read_back()) ASSERT_TRUE(std::isfinite(v));
  }
  // With a spectrum (the workspace is still required, see WorkspaceChecks).
  args.k.reset();
  args.spectrum = FilterSpectrum{spectrum.data(), spectrum.size(), kH};
  EXPECT_NO_THROW(plan.backward(args));
}

TEST_F(BackwardValidation, NoGradientRequested) {
  args.du.reset();
  args.dk.reset();
  args.dpregate.reset();
  args.dpostgate.reset();
  expect_rejected({"du, dk, dpregate and dpostgate", "none given", "at least one gradient"});
}

TEST_F(BackwardValidation, InputShapesAndDtypes) {
  args.u.ndim = 2;
  expect_rejected({"u:", "rank 2", "(B, H, L)"});
  args.u = u.view();
  args.u.dtype = static_cast<DType>(9);
  expect_rejected({"u:", "dtype code 9"});
  args.u = u.view();
  HostTensor dy_short(DType::kF16, {kB, kH, kL - 1});
  args.dy = dy_short.view();
  expect_rejected({"dy:", "(2, 3, 99)", "(2, 3, 100)", "have one shape"});
  HostTensor dy_bf16(DType::kBF16, {kB, kH, kL});
  args.dy = dy_bf16.view();
  expect_rejected({"dy:", "bf16", "f16", "share one dtype"});
  args.dy = dy.view();
  args.dy.data = nullptr;
  expect_rejected({"dy:", "null"});
  args.dy = dy.view();
  HostTensor pre32(DType::kF32, {kB, kH, kL});
  args.pregate = pre32.view();
  expect_rejected({"pregate:", "f32", "share one dtype"});
  args.pregate = pre.view();
  args.postgate->strides[1] = 7;
  expect_rejected({"postgate:", "not contiguous"});
}

TEST_F(BackwardValidation, LengthAboveFftSize) {
  HostTensor big(DType::kF16, {kB, kH, kN + 1}), dybig(DType::kF16, {kB, kH, kN + 1});
  HostTensor dubig(DType::kF16, {kB, kH, kN + 1});
  args.u = big.view();
  args.dy = dybig.view();
  args.du = dubig.view();
  args.pregate.reset();
  args.postgate.reset();
  args.dpregate.reset();
  args.dpostgate.reset();
  expect_rejected({"u:", "L = 257", "fft_size = 256", "L <= fft_size"});
}

TEST_F(BackwardValidation, GradientShapesAndDtypes) {
  HostTensor du32(DType::kF32, {kB, kH, kL});
  args.du = du32.view();
  expect_rejected({"du:", "dtype f32", "f16", "share one dtype"});
  HostTensor du_long(DType::kF16, {kB, kH, kL + 1});
  args.du = du_long.view();
  expect_rejected({"du:", "(2, 3, 101)"});
  args.du = du.view();
  args.du->strides[2] = 2;
  expect_rejected({"du:", "not contiguous"});
  args.du = du.view();
  HostTensor dpre_b(DType::kF16, {kB + 1, kH, kL});
  args.dpregate = dpre_b.view();
  expect_rejected({"dpregate:", "(3, 3, 100)"});
  args.dpregate = dpre.view();
  args.dpostgate->data = static_cast<char*>(dpost.data()) + 1;
  expect_rejected({"dpostgate:", "aligned"});
}

TEST_F(BackwardValidation, DkChecks) {
  HostTensor dk16(DType::kF16, {kH, kLk});
  args.dk = dk16.view();
  expect_rejected({"dk:", "dtype f16", "dk is f32"});
  HostTensor dk_heads(DType::kF32, {kH + 1, kLk});
  args.dk = dk_heads.view();
  expect_rejected({"dk:", "4 filters", "H = 3", "(H, Lk_grad)"});
  HostTensor dk_empty(DType::kF32, {kH, 0});
  args.dk = dk_empty.view();
  expect_rejected({"dk:", "Lk_grad = 0", "1 <= Lk_grad"});
  HostTensor dk_long(DType::kF32, {kH, kN + 1});
  args.dk = dk_long.view();
  expect_rejected({"dk:", "Lk_grad = 257", "fft_size = 256", "Lk_grad <= fft_size"});
  args.dk = dk.view();
  args.dk->ndim = 3;
  expect_rejected({"dk:", "rank 3", "(H, Lk_grad)"});
  args.dk = dk.view();
  args.dk->data = nullptr;
  expect_rejected({"dk:", "null"});
  args.dk = dk.view();
  args.dk->strides[0] = kLk + 1;
  expect_rejected({"dk:", "not contiguous"});
  // Lk_grad = N and Lk_grad != Lk are valid.
  HostTensor dk_n(DType::kF32, {kH, kN});
  args.dk = dk_n.view();
  EXPECT_NO_THROW(plan.backward(args));
}

TEST_F(BackwardValidation, GateGradientNeedsItsGate) {
  args.pregate.reset();
  expect_rejected({"dpregate:", "without pregate", "needs that gate"});
  args.pregate = pre.view();
  args.postgate.reset();
  expect_rejected({"dpostgate:", "without postgate", "needs that gate"});
}

TEST_F(BackwardValidation, FilterChecks) {
  args.spectrum = FilterSpectrum{spectrum.data(), spectrum.size(), kH};
  expect_rejected({"k and spectrum", "both"});
  args.k.reset();
  args.spectrum.reset();
  expect_rejected({"k and spectrum", "neither"});
  args.spectrum = FilterSpectrum{spectrum.data(), spectrum.size() + 1, kH};
  expect_rejected({"spectrum:", "bytes given", "exactly spectrum_bytes(H)"});
  args.spectrum = FilterSpectrum{spectrum.data(), spectrum.size(), kH - 1};
  expect_rejected({"spectrum:", "2 heads", "H = 3"});
  args.spectrum = FilterSpectrum{nullptr, spectrum.size(), kH};
  expect_rejected({"spectrum:", "null"});
  args.spectrum.reset();
  HostTensor k_heads(DType::kF32, {kH - 1, kLk});
  args.k = k_heads.view();
  expect_rejected({"k:", "2 filters", "H = 3"});
  HostTensor k_long(DType::kF32, {kH, kN + 3});
  args.k = k_long.view();
  expect_rejected({"k:", "Lk = 259", "Lk <= fft_size"});
}

TEST_F(BackwardValidation, WorkspaceChecks) {
  args.workspace_bytes = workspace.size() - 1;
  expect_rejected({"workspace:", "bytes given", "needed for B = 2, H = 3",
                   "backward_workspace_bytes(B, H)"});
  args.workspace_bytes = workspace.size();
  args.workspace = nullptr;
  expect_rejected({"workspace:", "null"});
  // Required with a spectrum as well.
  args.workspace = workspace.data();
  args.workspace_bytes = 0;
  args.k.reset();
  args.spectrum = FilterSpectrum{spectrum.data(), spectrum.size(), kH};
  expect_rejected({"workspace:", "needed"});
  EXPECT_THROW(plan.backward_workspace_bytes(-1, kH), Error);
  EXPECT_THROW(plan.backward_workspace_bytes(kB, -1), Error);
  try {
    plan.backward_workspace_bytes(-2, kH);
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("batch: -2"), std::string::npos) << e.what();
  }
}

TEST_F(BackwardValidation, GradientsMustNotOverlapInputs) {
  args.du = u.view();
  expect_rejected({"du:", "overlaps u", "must not overlap the inputs"});
  args.du = du.view();
  args.dpostgate = dy.view();
  expect_rejected({"dpostgate:", "overlaps dy", "only du may be dy"});
  args.dpostgate = dpost.view();
  args.dpregate = pre.view();
  expect_rejected({"dpregate:", "overlaps pregate"});
  args.dpregate = dpre.view();
  args.dk = k.view();  // same shape and dtype as dk
  expect_rejected({"dk:", "overlaps k"});
  args.dk = dk.view();
  // dk inside the spectrum.
  args.k.reset();
  args.spectrum = FilterSpectrum{spectrum.data(), spectrum.size(), kH};
  args.dk->data = spectrum.data() + 64;
  expect_rejected({"dk:", "overlaps spectrum"});
}

TEST_F(BackwardValidation, DuMayBeDyButNotPartially) {
  // du starting one row into a buffer holding dy: partial overlap.
  HostTensor both(DType::kF16, {kB + 1, kH, kL});
  args.dy = both.view();
  args.dy.shape[0] = kB;
  args.du = args.dy;
  args.du->data = static_cast<char*>(both.data()) + kL * 2;
  expect_rejected({"du:", "overlaps dy without being the same tensor", "dy itself"});
  args.du = args.dy;  // exactly dy: in place, accepted
  EXPECT_NO_THROW(plan.backward(args));
}

TEST_F(BackwardValidation, GradientsMustNotOverlapEachOther) {
  args.dpostgate = dpre.view();
  expect_rejected({"dpostgate:", "overlaps dpregate", "each other"});
  args.dpostgate = dpost.view();
  args.dpregate = du.view();
  expect_rejected({"dpregate:", "overlaps du", "each other"});
  args.dpregate = dpre.view();
  args.dk->data = du.data();  // dk's 600 bytes inside du's 600 bytes
  expect_rejected({"dk:", "overlaps du"});
}

TEST_F(BackwardValidation, WorkspaceMustNotOverlap) {
  // A workspace that contains u, then one that contains du.
  Bytes arena(workspace.size() + 4096);
  std::memcpy(arena.data() + 256, u.data(), u.bytes());
  args.u.data = arena.data() + 256;
  args.workspace = arena.data();
  expect_rejected({"workspace:", "overlaps u", "must not overlap"});
  args.u = u.view();
  args.du->data = arena.data() + 1024;
  expect_rejected({"workspace:", "overlaps du"});
}

// ---- the C ABI ---------------------------------------------------------------------------------------

class CApiBackward : public ::testing::Test {
 protected:
  void SetUp() override {
    ffc_plan_options_t o = FFC_PLAN_OPTIONS_INIT;
    o.fft_size = 1024;
    o.backend = FFC_BACKEND_CPU;
    ASSERT_EQ(ffc_plan_create(&o, &plan), FFC_SUCCESS) << ffc_last_error();
    c.conv.fft_size = 1024;
    c.conv.batch = 3;
    c.conv.heads = 4;
    c.conv.length = 700;
    c.conv.filter_length = 200;
    c.conv.dtype = DType::kBF16;
    c.conv.pregate = c.conv.postgate = true;
    b = BackwardInputs::make(c, 3);
  }
  void TearDown() override { ffc_plan_destroy(plan); }

  ffc_plan_t* plan = nullptr;
  BackwardCase c;
  BackwardInputs b;
};

TEST_F(CApiBackward, MatchesCppApiBitForBit) {
  Plan cpp_plan = Plan::create({.fft_size = 1024, .backend = Backend::kCpu});
  for (bool use_spectrum : {false, true}) {
    c.conv.use_spectrum = use_spectrum;
    const ConvGradients expected = run_backward(cpp_plan, c, b);
    Call call;
    make_call(cpp_plan, c, b, call);  // poisoned outputs, C++ args to translate
    const BackwardArgs& a = call.args;
    ffc_tensor_t dy = c_view(a.dy), u = c_view(a.u), pre = c_view(*a.pregate),
                 post = c_view(*a.postgate), du = c_view(*a.du), dk = c_view(*a.dk),
                 dpre = c_view(*a.dpregate), dpost = c_view(*a.dpostgate), k{};
    size_t ws = 0;
    ASSERT_EQ(ffc_backward_workspace_bytes(plan, c.conv.batch, c.conv.heads, &ws), FFC_SUCCESS);
    EXPECT_EQ(ws, cpp_plan.backward_workspace_bytes(c.conv.batch, c.conv.heads));
    ffc_backward_args_t ca = FFC_BACKWARD_ARGS_INIT;
    ca.dy = &dy;
    ca.u = &u;
    if (use_spectrum) {
      ca.spectrum = a.spectrum->data;
      ca.spectrum_bytes = a.spectrum->bytes;
      ca.spectrum_heads = a.spectrum->heads;
    } else {
      k = c_view(*a.k);
      ca.k = &k;
    }
    ca.pregate = &pre;
    ca.postgate = &post;
    ca.du = &du;
    ca.dk = &dk;
    ca.dpregate = &dpre;
    ca.dpostgate = &dpost;
    ca.workspace = a.workspace;
    ca.workspace_bytes = a.workspace_bytes;
    ASSERT_EQ(ffc_backward(plan, &ca, nullptr), FFC_SUCCESS) << ffc_last_error();
    EXPECT_STREQ(ffc_last_error(), "");
    const ConvGradients got = call.out.read();
    EXPECT_EQ(got.du, expected.du) << use_spectrum;
    EXPECT_EQ(got.dk, expected.dk) << use_spectrum;
    EXPECT_EQ(got.dpregate, expected.dpregate) << use_spectrum;
    EXPECT_EQ(got.dpostgate, expected.dpostgate) << use_spectrum;

    // Only some gradients: NULL pointers are absent.
    call.out.du.poison();
    call.out.dk.poison();
    ca.dpregate = nullptr;
    ca.dpostgate = nullptr;
    ASSERT_EQ(ffc_backward(plan, &ca, nullptr), FFC_SUCCESS) << ffc_last_error();
    EXPECT_EQ(call.out.du.read_back(), expected.du);
    EXPECT_EQ(call.out.dk.read_back(), expected.dk);
  }
}

TEST_F(CApiBackward, ErrorsReportStatusAndMessageAndWriteNothing) {
  Plan cpp_plan = Plan::create({.fft_size = 1024, .backend = Backend::kCpu});
  Call call;
  make_call(cpp_plan, c, b, call);
  const BackwardArgs& a = call.args;
  ffc_tensor_t dy = c_view(a.dy), u = c_view(a.u), k = c_view(*a.k), du = c_view(*a.du),
               dk = c_view(*a.dk);
  ffc_backward_args_t ca = FFC_BACKWARD_ARGS_INIT;
  ca.dy = &dy;
  ca.u = &u;
  ca.k = &k;
  ca.du = &du;
  ca.dk = &dk;
  ca.workspace = a.workspace;
  ca.workspace_bytes = a.workspace_bytes;

  auto expect_status = [&](ffc_status_t status, const std::string& fragment) {
    EXPECT_EQ(ffc_backward(plan, &ca, nullptr), status) << ffc_last_error();
    EXPECT_NE(std::string(ffc_last_error()).find(fragment), std::string::npos)
        << "message \"" << ffc_last_error() << "\" lacks \"" << fragment << "\"";
    for (double v : call.out.du.read_back()) ASSERT_TRUE(std::isnan(v)) << "du written";
    for (double v : call.out.dk.read_back()) ASSERT_TRUE(std::isnan(v)) << "dk written";
  };
  EXPECT_EQ(ffc_backward(nullptr, &ca, nullptr), FFC_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ffc_last_error()).find("plan"), std::string::npos);
  EXPECT_EQ(ffc_backward(plan, nullptr, nullptr), FFC_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ffc_last_error()).find("args: null pointer"), std::string::npos);
  ca.struct_size = sizeof(ffc_forward_args_t) - 8;
  expect_status(FFC_INVALID_ARGUMENT, "struct_size");
  ca.struct_size = sizeof(ffc_backward_args_t);
  ca.dy = nullptr;
  expect_status(FFC_INVALID_ARGUMENT, "dy: tensor pointer is null");
  ca.dy = &dy;
  ffc_tensor_t du_bad = du;
  du_bad.dtype = FFC_F16;
  ca.du = &du_bad;
  expect_status(FFC_INVALID_ARGUMENT, "du: dtype f16 differs from u's dtype bf16");
  ca.du = &du;
  ffc_tensor_t dk_bad = dk;
  dk_bad.ndim = 4;
  ca.dk = &dk_bad;
  expect_status(FFC_INVALID_ARGUMENT, "dk: rank 4");
  ca.dk = &dk;
  ca.du = nullptr;
  ca.dk = nullptr;
  expect_status(FFC_INVALID_ARGUMENT, "none given");
  ca.du = &du;
  ca.dk = &dk;
  ca.workspace_bytes = 0;
  expect_status(FFC_INVALID_ARGUMENT, "workspace:");
  ca.workspace_bytes = a.workspace_bytes;
  ca.spectrum = a.workspace;
  ca.spectrum_bytes = a.workspace_bytes;
  ca.spectrum_heads = c.conv.heads;
  expect_status(FFC_INVALID_ARGUMENT, "k and spectrum: both given");
  ca.spectrum = nullptr;
  // A valid call then clears the message.
  ASSERT_EQ(ffc_backward(plan, &ca, nullptr), FFC_SUCCESS) << ffc_last_error();
  EXPECT_STREQ(ffc_last_error(), "");

  size_t bytes = 0;
  EXPECT_EQ(ffc_backward_workspace_bytes(plan, 2, 3, nullptr), FFC_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ffc_last_error()).find("bytes"), std::string::npos);
  EXPECT_EQ(ffc_backward_workspace_bytes(plan, -1, 3, &bytes), FFC_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ffc_last_error()).find("batch: -1"), std::string::npos);
  EXPECT_EQ(ffc_backward_workspace_bytes(plan, 2, -3, &bytes), FFC_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ffc_last_error()).find("heads: -3"), std::string::npos);
  EXPECT_EQ(ffc_backward_workspace_bytes(nullptr, 2, 3, &bytes), FFC_INVALID_ARGUMENT);
}

}  // namespace
}  // namespace ffc::testing
