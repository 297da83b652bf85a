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

#include "conv_case.hpp"

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

}  // namespace
}  // namespace ffc::testing
