// The CUDA algorithm a plan runs (PlanInfo::algorithm) and how a caller chooses the family: the plan
// option and the FFC_CUDA_PATH environment variable. Skips without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "ffc/ffc.hpp"
#include "gpu_skip.hpp"

namespace ffc::testing {
namespace {

// Sets an environment variable for the scope and restores the previous state.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

bool is_hopper() {
  int major = 0;
  return cuda_device_count() > 0 && cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) == cudaSuccess &&
         major == 9;
}

TEST(CudaAlgorithms, FusedPlansNameTheirAlgorithm) {
  SKIP_WITHOUT_GPU();
  if (!is_hopper()) GTEST_SKIP() << "the fused kernels need sm_90";
  ScopedEnv env("FFC_CUDA_PATH", "auto");
  for (int64_t n = 256; n <= 32768; n *= 2) {
    const Plan plan = Plan::create({.fft_size = n, .backend = Backend::kCuda, .cuda_path = CudaPath::kFused});
    EXPECT_EQ(plan.info().algorithm, n <= 4096 ? "fused_cta" : "fused_cluster") << n;
    const Plan automatic = Plan::create({.fft_size = n, .backend = Backend::kCuda});
    EXPECT_EQ(automatic.info().algorithm, plan.info().algorithm) << n;
  }
}

// Forcing the portable family gives a portable algorithm, or kNotSupported naming the family.
TEST(CudaAlgorithms, PortableIsForcedOrRefusedWithTheReason) {
  SKIP_WITHOUT_GPU();
  for (int64_t n = 256; n <= 32768; n *= 2) {
    try {
      const Plan plan = Plan::create({.fft_size = n, .backend = Backend::kCuda, .cuda_path = CudaPath::kPortable});
      EXPECT_EQ(plan.info().algorithm.rfind("portable", 0), 0u) << plan.info().algorithm;
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), Status::kNotSupported);
      EXPECT_NE(std::string(e.what()).find("portable family"), std::string::npos) << e.what();
    }
  }
}

TEST(CudaAlgorithms, EnvironmentChoosesWhenTheOptionIsAuto) {
  SKIP_WITHOUT_GPU();
  if (!is_hopper()) GTEST_SKIP() << "the fused kernels need sm_90";
  {
    ScopedEnv env("FFC_CUDA_PATH", "fused");
    EXPECT_EQ(Plan::create({.fft_size = 1024, .backend = Backend::kCuda}).info().algorithm, "fused_cta");
  }
  {
    ScopedEnv env("FFC_CUDA_PATH", "sideways");
    try {
      Plan::create({.fft_size = 1024, .backend = Backend::kCuda});
      ADD_FAILURE() << "an unknown FFC_CUDA_PATH was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), Status::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("FFC_CUDA_PATH: \"sideways\""), std::string::npos) << e.what();
    }
    // The option wins over the environment.
    EXPECT_EQ(Plan::create({.fft_size = 1024, .backend = Backend::kCuda, .cuda_path = CudaPath::kFused})
                  .info()
                  .algorithm,
              "fused_cta");
  }
}

}  // namespace
}  // namespace ffc::testing
