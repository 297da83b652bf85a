// The launcher of the portable two-pass family (blocks_kernels.cuh): the items of a call in chunks
// whose block results fit a fixed scratch, each chunk one transform launch and one element-wise
// launch (backward: and the dk reduction), all on the caller's stream.
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/checked.hpp"
#include "core/errors.hpp"
#include "cuda/check.hpp"
#include "cuda/portable_blocks/blocks.hpp"
#include "cuda/sizes.hpp"
#include "cuda/spectral/spectral.hpp"
#include "cuda/stages/fwd_config.hpp"

namespace ffc::cuda {
namespace {

// Scratch per call: a chunk's block results (and, backward, its dk terms) fill about this much.
constexpr std::size_t kScratchTarget = std::size_t{64} << 20;
constexpr std::size_t kFactorBytes = 4 * sizeof(float);  // per item

std::size_t align256(std::size_t bytes) { return (bytes + 255) / 256 * 256; }

class BlocksAlgorithm final : public Algorithm {
 public:
  BlocksAlgorithm(const char* name, int64_t n, const DeviceCaps& caps, const PlanTables& tables)
      : name_(name), n_(static_cast<int>(n)), caps_(caps), tables_(tables),
        kernels_{blocks_kernels_f16(n_), blocks_kernels_bf16(n_)},
        forward_chunk_(std::max<int64_t>(1, kScratchTarget / forward_item_bytes())),
        backward_chunk_(std::max<int64_t>(1, kScratchTarget / backward_item_bytes())) {
    for (const BlocksKernels& k : kernels_) {
      for (const KernelEntry* e : {&k.forward, &k.forward_output, &k.backward, &k.backward_output}) prepare(*e);
    }
    prepare(kernels_[0].dk_reduce);
    prepare(dk_kernels(n_, 0));
    for (DType kd : {DType::kF32, DType::kF16, DType::kBF16}) prepare_kernel(filter_kernel(n_, kd), name_, n_, caps_.device);
  }

  const char* name() const override { return name_; }

  void transform_filter(FilterParams p, DType filter_dtype, cudaStream_t s) const override {
    launch_filter_transform(n_, p, filter_dtype, caps_.sm_count, s);
  }

  std::size_t forward_scratch_bytes() const override {
    return align256(static_cast<std::size_t>(forward_chunk_) * static_cast<std::size_t>(n_) * sizeof(float2)) +
           static_cast<std::size_t>(forward_chunk_) * kFactorBytes;
  }

  // [the dk partial spectra, H x N] [the chunk scratch: c and dx blocks, dk terms, factors]
  std::size_t backward_workspace_bytes(int64_t, int64_t heads) const override {
    const std::string what = "backward workspace bytes for heads = " + std::to_string(heads);
    const uint64_t partials = core::checked_mul(static_cast<uint64_t>(heads), static_cast<uint64_t>(n_) * sizeof(float2), what);
    return core::checked_add(core::checked_add(partials, 255, what) / 256 * 256, backward_scratch_bytes(), what);
  }

  void forward(FwdParams p, DType dtype, void* scratch, cudaStream_t s) const override {
    const BlocksKernels& k = kernels_[dtype == DType::kF16 ? 0 : 1];
    p.items = p.pairs_per_head * p.heads;
    for (int64_t first = 0; first < p.items; first += forward_chunk_) {
      BlockChunk c{};
      c.first = first;
      c.count = std::min(forward_chunk_, p.items - first);
      c.blocks = static_cast<float2*>(scratch);
      c.factors = reinterpret_cast<float*>(static_cast<char*>(scratch) +
                                           align256(static_cast<std::size_t>(forward_chunk_) * n_ * sizeof(float2)));
      void* args[] = {&p, &c};
      launch(k.forward, static_cast<int64_t>(c.count) * core::small_radix(n_), args, s, "two-pass forward launch");
      launch(k.forward_output, output_blocks(c.count * p.length), args, s, "two-pass output launch");
    }
  }

