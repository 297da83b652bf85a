// The launcher of the four-step algorithm (kernels.cuh): its twiddle table, built in double
// precision at plan creation; the items of a call in chunks whose intermediates fill a fixed
// scratch, each chunk a fixed sequence of launches on the caller's stream; the filter gradient
// finished per head as soon as the head's last item is done, so the workspace never grows with H.
#include <algorithm>
#include <complex>
#include <cstdint>
#include <string>
#include <vector>

#include "core/checked.hpp"
#include "core/errors.hpp"
#include "core/factorization.hpp"
#include "cuda/check.hpp"
#include "cuda/device_memory.hpp"
#include "cuda/four_step/four_step.hpp"
#include "cuda/four_step/shape.hpp"
#include "cuda/sizes.hpp"
#include "cuda/spectral/spectral.hpp"

namespace ffc::cuda {
namespace {

// Chunk targets: a chunk's intermediates fill about this much (most of an H100's 50 MB L2).
constexpr std::size_t kForwardTarget = std::size_t{32} << 20;
constexpr std::size_t kBackwardTarget = std::size_t{48} << 20;
constexpr std::size_t kMaximaBytes = 8 * sizeof(uint32_t);  // per item

std::size_t align256(std::size_t bytes) { return (bytes + 255) / 256 * 256; }

class FourStepAlgorithm final : public Algorithm {
 public:
  FourStepAlgorithm(const char* name, int64_t n, const DeviceCaps& caps)
      : name_(name), n_(static_cast<int>(n)), n1_(n_ / 4096), caps_(caps),
        io_{four_step_io_kernels_f16(n_), four_step_io_kernels_bf16(n_)}, common_(four_step_common_kernels(n_)),
        forward_cap_(std::max<int64_t>(1, kForwardTarget / (row_bytes() + kMaximaBytes))),
        backward_cap_(std::max<int64_t>(1, kBackwardTarget / (3 * row_bytes() + kMaximaBytes))) {
    for (const FourStepIoKernels& k : io_) {
      for (const KernelEntry* e : {&k.maxima_forward, &k.column_forward, &k.column_inverse, &k.maxima_backward,
                                   &k.column_forward_backward, &k.column_inverse_backward}) {
        prepare(*e);
      }
    }
    for (const KernelEntry* e : {&common_.row_forward, &common_.row_backward, &common_.dk_reduce, &common_.dk_row,
                                 &common_.dk_column, &common_.filter_row}) {
      prepare(*e);
    }
    for (DType kd : {DType::kF32, DType::kF16, DType::kBF16}) prepare(four_step_filter_column(n_, kd));
    upload_table();
  }

  const char* name() const override { return name_; }

  // [the chunk's intermediates Z] [its row maxima]
  std::size_t forward_scratch_bytes() const override {
    return align256(static_cast<std::size_t>(forward_cap_) * row_bytes()) +
           static_cast<std::size_t>(forward_cap_) * kMaximaBytes;
  }

  // [the partial dk spectra of the heads in flight] [Z] [W] [dk terms] [maxima], all per chunk.
  std::size_t backward_workspace_bytes(int64_t, int64_t) const override {
    const std::size_t rows = align256(static_cast<std::size_t>(backward_cap_) * row_bytes());
    return 4 * rows + static_cast<std::size_t>(backward_cap_) * kMaximaBytes;
  }

  void transform_filter(FilterParams p, DType filter_dtype, cudaStream_t s) const override {
    p.twiddles = table();
    void* args[] = {&p};
    launch(four_step_filter_column(n_, filter_dtype), p.heads * tiles(), args, s, "four-step filter launch");
    launch(common_.filter_row, p.heads * n1_, args, s, "four-step filter launch");
    launch_spectrum_normalize(n_, p, caps_.sm_count, s);
  }

