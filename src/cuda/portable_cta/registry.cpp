// The portable single-CTA family: sizes up to kMaxCtaSize on any GPU from sm_80 on (no clusters, no
// bulk copies, no stmatrix), with the fused_cta kernels' data flow and launcher.
#include "cuda/fused.hpp"
#include "cuda/sizes.hpp"
#include "cuda/stages/fwd_config.hpp"

namespace ffc::cuda::portable_cta {

bool covers(int64_t n) { return fused_cta::covers(n); }

const FusedKernels& kernels() {
  static const FusedKernels k{&forward_f16, &forward_bf16, &backward_f16, &backward_bf16,
                              fused_cta::kernels().forward_smem};
  return k;
}

}  // namespace ffc::cuda::portable_cta
