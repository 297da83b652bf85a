// The short depthwise convolution on the CUDA backend (skipped, with the reason, without a GPU): the
// GPU sweep (longer rows: several tiles per row, partial channel tiles in BLH, aligned and unaligned
// lengths) against the float64 reference with derived bounds, bit-identical repeated backward calls,
// and memory-kind errors.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "conv1d_check.hpp"
#include "cuda/conv1d/launch.hpp"
#include "cuda/conv1d/toeplitz_mma.hpp"
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

// The tensor-core correlation (src/cuda/conv1d/toeplitz_mma.cuh), forced: its entry points are called
// directly (this binary links the static library) with the parameters the backend gives the forward,
// SiLU's dz (kSiluGrad, f32 out) and dx (the flipped filter, offset K - 1 - P; after SiLU dx reads
// f32 dz and runs on the direct kernel, as the backend does). Checked against float64 with the
// tensor-core bound (Conv1dArithmetic::kToeplitzMma, conv1d_check.hpp).
void check_toeplitz_mma_case(Conv1dCase c, double x_scale, double w_scale, uint64_t seed) {
  namespace k1 = cuda::conv1d;
  SCOPED_TRACE(c.name() + " x scale " + std::to_string(x_scale) + " w scale " + std::to_string(w_scale));
  Conv1dInputs in = Conv1dInputs::make(c, seed);
  for (int64_t i = 0; i < in.x.numel(); ++i) in.x.set(i, in.x.value(i) * x_scale);
  for (int64_t i = 0; i < in.weight.numel(); ++i) in.weight.set(i, in.weight.value(i) * w_scale);
  const Conv1dReference ref = conv1d_reference(c, in, true, Conv1dArithmetic::kToeplitzMma);
  const MemorySpace space(0);
  const int64_t K = c.kernel_size, Lo = c.out_length(), P = c.causal ? K - 1 : c.padding;
  const int dtype = static_cast<int>(c.dtype);
  HostTensor y(c.dtype, {c.batch, c.channels, Lo}), dx(c.dtype, {c.batch, c.channels, c.length});
  y.poison();
  dx.poison();
  const Buffer x_d = space.upload(in.x), w_d = space.upload(in.weight), b_d = space.upload(in.bias);
  const Buffer dy_d = space.upload(in.dy), y_d = space.upload(y), dx_d = space.upload(dx);
  const Buffer dz_d = space.allocate(static_cast<std::size_t>(c.batch * c.channels * Lo) * sizeof(float));
  const k1::MmaDevice mma_device = k1::toeplitz_mma_device(0);
  auto run = [&](const k1::CorrelateParams& p, bool mma) {
    if (!mma) {
      (c.dtype == DType::kF16 ? k1::correlate_f16 : k1::correlate_bf16)(p, nullptr);
      return;
    }
    ASSERT_TRUE(k1::toeplitz_mma_applies(p, dtype, mma_device));
    (c.dtype == DType::kF16 ? k1::toeplitz_mma_f16 : k1::toeplitz_mma_bf16)(p, mma_device, nullptr);
  };
  k1::CorrelateParams base;
  base.weight = w_d.data();
  base.weight_dtype = static_cast<int>(c.weight_dtype);
  base.batch = c.batch;
  base.channels = c.channels;
  base.kernel_size = K;
  base.channels_per_group = c.channels / c.g();
  const bool silu = c.activation == Activation::kSilu;
  k1::CorrelateParams f = base;  // forward
  f.in = x_d.data();
  f.out = y_d.data();
  f.bias = c.bias ? b_d.data() : nullptr;
  f.bias_dtype = static_cast<int>(c.weight_dtype);
  f.in_length = c.length;
  f.out_length = Lo;
  f.offset = P;
  f.epilogue = silu ? k1::Epilogue::kSilu : k1::Epilogue::kLinear;
  run(f, true);
  if (silu) {  // dz = dy SiLU'(z), z recomputed on the tensor cores
    k1::CorrelateParams g = f;
    g.out = dz_d.data();
    g.out_f32 = true;
    g.dy = dy_d.data();
    g.epilogue = k1::Epilogue::kSiluGrad;
    run(g, true);
  }
  k1::CorrelateParams d = base;  // dx
  d.in = silu ? dz_d.data() : dy_d.data();
  d.in_f32 = silu;
  d.out = dx_d.data();
  d.flip = true;
  d.in_length = Lo;
  d.out_length = c.length;
  d.offset = K - 1 - P;
  run(d, !silu);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  y_d.download(y);
  dx_d.download(dx);
  expect_within("y", c, y.read_back(), ref.y);
  expect_within("dx", c, dx.read_back(), ref.dx);
}