  void forward(FwdParams p, DType dtype, void* scratch, cudaStream_t s) const override {
    const FourStepIoKernels& k = io_[dtype == DType::kF16 ? 0 : 1];
    p.twiddles = table();
    p.items = p.pairs_per_head * p.heads;
    char* base = static_cast<char*>(scratch);
    for (int64_t first = 0; first < p.items; first += forward_cap_) {
      FourStepChunk c{};
      c.first = first;
      c.count = std::min(forward_cap_, p.items - first);
      c.z = reinterpret_cast<float2*>(base);
      c.maxima = reinterpret_cast<uint32_t*>(base + align256(static_cast<std::size_t>(forward_cap_) * row_bytes()));
      c.segments = segments(c.count, p.length);
      void* args[] = {&p, &c};
      zero_maxima(c, s);
      launch(k.maxima_forward, c.count * c.segments, args, s, "four-step maxima launch");
      launch(k.column_forward, c.count * tiles(), args, s, "four-step column launch");
      launch(common_.row_forward, c.count * n1_, args, s, "four-step row launch");
      launch(k.column_inverse, c.count * tiles(), args, s, "four-step output launch");
    }
  }

  void backward(BwdParams p, DType dtype, void* workspace, float* dk, int64_t dk_length,
                cudaStream_t s) const override {
    const FourStepIoKernels& k = io_[dtype == DType::kF16 ? 0 : 1];
    p.twiddles = table();
    const int64_t items = p.pairs_per_head * p.heads;
    const std::size_t rows = align256(static_cast<std::size_t>(backward_cap_) * row_bytes());
    char* base = static_cast<char*>(workspace);
    DkParams dp{};
    dp.dk = dk;
    dp.dk_length = dk_length;
    dp.twiddles = table();
    for (int64_t first = 0; first < items; first += backward_cap_) {
      FourStepChunk c{};
      c.first = first;
      c.count = std::min(backward_cap_, items - first);
      c.dk_partial = dk != nullptr ? reinterpret_cast<float2*>(base) : nullptr;
      c.slots = backward_cap_;
      c.z = reinterpret_cast<float2*>(base + rows);
      c.w = reinterpret_cast<float2*>(base + 2 * rows);
      c.dk_terms = dk != nullptr ? reinterpret_cast<float2*>(base + 3 * rows) : nullptr;
      c.maxima = reinterpret_cast<uint32_t*>(base + 4 * rows);
      c.segments = segments(c.count, p.length);
      void* args[] = {&p, &c};
      zero_maxima(c, s);
      launch(k.maxima_backward, c.count * c.segments, args, s, "four-step maxima launch");
      launch(k.column_forward_backward, c.count * tiles() * 2, args, s, "four-step column launch");
      launch(common_.row_backward, c.count * n1_, args, s, "four-step row launch");
      const bool side0 = p.dpostgate != nullptr, side1 = p.du != nullptr || p.dpregate != nullptr;
      if (side0 && side1 && !sides_overlap(p, dtype)) {
        c.side = kBothSides;
        launch(k.column_inverse_backward, c.count * tiles() * 2, args, s, "four-step gradient launch");
      } else {
        // dpostgate (reads dy) before du, which may alias dy.
        if (side0) {
          c.side = 0;
          launch(k.column_inverse_backward, c.count * tiles(), args, s, "four-step gradient launch");
        }
        if (side1) {
          c.side = 1;
          launch(k.column_inverse_backward, c.count * tiles(), args, s, "four-step gradient launch");
        }
      }
      if (dk != nullptr) finish_dk(p, c, dp, s);
    }
  }

 private:
  std::size_t row_bytes() const { return static_cast<std::size_t>(n_) * sizeof(float2); }
  int64_t tiles() const { return 4096 / four_step_columns(n1_); }
  const float2* table() const { return static_cast<const float2*>(table_.ptr); }

  // CTAs per item of the maxima pass: enough to fill the GPU four times, at least 2048 values each.
  int segments(int64_t count, int64_t length) const {
    const int64_t fill = (4 * int64_t{caps_.sm_count} + count - 1) / count;
    return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(fill, (length + 2047) / 2048)));
  }

  void zero_maxima(const FourStepChunk& c, cudaStream_t s) const {
    check_cuda(cudaMemsetAsync(c.maxima, 0, static_cast<std::size_t>(c.count) * kMaximaBytes, s), "cudaMemsetAsync");
  }

