// The fused single-CTA family: sizes up to kMaxCtaSize, one CTA per kPairs pairs.
#include "cuda/fused.hpp"
#include "cuda/sizes.hpp"
#include "cuda/stages/fwd_config.hpp"

namespace ffc::cuda::fused_cta {
namespace {

// The forward kernel stages only the gates a launch has (FwdShape::smem_bytes).
std::size_t forward_smem(int n, bool pregate, bool postgate) {
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

bool covers(int64_t n) { return CudaSizes::contains(n) && n <= kMaxCtaSize; }

const FusedKernels& kernels() {
  static const FusedKernels k{&forward_f16, &forward_bf16, &backward_f16, &backward_bf16, &forward_smem};
  return k;
}

}  // namespace ffc::cuda::fused_cta
