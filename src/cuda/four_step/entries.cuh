// Registry entries of the four-step kernels, generated from the one size list (FourStepSizes).
#pragma once

#include "cuda/four_step/four_step.hpp"
#include "cuda/four_step/kernels.cuh"
#include "cuda/sizes.hpp"

namespace ffc::cuda {

template <int kN>
KernelEntry four_step_entry(const void* function, int threads, int smem) {
  return KernelEntry{function, threads, static_cast<std::size_t>(smem), 1, 1, FourStepShape<kN>::kArch};
}

// Entries of the row, maxima and reduction passes (kFsThreads) and of the column passes.
#define FFC_FS_ENTRY(kernel, smem) four_step_entry<kN>(reinterpret_cast<const void*>(&kernel), kFsThreads, smem)
#define FFC_FS_COLUMN_ENTRY(kernel) \
  four_step_entry<kN>(reinterpret_cast<const void*>(&kernel), FourStepShape<kN>::kColumnThreads, FourStepShape<kN>::kTileSmem)

template <typename T>
FourStepIoKernels four_step_io_entries(int n) {
  return FourStepSizes::dispatch<FourStepIoKernels>(n, [](auto size) -> FourStepIoKernels {
    constexpr int kN = decltype(size)::value;
    using S = FourStepShape<kN>;
    return {FFC_FS_ENTRY(fs_maxima_forward<T>, 0),
            FFC_FS_COLUMN_ENTRY((fs_column_forward<kN, T>)),
            FFC_FS_COLUMN_ENTRY((fs_column_inverse<kN, T>)),
            FFC_FS_ENTRY(fs_maxima_backward<T>, 0),
            FFC_FS_COLUMN_ENTRY((fs_column_forward_backward<kN, T>)),
            FFC_FS_COLUMN_ENTRY((fs_column_inverse_backward<kN, T>))};
  });
}

template <typename KT>
KernelEntry four_step_filter_column_entry(int n) {
  return FourStepSizes::dispatch<KernelEntry>(n, [](auto size) -> KernelEntry {
    constexpr int kN = decltype(size)::value;
    return FFC_FS_COLUMN_ENTRY((fs_filter_column<kN, KT>));
  });
}

}  // namespace ffc::cuda
