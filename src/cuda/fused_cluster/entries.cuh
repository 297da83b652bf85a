// Registry entries of the fused cluster kernels, generated from the one size list (sizes.hpp):
// sizes above kMaxCtaSize get an instantiation (a cluster of N / 4096 CTAs per pair), smaller ones
// a null entry. Each I/O dtype and direction instantiates them in its own translation unit.
#pragma once

#include "cuda/fused.hpp"
#include "cuda/fused_cluster/bwd_cluster_kernel.cuh"
#include "cuda/fused_cluster/fwd_cluster_kernel.cuh"
#include "cuda/sizes.hpp"

namespace ffc::cuda::fused_cluster {

template <typename T, bool kSplit>
KernelEntry forward_entry(int n) {
  return CudaSizes::dispatch<KernelEntry>(n, [](auto size) -> KernelEntry {
    constexpr int kN = decltype(size)::value;
    if constexpr (kN > kMaxCtaSize) {
      using C = ClusterShape<kN>;
      return {reinterpret_cast<const void*>(&fwd_cluster_kernel<kN, T, kSplit>), C::kThreads,
              static_cast<std::size_t>(C::kSmemBytes), C::RS, 1, C::kArch};
    } else {
      return {};
    }
  });
}

// One cluster per (head, group); the same kernel with or without both gates.
template <typename T, bool kSplit>
KernelEntry backward_entry(int n, bool) {
  return CudaSizes::dispatch<KernelEntry>(n, [](auto size) -> KernelEntry {
    constexpr int kN = decltype(size)::value;
    if constexpr (kN > kMaxCtaSize) {
      using C = BwdClusterShape<kN>;
      return {reinterpret_cast<const void*>(&bwd_cluster_kernel<kN, T, kSplit>), C::kThreads,
              static_cast<std::size_t>(C::kSmemBytes), C::RS, 1, C::kArch};
    } else {
      return {};
    }
  });
}

}  // namespace ffc::cuda::fused_cluster
