// The conv1d test harness, shared by the CPU and CUDA suites: random inputs rounded to their dtypes,
// the float64 reference by direct sums, one call of a plan in host or device memory, and
// element-wise checks against error bounds derived from the arithmetic (docs/design.md, conv1d):
//
//   z (f32, K + 1 roundings):  |z^ - z| <= E_z = gamma(K + 2) * (sum_j |w_j x_j| + |bias|)
//   y = act(z):                |y^ - y| <= u_out |y| + (1 + u_out) (1.1 E_z + 8 u32 |y|)
//   dz = dy act'(z) (f32):     |dz^ - dz| <= E_dz = |dy| (0.5 E_z + 8 u32 (1 + |z|))   (0 without SiLU)
//   dx (f32, then rounded):    u_out |dx| + (1 + u_out) (gamma(K + 2) sum |w dz| + sum |w| E_dz)
//   dweight, dbias:            gamma(n) sum |dz x| + sum |x| E_dz, n = the number of terms summed
//                              in f32 (2 where the backend sums in double)
//
// with gamma(n) = n u32 / (1 - n u32) and u_out the unit roundoff of the output dtype (plus half
// the smallest f16 subnormal for f16 outputs). 1.1 bounds |SiLU'| and 0.5 |SiLU''|.
//
// Cases run on the tensor-core correlation (src/cuda/conv1d/toeplitz_mma.cuh; arithmetic
// kToeplitzMma) bound z by max(E_z, E_tc) instead of E_z, for y, SiLU's dz and dx alike
// (docs/design.md, "Tensor-core path"): with the filter scaled by 2^-E and split into hi + lo in the
// MMA's format (p significand bits, smallest normal 2^emin), n = 8 tiles accumulation steps
// (2 MMAs per tile, each at most 4 steps of 4 products) and delta = 6 * 2^-23,
//   A    = sum_j (2^-2p |w_j| + 2^(E + emin - p)) |x_j|                          (the split)
//        + ((1 + delta)^n - 1) 2^E sum_j (|hi_j| + |lo_j|) |x_j|                  (the MMAs' sums)
//        + 2^-149                                                                (the rescale)
//   E_tc = A + u32 (sum_j |w_j x_j| + |bias| + A)                                (the bias add)
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "device_memory.hpp"
#include "ffc/conv1d.hpp"
#include "inputs.hpp"

namespace ffc::testing {
using namespace ffc::reference;

struct Conv1dCase {
  int64_t batch = 2, channels = 4, length = 37, kernel_size = 3, groups = 0;  // groups 0: H
  int64_t padding = 0;
  bool causal = true;
  Conv1dLayout layout = Conv1dLayout::kBHL;
  Activation activation = Activation::kNone;
  DType dtype = DType::kF32, weight_dtype = DType::kF32;
  bool bias = false;

  int64_t g() const { return groups > 0 ? groups : channels; }
  int64_t out_length() const;
  Conv1dOptions options() const;
  std::string name() const;
};

struct Conv1dInputs {
  HostTensor x, weight, bias, dy;
  static Conv1dInputs make(const Conv1dCase& c, uint64_t seed);
};

// Reference values and their error bounds, element by element.
struct Bounded {
  std::vector<double> value, bound;
};

struct Conv1dReference {
  Bounded y, dx, dweight, dbias;
};

// The arithmetic of the correlations that produce y, SiLU's dz and dx (see above).
enum class Conv1dArithmetic { kDirect, kToeplitzMma };

// `f32_terms_dw`: whether dweight / dbias are summed in f32 (else double: n = 2).
Conv1dReference conv1d_reference(const Conv1dCase& c, const Conv1dInputs& in, bool f32_terms_dw,
                                 Conv1dArithmetic arithmetic = Conv1dArithmetic::kDirect);

// Results of one forward and one backward call (dx, dweight, dbias all requested).
struct Conv1dResults {
  std::vector<double> y, dx, dweight, dbias;
  std::vector<unsigned char> dx_bits, dweight_bits;  // raw storage, for determinism checks
};

Conv1dResults run_conv1d(const Conv1dPlan& plan, const MemorySpace& space, const Conv1dCase& c,
                         const Conv1dInputs& in);

// Expects every element within its bound (NaN never passes); names `what` and the case.
void expect_within(const std::string& what, const Conv1dCase& c, const std::vector<double>& got,
                   const Bounded& ref);

// Runs the case on the plan and checks y, dx, dweight and dbias.
void check_conv1d_case(const Conv1dPlan& plan, const MemorySpace& space, const Conv1dCase& c, uint64_t seed,
                       bool f32_terms_dw);

// The case list of the sweeps (every K of the issue, both paddings and layouts, dtype pairs, groups,
// bias, SiLU, L < K), sized for a CPU run or for the GPU (longer rows, more rows).
std::vector<Conv1dCase> conv1d_sweep(bool gpu_sizes);

}  // namespace ffc::testing
