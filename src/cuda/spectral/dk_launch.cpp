// The filter gradient's finish: the launches of dk_kernel.cuh's kernels.
#include <algorithm>
#include <cstdint>

#include "core/monarch_split.hpp"
#include "cuda/check.hpp"
#include "cuda/spectral/spectral.hpp"

namespace ffc::cuda {

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