TEST(Conv1dCudaMma, MatchesFloat64Reference) {
  SKIP_WITHOUT_GPU();
  uint64_t seed = 500;
  int counter = 0;
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    for (int64_t k : {64, 127, 128, 256, 1024}) {
      for (int variant = 0; variant < 3; ++variant) {
        Conv1dCase c;
        c.dtype = dtype;
        c.kernel_size = k;
        c.causal = variant == 0;
        c.padding = variant == 1 ? k / 2 : k + 3;  // 'same', and beyond K - 1 (dx's offset negative)
        c.batch = 3;
        c.channels = 6;
        c.length = k >= 256 ? 2500 : 4096 + variant;  // several warp tiles; odd lengths
        const DType weights[] = {DType::kF32, DType::kF16, DType::kBF16};
        c.weight_dtype = weights[counter % 3];
        c.bias = counter % 2 == 1;
        c.activation = counter % 3 == 2 ? Activation::kSilu : Activation::kNone;
        c.groups = counter % 4 == 0 ? 2 : 0;
        ++counter;
        check_toeplitz_mma_case(c, 1.0, 1.0, seed++);
      }
      Conv1dCase s;  // L < K, causal and symmetric
      s.dtype = dtype;
      s.kernel_size = k;
      s.length = k / 2 + 1;
      s.causal = k % 2 == 0;
      s.padding = k / 2;
      s.bias = true;
      check_toeplitz_mma_case(s, 1.0, 1.0, seed++);
    }
    // Magnitudes: tiny and large x and filters (the f16 filter scale), with bias and SiLU.
    for (double xs : {1e-6, 1.0, 1e4}) {
      for (double ws : {1e-6, 1e4}) {
        Conv1dCase c;
        c.dtype = dtype;
        c.kernel_size = 128;
        c.length = 3000;
        c.causal = true;
        c.bias = true;
        c.activation = xs == 1.0 ? Activation::kSilu : Activation::kNone;
        c.weight_dtype = DType::kF32;
        if (dtype == DType::kF16 && xs * ws > 1e3) continue;  // keeps f16 y finite (|y| ~ x w)
        check_toeplitz_mma_case(c, xs, ws, seed++);
      }
    }
  }
}

// The rule of the calls it takes.
TEST(Conv1dCudaMma, Applies) {
  SKIP_WITHOUT_GPU();
  cuda::conv1d::CorrelateParams p;
  p.batch = 1;
  p.channels = 1;
  p.in_length = p.out_length = 100;
  p.kernel_size = 128;
  const cuda::conv1d::MmaDevice d = cuda::conv1d::toeplitz_mma_device(0);
  EXPECT_TRUE(cuda::conv1d::toeplitz_mma_applies(p, 2, d));
  EXPECT_TRUE(cuda::conv1d::toeplitz_mma_applies(p, 1, d));
  EXPECT_FALSE(cuda::conv1d::toeplitz_mma_applies(p, 0, d));  // f32 calls stay on the f32 kernel
  p.in_f32 = true;
  EXPECT_FALSE(cuda::conv1d::toeplitz_mma_applies(p, 2, d));
  p.in_f32 = false;
  p.blh = true;
  EXPECT_FALSE(cuda::conv1d::toeplitz_mma_applies(p, 2, d));
  p.blh = false;
  p.kernel_size = 63;
  EXPECT_FALSE(cuda::conv1d::toeplitz_mma_applies(p, 2, d));
  p.kernel_size = 1025;
  EXPECT_FALSE(cuda::conv1d::toeplitz_mma_applies(p, 2, d));
  p.kernel_size = 1024;
  cuda::conv1d::MmaDevice small = d;
  small.smem_optin = 48 * 1024;  // K = 1024 needs about 135 KiB
  EXPECT_TRUE(cuda::conv1d::toeplitz_mma_applies(p, 2, d));
  EXPECT_FALSE(cuda::conv1d::toeplitz_mma_applies(p, 2, small));
}

}  // namespace
}  // namespace ffc::testing
