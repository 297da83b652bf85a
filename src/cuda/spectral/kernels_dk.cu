// The filter gradient's finish and output kernels and their registry entries.
#include "cuda/spectral/dk_kernel.cuh"
#include "cuda/spectral/spectral.hpp"
#include "cuda/sizes.hpp"

namespace ffc::cuda {
namespace {

template <int kN>
KernelEntry dk_finish_entry() {
  return {reinterpret_cast<const void*>(&dk_finish_kernel<kN>), 256,
          sizeof(float2) * static_cast<std::size_t>(DkShape<kN>::M), 1, 1};
}

template <int kN>
KernelEntry dk_output_entry() {
  return {reinterpret_cast<const void*>(&dk_output_kernel<kN>), 256, 0, 1, 1};
}

}  // namespace

KernelEntry dk_kernels(int n, int which) {
  return CudaSizes::dispatch<KernelEntry>(n, [which](auto size) {
    constexpr int kN = decltype(size)::value;
    return which == 0 ? dk_finish_entry<kN>() : dk_output_entry<kN>();
  });
}

}  // namespace ffc::cuda
