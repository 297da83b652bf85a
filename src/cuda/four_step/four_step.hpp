// The four-step algorithm (kernels.cuh) for the long FFT sizes: its kernels and its table entry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "cuda/algorithm.hpp"
#include "cuda/kernel_entry.hpp"
#include "ffc/ffc.hpp"

namespace ffc::cuda {

// The kernels of one size that read or write the I/O dtype, in launch order.
struct FourStepIoKernels {
  KernelEntry maxima_forward, column_forward, column_inverse;
  KernelEntry maxima_backward, column_forward_backward, column_inverse_backward;
};

// The dtype-free kernels of one size.
struct FourStepCommonKernels {
  KernelEntry row_forward, row_backward, dk_reduce, dk_row, dk_column, filter_row;
};

FourStepIoKernels four_step_io_kernels_f16(int n);
FourStepIoKernels four_step_io_kernels_bf16(int n);
FourStepCommonKernels four_step_common_kernels(int n);
// The filter's column stage for the filter dtype (f32, f16, bf16).
KernelEntry four_step_filter_column(int n, DType filter_dtype);

bool four_step_covers(int64_t n);
std::size_t four_step_max_smem_bytes(int64_t n);
std::unique_ptr<Algorithm> make_four_step_algorithm(const char* name, int64_t n, const DeviceCaps& caps,
                                                    const PlanTables& tables);

}  // namespace ffc::cuda
