// The CUDA backend: plan-time setup (device checks, constant tables, kernel attributes, occupancy)
// and stream-ordered, allocation-free execution. Every CUDA call is checked; failures become
// ffc::Error(kCudaError) naming the call and the CUDA error.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "backend/backend.hpp"
#include "core/checked.hpp"
#include "core/errors.hpp"
#include "cuda/fwd_config.hpp"
#include "cuda/kernels.hpp"
#include "cuda/sizes.hpp"
#include "cuda/params.hpp"
#include "cuda/tables.hpp"

namespace ffc::detail {
namespace {

using cuda::FwdTableLayout;
using cuda::KernelEntry;

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    core::throw_error(Status::kCudaError, std::string(what) + " failed: " + cudaGetErrorName(e) +
                                              " (" + cudaGetErrorString(e) + ")");
  }
}

bool is_supported_size(int64_t n) {
  return cuda::CudaSizes::contains(n);
}

// Makes `device` current for the scope (a no-op when it already is).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    check_cuda(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) check_cuda(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceGuard() {
    int now = -1;
    if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

class CudaBackend final : public BackendImpl {
 public:
  CudaBackend(const core::Factorization& factorization, int device) : n_(factorization.size()) {
    int count = cuda_device_count_noexcept();
    if (count == 0) {
      core::throw_error(Status::kNoDevice,
                        "backend: CUDA was requested but no CUDA device is usable on this machine");
    }
    if (device < 0) check_cuda(cudaGetDevice(&device), "cudaGetDevice");
    if (device >= count) {
      core::throw_invalid("device: " + std::to_string(device) + " but only " + std::to_string(count) +
                          " CUDA devices are present (rule: 0 <= device < count, or -1)");
    }
    device_ = device;
    if (!is_supported_size(n_)) {
      core::throw_error(Status::kNotSupported,
                        "fft_size: " + std::to_string(n_) +
                            " is not supported by the CUDA backend yet (rule: 256 <= N <= 32768; "
                            "use the CPU backend for other sizes)");
    }
    DeviceGuard guard(device_);
    cudaDeviceProp prop{};
    check_cuda(cudaGetDeviceProperties(&prop, device_), "cudaGetDeviceProperties");
    sm_count_ = prop.multiProcessorCount;
    // Kernels must exist for this architecture; cudaFuncGetAttributes says so.
    for (DType dtype : {DType::kF16, DType::kBF16}) {
      const KernelEntry e = cuda::forward_kernel(static_cast<int>(n_), dtype);
      cudaFuncAttributes attr{};
      const cudaError_t status = cudaFuncGetAttributes(&attr, e.function);
      if (status != cudaSuccess) {
        cudaGetLastError();
        core::throw_error(Status::kNotSupported,
                          "device: CUDA device " + std::to_string(device_) + " (" + prop.name +
                              ", compute capability " + std::to_string(prop.major) + "." +
                              std::to_string(prop.minor) +
                              ") has no kernels in this build (rule: the CUDA backend is built for sm_90a, Hopper GPUs such as "
                              "the H100 and H200; use the CPU backend elsewhere; " +
                              cudaGetErrorName(status) + ")");
      }
      if (e.smem_bytes > prop.sharedMemPerBlockOptin) {
        core::throw_error(Status::kNotSupported,
                          "fft_size: " + std::to_string(n_) + " needs " + std::to_string(e.smem_bytes) +
                              " bytes of shared memory per block; device " + std::to_string(device_) +
                              " allows " + std::to_string(prop.sharedMemPerBlockOptin));
      }
      check_cuda(cudaFuncSetAttribute(e.function, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      static_cast<int>(e.smem_bytes)),
                 "cudaFuncSetAttribute");
      // The persistent grid is what can be resident at once, per gate combination (the single-CTA
      // kernel's shared memory depends on which gates are staged). Work is assigned statically, so
      // a CTA or cluster beyond that would wait for a whole resident one and double the time.
      for (int gates = 0; gates < 4; ++gates) {
        max_grid_[dtype == DType::kF16 ? 0 : 1][gates] = resident_grid(e, launch_smem(e, gates & 1, gates & 2));
      }
    }
    for (DType dtype : {DType::kF16, DType::kBF16}) {
      for (bool both_gates : {false, true}) {
        const KernelEntry e = cuda::backward_kernel(static_cast<int>(n_), dtype, both_gates);
        if (e.function == nullptr) continue;
        check_cuda(cudaFuncSetAttribute(e.function, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(e.smem_bytes)),
                   "cudaFuncSetAttribute");
        int& resident = bwd_resident_[dtype == DType::kF16 ? 0 : 1];
        resident = std::max(resident, resident_grid(e, e.smem_bytes) / e.cluster);
      }
    }
    {
      const KernelEntry finish = cuda::dk_kernels(static_cast<int>(n_), 0);
      check_cuda(cudaFuncSetAttribute(finish.function, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      static_cast<int>(finish.smem_bytes)),
                 "cudaFuncSetAttribute");
    }
    for (DType kd : {DType::kF32, DType::kF16, DType::kBF16}) {
      const KernelEntry e = cuda::filter_kernel(static_cast<int>(n_), kd);
      check_cuda(cudaFuncSetAttribute(e.function, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      static_cast<int>(e.smem_bytes)),
                 "cudaFuncSetAttribute");
    }
    const cuda::FwdTables tables = cuda::build_fwd_tables(static_cast<int>(n_));
    const std::size_t frag_bytes = tables.frags.size() * sizeof(uint32_t);
    const std::size_t twiddle_bytes = tables.twiddles.size() * sizeof(cuda::Float2);
    void* buffer = nullptr;
    const cudaError_t alloc = cudaMalloc(&buffer, frag_bytes + twiddle_bytes);
    if (alloc == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      core::throw_error(Status::kOutOfMemory, "plan: could not allocate " +
                                                  std::to_string(frag_bytes + twiddle_bytes) +
                                                  " bytes of device memory for the tables");
    }
    check_cuda(alloc, "cudaMalloc");
    tables_ = buffer;
    twiddles_ = reinterpret_cast<const float2*>(static_cast<char*>(buffer));
    frags_ = reinterpret_cast<const uint32_t*>(static_cast<char*>(buffer) + twiddle_bytes);
    check_cuda(cudaMemcpy(buffer, tables.twiddles.data(), twiddle_bytes, cudaMemcpyHostToDevice),
               "cudaMemcpy");
    check_cuda(cudaMemcpy(static_cast<char*>(buffer) + twiddle_bytes, tables.frags.data(), frag_bytes,
                          cudaMemcpyHostToDevice),
               "cudaMemcpy");
  }