  // The chunk's dk terms into the partial spectra; the heads whose last item is in the chunk
  // ([first / P, (first + count) / P) for P items per head) transformed back into dk.
  void finish_dk(BwdParams p, FourStepChunk c, DkParams dp, cudaStream_t s) const {
    void* args[] = {&p, &c};
    const int64_t chunk_heads = (c.first + c.count - 1) / p.pairs_per_head - c.first / p.pairs_per_head + 1;
    launch(common_.dk_reduce, elementwise_blocks(chunk_heads * n_), args, s, "four-step dk reduce launch");
    const int64_t head_begin = c.first / p.pairs_per_head;
    const int64_t head_end = (c.first + c.count) / p.pairs_per_head;
    if (head_end <= head_begin) return;
    c.first = head_begin;
    void* dk_args[] = {&dp, &c};
    launch(common_.dk_row, (head_end - head_begin) * n1_, dk_args, s, "four-step dk launch");
    launch(common_.dk_column, (head_end - head_begin) * tiles(), dk_args, s, "four-step dk launch");
  }

  // Whether an output of one side of the gradient pass overlaps an input of the other (side 0 reads
  // dy and writes dpostgate; side 1 reads u and pregate and writes du and dpregate).
  static bool sides_overlap(const BwdParams& p, DType dtype) {
    const std::size_t bytes = static_cast<std::size_t>(p.batch * p.heads * p.length) * dtype_size(dtype);
    auto overlap = [bytes](const void* a, const void* b) {
      if (a == nullptr || b == nullptr) return false;
      const auto x = reinterpret_cast<std::uintptr_t>(a), y = reinterpret_cast<std::uintptr_t>(b);
      return x < y + bytes && y < x + bytes;
    };
    return overlap(p.du, p.dy) || overlap(p.dpregate, p.dy) || overlap(p.dpostgate, p.u) ||
           overlap(p.dpostgate, p.pregate);
  }

  int64_t elementwise_blocks(int64_t elements) const {
    return std::max<int64_t>(1, std::min<int64_t>((elements + 255) / 256, int64_t{caps_.sm_count} * 8));
  }

  // w_4096^q, w_N^q (q < 4096), w_N1^q (FourStepTables), from core::twiddle in double, rounded once.
  void upload_table() {
    std::vector<float2> host(static_cast<std::size_t>(FourStepTables::count(n1_)));
    auto put = [&](int at, std::complex<double> w) {
      host[static_cast<std::size_t>(at)] = make_float2(static_cast<float>(w.real()), static_cast<float>(w.imag()));
    };
    for (int q = 0; q < 4096; ++q) {
      put(FourStepTables::kRow + q, core::twiddle(4096, q));
      put(FourStepTables::kFine + q, core::twiddle(n_, q));
    }
    for (int q = 0; q < n1_; ++q) put(FourStepTables::kCoarse + q, core::twiddle(n1_, q));
    const std::size_t bytes = host.size() * sizeof(float2);
    table_.allocate(bytes, caps_.device, "the four-step tables");
    check_cuda(cudaMemcpy(table_.ptr, host.data(), bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
  }

  void prepare(const KernelEntry& e) const { prepare_kernel(e, name_, n_, caps_.device); }

  static void launch(const KernelEntry& e, int64_t blocks, void** args, cudaStream_t s, const char* what) {
    if (blocks <= 0) return;
    if (blocks > 0x7fffffff) core::throw_invalid("u: too many items for one launch");
    check_cuda(cudaLaunchKernel(e.function, dim3(static_cast<unsigned>(blocks)), dim3(e.threads), args, e.smem_bytes, s),
               what);
  }

  const char* name_;
  int n_, n1_;
  DeviceCaps caps_;
  FourStepIoKernels io_[2];  // [f16, bf16]
  FourStepCommonKernels common_;
  int64_t forward_cap_, backward_cap_;  // items per chunk
  DeviceAllocation table_;
};

}  // namespace

bool four_step_covers(int64_t n) { return FourStepSizes::contains(n); }

std::size_t four_step_max_smem_bytes(int64_t n) {
  if (!four_step_covers(n)) return 0;
  const FourStepCommonKernels c = four_step_common_kernels(static_cast<int>(n));
  return std::max(c.dk_column.smem_bytes, c.row_backward.smem_bytes);
}

std::unique_ptr<Algorithm> make_four_step_algorithm(const char* name, int64_t n, const DeviceCaps& caps,
                                                    const PlanTables&) {
  return std::make_unique<FourStepAlgorithm>(name, n, caps);
}

}  // namespace ffc::cuda
