// Instantiation helper: one translation unit per I/O dtype includes this with FFC_IO_TYPE set.
#pragma once

#include "cuda/fwd_cluster_kernel.cuh"
#include "cuda/fwd_kernel.cuh"
#include "cuda/kernels.hpp"

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
  switch (n) {
    case 256: return forward_entry<256, T, kSplit>();
    case 512: return forward_entry<512, T, kSplit>();
    case 1024: return forward_entry<1024, T, kSplit>();
    case 2048: return forward_entry<2048, T, kSplit>();
    case 4096: return forward_entry<4096, T, kSplit>();
    case 8192: return forward_entry<8192, T, kSplit>();
    case 16384: return forward_entry<16384, T, kSplit>();
    case 32768: return forward_entry<32768, T, kSplit>();
    default: return {};
  }
}

}  // namespace ffc::cuda
