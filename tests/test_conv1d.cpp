// The short depthwise convolution on the CPU backend: every K of the issue against the float64
// reference with derived bounds (tests/support/conv1d_check.hpp), determinism across thread counts,
// the adjoint identity, empty problems, every validation error and the C ABI.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "conv1d_check.hpp"
#include "ffc/ffc.h"
#include "ffc/ffc.hpp"

namespace ffc::testing {
namespace {

Conv1dPlan cpu_plan(int threads = 0) {
  Conv1dPlanOptions o;
  o.backend = Backend::kCpu;
  o.num_threads = threads;
  return Conv1dPlan::create(o);
}

class Conv1dCpuSweep : public ::testing::TestWithParam<int> {};

TEST_P(Conv1dCpuSweep, MatchesFloat64Reference) {
  const std::vector<Conv1dCase> cases = conv1d_sweep(false);
  const Conv1dCase& c = cases[static_cast<size_t>(GetParam())];
  SCOPED_TRACE(c.name());
  check_conv1d_case(cpu_plan(), MemorySpace(-1), c, 100 + static_cast<uint64_t>(GetParam()), false);
}

INSTANTIATE_TEST_SUITE_P(Cases, Conv1dCpuSweep,
                         ::testing::Range(0, static_cast<int>(conv1d_sweep(false).size())));

TEST(Conv1dCpu, SameBitsForAnyThreadCount) {
  Conv1dCase c;
  c.batch = 3;
  c.channels = 8;
  c.groups = 2;
  c.length = 301;
  c.kernel_size = 7;
  c.dtype = DType::kBF16;
  c.bias = true;
  c.activation = Activation::kSilu;
  const Conv1dInputs in = Conv1dInputs::make(c, 7);
  const Conv1dResults one = run_conv1d(cpu_plan(1), MemorySpace(-1), c, in);
  const Conv1dResults two = run_conv1d(cpu_plan(2), MemorySpace(-1), c, in);
  const Conv1dResults again = run_conv1d(cpu_plan(2), MemorySpace(-1), c, in);
  EXPECT_EQ(one.dx_bits, two.dx_bits);
  EXPECT_EQ(one.dweight_bits, two.dweight_bits);
  EXPECT_EQ(two.dweight_bits, again.dweight_bits);
  EXPECT_EQ(one.dbias, two.dbias);
}

// <conv(x), dy> = <x, dx> for the linear operator (no bias, no activation), every padding.
TEST(Conv1dCpu, AdjointIdentity) {
  for (int variant = 0; variant < 3; ++variant) {
    Conv1dCase c;
    c.kernel_size = 6;
    c.length = 50;
    c.causal = variant == 0;
    c.padding = variant == 1 ? 2 : 8;
    c.layout = variant == 2 ? Conv1dLayout::kBLH : Conv1dLayout::kBHL;
    SCOPED_TRACE(c.name());
    const Conv1dInputs in = Conv1dInputs::make(c, 11);
    const Conv1dResults r = run_conv1d(cpu_plan(), MemorySpace(-1), c, in);
    double lhs = 0, rhs = 0;
    for (size_t i = 0; i < r.y.size(); ++i) lhs += r.y[i] * in.dy.value(static_cast<int64_t>(i));
    for (size_t i = 0; i < r.dx.size(); ++i) rhs += in.x.value(static_cast<int64_t>(i)) * r.dx[i];
    // Both sides sum the terms dy[t] w[j] x[t + j - P], each through one f32 correlation of K taps:
    // |lhs - rhs| <= 2 gamma(K + 2) M, M = the sum of the terms' magnitudes.
    const int64_t L = c.length, Lo = c.out_length(), P = c.causal ? c.kernel_size - 1 : c.padding;
    auto at = [&](int64_t ch, int64_t t, int64_t len) {
      return c.layout == Conv1dLayout::kBHL ? ch * len + t : t * c.channels + ch;
    };
    double m = 0;
    for (int64_t b = 0; b < c.batch; ++b) {
      for (int64_t ch = 0; ch < c.channels; ++ch) {
        for (int64_t t = 0; t < Lo; ++t) {
          for (int64_t j = 0; j < c.kernel_size; ++j) {
            const int64_t s = t + j - P;
            if (s < 0 || s >= L) continue;
            m += std::fabs(in.dy.value(b * c.channels * Lo + at(ch, t, Lo)) * in.weight.value(ch * c.kernel_size + j) *
                           in.x.value(b * c.channels * L + at(ch, s, L)));
          }
        }
      }
    }
    const double n = static_cast<double>(c.kernel_size + 2) * 0x1p-24;
    EXPECT_NEAR(lhs, rhs, 2 * n / (1 - n) * m + 1e-12 * m);
  }
}

TEST(Conv1dCpu, EmptyProblems) {
  const Conv1dPlan plan = cpu_plan();
  std::vector<float> w(2 * 3, 1.0f), dw(6, -1.0f), db(2, -1.0f), none(1);
  Conv1dBackwardArgs a;
  a.x = Tensor::contiguous(none.data(), DType::kF32, {0, 2, 10});  // B = 0
  a.dy = Tensor::contiguous(none.data(), DType::kF32, {0, 2, 10});
  a.weight = Tensor::contiguous(w.data(), DType::kF32, {2, 3});
  a.dweight = Tensor::contiguous(dw.data(), DType::kF32, {2, 3});
  a.dbias = Tensor::contiguous(db.data(), DType::kF32, {2});
  a.options.causal = true;
  plan.backward(a);
  for (float v : dw) EXPECT_EQ(v, 0.0f);
  for (float v : db) EXPECT_EQ(v, 0.0f);
  // Causal with L = 0: nothing to write forward; zero sums backward.
  Conv1dForwardArgs f;
  f.x = Tensor::contiguous(none.data(), DType::kF32, {1, 2, 0});
  f.y = Tensor::contiguous(none.data(), DType::kF32, {1, 2, 0});
  f.weight = a.weight;
  f.options.causal = true;
  EXPECT_NO_THROW(plan.forward(f));
}

// ---- validation: the message names the argument and the rule ------------------------------------
struct Shapes {
  std::vector<float> x = std::vector<float>(2 * 4 * 16, 0.5f), y = std::vector<float>(2 * 4 * 16);
  std::vector<float> w = std::vector<float>(2 * 3, 0.25f), bias = std::vector<float>(4);
  std::vector<float> dw = std::vector<float>(2 * 3), db = std::vector<float>(4);
  Conv1dForwardArgs forward() {
    Conv1dForwardArgs f;
    f.x = Tensor::contiguous(x.data(), DType::kF32, {2, 4, 16});
    f.weight = Tensor::contiguous(w.data(), DType::kF32, {2, 3});
    f.bias = Tensor::contiguous(bias.data(), DType::kF32, {4});
    f.y = Tensor::contiguous(y.data(), DType::kF32, {2, 4, 16});
    f.options.causal = true;
    return f;
  }
};

void expect_invalid(const std::function<void()>& call, const std::vector<std::string>& parts) {
  try {
    call();
    ADD_FAILURE() << "no error; expected one naming " << parts.front();
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::kInvalidArgument) << e.what();
    for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(Conv1dValidation, ForwardErrorsNameTheArgument) {
  const Conv1dPlan plan = cpu_plan();
  Shapes s;
  EXPECT_NO_THROW(plan.forward(s.forward()));
  auto with = [&](const std::function<void(Conv1dForwardArgs&)>& change) {
    return [&plan, &s, change] {
      Conv1dForwardArgs f = s.forward();
      change(f);
      plan.forward(f);
    };
  };
  expect_invalid(with([&](auto& f) { f.weight = Tensor::contiguous(s.w.data(), DType::kF32, {2, 0}); }),
                 {"weight: kernel size K = 0", "1 <= K <= 1024"});
  std::vector<float> big(2 * 1025);
  expect_invalid(with([&](auto& f) { f.weight = Tensor::contiguous(big.data(), DType::kF32, {2, 1025}); }),
                 {"weight: kernel size K = 1025"});
  expect_invalid(with([&](auto& f) { f.weight = Tensor::contiguous(s.w.data(), DType::kF32, {3, 2}); }),
                 {"weight: G = 3 filters for H = 4 channels", "multiple of G"});
  expect_invalid(with([&](auto& f) { f.y = Tensor::contiguous(s.y.data(), DType::kF32, {2, 4, 15}); }),
                 {"y: shape (2, 4, 15)", "(2, 4, 16)"});
  expect_invalid(with([&](auto& f) { f.y.dtype = DType::kBF16; }), {"y: dtype bf16", "dtype of x"});
  expect_invalid(with([&](auto& f) { f.bias = Tensor::contiguous(s.bias.data(), DType::kF32, {3}); }),
                 {"bias: 3 values for H = 4"});
  expect_invalid(with([&](auto& f) { f.options.padding = 1; }), {"padding: 1 with causal", "0 or K - 1"});
  expect_invalid(with([&](auto& f) { f.options.causal = false; f.options.padding = -1; }), {"padding: -1"});
  expect_invalid(with([&](auto& f) {
                   f.options.causal = false;
                   f.x = Tensor::contiguous(s.x.data(), DType::kF32, {2, 4, 1});
                 }),
                 {"x: length L = 1", "L + 2 * padding >= K"});
  expect_invalid(with([&](auto& f) { f.options.layout = static_cast<Conv1dLayout>(7); }), {"layout: code 7"});
  expect_invalid(with([&](auto& f) { f.options.activation = static_cast<Activation>(3); }), {"activation: code 3"});
  expect_invalid(with([&](auto& f) { f.x = Tensor::contiguous(s.x.data(), DType::kF32, {8, 16}); }),
                 {"x: rank 2", "(B, H, L)"});
  expect_invalid(with([&](auto& f) { f.y = f.x; }), {"y: overlaps x"});
  expect_invalid(with([&](auto& f) {
                   f.options.layout = Conv1dLayout::kBLH;  // x (2, 4, 16) read as (B, L, H): H = 16
                   f.bias.reset();
                   f.weight = Tensor::contiguous(s.w.data(), DType::kF32, {3, 2});
                 }),
                 {"weight: G = 3 filters for H = 16"});
}

TEST(Conv1dValidation, BackwardErrorsNameTheArgument) {
  const Conv1dPlan plan = cpu_plan();
  Shapes s;
  std::vector<float> dy(2 * 4 * 16), dx(2 * 4 * 16);
  auto args = [&] {
    const Conv1dForwardArgs f = s.forward();
    Conv1dBackwardArgs a;
    a.dy = Tensor::contiguous(dy.data(), DType::kF32, {2, 4, 16});
    a.x = f.x;
    a.weight = f.weight;
    a.dx = Tensor::contiguous(dx.data(), DType::kF32, {2, 4, 16});
    a.dweight = Tensor::contiguous(s.dw.data(), DType::kF32, {2, 3});
    a.dbias = Tensor::contiguous(s.db.data(), DType::kF32, {4});
    a.options = f.options;
    return a;
  };
  EXPECT_NO_THROW(plan.backward(args()));
  auto with = [&](const std::function<void(Conv1dBackwardArgs&)>& change) {
    return [&plan, &args, change] {
      Conv1dBackwardArgs a = args();
      change(a);
      plan.backward(a);
    };
  };
  expect_invalid(with([](auto& a) { a.dx.reset(); a.dweight.reset(); a.dbias.reset(); }),
                 {"dx, dweight and dbias: none given"});
  expect_invalid(with([](auto& a) { a.dweight->dtype = DType::kF16; }), {"dweight: dtype f16", "f32"});
  expect_invalid(with([&](auto& a) { a.dweight = Tensor::contiguous(s.dw.data(), DType::kF32, {3, 2}); }),
                 {"dweight: shape (3, 2)", "(G, K)"});
  expect_invalid(with([&](auto& a) { a.dbias = Tensor::contiguous(s.db.data(), DType::kF32, {2}); }),
                 {"dbias: shape (2,)"});
  expect_invalid(with([&](auto& a) { a.dy = Tensor::contiguous(dy.data(), DType::kF32, {2, 4, 14}); }),
                 {"dy: shape (2, 4, 14)"});
  expect_invalid(with([&](auto& a) { a.dx = a.dy; }), {"dx: overlaps dy"});
  expect_invalid(with([&](auto& a) { a.dbias = Tensor::contiguous(s.dw.data(), DType::kF32, {4}); }),
                 {"dbias: overlaps dweight"});
}

// ---- the C ABI -----------------------------------------------------------------------------------
ffc_tensor_t c_tensor(void* data, ffc_dtype_t dtype, std::initializer_list<int64_t> shape) {
  const Tensor t = Tensor::contiguous(data, static_cast<DType>(dtype), shape);
  ffc_tensor_t c{};
  c.data = t.data;
  c.dtype = dtype;
  c.ndim = t.ndim;
  for (int i = 0; i < 3; ++i) {
    c.shape[i] = t.shape[i];
    c.strides[i] = t.strides[i];
  }
  return c;
}

TEST(Conv1dCApi, ForwardBackwardAndErrors) {
  ffc_conv1d_plan_options_t o = FFC_CONV1D_PLAN_OPTIONS_INIT;
  o.backend = FFC_BACKEND_CPU;
  ffc_conv1d_plan_t* plan = nullptr;
  ASSERT_EQ(ffc_conv1d_plan_create(&o, &plan), FFC_SUCCESS) << ffc_last_error();
  ffc_backend_t backend = FFC_BACKEND_AUTO;
  int32_t device = 0;
  ASSERT_EQ(ffc_conv1d_plan_get_backend(plan, &backend, &device), FFC_SUCCESS);
  EXPECT_EQ(backend, FFC_BACKEND_CPU);
  EXPECT_EQ(device, -1);

  // x = 1 everywhere, w = (1, 2, 3), causal: y = 3 + 2 + 1 = 6 from t = 2 on, 5 at t = 1, 3 at t = 0.
  std::vector<float> x(1 * 2 * 5, 1.0f), w = {1, 2, 3}, y(10), dx(10), dw(3);
  ffc_tensor_t xt = c_tensor(x.data(), FFC_F32, {1, 2, 5}), wt = c_tensor(w.data(), FFC_F32, {1, 3});
  ffc_tensor_t yt = c_tensor(y.data(), FFC_F32, {1, 2, 5});
  ffc_conv1d_forward_args_t f = FFC_CONV1D_FORWARD_ARGS_INIT;
  f.x = &xt;
  f.weight = &wt;
  f.y = &yt;
  f.causal = 1;
  ASSERT_EQ(ffc_conv1d_forward(plan, &f, nullptr), FFC_SUCCESS) << ffc_last_error();
  EXPECT_EQ(y[0], 3.0f);
  EXPECT_EQ(y[1], 5.0f);
  EXPECT_EQ(y[4], 6.0f);
  EXPECT_EQ(y[9], 6.0f);

  ffc_tensor_t dxt = c_tensor(dx.data(), FFC_F32, {1, 2, 5}), dwt = c_tensor(dw.data(), FFC_F32, {1, 3});
  ffc_conv1d_backward_args_t b = FFC_CONV1D_BACKWARD_ARGS_INIT;
  b.dy = &xt;  // dy = 1
  b.x = &xt;
  b.weight = &wt;
  b.dx = &dxt;
  b.dweight = &dwt;
  b.causal = 1;
  size_t bytes = 1;
  ASSERT_EQ(ffc_conv1d_backward_workspace_bytes(plan, &b, &bytes), FFC_SUCCESS) << ffc_last_error();
  EXPECT_EQ(bytes, 0u);
  ASSERT_EQ(ffc_conv1d_backward(plan, &b, nullptr), FFC_SUCCESS) << ffc_last_error();
  // dx[s] = sum_{t = s}^{min(s + 2, 4)} w[2 - (t - s)]: 6 inside, 5 and 3 at the end.
  EXPECT_EQ(dx[0], 6.0f);
  EXPECT_EQ(dx[3], 5.0f);
  EXPECT_EQ(dx[4], 3.0f);
  // dw[j] = sum over 2 channels of the number of t with t + j - 2 in [0, 5): 3, 4, 5 each.
  EXPECT_EQ(dw[0], 6.0f);
  EXPECT_EQ(dw[1], 8.0f);
  EXPECT_EQ(dw[2], 10.0f);

  f.causal = 2;
  EXPECT_EQ(ffc_conv1d_forward(plan, &f, nullptr), FFC_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ffc_last_error()).find("causal: 2"), std::string::npos) << ffc_last_error();
  f.causal = 1;
  f.reserved = 1;
  EXPECT_EQ(ffc_conv1d_forward(plan, &f, nullptr), FFC_INVALID_ARGUMENT);
  f.reserved = 0;
  f.struct_size = 8;
  EXPECT_EQ(ffc_conv1d_forward(plan, &f, nullptr), FFC_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ffc_last_error()).find("struct_size"), std::string::npos);
  EXPECT_EQ(ffc_conv1d_forward(nullptr, &f, nullptr), FFC_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ffc_last_error()).find("plan: null"), std::string::npos);
  ffc_conv1d_plan_destroy(plan);
  ffc_conv1d_plan_destroy(nullptr);
}

}  // namespace
}  // namespace ffc::testing
