// The fused algorithms: one kernel per direction reads u (and the gates) and writes y, with
// everything between on chip. fused_cta/ runs a pair in one CTA (N <= kMaxCtaSize), fused_cluster/
// in a thread-block cluster of N / 4096 CTAs. Both share one launcher (fused_algorithm.cpp):
// persistent forward grids sized by occupancy, a backward over (head, group) work items whose
// partial dk spectra the spectral dk kernels finish.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "cuda/algorithm.hpp"
#include "cuda/kernel_entry.hpp"

namespace ffc::cuda {

// A fused family's kernels, per I/O dtype, for FFT size n (null entries for sizes it does not cover).
struct FusedKernels {
  KernelEntry (*forward_f16)(int n);
  KernelEntry (*forward_bf16)(int n);
  // `both_gates`: the launch has a pregate and a postgate (a variant may stage more rows).
  KernelEntry (*backward_f16)(int n, bool both_gates);
  KernelEntry (*backward_bf16)(int n, bool both_gates);
  // Dynamic shared memory of a forward launch with these gates, for kernels that stage only the
  // gates given; null: always the entry's smem_bytes.
  std::size_t (*forward_smem)(int n, bool pregate, bool postgate);

  KernelEntry forward(int n, DType dtype) const { return dtype == DType::kF16 ? forward_f16(n) : forward_bf16(n); }
  KernelEntry backward(int n, DType dtype, bool both_gates) const {
    return dtype == DType::kF16 ? backward_f16(n, both_gates) : backward_bf16(n, both_gates);
  }
};

// The most dynamic shared memory any of the family's kernels of size n takes.
std::size_t fused_max_smem_bytes(const FusedKernels& kernels, int64_t n);

// One fused family (Tag names it): the sizes it covers, its kernels, and the per-dtype registry
// functions that its translation units define (e.g. fused_cta/forward_f16.cu defines
// FusedCta::forward_f16).
template <typename Tag>
struct FusedFamily {
  static bool covers(int64_t n);
  static const FusedKernels& kernels();
  static KernelEntry forward_f16(int n);
  static KernelEntry forward_bf16(int n);
  static KernelEntry backward_f16(int n, bool both_gates);
  static KernelEntry backward_bf16(int n, bool both_gates);
};

using FusedCta = FusedFamily<struct FusedCtaTag>;          // fused_cta/: N <= kMaxCtaSize, sm_90
using FusedCluster = FusedFamily<struct FusedClusterTag>;  // fused_cluster/: N > kMaxCtaSize, sm_90 clusters
using PortableCta = FusedFamily<struct PortableCtaTag>;    // portable_cta/: N <= kMaxCtaSize, sm_80 on

std::unique_ptr<Algorithm> make_fused_algorithm(const char* name, const FusedKernels& kernels, int64_t n,
                                                const DeviceCaps& caps, const PlanTables& tables);

}  // namespace ffc::cuda
