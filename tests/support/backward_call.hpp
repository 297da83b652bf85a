// One backward call of a plan (host memory for CPU plans, device copies for CUDA plans) with its
// float64 reference, shared by the backward test suites.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "conv_case.hpp"

namespace ffc::testing {
using namespace ffc::reference;

struct GradCase {
  ConvCase conv;
  int64_t grad_filter_length = 0;  // 0: the filter length
  bool du = true, dk = true, dpre = true, dpost = true;
  int64_t lkg() const { return grad_filter_length > 0 ? grad_filter_length : conv.filter_length; }
};

// Host results of one backward call (empty vectors for gradients not asked for).
struct DeviceGradients {
  ConvGradients g;
  std::vector<unsigned char> du_bits;
};

// Runs plan.backward on the case's inputs and upstream gradient dy (du written over dy when
// du_in_place); outputs are poisoned first so that unwritten elements show up as NaN.
DeviceGradients run_device_backward(const Plan& plan, const GradCase& c, ConvInputs& in, HostTensor& dy,
                                    bool du_in_place = false);

// The float64 reference gradients of the case.
ConvGradients reference_gradients(const GradCase& c, const ConvInputs& in, const HostTensor& dy);

// Runs the case on a CUDA plan with u and dy standard normal times u_scale and dy_scale, and expects
// each requested gradient within the dtype's forward tolerance (dk within dk_tolerance) of the
// float64 reference; failures name `mode` and the case.
void expect_cuda_gradients(const Plan& plan, const GradCase& c, uint64_t seed, const std::string& mode,
                           double dk_tolerance, double u_scale = 1.0, double dy_scale = 1.0);

}  // namespace ffc::testing
