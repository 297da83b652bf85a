// Instantiation helper of the fused backward: one translation unit per I/O dtype includes this.
#pragma once

#include "cuda/bwd_cluster_kernel.cuh"
#include "cuda/bwd_kernel.cuh"
#include "cuda/kernels.hpp"

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
  switch (n) {
    case 256: return backward_entry<256, T, kSplit, kBothGates>();
    case 512: return backward_entry<512, T, kSplit, kBothGates>();
    case 1024: return backward_entry<1024, T, kSplit, kBothGates>();
    case 2048: return backward_entry<2048, T, kSplit, kBothGates>();
    case 4096: return backward_entry<4096, T, kSplit, kBothGates>();
    case 8192: return backward_entry<8192, T, kSplit, kBothGates>();
    case 16384: return backward_entry<16384, T, kSplit, kBothGates>();
    case 32768: return backward_entry<32768, T, kSplit, kBothGates>();
    default: return {};
  }
}

template <typename T, bool kSplit>
KernelEntry backward_entry_for(int n, bool both_gates) {
  return both_gates ? backward_entry_for<T, kSplit, true>(n) : backward_entry_for<T, kSplit, false>(n);
}

}  // namespace ffc::cuda
