// Every invalid input is rejected with kInvalidArgument (or kNotSupported / kNoDevice for plans the
// build or machine cannot make), a message naming the argument, the value and the rule, and no
// output written.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include "conv_case.hpp"

namespace ffc::testing {
using namespace ffc::reference;
namespace {

class ForwardValidation : public ::testing::Test {
 protected:
  static constexpr int64_t kN = 256, kB = 2, kH = 3, kL = 100, kLk = 50;

  void SetUp() override {
    std::mt19937_64 rng(1);
    u = HostTensor(DType::kF16, {kB, kH, kL});
    u.fill(Distribution::kRandn, rng);
    pre = u;
    post = u;
    y = HostTensor(DType::kF16, {kB, kH, kL});
    y.poison();
    k = HostTensor(DType::kF32, {kH, kLk});
    k.fill(Distribution::kRandn, rng);
    workspace.resize(plan.workspace_bytes(kH));
    spectrum.resize(plan.spectrum_bytes(kH));
    args.u = u.view();
    args.y = y.view();
    args.k = k.view();
    args.pregate = pre.view();
    args.postgate = post.view();
    args.workspace = workspace.data();
    args.workspace_bytes = workspace.size();
  }

  // Runs forward expecting `status`, a message containing every fragment, and y untouched.
  void expect_rejected(const std::vector<std::string>& fragments,
                       Status status = Status::kInvalidArgument) {
    const std::vector<unsigned char> before(static_cast<unsigned char*>(y.data()),
                                            static_cast<unsigned char*>(y.data()) + y.bytes());
    try {
      plan.forward(args);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), status) << e.what();
      for (const std::string& f : fragments) {
        EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
            << "message \"" << e.what() << "\" lacks \"" << f << "\"";
      }
    }
    EXPECT_EQ(std::memcmp(before.data(), y.data(), y.bytes()), 0) << "output was written";
  }

  Plan plan = Plan::create({.fft_size = kN, .backend = Backend::kCpu});
  HostTensor u, pre, post, y, k;
  std::vector<unsigned char> workspace, spectrum;
  ForwardArgs args;
};

TEST_F(ForwardValidation, ValidArgumentsRun) { EXPECT_NO_THROW(plan.forward(args)); }

TEST_F(ForwardValidation, WrongRank) {
  args.u.ndim = 2;
  expect_rejected({"u:", "rank 2", "(B, H, L)"});
}

TEST_F(ForwardValidation, LengthAboveFftSize) {
  HostTensor big(DType::kF16, {kB, kH, kN + 1}), ybig(DType::kF16, {kB, kH, kN + 1});
  args.u = big.view();
  args.y = ybig.view();
  args.pregate.reset();
  args.postgate.reset();
  expect_rejected({"u:", "L = 257", "fft_size = 256", "L <= fft_size"});
}

TEST_F(ForwardValidation, FilterLongerThanFftSize) {
  HostTensor longk(DType::kF32, {kH, kN + 5});
  args.k = longk.view();
  expect_rejected({"k:", "Lk = 261", "Lk <= fft_size"});
}

TEST_F(ForwardValidation, FilterHeadsMismatch) {
  HostTensor k2(DType::kF32, {kH + 1, kLk});
  args.k = k2.view();
  expect_rejected({"k:", "4 filters", "H = 3"});
}

TEST_F(ForwardValidation, EmptyFilter) {
  HostTensor k0(DType::kF32, {kH, 0});
  args.k = k0.view();
  expect_rejected({"k:", "Lk = 0", "1 <= Lk"});
}

TEST_F(ForwardValidation, DtypeMismatch) {
  HostTensor pre32(DType::kF32, {kB, kH, kL});
  args.pregate = pre32.view();
  expect_rejected({"pregate:", "f32", "f16", "share one dtype"});
  args.pregate = pre.view();
  HostTensor y32(DType::kBF16, {kB, kH, kL});
  args.y = y32.view();
  expect_rejected({"y:", "bf16"});
}

TEST_F(ForwardValidation, InvalidDtypeCode) {
  args.u.dtype = static_cast<DType>(9);
  expect_rejected({"u:", "dtype code 9"});
}

TEST_F(ForwardValidation, ShapeMismatch) {
  HostTensor post2(DType::kF16, {kB, kH, kL - 1});
  args.postgate = post2.view();
  expect_rejected({"postgate:", "(2, 3, 99)", "(2, 3, 100)"});
}

TEST_F(ForwardValidation, NullPointers) {
  args.u.data = nullptr;
  expect_rejected({"u:", "null"});
  args.u = u.view();
  args.k->data = nullptr;
  expect_rejected({"k:", "null"});
  args.k = k.view();
  args.workspace = nullptr;
  expect_rejected({"workspace:", "null"});
}

TEST_F(ForwardValidation, NonContiguous) {
  args.u.strides[2] = 2;
  expect_rejected({"u:", "not contiguous", "strides (300, 100, 2)", "(300, 100, 1)"});
  args.u = u.view();
  args.pregate->strides[0] = 1;
  expect_rejected({"pregate:", "not contiguous"});
}

