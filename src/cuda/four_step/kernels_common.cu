// The dtype-free four-step kernels and the filter's column stage for every filter dtype (entries.cuh).
#include "cuda/four_step/entries.cuh"

namespace ffc::cuda {

FourStepCommonKernels four_step_common_kernels(int n) {
  return FourStepSizes::dispatch<FourStepCommonKernels>(n, [](auto size) -> FourStepCommonKernels {
    constexpr int kN = decltype(size)::value;
    using S = FourStepShape<kN>;
    return {FFC_FS_ENTRY(fs_row_forward<kN>, S::kRowSmem),   FFC_FS_ENTRY(fs_row_backward<kN>, S::kRowPairSmem),
            FFC_FS_ENTRY(fs_dk_reduce<kN>, 0),               FFC_FS_ENTRY(fs_dk_row<kN>, S::kRowSmem),
            FFC_FS_COLUMN_ENTRY(fs_dk_column<kN>),           FFC_FS_ENTRY(fs_filter_row<kN>, S::kRowSmem)};
  });
}

KernelEntry four_step_filter_column(int n, DType filter_dtype) {
  switch (filter_dtype) {
    case DType::kF16: return four_step_filter_column_entry<__half>(n);
    case DType::kBF16: return four_step_filter_column_entry<__nv_bfloat16>(n);
    default: return four_step_filter_column_entry<float>(n);
  }
}

}  // namespace ffc::cuda
