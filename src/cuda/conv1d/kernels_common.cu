// The conv1d kernels that do not depend on the call's dtype: the fixed-order sums of the dweight and
// dbias partials (see kernels.cuh), and the partials' sizing.
#include "cuda/conv1d/backward_fused.cuh"

namespace ffc::cuda::conv1d {
namespace {

// One block per (g, j): thread i sums terms i, i + 256, ... (term e = channel (e / parts) of the
// group, part e % parts) in order, then a fixed tree over the threads.
__global__ void __launch_bounds__(kThreads) dw_finish_kernel(const DwParams p, int64_t groups, float* dweight) {
  __shared__ float partial[kThreads];
  const int64_t K = p.kernel_size, g = blockIdx.x / K, j = blockIdx.x % K;
  const int64_t per_group = p.channels / groups;
  const int64_t terms = per_group * p.parts;
  float sum = 0.0f;
  for (int64_t e = threadIdx.x; e < terms; e += kThreads) {
    const int64_t c = g * per_group + e / p.parts, part = e % p.parts;
    sum += p.partials[(part * p.channels + c) * (K + 1) + j];
  }
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) dweight[g * K + j] = partial[0];
}

__global__ void __launch_bounds__(kThreads) dbias_finish_kernel(const DwParams p, float* dbias) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (c >= p.channels) return;
  float sum = 0.0f;
  for (int64_t part = 0; part < p.parts; ++part) {
    sum += p.partials[(part * p.channels + c) * (p.kernel_size + 1) + p.kernel_size];
  }
  dbias[c] = sum;
}

int64_t dw_items(const DwParams& p) {
  return p.batch * ceil_div(p.out_length, p.blh ? kDwBlhTile : kDwBhlTile);
}

}  // namespace

int64_t dw_parts(const DwParams& p, int64_t target_blocks) {
  const int64_t tiles = p.blh ? ceil_div(p.channels, kBlhChannels) : p.channels;
  const int64_t items = dw_items(p);
  if (tiles == 0 || items == 0) return 1;
  return std::max<int64_t>(1, std::min(items, ceil_div(target_blocks, tiles)));
}

int64_t dw_partial_floats(const DwParams& p) { return p.parts * p.channels * (p.kernel_size + 1); }

FusedLayout fused_backward_layout(int64_t batch, int64_t channels, int64_t length, int64_t out_length,
                                  int64_t kernel_size, int64_t padding, bool blh, int64_t target_blocks) {
  const int64_t rows = batch * (blh ? ceil_div(channels, kBlhChannels) : channels);
  return fused_layout(rows, length, out_length, kernel_size - 1 - padding, blh ? kFusedBlhTile : kBhlTile, target_blocks);
}

int64_t fused_partial_floats(const FusedBackwardParams& p) {
  return p.batch * p.layout.parts_per_row * p.channels * (p.kernel_size + 1);
}

void launch_dw_finish(const DwParams& p, int64_t groups, float* dweight, float* dbias, cudaStream_t stream) {
  if (dweight != nullptr && groups * p.kernel_size > 0) {
    dw_finish_kernel<<<static_cast<unsigned>(groups * p.kernel_size), kThreads, 0, stream>>>(p, groups, dweight);
    check_cuda(cudaGetLastError(), "conv1d dweight finish launch");
  }
  if (dbias != nullptr && p.channels > 0) {
    dbias_finish_kernel<<<static_cast<unsigned>(ceil_div(p.channels, kThreads)), kThreads, 0, stream>>>(p, dbias);
    check_cuda(cudaGetLastError(), "conv1d dbias finish launch");
  }
}

}  // namespace ffc::cuda::conv1d
