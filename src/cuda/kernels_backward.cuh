// Instantiation helper of the fused backward: one translation unit per I/O dtype includes this.
#pragma once

#include "cuda/bwd_cluster_kernel.cuh"
#include "cuda/bwd_kernel.cuh"
#include "cuda/kernels.hpp"
#include "cuda/sizes.hpp"

namespace ffc::cuda {

// Sizes up to 4096: one CTA per (head, group) of kW warps; 8192 and up: a cluster of N / 4096
// CTAs.
template <int kN, typename T, bool kSplit, bool kBothGates>
KernelEntry backward_entry() {
  if constexpr (kN <= 4096) {
    constexpr int kW = kBothGates ? kBwdStagedWarps<kN> : kBwdWarps<kN>;
    using S = BwdShape<kN, kW>;
    return {reinterpret_cast<const void*>(&bwd_kernel<kN, T, kSplit, kW>), S::kThreads,
            static_cast<std::size_t>(S::kSmemBytes), 1, S::kCouples};
  } else {
    using C = BwdClusterShape<kN>;
    return {reinterpret_cast<const void*>(&bwd_cluster_kernel<kN, T, kSplit>), C::kThreads,
            static_cast<std::size_t>(C::kSmemBytes), C::RS, 1};
  }
}

template <typename T, bool kSplit, bool kBothGates>
KernelEntry backward_entry_for(int n) {
  return CudaSizes::dispatch<KernelEntry>(
      n, [](auto size) { return backward_entry<decltype(size)::value, T, kSplit, kBothGates>(); });
}

template <typename T, bool kSplit>
KernelEntry backward_entry_for(int n, bool both_gates) {
  return both_gates ? backward_entry_for<T, kSplit, true>(n) : backward_entry_for<T, kSplit, false>(n);
}

}  // namespace ffc::cuda
