// The C ABI contract: status codes, the thread-local message, null safety, struct versioning and a
// full forward call through the ABI matching the C++ API bit for bit.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <thread>

#include "c_view.hpp"
#include "conv_case.hpp"
#include "ffc/ffc.h"

namespace ffc::testing {
using namespace ffc::reference;
namespace {

ffc_tensor_t c_view(HostTensor& t) { return ffc::testing::c_view(t.view()); }

TEST(CApi, Version) {
  EXPECT_EQ(ffc_version(), FFC_VERSION_MAJOR * 10000u + FFC_VERSION_MINOR * 100u + FFC_VERSION_PATCH);
  EXPECT_STREQ(ffc_version_string(), "0.1.0");
  EXPECT_EQ(ffc_abi_version(), static_cast<uint32_t>(FFC_ABI_VERSION));
}

TEST(CApi, StatusStrings) {
  for (int s = 0; s <= 6; ++s) EXPECT_GT(std::strlen(ffc_status_string(static_cast<ffc_status_t>(s))), 0u);
  volatile int unknown = 99;  // a code outside the enum, as a C caller could pass
  EXPECT_NE(ffc_status_string(static_cast<ffc_status_t>(unknown)), nullptr);
}

TEST(CApi, DestroyIsNullSafe) { ffc_plan_destroy(nullptr); }

TEST(CApi, CreateFailsWithMessageAndNullHandle) {
  ffc_plan_options_t o = FFC_PLAN_OPTIONS_INIT;
  o.fft_size = 100;
  ffc_plan_t* plan = reinterpret_cast<ffc_plan_t*>(0x1);
  EXPECT_EQ(ffc_plan_create(&o, &plan), FFC_INVALID_ARGUMENT);
  EXPECT_EQ(plan, nullptr);
  EXPECT_NE(std::string(ffc_last_error()).find("fft_size: 100"), std::string::npos);
  EXPECT_EQ(ffc_plan_create(nullptr, &plan), FFC_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ffc_last_error()).find("options"), std::string::npos);
  EXPECT_EQ(ffc_plan_create(&o, nullptr), FFC_INVALID_ARGUMENT);
  o.struct_size = 4;
  o.fft_size = 64;
  EXPECT_EQ(ffc_plan_create(&o, &plan), FFC_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ffc_last_error()).find("struct_size"), std::string::npos);
}

TEST(CApi, MessageIsThreadLocalAndClearedOnSuccess) {
  ffc_plan_options_t o = FFC_PLAN_OPTIONS_INIT;
  o.fft_size = 3;
  ffc_plan_t* plan = nullptr;
  ASSERT_NE(ffc_plan_create(&o, &plan), FFC_SUCCESS);
  std::string other;
  std::thread([&] { other = ffc_last_error(); }).join();
  EXPECT_EQ(other, "");
  EXPECT_NE(std::string(ffc_last_error()), "");
  o.fft_size = 64;
  o.backend = FFC_BACKEND_CPU;
  ASSERT_EQ(ffc_plan_create(&o, &plan), FFC_SUCCESS);
  EXPECT_STREQ(ffc_last_error(), "");
  ffc_plan_destroy(plan);
}

TEST(CApi, NullArguments) {
  size_t bytes = 0;
  EXPECT_EQ(ffc_spectrum_bytes(nullptr, 1, &bytes), FFC_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ffc_last_error()).find("plan"), std::string::npos);
  ffc_plan_options_t o = FFC_PLAN_OPTIONS_INIT;
  o.fft_size = 64;
  o.backend = FFC_BACKEND_CPU;
  ffc_plan_t* plan = nullptr;
  ASSERT_EQ(ffc_plan_create(&o, &plan), FFC_SUCCESS);
  EXPECT_EQ(ffc_spectrum_bytes(plan, 1, nullptr), FFC_INVALID_ARGUMENT);
  EXPECT_EQ(ffc_forward(plan, nullptr, nullptr), FFC_INVALID_ARGUMENT);
  ffc_forward_args_t a = FFC_FORWARD_ARGS_INIT;
  EXPECT_EQ(ffc_forward(plan, &a, nullptr), FFC_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ffc_last_error()).find("u: tensor pointer is null"), std::string::npos);
  ffc_plan_info_t info = FFC_PLAN_INFO_INIT;
  ASSERT_EQ(ffc_plan_get_info(plan, &info), FFC_SUCCESS);
  EXPECT_EQ(info.fft_size, 64);
  EXPECT_EQ(info.backend, FFC_BACKEND_CPU);
  EXPECT_EQ(info.num_stages, 2);
  EXPECT_EQ(info.radices[0] * info.radices[1], 64);
  EXPECT_STREQ(info.algorithm, "cpu");
  ffc_plan_destroy(plan);
}

