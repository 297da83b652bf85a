// The launches of the shared spectral kernels: the filter transform and its normalization
// (filter_kernel.cuh), the filter gradient's finish (dk_kernel.cuh).
#include <algorithm>
#include <cstdint>

#include "core/errors.hpp"
#include "core/monarch_split.hpp"
#include "cuda/check.hpp"
#include "cuda/spectral/spectral.hpp"

namespace ffc::cuda {

void launch_filter_transform(int n, const FilterParams& p, DType filter_dtype, int sm_count, cudaStream_t s) {
  const KernelEntry e = filter_kernel(n, filter_dtype);
  const int64_t blocks = p.heads * core::small_radix(n);
  if (blocks > 0x7fffffff) core::throw_invalid("k: too many heads for one launch");
  FilterParams args_p = p;
  void* args[] = {&args_p};
  check_cuda(cudaLaunchKernel(e.function, dim3(static_cast<unsigned>(blocks)), dim3(e.threads), args, e.smem_bytes, s),
             "filter kernel launch");
  launch_spectrum_normalize(n, p, sm_count, s);
}

void launch_spectrum_normalize(int n, const FilterParams& p, int sm_count, cudaStream_t s) {
  const KernelEntry norm = normalize_kernel();
  int64_t total = p.heads * n;
  int log2n = core::log2_of_power_of_two(n);
  float2* spectrum = p.spectrum;
  const float* maxima = p.spectrum_max;
  void* args[] = {&spectrum, &maxima, &total, &log2n};
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>((total + 255) / 256, int64_t{sm_count} * 16));
  check_cuda(cudaLaunchKernel(norm.function, dim3(static_cast<unsigned>(blocks)), dim3(norm.threads), args, 0, s),
             "spectrum normalization launch");
}

void launch_dk_finish(int n, int64_t heads, int groups, float2* partial, float* dk, int64_t dk_length,
                      const float2* twiddles, int sm_count, cudaStream_t s) {
  DkParams p{};
  p.heads = heads;
  p.groups = groups;
  p.partial = partial;
  p.dk = dk;
  p.dk_length = dk_length;
  p.twiddles = twiddles;
  void* args[] = {&p};
  const KernelEntry finish = dk_kernels(n, 0);
  check_cuda(cudaLaunchKernel(finish.function, dim3(static_cast<unsigned>(p.heads * core::small_radix(n))),
                              dim3(finish.threads), args, finish.smem_bytes, s),
             "dk finish kernel launch");
  const KernelEntry output = dk_kernels(n, 1);
  const int64_t total = p.heads * p.dk_length;
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>((total + 255) / 256, int64_t{sm_count} * 8));
  check_cuda(cudaLaunchKernel(output.function, dim3(static_cast<unsigned>(blocks)), dim3(output.threads), args, 0, s),
             "dk output kernel launch");
}

}  // namespace ffc::cuda
