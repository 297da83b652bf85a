// Registry entries of the fused single-CTA kernels, generated from the one size list (sizes.hpp):
// sizes up to kMaxCtaSize get an instantiation, larger ones a null entry. Each I/O dtype and
// direction instantiates them in its own translation unit (forward_f16.cu, ...), for the Hopper
// kernels (kArch = kHopperArch) here and for the portable ones (kArch = 80) in portable_cta/.
#pragma once

#include "cuda/fused.hpp"
#include "cuda/fused_cta/bwd_kernel.cuh"
#include "cuda/fused_cta/fwd_kernel.cuh"
#include "cuda/sizes.hpp"

namespace ffc::cuda::fused_cta {

// One CTA per kPairs pairs (persistent loop).
template <typename T, bool kSplit, int kArch = kHopperArch>
KernelEntry forward_entry(int n) {
  return CudaSizes::dispatch<KernelEntry>(n, [](auto size) -> KernelEntry {
    constexpr int kN = decltype(size)::value;
    if constexpr (kN <= kMaxCtaSize) {
      using S = FwdShape<kN>;
      return {reinterpret_cast<const void*>(&fwd_kernel<kN, T, kSplit, kArch>), S::kThreads,
              static_cast<std::size_t>(S::kSmemBytes), 1, S::kPairs, kArch};
    } else {
      return {};
    }
  });
}

// One CTA per (head, group) of kW warps; `both_gates` launches may take a wider CTA
// (kBwdStagedWarps) that double-buffers its eight staged rows.
template <typename T, bool kSplit, bool kBothGates, int kArch>
KernelEntry backward_entry(int n) {
  return CudaSizes::dispatch<KernelEntry>(n, [](auto size) -> KernelEntry {
    constexpr int kN = decltype(size)::value;
    if constexpr (kN <= kMaxCtaSize) {
      constexpr int kW = kBothGates ? kBwdStagedWarps<kN> : kBwdWarps<kN>;
      using S = BwdShape<kN, kW>;
      return {reinterpret_cast<const void*>(&bwd_kernel<kN, T, kSplit, kW, kArch>), S::kThreads,
              static_cast<std::size_t>(S::kSmemBytes), 1, S::kCouples, kArch};
    } else {
      return {};
    }
  });
}

template <typename T, bool kSplit, int kArch = kHopperArch>
KernelEntry backward_entry(int n, bool both_gates) {
  return both_gates ? backward_entry<T, kSplit, true, kArch>(n) : backward_entry<T, kSplit, false, kArch>(n);
}

}  // namespace ffc::cuda::fused_cta
