// Filter-transform kernels and the registry.
#include "cuda/filter_kernel.cuh"
#include "core/monarch_split.hpp"
#include "cuda/kernels.hpp"
#include "cuda/sizes.hpp"

namespace ffc::cuda {

KernelEntry forward_kernel_f16(int n);
KernelEntry forward_kernel_bf16(int n);
KernelEntry backward_kernel_f16(int n, bool both_gates);
KernelEntry backward_kernel_bf16(int n, bool both_gates);

namespace {

template <int kN, typename KT>
KernelEntry filter_entry() {
  return {reinterpret_cast<const void*>(&filter_kernel<kN, KT>), kFilterThreads,
          sizeof(float2) * static_cast<std::size_t>(FwdShape<kN>::M)};
}

template <typename KT>
KernelEntry filter_entry_for(int n) {
  return CudaSizes::dispatch<KernelEntry>(n, [](auto size) { return filter_entry<decltype(size)::value, KT>(); });
}

}  // namespace

KernelEntry forward_kernel(int n, DType dtype) {
  switch (dtype) {
    case DType::kF16: return forward_kernel_f16(n);
    case DType::kBF16: return forward_kernel_bf16(n);
    default: return {};
  }
}

KernelEntry backward_kernel(int n, DType dtype, bool both_gates) {
  switch (dtype) {
    case DType::kF16: return backward_kernel_f16(n, both_gates);
    case DType::kBF16: return backward_kernel_bf16(n, both_gates);
    default: return {};
  }
}

KernelEntry filter_kernel(int n, DType filter_dtype) {
  switch (filter_dtype) {
    case DType::kF32: return filter_entry_for<float>(n);
    case DType::kF16: return filter_entry_for<__half>(n);
    case DType::kBF16: return filter_entry_for<__nv_bfloat16>(n);
  }
  return {};
}

KernelEntry normalize_kernel() { return {reinterpret_cast<const void*>(&normalize_spectrum), 256, 0}; }

// The single-CTA forward's shared memory for a gating (the cluster kernels' is fixed: 0 here).
std::size_t forward_smem_bytes(int n, bool pregate, bool postgate) {
  return CudaSizes::dispatch<std::size_t>(n, [&](auto size) -> std::size_t {
    constexpr int kN = decltype(size)::value;
    if constexpr (kN <= 4096) {
      return FwdShape<kN>::smem_bytes(pregate, postgate);
    } else {
      return 0;
    }
  });
}

int small_radix(int n) { return core::small_radix(n); }

}  // namespace ffc::cuda
