#include "conv_case.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "device_memory.hpp"

namespace ffc::reference {

std::string ConvCase::describe() const {
  std::ostringstream s;
  s << "N=" << fft_size << " B=" << batch << " H=" << heads << " L=" << length
    << " Lk=" << filter_length << " dtype=" << to_string(dtype) << " k=" << to_string(filter_dtype)
    << (pregate ? " pre" : "") << (postgate ? " post" : "") << " u~" << distribution_name(input)
    << " k~" << distribution_name(filter) << (use_spectrum ? " spectrum" : " time-domain");
  return s.str();
}

ConvInputs ConvInputs::make(const ConvCase& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  ConvInputs in;
  in.u = HostTensor(c.dtype, {c.batch, c.heads, c.length});
  in.u.fill(c.input, rng);
  in.k = HostTensor(c.filter_dtype, {c.heads, c.filter_length});
  in.k.fill(c.filter, rng);
  if (c.pregate) {
    in.pre = HostTensor(c.dtype, {c.batch, c.heads, c.length});
    in.pre.fill(Distribution::kRandn, rng);
  }
  if (c.postgate) {
    in.post = HostTensor(c.dtype, {c.batch, c.heads, c.length});
    in.post.fill(Distribution::kRandn, rng);
  }
  return in;
}

ForwardCall::ForwardCall(const Plan& plan, const ConvCase& c, const ConvInputs& in)
    : memory_(plan.info().backend == Backend::kCuda ? plan.info().device : -1),
      y_(c.dtype, {c.batch, c.heads, c.length}) {
  y_.poison();
  u_ = memory_.upload(in.u);
  k_ = memory_.upload(in.k);
  y_dev_ = memory_.upload(y_);
  args.u = u_.view(in.u);
  args.y = y_dev_.view(y_);
  if (c.pregate) {
    pre_ = memory_.upload(in.pre);
    args.pregate = pre_.view(in.pre);
  }
  if (c.postgate) {
    post_ = memory_.upload(in.post);
    args.postgate = post_.view(in.post);
  }
  if (c.use_spectrum) {
    spectrum_ = memory_.allocate(plan.spectrum_bytes(c.heads));
    plan.transform_filter(k_.view(in.k), spectrum_.data(), spectrum_.bytes());
    args.spectrum = FilterSpectrum{spectrum_.data(), spectrum_.bytes(), c.heads};
    if (plan.workspace_bytes(0) > 0) {  // two-pass algorithms stage through HBM
      workspace_ = memory_.allocate(plan.workspace_bytes(0));
      args.workspace = workspace_.data();
      args.workspace_bytes = workspace_.bytes();
    }
  } else {
    workspace_ = memory_.allocate(plan.workspace_bytes(c.heads));
    args.k = k_.view(in.k);
    args.workspace = workspace_.data();
    args.workspace_bytes = workspace_.bytes();
  }
}

std::vector<double> ForwardCall::result() {
  memory_.synchronize();
  y_dev_.download(y_);
  return y_.read_back();
}

std::vector<double> run_library(const Plan& plan, const ConvCase& c, ConvInputs& in) {
  ForwardCall call(plan, c, in);
  plan.forward(call.args);
  return call.result();
}

std::vector<double> run_oracle(const ConvCase& c, const ConvInputs& in) {
  static const std::vector<double> kNone;
  return reference_conv(c.spec(), in.u.values(), in.k.values(),
                        c.pregate ? in.pre.values() : kNone, c.postgate ? in.post.values() : kNone);
}

double forward_tolerance(Backend backend, DType dtype) {
  if (backend == Backend::kCuda) return dtype == DType::kBF16 ? 3e-3 : 5e-4;
  return dtype == DType::kF32 ? 1e-6 : unit_roundoff(dtype) + 1e-6;
}

ConvResult run_and_check(const Plan& plan, const ConvCase& c, uint64_t seed) {
  ConvInputs in = ConvInputs::make(c, seed);
  ConvResult r;
  r.y = run_library(plan, c, in);
  r.ref = run_oracle(c, in);
  r.rel_err = relative_l2(r.y, r.ref);
  return r;
}

const SweepMode kSweepModes[4] = {
    {"causal", [](int64_t n) { return n / 2; }, [](int64_t n) { return n / 2; }},
    {"circular", [](int64_t n) { return n; }, [](int64_t n) { return n; }},
    {"odd_partial", [](int64_t n) { return n / 2 - 1; }, [](int64_t n) { return std::max<int64_t>(1, n / 8 + 3); }},
    {"odd_circularish", [](int64_t n) { return n - 3; }, [](int64_t n) { return n / 2 + 1; }},
};

void sweep_shape(int64_t n, int64_t& batch, int64_t& heads) {
  if (n <= 4096) {
    batch = 3;
    heads = 5;
  } else if (n <= 65536) {
    batch = 3;
    heads = 2;
  } else {
    batch = 2;
    heads = 1;
  }
}

}  // namespace ffc::reference
