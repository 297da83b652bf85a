// One forward convolution problem run through the library and through the float64 oracle. Shared
// by the tests, the command-line program and the benchmark.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "device_memory.hpp"
#include "ffc/ffc.hpp"
#include "inputs.hpp"
#include "oracle.hpp"

namespace ffc::reference {

struct ConvCase {
  int64_t fft_size = 0, batch = 1, heads = 1, length = 0, filter_length = 0;
  DType dtype = DType::kF32;
  DType filter_dtype = DType::kF32;
  bool pregate = false, postgate = false;
  Distribution input = Distribution::kRandn;
  Distribution filter = Distribution::kRandn;
  bool use_spectrum = false;  // transform the filter first (else the time-domain call)

  std::string describe() const;
  ConvSpec spec() const { return {batch, heads, length, filter_length, fft_size}; }
};

// Host-side inputs of a case, rounded to their dtypes.
struct ConvInputs {
  HostTensor u, k, pre, post;
  static ConvInputs make(const ConvCase& c, uint64_t seed);
};

struct ConvResult {
  std::vector<double> y;    // what the library wrote
  std::vector<double> ref;  // float64 oracle
  double rel_err = 0.0;
};

// A case's forward call in the plan's memory (host memory for CPU plans, device copies for CUDA
// plans): the inputs uploaded, y poisoned so that unwritten elements show up as NaN, and the filter
// transformed first when the case asks for a spectrum. Run it with plan.forward(call.args).
class ForwardCall {
 public:
  ForwardCall(const Plan& plan, const ConvCase& c, const ConvInputs& in);
  ForwardArgs args;
  void synchronize() const { memory_.synchronize(); }
  // Waits for the call and returns y.
  std::vector<double> result();

 private:
  MemorySpace memory_;
  HostTensor y_;
  Buffer u_, k_, y_dev_, pre_, post_, spectrum_, workspace_;
};

// Runs the case on `plan` through a ForwardCall.
std::vector<double> run_library(const Plan& plan, const ConvCase& c, ConvInputs& in);

std::vector<double> run_oracle(const ConvCase& c, const ConvInputs& in);

// The relative L2 error a backend guarantees for a dtype of u/y (docs/numerics.md): the CPU
// backend computes in fp32 (1e-6) and rounds each output to the dtype (at most u_dtype relative).
double forward_tolerance(Backend backend, DType dtype);

ConvResult run_and_check(const Plan& plan, const ConvCase& c, uint64_t seed);

// The (length, filter length) shapes the every-FFT-size sweeps run at each N: causal, circular,
// odd L with a short (partial) filter, and odd L near N.
struct SweepMode {
  const char* name;
  int64_t (*length)(int64_t n);
  int64_t (*filter_length)(int64_t n);
};
extern const SweepMode kSweepModes[4];

// Batch and heads of a sweep at FFT size n, kept small at large n so the sweep fits the CI budget.
void sweep_shape(int64_t n, int64_t& batch, int64_t& heads);

}  // namespace ffc::reference