TEST_F(ForwardValidation, NegativeShape) {
  args.u.shape[1] = -3;
  expect_rejected({"u:", "negative"});
}

TEST_F(ForwardValidation, MisalignedData) {
  args.u.data = static_cast<char*>(u.data()) + 1;
  expect_rejected({"u:", "aligned"});
}

TEST_F(ForwardValidation, FilterFormsAreExclusive) {
  args.spectrum = FilterSpectrum{spectrum.data(), spectrum.size(), kH};
  expect_rejected({"k and spectrum", "both"});
  args.k.reset();
  args.spectrum.reset();
  expect_rejected({"k and spectrum", "neither"});
}

TEST_F(ForwardValidation, SpectrumChecks) {
  args.k.reset();
  args.spectrum = FilterSpectrum{spectrum.data(), spectrum.size() - 1, kH};
  expect_rejected({"spectrum:", "bytes given", "exactly spectrum_bytes(H)"});
  args.spectrum = FilterSpectrum{spectrum.data(), spectrum.size(), kH - 1};
  expect_rejected({"spectrum:", "2 heads", "H = 3"});
  args.spectrum = FilterSpectrum{nullptr, spectrum.size(), kH};
  expect_rejected({"spectrum:", "null"});
}

// A spectrum made by a plan of another FFT size would be read as garbage; its size gives it away.
TEST_F(ForwardValidation, SpectrumOfAnotherPlanIsRejected) {
  args.k.reset();
  for (int64_t other : {kN / 2, kN * 2}) {
    Plan other_plan = Plan::create({.fft_size = other, .backend = Backend::kCpu});
    ASSERT_NE(other_plan.spectrum_bytes(kH), plan.spectrum_bytes(kH));
    std::vector<unsigned char> theirs(other_plan.spectrum_bytes(kH));
    HostTensor k_short(DType::kF32, {kH, std::min<int64_t>(kLk, other)});
    other_plan.transform_filter(k_short.view(), theirs.data(), theirs.size());
    args.spectrum = FilterSpectrum{theirs.data(), theirs.size(), kH};
    expect_rejected({"spectrum:", std::to_string(theirs.size()) + " bytes given",
                     "fft_size = " + std::to_string(kN)});
  }
}

TEST_F(ForwardValidation, WorkspaceTooSmall) {
  args.workspace_bytes = workspace.size() - 4;
  expect_rejected({"workspace:", "needed"});
}

TEST_F(ForwardValidation, PartialOverlapOfOutput) {
  // y starting one row into u: partial overlap.
  HostTensor both(DType::kF16, {kB + 1, kH, kL});
  args.u = both.view();
  args.u.shape[0] = kB;
  args.y = args.u;
  args.y.data = static_cast<char*>(both.data()) + kL * 2;
  args.pregate.reset();
  args.postgate.reset();
  expect_rejected({"y:", "overlaps u"});
}

TEST(PlanValidation, UnsupportedSizes) {
  for (int64_t n : {int64_t{0}, int64_t{-4}, int64_t{8}, int64_t{100}, int64_t{1} << 23}) {
    try {
      Plan::create({.fft_size = n, .backend = Backend::kCpu});
      ADD_FAILURE() << n;
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), Status::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("fft_size: " + std::to_string(n)), std::string::npos);
      EXPECT_NE(std::string(e.what()).find("power of two"), std::string::npos);
    }
  }
}

TEST(PlanValidation, BadOptions) {
  EXPECT_THROW(Plan::create({.fft_size = 64, .backend = static_cast<Backend>(7)}), Error);
  EXPECT_THROW(Plan::create({.fft_size = 64, .backend = Backend::kCpu, .num_threads = -1}), Error);
}

TEST(PlanValidation, CudaWithoutDeviceIsReported) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  try {
    Plan::create({.fft_size = 1024, .backend = Backend::kCuda});
    ADD_FAILURE() << "CUDA plan created without a device";
  } catch (const Error& e) {
    EXPECT_TRUE(e.status() == Status::kNoDevice || e.status() == Status::kNotSupported) << e.what();
    EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
  }
}

TEST(PlanValidation, AutoFallsBackToCpuWithoutDevice) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  Plan plan = Plan::create({.fft_size = 1024});
  EXPECT_EQ(plan.info().backend, Backend::kCpu);
}

TEST(FilterValidation, TransformFilterChecks) {
  Plan plan = Plan::create({.fft_size = 64, .backend = Backend::kCpu});
  HostTensor k(DType::kF32, {2, 65});
  std::vector<unsigned char> s(plan.spectrum_bytes(2));
  try {
    plan.transform_filter(k.view(), s.data(), s.size());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Lk = 65"), std::string::npos);
  }
  HostTensor k2(DType::kF32, {2, 10});
  EXPECT_THROW(plan.transform_filter(k2.view(), s.data(), s.size() - 1), Error);
  EXPECT_THROW(plan.transform_filter(k2.view(), nullptr, s.size()), Error);
  EXPECT_NO_THROW(plan.transform_filter(k2.view(), s.data(), s.size()));
  EXPECT_THROW(plan.spectrum_bytes(-1), Error);
}

}  // namespace
}  // namespace ffc::testing
