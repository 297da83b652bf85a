// Filter-transform kernels and their registry entries.
#include "cuda/sizes.hpp"
#include "cuda/spectral/filter_kernel.cuh"
#include "cuda/spectral/spectral.hpp"

namespace ffc::cuda {
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

KernelEntry filter_kernel(int n, DType filter_dtype) {
  switch (filter_dtype) {
    case DType::kF32: return filter_entry_for<float>(n);
    case DType::kF16: return filter_entry_for<__half>(n);
    case DType::kBF16: return filter_entry_for<__nv_bfloat16>(n);
  }
  return {};
}

KernelEntry normalize_kernel() { return {reinterpret_cast<const void*>(&normalize_spectrum), 256, 0}; }

}  // namespace ffc::cuda
