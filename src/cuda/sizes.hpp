// The FFT sizes of the CUDA backend: the one place to add a size. The plan's supported-size check
// and every kernel instantiation and registry (forward, backward, filter, dk) are generated from
// this list; a size's launch shape follows from its split (core/monarch_split.hpp) in
// stages/fwd_config.hpp and the kernels' shape structs.
#pragma once

#include <cstdint>
#include <type_traits>

namespace ffc::cuda {

template <int... kSizes>
struct SizeList {
  static constexpr int kCount = sizeof...(kSizes);
  static constexpr int kValues[] = {kSizes...};
  static constexpr bool contains(int64_t n) { return ((n == kSizes) || ...); }
  // f(std::integral_constant<int, kN>{}) for the listed kN equal to n, else R{}.
  template <typename R, typename F>
  static R dispatch(int64_t n, const F& f) {
    R result{};
    (void)((n == kSizes ? (result = f(std::integral_constant<int, kSizes>{}), true) : false) || ...);
    return result;
  }
};

using CudaSizes = SizeList<256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536>;
// The long sizes, run by the four-step algorithm (four_step/).
using FourStepSizes = SizeList<65536, 131072, 262144, 524288, 1048576, 2097152, 4194304>;

}  // namespace ffc::cuda
