// The CUDA backend at the long FFT sizes (65536 .. 4194304, the four-step algorithm) against the
// float64 oracle: forward and backward, f16 and bf16, gated and plain (each gate alone), causal,
// circular and odd lengths with partial filters; many items over several chunks (heads split
// between chunks in the dk reduction); determinism; causality; the workspace bound. Skips when no
// CUDA device is present.
//
// Tolerances (docs/numerics.md): y, du, dpregate and dpostgate keep the forward bounds of the
// dtype (f16 5e-4, bf16 3e-3: the output rounding dominates, the transforms are f32). dk is f32
// end to end: each f32 transform adds about log2(N) u_f32 (2e-6 at 4M) relative, a few of them
// in quadrature stay below 1e-5; 1e-4 leaves a factor ten.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "backward_call.hpp"
#include "conv_case.hpp"
#include "device_memory.hpp"
#include "gpu_skip.hpp"

namespace ffc::testing {
using namespace ffc::reference;
namespace {

constexpr double kLongDkTolerance = 1e-4;

// The portable family: at 65536 the four-step algorithm, not the fused cluster that Hopper picks.
Plan cuda_plan(int64_t n) {
  return Plan::create({.fft_size = n, .backend = Backend::kCuda, .cuda_path = CudaPath::kPortable});
}

void check_backward(const Plan& plan, const GradCase& c, uint64_t seed, const std::string& mode) {
  expect_cuda_gradients(plan, c, seed, mode, kLongDkTolerance);
}

struct Mode {
  const char* name;
  int64_t length, filter_length;
};

// Causal, circular and odd lengths with a partial filter; the largest sizes run the first two.
std::vector<Mode> modes_of(int64_t n) {
  std::vector<Mode> modes = {{"causal", n / 2, n / 2}, {"circular", n, n}};
  if (n <= 1048576) modes.push_back({"odd_partial", n / 2 - 1, n / 8 + 3});
  if (n == 65536) modes.push_back({"short", 4099, 5});
  return modes;
}

class CudaLongSize : public ::testing::TestWithParam<int> {};

TEST_P(CudaLongSize, ForwardMatchesFloat64Oracle) {
  SKIP_WITHOUT_GPU();
  const int64_t n = GetParam();
  Plan plan = cuda_plan(n);
  EXPECT_EQ(plan.info().algorithm, "four_step");
  uint64_t seed = 300 + static_cast<uint64_t>(n);
  int combo = 0;
  for (const Mode& mode : modes_of(n)) {
    for (DType dtype : {DType::kF16, DType::kBF16}) {
      for (int gating = 0; gating < 4; ++gating, ++combo) {
        if (n > 1048576 && (gating == 1 || gating == 2)) continue;
        ConvCase c;
        c.fft_size = n;
        c.batch = n > 1048576 ? 2 : 3;  // 3: a pair and a lone row
        c.heads = n > 262144 ? 1 : 2;
        c.length = mode.length;
        c.filter_length = mode.filter_length;
        c.dtype = dtype;
        c.pregate = gating & 1;
        c.postgate = gating & 2;
        c.use_spectrum = combo % 2 == 1;
        const ConvResult r = run_and_check(plan, c, seed++);
        EXPECT_LE(r.rel_err, forward_tolerance(Backend::kCuda, dtype)) << mode.name << ": " << c.describe();
      }
    }
  }
}

TEST_P(CudaLongSize, BackwardMatchesFloat64Reference) {
  SKIP_WITHOUT_GPU();
  const int64_t n = GetParam();
  Plan plan = cuda_plan(n);
  uint64_t seed = 700 + static_cast<uint64_t>(n);
  int combo = 0;
  for (const Mode& mode : modes_of(n)) {
    for (DType dtype : {DType::kF16, DType::kBF16}) {
      for (int gating = 0; gating < 4; ++gating, ++combo) {
        if (n > 262144 && (gating == 1 || gating == 2)) continue;
        GradCase c;
        c.conv.fft_size = n;
        c.conv.batch = n > 1048576 ? 2 : 3;
        c.conv.heads = n > 262144 ? 1 : 2;
        c.conv.length = mode.length;
        c.conv.filter_length = mode.filter_length;
        c.conv.dtype = dtype;
        c.conv.pregate = gating & 1;
        c.conv.postgate = gating & 2;
        c.conv.use_spectrum = combo % 2 == 1;
        if (std::string(mode.name) == "odd_partial") c.grad_filter_length = n / 4 + 5;
        check_backward(plan, c, seed++, mode.name);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, CudaLongSize,
                         ::testing::Values(65536, 131072, 262144, 524288, 1048576, 2097152, 4194304),
                         [](const ::testing::TestParamInfo<int>& param) { return "N" + std::to_string(param.param); });

// More items than one chunk holds (64 forward, 32 backward at N = 65536) with three rows per head
// pair count 2 (batch 5: pairs 0-1, 2-3 and the lone row 4), so chunk boundaries fall inside heads:
// the dk ring carries a head's partial spectrum from one chunk to the next.
TEST(CudaLong, ManyItemsOverSeveralChunks) {
  SKIP_WITHOUT_GPU();
  const int64_t n = 65536;
  Plan plan = cuda_plan(n);
  GradCase c;
  c.conv.fft_size = n;
  c.conv.batch = 5;
  c.conv.heads = 30;  // 90 items
  c.conv.length = n / 2;
  c.conv.filter_length = n / 2;
  c.conv.dtype = DType::kBF16;
  c.conv.pregate = c.conv.postgate = true;
  const ConvResult r = run_and_check(plan, c.conv, 41);
  EXPECT_LE(r.rel_err, forward_tolerance(Backend::kCuda, DType::kBF16)) << c.conv.describe();
  check_backward(plan, c, 42, "chunks");
  for (int which = 0; which < 4; ++which) {
    GradCase one = c;
    one.conv.heads = 11;
    one.du = which == 0;
    one.dk = which == 1;
    one.dpre = which == 2;
    one.dpost = which == 3;
    check_backward(plan, one, 50 + static_cast<uint64_t>(which), "one gradient");
  }
}

// Two runs of the same call give the same bits (no atomics in any sum), and a causal output does
// not see the future: changing u at t0 leaves y[t < t0] bit-identical.
TEST(CudaLong, DeterministicAndCausal) {
  SKIP_WITHOUT_GPU();
  const int64_t n = 262144;
  Plan plan = cuda_plan(n);
  ConvCase c;
  c.fft_size = n;
  c.batch = 4;
  c.heads = 3;
  c.length = n / 2;
  c.filter_length = n / 2;
  c.dtype = DType::kF16;
  c.pregate = c.postgate = true;
  ConvInputs in = ConvInputs::make(c, 9);
  const std::vector<double> a = run_library(plan, c, in);
  const std::vector<double> b = run_library(plan, c, in);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(double)));
  const int64_t t0 = c.length / 3;
  const std::vector<double> ref = run_oracle(c, in);
  for (int64_t row = 0; row < c.batch * c.heads; ++row) in.u.set(row * c.length + t0, 1000.0);
  const std::vector<double> changed = run_library(plan, c, in);
  // Every output before t0 is unchanged up to the row's scale (the changed row's power-of-two
  // scale may differ: outputs are then equal to the dtype's rounding, not bitwise).
  double diff = 0, norm = 0;
  for (int64_t row = 0; row < c.batch * c.heads; ++row) {
    for (int64_t t = 0; t < t0; ++t) {
      const size_t i = static_cast<size_t>(row * c.length + t);
      diff += (changed[i] - a[i]) * (changed[i] - a[i]);
      norm += ref[i] * ref[i];
    }
  }
  EXPECT_LE(std::sqrt(diff / norm), forward_tolerance(Backend::kCuda, DType::kF16));
}

// The backward workspace is bounded by a chunk, not by B x H: only the filter spectrum grows with H.
TEST(CudaLong, WorkspaceDoesNotGrowWithBatchOrHeads) {
  SKIP_WITHOUT_GPU();
  Plan plan = cuda_plan(1048576);
  const std::size_t small = plan.backward_workspace_bytes(1, 1) - plan.spectrum_bytes(1);
  const std::size_t large = plan.backward_workspace_bytes(64, 4096) - plan.spectrum_bytes(4096);
  EXPECT_LE(large, small + 256);
  EXPECT_LE(large, std::size_t{512} << 20);
}

}  // namespace
}  // namespace ffc::testing
