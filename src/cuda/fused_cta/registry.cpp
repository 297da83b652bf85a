// The fused single-CTA family: sizes up to kMaxCtaSize, one CTA per kPairs pairs.
#include "cuda/fused.hpp"
#include "cuda/sizes.hpp"
#include "cuda/stages/fwd_config.hpp"

namespace ffc::cuda {
namespace {

// The forward kernel stages only the gates a launch has (FwdShape::smem_bytes).
std::size_t cta_forward_smem(int n, bool pregate, bool postgate) {
  return CudaSizes::dispatch<std::size_t>(n, [&](auto size) -> std::size_t {
    constexpr int kN = decltype(size)::value;
    if constexpr (kN <= kMaxCtaSize) {
      return static_cast<std::size_t>(FwdShape<kN>::smem_bytes(pregate, postgate));
    } else {
      return 0;
    }
  });
}

}  // namespace

template <>
bool FusedCta::covers(int64_t n) { return CudaSizes::contains(n) && n <= kMaxCtaSize; }

template <>
const FusedKernels& FusedCta::kernels() {
  static const FusedKernels k{&forward_f16, &forward_bf16, &backward_f16, &backward_bf16, &cta_forward_smem};
  return k;
}

// portable_cta/ instantiates the same kernels with sm_80 instructions: same sizes and staging.
template <>
bool PortableCta::covers(int64_t n) { return FusedCta::covers(n); }

template <>
const FusedKernels& PortableCta::kernels() {
  static const FusedKernels k{&forward_f16, &forward_bf16, &backward_f16, &backward_bf16, &cta_forward_smem};
  return k;
}

}  // namespace ffc::cuda