// Callers built against the header before cuda_path and algorithm existed pass the smaller
// struct_size: their options mean AUTO and their info's tail is left alone.
TEST(CApi, StructsFromBeforeCudaPathStillWork) {
  ffc_plan_options_t o = FFC_PLAN_OPTIONS_INIT;
  o.struct_size = offsetof(ffc_plan_options_t, cuda_path) + sizeof(int32_t);  // the old tail padding
  o.fft_size = 64;
  o.backend = FFC_BACKEND_CPU;
  volatile int unknown = 77;
  o.cuda_path = static_cast<ffc_cuda_path_t>(unknown);  // not read
  o.reserved = 5;                                  // not read
  ffc_plan_t* plan = nullptr;
  ASSERT_EQ(ffc_plan_create(&o, &plan), FFC_SUCCESS) << ffc_last_error();
  ffc_plan_info_t info = FFC_PLAN_INFO_INIT;
  info.struct_size = offsetof(ffc_plan_info_t, algorithm) + sizeof(int32_t);
  std::memset(info.algorithm, 'x', sizeof(info.algorithm));
  ASSERT_EQ(ffc_plan_get_info(plan, &info), FFC_SUCCESS) << ffc_last_error();
  EXPECT_EQ(info.fft_size, 64);
  EXPECT_EQ(info.algorithm[0], 'x');
  EXPECT_EQ(info.algorithm[31], 'x');
  ffc_plan_destroy(plan);
}

TEST(CApi, CudaPathAndReservedAreChecked) {
  ffc_plan_options_t o = FFC_PLAN_OPTIONS_INIT;
  o.fft_size = 64;
  o.backend = FFC_BACKEND_CPU;
  volatile int unknown = 3;
  o.cuda_path = static_cast<ffc_cuda_path_t>(unknown);
  ffc_plan_t* plan = nullptr;
  EXPECT_EQ(ffc_plan_create(&o, &plan), FFC_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ffc_last_error()).find("cuda_path: code 3"), std::string::npos) << ffc_last_error();
  o.cuda_path = FFC_CUDA_PATH_PORTABLE;  // a CPU plan ignores it
  o.reserved = 1;
  EXPECT_EQ(ffc_plan_create(&o, &plan), FFC_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ffc_last_error()).find("reserved is 1"), std::string::npos) << ffc_last_error();
  o.reserved = 0;
  ASSERT_EQ(ffc_plan_create(&o, &plan), FFC_SUCCESS) << ffc_last_error();
  ffc_plan_destroy(plan);
}

TEST(CApi, SizeSupportQuery) {
  EXPECT_EQ(ffc_fft_size_supported(FFC_BACKEND_CPU, 4096), 1);
  EXPECT_EQ(ffc_fft_size_supported(FFC_BACKEND_CPU, 4095), 0);
  volatile int unknown = 42;
  EXPECT_EQ(ffc_fft_size_supported(static_cast<ffc_backend_t>(unknown), 4096), 0);
  EXPECT_GE(ffc_cuda_device_count(), 0);
}

TEST(CApi, ForwardMatchesCppApiBitForBit) {
  ConvCase c;
  c.fft_size = 1024;
  c.batch = 3;
  c.heads = 4;
  c.length = 700;
  c.filter_length = 200;
  c.dtype = DType::kBF16;
  c.pregate = c.postgate = true;
  ConvInputs in = ConvInputs::make(c, 3);
  Plan cpp_plan = Plan::create({.fft_size = 1024, .backend = Backend::kCpu});
  const std::vector<double> expected = run_library(cpp_plan, c, in);

  ffc_plan_options_t o = FFC_PLAN_OPTIONS_INIT;
  o.fft_size = 1024;
  o.backend = FFC_BACKEND_CPU;
  ffc_plan_t* plan = nullptr;
  ASSERT_EQ(ffc_plan_create(&o, &plan), FFC_SUCCESS) << ffc_last_error();
  size_t sbytes = 0;
  ASSERT_EQ(ffc_spectrum_bytes(plan, c.heads, &sbytes), FFC_SUCCESS);
  std::vector<unsigned char> spectrum(sbytes);
  ffc_tensor_t k = c_view(in.k), u = c_view(in.u), pre = c_view(in.pre), post = c_view(in.post);
  ASSERT_EQ(ffc_transform_filter(plan, &k, spectrum.data(), sbytes, nullptr), FFC_SUCCESS)
      << ffc_last_error();
  HostTensor y(c.dtype, {c.batch, c.heads, c.length});
  ffc_tensor_t cy = c_view(y);
  ffc_forward_args_t a = FFC_FORWARD_ARGS_INIT;
  a.u = &u;
  a.y = &cy;
  a.spectrum = spectrum.data();
  a.spectrum_bytes = sbytes;
  a.spectrum_heads = c.heads;
  a.pregate = &pre;
  a.postgate = &post;
  ASSERT_EQ(ffc_forward(plan, &a, nullptr), FFC_SUCCESS) << ffc_last_error();
  EXPECT_EQ(y.read_back(), expected);
  // An invalid call reports and writes nothing.
  y.poison();
  const std::vector<double> poisoned = y.read_back();
  a.spectrum_heads = 1;
  EXPECT_EQ(ffc_forward(plan, &a, nullptr), FFC_INVALID_ARGUMENT);
  EXPECT_NE(std::string(ffc_last_error()).find("spectrum"), std::string::npos);
  const std::vector<double> after = y.read_back();
  for (size_t i = 0; i < after.size(); ++i) ASSERT_TRUE(std::isnan(after[i]));
  ffc_plan_destroy(plan);
}

}  // namespace
}  // namespace ffc::testing
