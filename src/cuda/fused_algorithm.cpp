// The launcher of the fused families (fused.hpp): plan-time kernel attributes and occupancy, then
// stream-ordered, allocation-free launches.
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/checked.hpp"
#include "core/errors.hpp"
#include "cuda/check.hpp"
#include "cuda/fused.hpp"
#include "cuda/spectral/spectral.hpp"

namespace ffc::cuda {
namespace {

constexpr DType kIoTypes[] = {DType::kF16, DType::kBF16};
int io_index(DType dtype) { return dtype == DType::kF16 ? 0 : 1; }

class FusedAlgorithm final : public Algorithm {
 public:
  FusedAlgorithm(const char* name, const FusedKernels& kernels, int64_t n, const DeviceCaps& caps,
                 const PlanTables& tables)
      : name_(name), kernels_(kernels), n_(static_cast<int>(n)), caps_(caps), tables_(tables) {
    for (DType dtype : kIoTypes) {
      const KernelEntry e = kernels_.forward(n_, dtype);
      prepare_kernel(e, name_, n_, caps_.device);
      // The persistent grid is what can be resident at once, per gate combination (the CTA kernel's
      // shared memory depends on which gates are staged). Work is assigned statically, so a CTA or
      // cluster beyond that would wait for a whole resident one and double the time.
      for (int gates = 0; gates < 4; ++gates) {
        max_grid_[io_index(dtype)][gates] = resident_grid(e, forward_smem(e, gates & 1, gates & 2));
      }
      for (bool both_gates : {false, true}) {
        const KernelEntry b = kernels_.backward(n_, dtype, both_gates);
        prepare_kernel(b, name_, n_, caps_.device);
        bwd_resident_ = std::max(bwd_resident_, resident_grid(b, b.smem_bytes) / b.cluster);
      }
    }
    prepare_kernel(dk_kernels(n_, 0), name_, n_, caps_.device);
    for (DType kd : {DType::kF32, DType::kF16, DType::kBF16}) prepare_kernel(filter_kernel(n_, kd), name_, n_, caps_.device);
  }

  const char* name() const override { return name_; }

  void transform_filter(FilterParams p, DType filter_dtype, cudaStream_t s) const override {
    launch_filter_transform(n_, p, filter_dtype, caps_.sm_count, s);
  }

  // The partial dk spectra, H x G x N complex values.
  std::size_t backward_workspace_bytes(int64_t batch, int64_t heads) const override {
    const std::string what = "backward workspace bytes for batch = " + std::to_string(batch) +
                             ", heads = " + std::to_string(heads);
    return core::checked_mul(
        core::checked_mul(static_cast<uint64_t>(heads), static_cast<uint64_t>(dk_groups(batch, heads)), what),
        static_cast<uint64_t>(n_) * sizeof(float2), what);
  }

  // One persistent launch over the (head, pair) items.
  void forward(FwdParams p, DType dtype, void*, cudaStream_t s) const override {
    const bool pre = p.pregate != nullptr, post = p.postgate != nullptr;
    const KernelEntry e = kernels_.forward(n_, dtype);
    p.items = p.pairs_per_head * p.heads;
    const int64_t iterations = (p.items + e.pairs_per_iteration - 1) / e.pairs_per_iteration;
    const int grid = static_cast<int>(
        std::min<int64_t>(iterations * e.cluster, max_grid_[io_index(dtype)][(pre ? 1 : 0) + (post ? 2 : 0)]));
    void* args[] = {&p};
    check_cuda(cudaLaunchKernel(e.function, dim3(grid), dim3(e.threads), args, forward_smem(e, pre, post), s),
               "forward kernel launch");
  }

