// The CPU backend against the float64 oracle over every FFT size of the table (16 .. 4M), every
// dtype, gated and plain, causal and circular, odd lengths and short (partial) filters.
//
// Tolerance (docs/numerics.md): the backend computes in fp32, so with fp32 I/O the relative L2
// error must stay under 1e-6 at every N. With 16-bit outputs, rounding each output element to its
// dtype adds at most u_dtype relative error per element, hence at most u_dtype in relative L2; the
// tolerance is u_dtype + 1e-6. The 16-bit inputs are exact inputs of the oracle (it sees the same
// rounded values), so they add nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

#include "conv_case.hpp"
#include "cpu/isa.hpp"

namespace ffc::testing {
using namespace ffc::reference;
namespace {

double tolerance(DType dtype) { return forward_tolerance(Backend::kCpu, dtype); }

class EveryFftSize : public ::testing::TestWithParam<int> {};

TEST_P(EveryFftSize, MatchesFloat64Oracle) {
  const int64_t n = int64_t{1} << GetParam();
  Plan plan = Plan::create({.fft_size = n, .backend = Backend::kCpu});
  int64_t batch, heads;
  sweep_shape(n, batch, heads);
  const DType dtypes[] = {DType::kF32, DType::kF16, DType::kBF16};
  const bool large = n > 65536;
  uint64_t seed = 1000 + static_cast<uint64_t>(GetParam());
  int combo = 0;
  for (const SweepMode& mode : kSweepModes) {
    for (DType dtype : dtypes) {
      for (int gating = 0; gating < 4; ++gating, ++combo) {
        // At large N, one gating variant per (mode, dtype), rotating, to bound the run time.
        if (large && gating != combo % 4) continue;
        ConvCase c;
        c.fft_size = n;
        c.batch = batch;
        c.heads = heads;
        c.length = mode.length(n);
        c.filter_length = mode.filter_length(n);
        c.dtype = dtype;
        c.pregate = gating & 1;
        c.postgate = gating & 2;
        c.use_spectrum = (combo % 2) == 1;
        const ConvResult r = run_and_check(plan, c, seed++);
        EXPECT_LE(r.rel_err, tolerance(dtype)) << mode.name << ": " << c.describe();
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Log2N, EveryFftSize, ::testing::Range(4, 23),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return "N" + std::to_string(int64_t{1} << param.param);
                         });

// Filter dtypes and input distributions (decaying filters, six decades of dynamic range).
TEST(CpuConv, FilterDtypesAndDistributions) {
  Plan plan = Plan::create({.fft_size = 4096, .backend = Backend::kCpu});
  uint64_t seed = 7;
  for (DType kd : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (Distribution ud : {Distribution::kRandn, Distribution::kDynamicRange, Distribution::kUniform}) {
      for (Distribution kdist : {Distribution::kRandn, Distribution::kDecaying}) {
        ConvCase c;
        c.fft_size = 4096;
        c.batch = 2;
        c.heads = 3;
        c.length = 2048;
        c.filter_length = 2048;
        c.dtype = DType::kF32;
        c.filter_dtype = kd;
        c.input = ud;
        c.filter = kdist;
        c.pregate = c.postgate = true;
        const ConvResult r = run_and_check(plan, c, seed++);
        EXPECT_LE(r.rel_err, 1e-6) << c.describe();
      }
    }
  }
}

TEST(CpuConv, ThreadCountsGiveIdenticalBits) {
  ConvCase c;
  c.fft_size = 1024;
  c.batch = 5;
  c.heads = 7;
  c.length = 1000;
  c.filter_length = 300;
  c.dtype = DType::kBF16;
  c.pregate = true;
  std::vector<double> first;
  for (int threads : {1, 2, 3, 8}) {
    Plan plan = Plan::create({.fft_size = 1024, .backend = Backend::kCpu, .num_threads = threads});
    ConvInputs in = ConvInputs::make(c, 99);
    const std::vector<double> y = run_library(plan, c, in);
    if (first.empty()) first = y;
    EXPECT_EQ(y, first) << threads << " threads";
  }
}

TEST(CpuConv, InPlaceEqualsOutOfPlace) {
  Plan plan = Plan::create({.fft_size = 512, .backend = Backend::kCpu});
  ConvCase c;
  c.fft_size = 512;
  c.batch = 3;
  c.heads = 2;
  c.length = 256;
  c.filter_length = 256;
  c.dtype = DType::kF16;
  ConvInputs in = ConvInputs::make(c, 5);
  const std::vector<double> expected = run_library(plan, c, in);
  std::vector<unsigned char> scratch(plan.workspace_bytes(c.heads));
  ForwardArgs args;
  args.u = in.u.view();
  args.y = in.u.view();  // in place
  args.k = in.k.view();
  args.workspace = scratch.data();
  args.workspace_bytes = scratch.size();
  plan.forward(args);
  EXPECT_EQ(in.u.read_back(), expected);
}

TEST(CpuConv, EmptyTensorsAreNoOps) {
  Plan plan = Plan::create({.fft_size = 64, .backend = Backend::kCpu});
  for (const std::vector<int64_t>& shape : std::vector<std::vector<int64_t>>{{0, 3, 10}, {2, 0, 10}, {2, 3, 0}}) {
    HostTensor u(DType::kF32, shape), y(DType::kF32, shape), k(DType::kF32, {shape[1], 4});
    std::vector<unsigned char> ws(plan.workspace_bytes(shape[1]));
    ForwardArgs args;
    args.u = u.view();
    args.y = y.view();
    args.k = k.view();
    args.workspace = ws.data();
    args.workspace_bytes = ws.size();
    EXPECT_NO_THROW(plan.forward(args));
    // An empty tensor addresses no element, so its strides do not matter (torch gives (20, 20, 1)
    // for shape (2, 0, 20), and (30, 10, 1) for (0, 3, 10)).
    args.u.strides[0] = args.y.strides[0] = 999;
    args.u.strides[1] = args.y.strides[1] = 77;
    args.u.strides[2] = 5;
    EXPECT_NO_THROW(plan.forward(args));
  }
}

// FFC_CPU_ISA set for one scope (plans read it when they are made), then restored.
class ScopedCpuIsa {
 public:
  explicit ScopedCpuIsa(const char* value) {
    if (const char* old = std::getenv("FFC_CPU_ISA")) saved_ = old;
    setenv("FFC_CPU_ISA", value, 1);
  }
  ~ScopedCpuIsa() {
    if (saved_) {
      setenv("FFC_CPU_ISA", saved_->c_str(), 1);
    } else {
      unsetenv("FFC_CPU_ISA");
    }
  }
  ScopedCpuIsa(const ScopedCpuIsa&) = delete;
  ScopedCpuIsa& operator=(const ScopedCpuIsa&) = delete;

 private:
  std::optional<std::string> saved_;
};

// The ISA tests' cases: sizes with 2 to 5 stages, gated, time-domain and spectrum filters (the
// filter transform runs the float64 stages of the same ISA).
std::vector<ConvCase> isa_cases() {
  std::vector<ConvCase> cases;
  for (int64_t n : {256, 4096, 65536, 1048576}) {
    ConvCase c;
    c.fft_size = n;
    c.batch = 3;
    c.heads = 2;
    c.length = n - n / 3;
    c.filter_length = n / 2 + 1;
    c.pregate = c.postgate = true;
    c.use_spectrum = n == 4096;
    cases.push_back(c);
  }
  return cases;
}

// Every ISA case under FFC_CPU_ISA = isa, each checked against the float64 oracle.
std::vector<ConvResult> run_isa_cases(const char* isa) {
  ScopedCpuIsa scoped(isa);
  std::vector<ConvResult> results;
  uint64_t seed = 2024;
  for (const ConvCase& c : isa_cases()) {
    Plan plan = Plan::create({.fft_size = c.fft_size, .backend = Backend::kCpu});
    results.push_back(run_and_check(plan, c, seed++));
    EXPECT_LE(results.back().rel_err, tolerance(c.dtype)) << isa << ": " << c.describe();
  }
  return results;
}

TEST(CpuIsa, BaselineMatchesOracle) { run_isa_cases("baseline"); }

// The AVX2 + FMA stage loops against the oracle and against the baseline on the same inputs: FMA
// contraction changes only rounding, so the two agree to a few float32 ulps in relative L2.
TEST(CpuIsa, Avx2MatchesOracleAndBaseline) {
  if (!cpu::avx2_available()) {
    GTEST_SKIP() << "FFC_CPU_ISA=avx2 not tested: this processor or build has no AVX2 + FMA stage loops";
  }
  {
    ScopedCpuIsa scoped("avx2");
    ASSERT_EQ(cpu::isa_from_environment(), cpu::Isa::kAvx2);
  }
  const std::vector<ConvResult> baseline = run_isa_cases("baseline");
  const std::vector<ConvResult> avx2 = run_isa_cases("avx2");
  const std::vector<ConvCase> cases = isa_cases();
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_LE(relative_l2(avx2[i].y, baseline[i].y), 5e-7) << cases[i].describe();
  }
}

// FFC_CPU_ISA values outside auto / baseline / avx2 are refused when the plan is made, with a typed
// error that names the variable, the value and the rule.
TEST(CpuIsa, UnknownValueIsRejected) {
  for (const char* bad : {"sse9", "AVX2", " avx2", "avx512"}) {
    ScopedCpuIsa scoped(bad);
    try {
      (void)Plan::create({.fft_size = 256, .backend = Backend::kCpu});
      ADD_FAILURE() << "FFC_CPU_ISA=\"" << bad << "\" was accepted";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.status(), Status::kInvalidArgument) << what;
      EXPECT_NE(what.find("FFC_CPU_ISA"), std::string::npos) << what;
      EXPECT_NE(what.find(std::string("\"") + bad + "\""), std::string::npos) << what;
      EXPECT_NE(what.find("rule: auto, baseline or avx2"), std::string::npos) << what;
    }
  }
  for (const char* good : {"", "auto", "baseline"}) {
    ScopedCpuIsa scoped(good);
    EXPECT_NO_THROW((void)Plan::create({.fft_size = 256, .backend = Backend::kCpu})) << good;
  }
}

// avx2 where unavailable is a NotSupported error; where available, plans are made.
TEST(CpuIsa, Avx2RequiresTheProcessor) {
  ScopedCpuIsa scoped("avx2");
  if (cpu::avx2_available()) {
    EXPECT_NO_THROW((void)Plan::create({.fft_size = 256, .backend = Backend::kCpu}));
    return;
  }
  try {
    (void)Plan::create({.fft_size = 256, .backend = Backend::kCpu});
    ADD_FAILURE() << "FFC_CPU_ISA=avx2 was accepted without AVX2 + FMA";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::kNotSupported) << e.what();
    EXPECT_NE(std::string(e.what()).find("FFC_CPU_ISA: \"avx2\""), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ffc::testing
