// The portable two-pass family (blocks_kernels.cuh): N = RS x 4096 on GPUs without clusters, up to
// kMaxBlocksSize. Above it, each block CTA's pass over the whole rows for their maxima would cost
// more than the four-step algorithm's passes, which take those sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "cuda/algorithm.hpp"
#include "cuda/kernel_entry.hpp"

namespace ffc::cuda {

// The kernels of one size and I/O dtype, in launch order.
struct BlocksKernels {
  KernelEntry forward, forward_output;
  KernelEntry backward, backward_output, dk_reduce;
};

inline constexpr int kMaxBlocksSize = 32768;

BlocksKernels blocks_kernels_f16(int n);
BlocksKernels blocks_kernels_bf16(int n);

bool blocks_covers(int64_t n);
std::size_t blocks_max_smem_bytes(int64_t n);
std::unique_ptr<Algorithm> make_blocks_algorithm(const char* name, int64_t n, const DeviceCaps& caps,
                                                 const PlanTables& tables);

}  // namespace ffc::cuda
