// Filter-transform kernels and the registry.
#include "cuda/filter_kernel.cuh"
#include "cuda/kernels.hpp"

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
  switch (n) {
    case 256: return filter_entry<256, KT>();
    case 512: return filter_entry<512, KT>();
    case 1024: return filter_entry<1024, KT>();
    case 2048: return filter_entry<2048, KT>();
    case 4096: return filter_entry<4096, KT>();
    case 8192: return filter_entry<8192, KT>();
    case 16384: return filter_entry<16384, KT>();
    case 32768: return filter_entry<32768, KT>();
    default: return {};
  }
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

std::size_t forward_smem_bytes(int n, bool pregate, bool postgate) {
  switch (n) {
    case 256: return FwdShape<256>::smem_bytes(pregate, postgate);
    case 512: return FwdShape<512>::smem_bytes(pregate, postgate);
    case 1024: return FwdShape<1024>::smem_bytes(pregate, postgate);
    case 2048: return FwdShape<2048>::smem_bytes(pregate, postgate);
    case 4096: return FwdShape<4096>::smem_bytes(pregate, postgate);
    default: return 0;
  }
}

int small_radix(int n) { return n >= 4096 ? n / 4096 : n / 256; }

}  // namespace ffc::cuda