  ~CudaBackend() override {
    if (tables_ != nullptr) {
      int current = -1;
      cudaGetDevice(&current);
      if (current != device_) cudaSetDevice(device_);
      cudaFree(tables_);
      if (current != device_ && current >= 0) cudaSetDevice(current);
    }
  }

  Backend kind() const override { return Backend::kCuda; }
  int device() const override { return device_; }

  // [H][N] float2 spectrum, then [H] float max |K|.
  std::size_t spectrum_bytes(int64_t heads) const override {
    return core::checked_mul(static_cast<uint64_t>(heads), static_cast<uint64_t>(n_) * sizeof(float2) + sizeof(float),
                             "spectrum bytes for heads = " + std::to_string(heads));
  }
  std::size_t workspace_bytes(int64_t heads) const override { return spectrum_bytes(heads); }

  void check_memory(const char* name, const void* data, std::size_t) const override {
    cudaPointerAttributes attr{};
    const cudaError_t e = cudaPointerGetAttributes(&attr, data);
    if (e != cudaSuccess) {
      cudaGetLastError();
      core::throw_invalid(std::string(name) + ": not a pointer the CUDA runtime knows (" +
                          cudaGetErrorName(e) + "); a CUDA plan takes device memory");
    }
    if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged) {
      core::throw_invalid(std::string(name) + ": host memory given to a CUDA plan on device " +
                          std::to_string(device_) + " (rule: device memory of the plan's device)");
    }
    if (attr.device != device_) {
      core::throw_invalid(std::string(name) + ": memory of CUDA device " + std::to_string(attr.device) +
                          " given to a plan on device " + std::to_string(device_) +
                          " (rule: device memory of the plan's device)");
    }
  }

  void transform_filter(const Tensor& k, void* spectrum, Stream stream) const override {
    if (!aligned16(spectrum)) core::throw_invalid("spectrum: address is not 16-byte aligned");
    DeviceGuard guard(device_);
    launch_filter(k, spectrum, static_cast<cudaStream_t>(stream));
  }

  void forward(const core::ConvProblem& problem, const ForwardArgs& args, Stream stream) const override {
    require_16bit(problem.dtype, "u");
    DeviceGuard guard(device_);
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    const void* spectrum = filter_spectrum(args.k, args.spectrum, args.workspace, s);
    launch_forward(problem, args.u.data, args.pregate ? args.pregate->data : nullptr,
                   args.postgate ? args.postgate->data : nullptr, args.y.data, spectrum, s);
  }

  // Workspace: [the filter spectrum (always reserved)] [dk partial spectra H x G x N].
  std::size_t backward_workspace_bytes(int64_t batch, int64_t heads) const override {
    const std::string what = "backward workspace bytes for batch = " + std::to_string(batch) +
                             ", heads = " + std::to_string(heads);
    const uint64_t partials = core::checked_mul(
        core::checked_mul(static_cast<uint64_t>(heads), static_cast<uint64_t>(dk_groups(batch, heads)), what),
        static_cast<uint64_t>(n_) * sizeof(float2), what);
    return core::checked_add(dk_offset(heads), partials, what);
  }

  // One fused pass (bwd_kernel.cuh, bwd_cluster_kernel.cuh) writes du, dpregate, dpostgate and the
  // partial dk spectra of every (head, group); the dk finish and output kernels (dk_kernel.cuh)
  // sum them in group order and transform them back. du may be dy itself (each pair's dy is
  // staged before its du is written).
  void backward(const core::BackwardProblem& problem, const BackwardArgs& args, Stream stream) const override {
    require_16bit(problem.dtype, "dy");
    DeviceGuard guard(device_);
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    const void* spectrum = filter_spectrum(args.k, args.spectrum, args.workspace, s);
    if (problem.batch == 0 || problem.heads == 0 || problem.length == 0) {
      if (problem.want_dk) {
        check_cuda(cudaMemsetAsync(args.dk->data, 0, sizeof(float) * static_cast<std::size_t>(args.dk->numel()), s),
                   "cudaMemsetAsync");
      }
      return;
    }
    void* partial = problem.want_dk ? static_cast<char*>(args.workspace) + dk_offset(problem.heads) : nullptr;
    launch_backward(problem, args, spectrum, partial, s);
    if (problem.want_dk) launch_dk_finish(problem, args, partial, s);
  }

 private:
  static bool aligned16(const void* q) { return reinterpret_cast<std::uintptr_t>(q) % 16 == 0; }

  // The filter spectrum a call reads: the caller's, or k transformed into the workspace on `s`
  // (validation guarantees exactly one of k and spectrum).
  const void* filter_spectrum(const std::optional<Tensor>& k, const std::optional<FilterSpectrum>& spectrum,
                              void* workspace, cudaStream_t s) const {
    if (!k) {
      if (!aligned16(spectrum->data)) core::throw_invalid("spectrum: address is not 16-byte aligned");
      return spectrum->data;
    }
    if (!aligned16(workspace)) core::throw_invalid("workspace: address is not 16-byte aligned");
    launch_filter(*k, workspace, s);
    return workspace;
  }

  // CTAs of `e` that can be resident at once. Clusters must fit inside one GPC, whose SM counts
  // differ, so for cluster kernels the count comes from the driver's cluster occupancy, not from
  // blocks per SM x SMs (on H100 the latter overstates 4- and 8-CTA clusters).
  int resident_grid(const KernelEntry& e, std::size_t smem) const {
    if (e.cluster == 1) {
      int blocks = 0;
      check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, e.function, e.threads, smem),
                 "cudaOccupancyMaxActiveBlocksPerMultiprocessor");
      return std::max(1, blocks) * sm_count_;
    }
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(static_cast<unsigned>(e.cluster * sm_count_));
    config.blockDim = dim3(static_cast<unsigned>(e.threads));
    config.dynamicSmemBytes = smem;
    int clusters = 0;  // the cluster shape comes from the kernel's __cluster_dims__
    check_cuda(cudaOccupancyMaxActiveClusters(&clusters, e.function, &config), "cudaOccupancyMaxActiveClusters");
    return std::max(1, clusters) * e.cluster;
  }

  // Dynamic shared memory of a forward launch (the single-CTA kernel stages only the gates given).
  std::size_t launch_smem(const KernelEntry& e, bool pregate, bool postgate) const {
    return e.cluster > 1 ? e.smem_bytes : cuda::forward_smem_bytes(static_cast<int>(n_), pregate, postgate);
  }

  static void require_16bit(DType dtype, const char* name) {
    if (dtype != DType::kF16 && dtype != DType::kBF16) {
      core::throw_error(Status::kNotSupported,
                        std::string(name) + ": dtype " + to_string(dtype) +
                            " is not supported by the CUDA backend yet (rule: f16 or bf16; the CPU "
                            "backend takes f32)");
    }
  }

  // The fields the forward and backward kernels' parameters share: the filter spectrum (and its
  // per-head maxima after it), the tables, the shape.
  template <typename Params>
  void set_shared_fields(Params& p, const core::ConvProblem& problem, const void* spectrum) const {
    p.spectrum = static_cast<const float2*>(spectrum);
    p.spectrum_max = reinterpret_cast<const float*>(static_cast<const char*>(spectrum) +
                                                    static_cast<std::size_t>(problem.heads) * n_ * sizeof(float2));
    p.twiddles = twiddles_;
    p.frags = frags_;
    p.batch = problem.batch;
    p.heads = problem.heads;
    p.length = problem.length;
    p.pairs_per_head = (problem.batch + 1) / 2;
  }

  // One fused forward launch over the problem's (B, H, L): y = post * conv(pre * u, k).
  void launch_forward(const core::ConvProblem& problem, const void* u, const void* pre, const void* post,
                      void* y, const void* spectrum, cudaStream_t s) const {
    cuda::FwdParams p{};
    p.u = u;
    p.pregate = pre;
    p.postgate = post;
    p.y = y;
    set_shared_fields(p, problem, spectrum);
    p.items = p.pairs_per_head * problem.heads;
    auto aligned = [](const void* q) { return q == nullptr || reinterpret_cast<std::uintptr_t>(q) % 16 == 0; };
    p.vector_io = problem.length % 8 == 0 && aligned(p.u) && aligned(p.pregate) && aligned(p.postgate) &&
                  aligned(p.y);
    const KernelEntry e = cuda::forward_kernel(static_cast<int>(n_), problem.dtype);
    const int64_t iterations = (p.items + e.pairs_per_iteration - 1) / e.pairs_per_iteration;
    const bool gate_in = pre != nullptr, gate_out = post != nullptr;
    const int grid = static_cast<int>(std::min<int64_t>(
        iterations * e.cluster,
        max_grid_[problem.dtype == DType::kF16 ? 0 : 1][(gate_in ? 1 : 0) + (gate_out ? 2 : 0)]));
    void* kernel_args[] = {&p};
    check_cuda(cudaLaunchKernel(e.function, dim3(grid), dim3(e.threads), kernel_args,
                                launch_smem(e, gate_in, gate_out), s),
               "forward kernel launch");
  }

  // Partial dk spectra: G groups per head, enough (head, group) work items to fill the GPU.
  // Batch-pair groups per head: the fused backward takes one (head, group) per CTA (or cluster);
  // about four waves of resident ones bound the tail, and each group's partial dk spectrum costs
  // 8 N bytes of traffic (small against its pairs').
  int64_t dk_groups(int64_t batch, int64_t heads) const {
    const int64_t pairs = std::max<int64_t>(1, batch / 2 + batch % 2);
    const int64_t target = 4 * int64_t{std::max(bwd_resident_[0], bwd_resident_[1])};
    const int64_t h = std::max<int64_t>(1, heads);
    return std::max<int64_t>(1, std::min((target + h - 1) / h, pairs));
  }

  std::size_t dk_offset(int64_t heads) const {
    return core::checked_add(spectrum_bytes(heads), 255, "backward workspace bytes for heads = " + std::to_string(heads)) / 256 * 256;
  }

  // Sums the partial dk spectra in group order and transforms them back into dk.
  void launch_dk_finish(const core::BackwardProblem& problem, const BackwardArgs& args, void* partial,
                        cudaStream_t s) const {
    cuda::DkParams p{};
    p.heads = problem.heads;
    p.groups = static_cast<int>(dk_groups(problem.batch, problem.heads));
    p.partial = static_cast<float2*>(partial);
    p.dk = static_cast<float*>(args.dk->data);
    p.dk_length = problem.grad_filter_length;
    p.twiddles = twiddles_;
    void* kernel_args[] = {&p};
    const int n = static_cast<int>(n_);
    const KernelEntry finish = cuda::dk_kernels(n, 0);
    check_cuda(cudaLaunchKernel(finish.function, dim3(static_cast<unsigned>(problem.heads * cuda::small_radix(n))),
                                dim3(finish.threads), kernel_args, finish.smem_bytes, s),
               "dk finish kernel launch");
    const KernelEntry output = cuda::dk_kernels(n, 1);
    const int64_t total = problem.heads * problem.grad_filter_length;
    const int64_t out_blocks = std::max<int64_t>(1, std::min<int64_t>((total + 255) / 256, int64_t{sm_count_} * 8));
    check_cuda(cudaLaunchKernel(output.function, dim3(static_cast<unsigned>(out_blocks)), dim3(output.threads),
                                kernel_args, 0, s),
               "dk output kernel launch");
  }

  // The fused backward over (head, group) CTAs.
  void launch_backward(const core::BackwardProblem& problem, const BackwardArgs& args, const void* spectrum,
                       void* partial, cudaStream_t s) const {
    cuda::BwdParams p{};
    p.dy = args.dy.data;
    p.u = args.u.data;
    p.pregate = args.pregate ? args.pregate->data : nullptr;
    p.postgate = args.postgate ? args.postgate->data : nullptr;
    p.du = problem.want_du ? args.du->data : nullptr;
    p.dpregate = problem.want_dpregate ? args.dpregate->data : nullptr;
    p.dpostgate = problem.want_dpostgate ? args.dpostgate->data : nullptr;
    p.dk_partial = static_cast<float2*>(partial);
    set_shared_fields(p, problem, spectrum);
    p.groups = static_cast<int>(dk_groups(problem.batch, problem.heads));
    auto aligned = [](const void* q) { return q == nullptr || reinterpret_cast<std::uintptr_t>(q) % 16 == 0; };
    p.vector_io = problem.length % 8 == 0 && aligned(p.dy) && aligned(p.u) && aligned(p.pregate) &&
                  aligned(p.postgate) && aligned(p.du) && aligned(p.dpregate) && aligned(p.dpostgate);
    const KernelEntry e = cuda::backward_kernel(static_cast<int>(n_), problem.dtype,
                                                p.pregate != nullptr && p.postgate != nullptr);
    const int64_t blocks = problem.heads * p.groups * e.cluster;
    if (blocks > 0x7fffffff) core::throw_invalid("dy: too many heads for one launch");
    void* kernel_args[] = {&p};
    check_cuda(cudaLaunchKernel(e.function, dim3(static_cast<unsigned>(blocks)), dim3(e.threads), kernel_args,
                                e.smem_bytes, s),
               "backward kernel launch");
  }

  void launch_filter(const Tensor& k, void* spectrum, cudaStream_t s) const {
    const int64_t heads = k.shape[0];
    if (heads == 0) return;
    cuda::FilterParams p{};
    p.k = k.data;
    p.heads = heads;
    p.length = k.shape[1];
    p.spectrum = static_cast<float2*>(spectrum);
    p.spectrum_max = reinterpret_cast<float*>(static_cast<char*>(spectrum) +
                                              static_cast<std::size_t>(heads) * n_ * sizeof(float2));
    p.twiddles = twiddles_;
    check_cuda(cudaMemsetAsync(p.spectrum_max, 0, sizeof(float) * static_cast<std::size_t>(heads), s),
               "cudaMemsetAsync");
    const KernelEntry e = cuda::filter_kernel(static_cast<int>(n_), k.dtype);
    const int64_t blocks = heads * cuda::small_radix(static_cast<int>(n_));
    if (blocks > 0x7fffffff) core::throw_invalid("k: too many heads for one launch");
    void* kernel_args[] = {&p};
    check_cuda(cudaLaunchKernel(e.function, dim3(static_cast<unsigned>(blocks)), dim3(e.threads), kernel_args,
                                e.smem_bytes, s),
               "filter kernel launch");
    // K / (4 sigma max|K|): the scaling the fused kernel expects.
    const KernelEntry norm = cuda::normalize_kernel();
    int64_t total = heads * n_;
    int log2n = 0;
    while ((int64_t{1} << log2n) < n_) ++log2n;
    float2* spectrum_data = p.spectrum;
    const float* max_data = p.spectrum_max;
    void* norm_args[] = {&spectrum_data, &max_data, &total, &log2n};
    const int64_t norm_blocks = std::min<int64_t>((total + 255) / 256, int64_t{sm_count_} * 16);
    check_cuda(cudaLaunchKernel(norm.function, dim3(static_cast<unsigned>(norm_blocks)), dim3(norm.threads),
                                norm_args, 0, s),
               "spectrum normalization launch");
  }

  int64_t n_ = 0;
  int device_ = 0;
  int sm_count_ = 0;
  int max_grid_[2][4] = {{1, 1, 1, 1}, {1, 1, 1, 1}};  // [dtype][pregate + 2 postgate]
  int bwd_resident_[2] = {1, 1};  // [dtype] resident fused-backward CTAs or clusters (the larger variant)
  void* tables_ = nullptr;
  const float2* twiddles_ = nullptr;
  const uint32_t* frags_ = nullptr;
};

}  // namespace

bool cuda_backend_supports(int64_t fft_size) { return is_supported_size(fft_size); }

std::unique_ptr<BackendImpl> make_cuda_backend(const core::Factorization& factorization, int device) {
  return std::make_unique<CudaBackend>(factorization, device);
}

int cuda_device_count_noexcept() {
  int count = 0;
  // Without a driver this returns cudaErrorInsufficientDriver and leaves count unset: zero devices.
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

int cuda_pointer_device(const void* data) {
  if (data == nullptr || cuda_device_count_noexcept() == 0) return -1;
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, data) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  return attr.type == cudaMemoryTypeDevice ? attr.device : -1;
}

}  // namespace ffc::detail
