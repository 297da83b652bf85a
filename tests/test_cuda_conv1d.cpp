// The short depthwise convolution on the CUDA backend (skipped, with the reason, without a GPU): the
// GPU sweep (longer rows: several tiles per row, partial channel tiles in BLH, aligned and unaligned
// lengths) against the float64 reference with derived bounds, bit-identical repeated backward calls,
// and memory-kind errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "conv1d_check.hpp"
#include "ffc/ffc.hpp"
#include "gpu_skip.hpp"

namespace ffc::testing {
namespace {

Conv1dPlan cuda_plan() {
  Conv1dPlanOptions o;
  o.backend = Backend::kCuda;
  o.device = 0;
  return Conv1dPlan::create(o);
}

class Conv1dCudaSweep : public ::testing::TestWithParam<int> {};

TEST_P(Conv1dCudaSweep, MatchesFloat64Reference) {
  SKIP_WITHOUT_GPU();
  const std::vector<Conv1dCase> cases = conv1d_sweep(true);
  const Conv1dCase& c = cases[static_cast<size_t>(GetParam())];
  SCOPED_TRACE(c.name());
  check_conv1d_case(cuda_plan(), MemorySpace(0), c, 200 + static_cast<uint64_t>(GetParam()), true);
}

INSTANTIATE_TEST_SUITE_P(Cases, Conv1dCudaSweep, ::testing::Range(0, static_cast<int>(conv1d_sweep(true).size())));

// Small shapes through the GPU path too (single partial tiles, H < 32 in BLH).
TEST(Conv1dCuda, CpuSizedSweep) {
  SKIP_WITHOUT_GPU();
  const Conv1dPlan plan = cuda_plan();
  const std::vector<Conv1dCase> cases = conv1d_sweep(false);
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name());
    check_conv1d_case(plan, MemorySpace(0), cases[i], 300 + i, true);
  }
}

TEST(Conv1dCuda, BackwardIsBitIdentical) {
  SKIP_WITHOUT_GPU();
  for (Conv1dLayout layout : {Conv1dLayout::kBHL, Conv1dLayout::kBLH}) {
    Conv1dCase c;
    c.batch = 4;
    c.channels = 96;
    c.groups = 6;
    c.length = 5000;
    c.kernel_size = 7;
    c.layout = layout;
    c.dtype = DType::kBF16;
    c.bias = true;
    c.activation = Activation::kSilu;
    SCOPED_TRACE(c.name());
    const Conv1dInputs in = Conv1dInputs::make(c, 9);
    const Conv1dPlan plan = cuda_plan();
    const Conv1dResults a = run_conv1d(plan, MemorySpace(0), c, in);
    const Conv1dResults b = run_conv1d(plan, MemorySpace(0), c, in);
    EXPECT_EQ(a.dx_bits, b.dx_bits);
    EXPECT_EQ(a.dweight_bits, b.dweight_bits);
    EXPECT_EQ(a.dbias, b.dbias);
  }
}

TEST(Conv1dCuda, HostMemoryIsRejected) {
  SKIP_WITHOUT_GPU();
  std::vector<float> x(2 * 4 * 8), w(4 * 3), y(2 * 4 * 8);
  Conv1dForwardArgs f;
  f.x = Tensor::contiguous(x.data(), DType::kBF16, {2, 4, 8});
  f.weight = Tensor::contiguous(w.data(), DType::kF32, {4, 3});
  f.y = Tensor::contiguous(y.data(), DType::kBF16, {2, 4, 8});
  f.options.causal = true;
  try {
    cuda_plan().forward(f);
    ADD_FAILURE() << "host memory accepted by a CUDA conv1d plan";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("x: "), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ffc::testing
