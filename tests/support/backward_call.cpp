#include "backward_call.hpp"

#include <gtest/gtest.h>

#include "device_memory.hpp"

namespace ffc::testing {
using namespace ffc::reference;

DeviceGradients run_device_backward(const Plan& plan, const GradCase& c, ConvInputs& in, HostTensor& dy,
                                    bool du_in_place) {
  const ConvCase& cc = c.conv;
  MemorySpace mem(plan.info().backend == Backend::kCuda ? plan.info().device : -1);
  Buffer du_ = mem.upload(in.u), dk_ = mem.upload(in.k), ddy = mem.upload(dy), dpre, dpost;
  BackwardArgs a;
  a.dy = ddy.view(dy);
  a.u = du_.view(in.u);
  if (cc.pregate) {
    dpre = mem.upload(in.pre);
    a.pregate = dpre.view(in.pre);
  }
  if (cc.postgate) {
    dpost = mem.upload(in.post);
    a.postgate = dpost.view(in.post);
  }
  const std::vector<int64_t> bhl = {cc.batch, cc.heads, cc.length};
  HostTensor h_du(cc.dtype, bhl), h_dk(DType::kF32, {cc.heads, c.lkg()}), h_dpre(cc.dtype, bhl), h_dpost(cc.dtype, bhl);
  h_du.poison();
  h_dk.poison();
  h_dpre.poison();
  h_dpost.poison();
  Buffer o_du = mem.upload(h_du), o_dk = mem.upload(h_dk), o_dpre = mem.upload(h_dpre), o_dpost = mem.upload(h_dpost);
  if (c.du) a.du = du_in_place ? ddy.view(dy) : o_du.view(h_du);
  if (c.dk) a.dk = o_dk.view(h_dk);
  if (c.dpre && cc.pregate) a.dpregate = o_dpre.view(h_dpre);
  if (c.dpost && cc.postgate) a.dpostgate = o_dpost.view(h_dpost);
  Buffer ws = mem.allocate(plan.backward_workspace_bytes(cc.batch, cc.heads)), spectrum;
  if (cc.use_spectrum) {
    spectrum = mem.allocate(plan.spectrum_bytes(cc.heads));
    plan.transform_filter(dk_.view(in.k), spectrum.data(), spectrum.bytes());
    a.spectrum = FilterSpectrum{spectrum.data(), spectrum.bytes(), cc.heads};
  } else {
    a.k = dk_.view(in.k);
  }
  a.workspace = ws.data();
  a.workspace_bytes = ws.bytes();
  plan.backward(a);
  mem.synchronize();
  DeviceGradients out;
  if (c.du) {
    HostTensor& target = du_in_place ? dy : h_du;
    (du_in_place ? ddy : o_du).download(target);
    out.g.du = target.read_back();
    out.du_bits.assign(static_cast<unsigned char*>(target.data()),
                       static_cast<unsigned char*>(target.data()) + target.bytes());
  }
  if (c.dk) {
    o_dk.download(h_dk);
    out.g.dk = h_dk.read_back();
  }
  if (a.dpregate) {
    o_dpre.download(h_dpre);
    out.g.dpregate = h_dpre.read_back();
  }
  if (a.dpostgate) {
    o_dpost.download(h_dpost);
    out.g.dpostgate = h_dpost.read_back();
  }
  return out;
}

ConvGradients reference_gradients(const GradCase& c, const ConvInputs& in, const HostTensor& dy) {
  static const std::vector<double> kNone;
  return reference_backward(c.conv.spec(), c.lkg(), in.u.values(), in.k.values(),
                            c.conv.pregate ? in.pre.values() : kNone, c.conv.postgate ? in.post.values() : kNone,
                            dy.values());
}

void expect_cuda_gradients(const Plan& plan, const GradCase& c, uint64_t seed, const std::string& mode,
                           double dk_tolerance, double u_scale, double dy_scale) {
  ConvInputs in = ConvInputs::make(c.conv, seed);
  std::mt19937_64 rng(seed * 7 + 1);
  if (u_scale != 1.0) in.u.fill(Distribution::kRandn, rng, u_scale);
  HostTensor dy(c.conv.dtype, {c.conv.batch, c.conv.heads, c.conv.length});
  dy.fill(Distribution::kRandn, rng, dy_scale);
  const ConvGradients ref = reference_gradients(c, in, dy);
  const DeviceGradients got = run_device_backward(plan, c, in, dy);
  const double tol = forward_tolerance(Backend::kCuda, c.conv.dtype);
  const std::string what = mode + ": " + c.conv.describe() + " Lk_grad=" + std::to_string(c.lkg());
  if (c.du) {
    EXPECT_LE(relative_l2(got.g.du, ref.du), tol) << "du " << what;
  }
  if (c.dk) {
    EXPECT_LE(relative_l2(got.g.dk, ref.dk), dk_tolerance) << "dk " << what;
  }
  if (c.dpre && c.conv.pregate) {
    EXPECT_LE(relative_l2(got.g.dpregate, ref.dpregate), tol) << "dpregate " << what;
  }
  if (c.dpost && c.conv.postgate) {
    EXPECT_LE(relative_l2(got.g.dpostgate, ref.dpostgate), tol) << "dpostgate " << what;
  }
}

}  // namespace ffc::testing
