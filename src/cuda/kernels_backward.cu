// The filter gradient's finish and output kernels and their registry entries.
#include "cuda/dk_kernel.cuh"
#include "cuda/kernels.hpp"

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

#define FFC_FOR_EACH_SIZE(X) X(256) X(512) X(1024) X(2048) X(4096) X(8192) X(16384) X(32768)

}  // namespace

KernelEntry dk_kernels(int n, int which) {
#define FFC_CASE(N) \
  case N: return which == 0 ? dk_finish_entry<N>() : dk_output_entry<N>();
  switch (n) { FFC_FOR_EACH_SIZE(FFC_CASE) default: return {}; }
#undef FFC_CASE
}

}  // namespace ffc::cuda
