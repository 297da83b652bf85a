// The per-row scaling rules of core/row_scales.hpp, which the CPU backend and every CUDA kernel apply
// (host tests of the device code's arithmetic): powers of two that fill the bound, exact
// reciprocals, zero and non-finite rows, and the backward's tie a0 b0 = a1 b1 with its dk factors,
// over the whole float exponent range.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "core/row_scales.hpp"

namespace ffc {
namespace {

using core::RowScale;

bool is_power_of_two(float v) {
  int e = 0;
  return v > 0.0f && std::frexp(v, &e) == 0.5f;
}

// Bounds the kernels use (32752 / sqrt(2N) for N = 256 ... 32768) and the CPU's 1024.
const float kBounds[] = {1024.0f, 32752.0f / std::sqrt(512.0f), 32752.0f / std::sqrt(65536.0f)};

// Magnitudes spread over the whole positive float range, subnormals included.
std::vector<float> magnitudes() {
  std::vector<float> v;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> mant(1.0f, 2.0f);
  for (int e = -149; e <= 127; ++e) {
    v.push_back(std::ldexp(1.0f, e));
    v.push_back(std::ldexp(mant(rng), e) < std::numeric_limits<float>::max() ? std::ldexp(mant(rng), e) : 1.0f);
  }
  v.push_back(std::numeric_limits<float>::max());
  v.push_back(std::numeric_limits<float>::denorm_min());
  return v;
}

TEST(RowScale, FiniteRowsFillTheBoundWithExactReciprocals) {
  for (float bound : kBounds) {
    for (float m : magnitudes()) {
      const RowScale s = core::row_scale(m, bound);
      ASSERT_TRUE(is_power_of_two(s.in)) << m;
      ASSERT_EQ(s.in * s.out, 1.0f) << m;
      ASSERT_LE(static_cast<double>(s.in) * m, bound) << m;
      // Within a factor 4 of the bound (2 from the power of two, 2 from comparing exponents only),
      // unless the exponent range clamps it.
      const bool clamped = s.in == std::ldexp(1.0f, 126) || s.in == std::ldexp(1.0f, -126);
      if (!clamped) {
        ASSERT_GT(4.0 * s.in * m, bound) << m;
      }
    }
  }
}

TEST(RowScale, ZeroRowsEnterAsZerosAndLeaveAsZeros) {
  const RowScale s = core::row_scale(0.0f, 1.0f);
  EXPECT_EQ(s.in, 0.0f);
  EXPECT_EQ(s.out, 0.0f);
}

TEST(RowScale, NonFiniteRowsEnterAsZerosAndLeaveAsNaN) {
  for (float m : {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(),
                  -std::numeric_limits<float>::quiet_NaN()}) {
    const RowScale s = core::row_scale(m, 100.0f);
    EXPECT_EQ(s.in, 0.0f) << m;
    EXPECT_TRUE(std::isnan(s.out)) << m;
  }
}

// The backward's contract for one pair (see row_scales.hpp).
void check_backward(const float (&mx)[2], const float (&mdc)[2], float bound) {
  const core::BackwardScales s = core::backward_scales(mx, mdc, bound);
  bool poisoned = false, any_active = false;
  double product = -1.0;
  for (int r = 0; r < 2; ++r) {
    for (const auto& [m, rs] : {std::pair{mx[r], s.x[r]}, std::pair{mdc[r], s.dc[r]}}) {
      const RowScale alone = core::row_scale(m, bound);
      if (!(m > 0.0f) || std::isinf(m)) {
        // Zero and non-finite sides behave as in the forward.
        ASSERT_EQ(rs.in, 0.0f);
        ASSERT_EQ(std::isnan(rs.out), std::isnan(alone.out));
        if (!std::isnan(rs.out)) {
          ASSERT_EQ(rs.out, 0.0f);
        }
        poisoned = poisoned || m != 0.0f;
        continue;
      }
      // Finite sides: a power of two, never above the side's own largest scale, exact reciprocal.
      ASSERT_TRUE(is_power_of_two(rs.in)) << m;
      ASSERT_LE(rs.in, alone.in) << m;
      ASSERT_EQ(rs.in * rs.out, 1.0f) << m;
    }
    const bool active = s.x[r].in != 0.0f && s.dc[r].in != 0.0f;
    if (!active) continue;
    const double p = static_cast<double>(s.x[r].in) * s.dc[r].in;
    if (any_active) {
      ASSERT_EQ(p, product) << "the rows' scale products are tied";
    }
    product = p;
    any_active = true;
  }
  if (poisoned) {
    ASSERT_TRUE(std::isnan(static_cast<double>(s.dk_z) * s.dk_w));
  } else if (!any_active) {
    ASSERT_EQ(s.dk_z, 0.0f);
  } else {
    ASSERT_TRUE(is_power_of_two(s.dk_z) && is_power_of_two(s.dk_w));
    ASSERT_EQ(static_cast<double>(s.dk_z) * s.dk_w * product, 1.0) << "dk factors undo P";
    // P is as large as the tie allows: one active row keeps both of its largest scales.
    bool one_full = false;
    for (int r = 0; r < 2; ++r) {
      if (s.x[r].in == 0.0f || s.dc[r].in == 0.0f) continue;
      const float ax = core::row_scale(mx[r], bound).in, ad = core::row_scale(mdc[r], bound).in;
      one_full = one_full || (s.x[r].in == ax && s.dc[r].in == ad);
    }
    ASSERT_TRUE(one_full);
  }
}

TEST(BackwardScales, TiedProductsOverTheWholeRange) {
  const std::vector<float> mags = magnitudes();
  std::mt19937 rng(7);
  std::uniform_int_distribution<size_t> pick(0, mags.size() - 1);
  for (float bound : kBounds) {
    for (int i = 0; i < 20000; ++i) {
      const float mx[2] = {mags[pick(rng)], mags[pick(rng)]};
      const float mdc[2] = {mags[pick(rng)], mags[pick(rng)]};
      check_backward(mx, mdc, bound);
    }
  }
}

TEST(BackwardScales, ZeroAndNonFiniteSides) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const float values[] = {0.0f, 1e-30f, 1.0f, 3e4f, inf, nan};
  for (float a : values)
    for (float b : values)
      for (float c : values)
        for (float d : values) {
          const float mx[2] = {a, b}, mdc[2] = {c, d};
          check_backward(mx, mdc, 200.0f);
        }
}

TEST(BackwardScales, RowsOfSimilarMagnitudeKeepTheirScales) {
  // Equal maxima: no excess, every side at its largest scale.
  const float mx[2] = {3.0f, 3.5f}, mdc[2] = {0.25f, 0.3f};
  const core::BackwardScales s = core::backward_scales(mx, mdc, 100.0f);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(s.x[r].in, core::row_scale(mx[r], 100.0f).in);
    EXPECT_EQ(s.dc[r].in, core::row_scale(mdc[r], 100.0f).in);
  }
  // A row whose product is 2^10 above its partner's gives up 2^5 on each side.
  const float mx2[2] = {1.0f, 1.0f}, mdc2[2] = {1.0f, 0x1p-10f};
  const core::BackwardScales t = core::backward_scales(mx2, mdc2, 64.0f);
  const float one = core::row_scale(1.0f, 64.0f).in, small = core::row_scale(0x1p-10f, 64.0f).in;
  EXPECT_EQ(t.x[0].in, one);
  EXPECT_EQ(t.dc[0].in, one);
  EXPECT_EQ(t.x[1].in, one / 32);
  EXPECT_EQ(t.dc[1].in, small / 32);
}

}  // namespace
}  // namespace ffc
