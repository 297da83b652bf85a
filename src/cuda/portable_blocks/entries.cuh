// Registry entries of the two-pass kernels, generated from the one size list (sizes.hpp): sizes
// above kMaxCtaSize up to kMaxBlocksSize get instantiations, the others empty entries.
#pragma once

#include "cuda/portable_blocks/blocks.hpp"
#include "cuda/portable_blocks/blocks_kernels.cuh"
#include "cuda/sizes.hpp"

#include <type_traits>

namespace ffc::cuda {

template <typename T>
BlocksKernels blocks_entries(int n) {
  return CudaSizes::dispatch<BlocksKernels>(n, [](auto size) -> BlocksKernels {
    constexpr int kN = decltype(size)::value;
    if constexpr (kN > kMaxCtaSize && kN <= kMaxBlocksSize) {
      using S = BlocksShape<kN>;
      auto entry = [](const void* f, int smem) {
        return KernelEntry{f, kBlockThreads, static_cast<std::size_t>(smem), 1, 1, S::kArch};
      };
      // dtype-free: instantiated once (the f16 translation unit); the launcher reads the f16 entry's.
      KernelEntry dk_reduce{};
      if constexpr (std::is_same_v<T, __half>) {
        dk_reduce = entry(reinterpret_cast<const void*>(&blocks_dk_reduce<kN>), 0);
      }
      return {entry(reinterpret_cast<const void*>(&blocks_forward_kernel<kN, T>), S::kForwardSmem),
              entry(reinterpret_cast<const void*>(&blocks_forward_output<kN, T>), 0),
              entry(reinterpret_cast<const void*>(&blocks_backward_kernel<kN, T>), S::kBackwardSmem),
              entry(reinterpret_cast<const void*>(&blocks_backward_output<kN, T>), 0),
              dk_reduce};
    } else {
      return {};
    }
  });
}

}  // namespace ffc::cuda
