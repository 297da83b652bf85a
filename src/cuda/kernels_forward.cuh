// Instantiation helper: one translation unit per I/O dtype includes this with FFC_IO_TYPE set.
#pragma once

#include "cuda/fwd_cluster_kernel.cuh"
#include "cuda/fwd_kernel.cuh"
#include "cuda/kernels.hpp"
#include "cuda/sizes.hpp"

namespace ffc::cuda {

// Sizes up to 4096: one CTA per kPairs pairs; 8192 and up: a cluster of N / 4096 CTAs per pair.
template <int kN, typename T, bool kSplit>
KernelEntry forward_entry() {
  if constexpr (kN <= 4096) {
    using S = FwdShape<kN>;
    return {reinterpret_cast<const void*>(&fwd_kernel<kN, T, kSplit>), S::kThreads,
            static_cast<std::size_t>(S::kSmemBytes), 1, S::kPairs};
  } else {
    using C = ClusterShape<kN>;
    return {reinterpret_cast<const void*>(&fwd_cluster_kernel<kN, T, kSplit>), C::kThreads,
            static_cast<std::size_t>(C::kSmemBytes), C::RS, 1};
  }
}

template <typename T, bool kSplit>
KernelEntry forward_entry_for(int n) {
  return CudaSizes::dispatch<KernelEntry>(n, [](auto size) { return forward_entry<decltype(size)::value, T, kSplit>(); });
}

}  // namespace ffc::cuda