  // One fused pass writes du, dpregate, dpostgate and the partial dk spectra of every (head, group);
  // the dk finish and output kernels sum them in group order and transform them back.
  void backward(BwdParams p, DType dtype, void* workspace, float* dk, int64_t dk_length,
                cudaStream_t s) const override {
    p.groups = static_cast<int>(dk_groups(p.batch, p.heads));
    p.dk_partial = dk != nullptr ? static_cast<float2*>(workspace) : nullptr;
    const KernelEntry e = kernels_.backward(n_, dtype, p.pregate != nullptr && p.postgate != nullptr);
    const int64_t blocks = p.heads * p.groups * e.cluster;
    if (blocks > 0x7fffffff) core::throw_invalid("dy: too many heads for one launch");
    void* args[] = {&p};
    check_cuda(cudaLaunchKernel(e.function, dim3(static_cast<unsigned>(blocks)), dim3(e.threads), args,
                                e.smem_bytes, s),
               "backward kernel launch");
    if (dk != nullptr) {
      launch_dk_finish(n_, p.heads, p.groups, p.dk_partial, dk, dk_length, tables_.twiddles, caps_.sm_count, s);
    }
  }

 private:
  std::size_t forward_smem(const KernelEntry& e, bool pregate, bool postgate) const {
    return kernels_.forward_smem ? kernels_.forward_smem(n_, pregate, postgate) : e.smem_bytes;
  }

  // CTAs of `e` that can be resident at once. Clusters must fit inside one GPC, whose SM counts
  // differ, so for cluster kernels the count comes from the driver's cluster occupancy, not from
  // blocks per SM x SMs (on H100 the latter overstates 4- and 8-CTA clusters).
  int resident_grid(const KernelEntry& e, std::size_t smem) const {
    if (e.cluster == 1) {
      int blocks = 0;
      check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, e.function, e.threads, smem),
                 "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
      return std::max(1, blocks) * caps_.sm_count;
    }
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(static_cast<unsigned>(e.cluster * caps_.sm_count));
    config.blockDim = dim3(static_cast<unsigned>(e.threads));
    config.dynamicSmemBytes = smem;
    int clusters = 0;  // the cluster shape comes from the kernel's __cluster_dims__
    check_cuda(cudaOccupancyMaxActiveClusters(&clusters, e.function, &config), "cudaOccupancyMaxActiveClusters");
    if (clusters < 1) {
      core::throw_error(Status::kNotSupported, std::string("device: CUDA device ") + std::to_string(caps_.device) +
                                                   " cannot hold one cluster of " + std::to_string(e.cluster) +
                                                   " CTAs of the " + name_ + " kernels of size " + std::to_string(n_));
    }
    return clusters * e.cluster;
  }

  // Batch-pair groups per head: the fused backward takes one (head, group) per CTA (or cluster);
  // about four waves of resident ones bound the tail, and each group's partial dk spectrum costs
  // 8 N bytes of traffic (small against its pairs').
  int64_t dk_groups(int64_t batch, int64_t heads) const {
    const int64_t pairs = std::max<int64_t>(1, batch / 2 + batch % 2);
    const int64_t target = 4 * int64_t{bwd_resident_};
    const int64_t h = std::max<int64_t>(1, heads);
    return std::max<int64_t>(1, std::min((target + h - 1) / h, pairs));
  }

  const char* name_;
  const FusedKernels& kernels_;
  int n_;
  DeviceCaps caps_;
  PlanTables tables_;
  int max_grid_[2][4] = {{1, 1, 1, 1}, {1, 1, 1, 1}};  // [dtype][pregate + 2 postgate]
  int bwd_resident_ = 1;  // resident fused-backward CTAs or clusters (the larger variant, either dtype)
};

}  // namespace

std::size_t fused_max_smem_bytes(const FusedKernels& kernels, int64_t n) {
  std::size_t most = 0;
  for (DType dtype : kIoTypes) {
    most = std::max(most, kernels.forward(static_cast<int>(n), dtype).smem_bytes);
    for (bool both_gates : {false, true}) {
      most = std::max(most, kernels.backward(static_cast<int>(n), dtype, both_gates).smem_bytes);
    }
  }
  return most;
}

std::unique_ptr<Algorithm> make_fused_algorithm(const char* name, const FusedKernels& kernels, int64_t n,
                                                const DeviceCaps& caps, const PlanTables& tables) {
  return std::make_unique<FusedAlgorithm>(name, kernels, n, caps, tables);
}

}  // namespace ffc::cuda
