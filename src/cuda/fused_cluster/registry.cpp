// The fused cluster family: sizes above kMaxCtaSize, a thread-block cluster of N / 4096 CTAs per
// pair (sm_90 clusters and distributed shared memory).
#include "cuda/fused.hpp"
#include "cuda/sizes.hpp"
#include "cuda/stages/fwd_config.hpp"

namespace ffc::cuda {

template <>
bool FusedCluster::covers(int64_t n) { return CudaSizes::contains(n) && n > kMaxCtaSize; }

template <>
const FusedKernels& FusedCluster::kernels() {
  static const FusedKernels k{&forward_f16, &forward_bf16, &backward_f16, &backward_bf16, nullptr};
  return k;
}

}  // namespace ffc::cuda