  void backward(BwdParams p, DType dtype, void* workspace, float* dk, int64_t dk_length,
                cudaStream_t s) const override {
    const BlocksKernels& k = kernels_[dtype == DType::kF16 ? 0 : 1];
    const int64_t items = p.pairs_per_head * p.heads;
    char* scratch = static_cast<char*>(workspace) + align256(static_cast<std::size_t>(p.heads) * n_ * sizeof(float2));
    const std::size_t blocks_bytes = align256(static_cast<std::size_t>(backward_chunk_) * n_ * sizeof(float2));
    p.groups = 1;
    p.dk_partial = dk != nullptr ? static_cast<float2*>(workspace) : nullptr;
    for (int64_t first = 0; first < items; first += backward_chunk_) {
      BlockChunk c{};
      c.first = first;
      c.count = std::min(backward_chunk_, items - first);
      c.blocks = reinterpret_cast<float2*>(scratch);  // c blocks, then dx blocks at count N
      c.dk_terms = dk != nullptr ? reinterpret_cast<float2*>(scratch + 2 * blocks_bytes) : nullptr;
      c.factors = reinterpret_cast<float*>(scratch + 3 * blocks_bytes);
      void* args[] = {&p, &c};
      launch(k.backward, static_cast<int64_t>(c.count) * core::small_radix(n_), args, s, "two-pass backward launch");
      launch(k.backward_output, output_blocks(c.count * p.length), args, s, "two-pass gradient launch");
      if (dk != nullptr) launch(kernels_[0].dk_reduce, output_blocks(p.heads * int64_t{n_}), args, s, "dk reduce launch");
    }
    if (dk != nullptr) {
      launch_dk_finish(n_, p.heads, 1, p.dk_partial, dk, dk_length, tables_.twiddles, caps_.sm_count, s);
    }
  }

 private:
  std::size_t forward_item_bytes() const { return static_cast<std::size_t>(n_) * sizeof(float2) + kFactorBytes; }
  // c and dx blocks and the dk terms.
  std::size_t backward_item_bytes() const { return 3 * static_cast<std::size_t>(n_) * sizeof(float2) + kFactorBytes; }
  std::size_t backward_scratch_bytes() const {
    return 3 * align256(static_cast<std::size_t>(backward_chunk_) * n_ * sizeof(float2)) +
           static_cast<std::size_t>(backward_chunk_) * kFactorBytes;
  }

  void prepare(const KernelEntry& e) const { prepare_kernel(e, name_, n_, caps_.device); }

  // Element-wise launches: enough CTAs to fill the GPU, grid-stride beyond.
  int64_t output_blocks(int64_t elements) const {
    return std::max<int64_t>(1, std::min<int64_t>((elements + 255) / 256, int64_t{caps_.sm_count} * 8));
  }

  static void launch(const KernelEntry& e, int64_t blocks, void** args, cudaStream_t s, const char* what) {
    if (blocks > 0x7fffffff) core::throw_invalid("u: too many items for one launch");
    check_cuda(cudaLaunchKernel(e.function, dim3(static_cast<unsigned>(blocks)), dim3(e.threads), args, e.smem_bytes, s),
               what);
  }

  const char* name_;
  int n_;
  DeviceCaps caps_;
  PlanTables tables_;
  BlocksKernels kernels_[2];  // [f16, bf16]
  int64_t forward_chunk_, backward_chunk_;
};

}  // namespace

bool blocks_covers(int64_t n) { return CudaSizes::contains(n) && n > kMaxCtaSize && n <= kMaxBlocksSize; }

std::size_t blocks_max_smem_bytes(int64_t n) {
  return blocks_covers(n) ? blocks_kernels_f16(static_cast<int>(n)).backward.smem_bytes : 0;
}

std::unique_ptr<Algorithm> make_blocks_algorithm(const char* name, int64_t n, const DeviceCaps& caps,
                                                 const PlanTables& tables) {
  return std::make_unique<BlocksAlgorithm>(name, n, caps, tables);
}

}  // namespace ffc::cuda
