// CUDA regressions found by users, each at the shapes it was reported with. Skips without a GPU.
#include <gtest/gtest.h>

#include <cmath>

#include "conv_case.hpp"
#include "device_memory.hpp"
#include "gpu_skip.hpp"

namespace ffc::testing {
using namespace ffc::reference;
namespace {

// Issue 11: the original FlashFFTConv's usual test inputs (u, pregate, postgate randn x 0.02 with
// the second half zero; filter randn x 0.02 x exp(-0.1 t)), gated f16. The f16 pair scale of the
// radix-1 sizes (N = 256, 4096) overflowed f16 for such small rows and every output of the pair
// came out NaN. Checked per row against float64: a NaN row or a row swamped by its partner fails.
TEST(CudaRegression, F16SmallGatedInputsAreFinite) {
  SKIP_WITHOUT_GPU();
  struct Shape {
    int64_t n, batch, heads;
  };
  for (const Shape s : {Shape{256, 1, 768}, Shape{256, 8, 111}, Shape{4096, 1, 768}, Shape{4096, 2, 111}}) {
    ConvCase c;
    c.fft_size = s.n;
    c.batch = s.batch;
    c.heads = s.heads;
    c.length = s.n;
    c.filter_length = s.n;
    c.dtype = DType::kF16;
    c.pregate = c.postgate = true;
    ConvInputs in = ConvInputs::make(c, 2024);
    for (HostTensor* t : {&in.u, &in.pre, &in.post}) {
      for (int64_t i = 0; i < t->numel(); ++i) t->set(i, i % c.length < c.length / 2 ? t->value(i) * 0.02 : 0.0);
    }
    for (int64_t i = 0; i < in.k.numel(); ++i) {
      in.k.set(i, in.k.value(i) * 0.02 * std::exp(-0.1 * static_cast<double>(i % c.filter_length)));
    }
    const Plan plan = Plan::create({.fft_size = s.n, .backend = Backend::kCuda});
    const std::vector<double> y = run_library(plan, c, in), ref = run_oracle(c, in);
    int64_t bad_rows = 0, nan = 0;
    for (int64_t r = 0; r < c.batch * c.heads; ++r) {
      double e2 = 0, r2 = 0;
      for (int64_t t = 0; t < c.length; ++t) {
        const double g = y[static_cast<size_t>(r * c.length + t)], e = ref[static_cast<size_t>(r * c.length + t)];
        nan += std::isnan(g) ? 1 : 0;
        e2 += (g - e) * (g - e);
        r2 += e * e;
      }
      // 2 u_f16 per row plus the output's subnormal rounding (half of 2^-24 per element).
      if (!(std::sqrt(e2) <= 1e-3 * std::sqrt(r2) + std::sqrt(static_cast<double>(c.length)) * std::ldexp(1.0, -25))) {
        ++bad_rows;
      }
    }
    EXPECT_EQ(nan, 0) << c.describe();
    EXPECT_EQ(bad_rows, 0) << c.describe();
  }
}

}  // namespace
}  // namespace ffc::testing
