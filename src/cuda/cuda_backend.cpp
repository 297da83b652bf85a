// The CUDA backend: plan-time setup (device checks, the choice of algorithm from the table in
// algorithm_table.cpp, constant tables) and stream-ordered, allocation-free execution: the filter
// transform here, the forward and backward by the chosen algorithm. Every CUDA call is checked;
// failures become ffc::Error(kCudaError) naming the call and the CUDA error.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>

#include "backend/backend.hpp"
#include "core/checked.hpp"
#include "core/errors.hpp"
#include "core/monarch_split.hpp"
#include "cuda/algorithm.hpp"
#include "cuda/check.hpp"
#include "cuda/sizes.hpp"
#include "cuda/device_memory.hpp"
#include "cuda/params.hpp"
#include "cuda/spectral/spectral.hpp"
#include "cuda/tables.hpp"

namespace ffc::detail {
namespace {

using cuda::check_cuda;

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

// Which family the caller asked for: the plan option, else FFC_CUDA_PATH (auto, fused, portable).
std::optional<cuda::Family> requested_family(CudaPath path) {
  if (path == CudaPath::kAuto) {
    const char* env = std::getenv("FFC_CUDA_PATH");
    const std::string value = env ? env : "";
    if (value.empty() || value == "auto") return std::nullopt;
    if (value == "fused") return cuda::Family::kFused;
    if (value == "portable") return cuda::Family::kPortable;
    core::throw_invalid("FFC_CUDA_PATH: \"" + value + "\" (rule: auto, fused or portable)");
  }
  if (path == CudaPath::kFused) return cuda::Family::kFused;
  if (path == CudaPath::kPortable) return cuda::Family::kPortable;
  core::throw_invalid("cuda_path: " + std::to_string(static_cast<int>(path)) + " (rule: auto, fused or portable)");
}

class CudaBackend final : public BackendImpl {
 public:
  CudaBackend(const core::Factorization& factorization, int device, CudaPath path) : n_(factorization.size()) {
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
    if (!cuda::any_algorithm_covers(n_)) {
      core::throw_error(Status::kNotSupported,
                        "fft_size: " + std::to_string(n_) +
                            " is not supported by the CUDA backend (rule: a power of two, 256 <= N <= 4194304; "
                            "use the CPU backend for other sizes)");
    }
    const std::optional<cuda::Family> family = requested_family(path);
    DeviceGuard guard(device_);
    const cuda::DeviceCaps caps = device_caps(device_);
    const cuda::AlgorithmEntry& entry = cuda::choose_algorithm(n_, caps, family ? &*family : nullptr);
    upload_tables();
    algorithm_ = entry.make(entry.name, n_, caps, cuda::PlanTables{twiddles_, frags_});
  }


  Backend kind() const override { return Backend::kCuda; }
  int device() const override { return device_; }
  std::string algorithm() const override { return algorithm_->name(); }

  // [H][N] float2 spectrum, then [H] float max |K|.
  std::size_t spectrum_bytes(int64_t heads) const override {
    return core::checked_mul(static_cast<uint64_t>(heads), static_cast<uint64_t>(n_) * sizeof(float2) + sizeof(float),
                             "spectrum bytes for heads = " + std::to_string(heads));
  }
  // With k: [the filter spectrum] [the algorithm's forward scratch, if any]; with a spectrum the
  // scratch alone (workspace_bytes(0)).
  std::size_t workspace_bytes(int64_t heads) const override {
    const std::size_t scratch = algorithm_->forward_scratch_bytes();
    if (scratch == 0) return spectrum_bytes(heads);
    return core::checked_add(algorithm_offset(heads), scratch, "workspace bytes for heads = " + std::to_string(heads));
  }

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

  // y = post * conv(pre * u, k) over the problem's (B, H, L), by the plan's algorithm.
  void forward(const core::ConvProblem& problem, const ForwardArgs& args, Stream stream) const override {
    require_16bit(problem.dtype, "u");
    DeviceGuard guard(device_);
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    const void* spectrum = filter_spectrum(args.k, args.spectrum, args.workspace, s);
    cuda::FwdParams p{};
    p.u = args.u.data;
    p.pregate = args.pregate ? args.pregate->data : nullptr;
    p.postgate = args.postgate ? args.postgate->data : nullptr;
    p.y = args.y.data;
    set_shared_fields(p, problem, spectrum);
    p.vector_io = problem.length % 8 == 0 && aligned16_or_null({p.u, p.pregate, p.postgate, p.y});
    void* scratch = nullptr;
    if (algorithm_->forward_scratch_bytes() > 0) {
      if (!aligned16(args.workspace)) core::throw_invalid("workspace: address is not 16-byte aligned");
      scratch = static_cast<char*>(args.workspace) + (args.k ? algorithm_offset(problem.heads) : 0);
    }
    algorithm_->forward(p, problem.dtype, scratch, s);
  }

  // Workspace: [the filter spectrum (always reserved)] [the algorithm's backward workspace].
  std::size_t backward_workspace_bytes(int64_t batch, int64_t heads) const override {
    return core::checked_add(algorithm_offset(heads), algorithm_->backward_workspace_bytes(batch, heads),
                             "backward workspace bytes for batch = " + std::to_string(batch) +
                                 ", heads = " + std::to_string(heads));
  }

  // The gradients by the plan's algorithm. du may be dy itself (each pair's dy is staged before its
  // du is written).
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
    cuda::BwdParams p{};
    p.dy = args.dy.data;
    p.u = args.u.data;
    p.pregate = args.pregate ? args.pregate->data : nullptr;
    p.postgate = args.postgate ? args.postgate->data : nullptr;
    p.du = problem.want_du ? args.du->data : nullptr;
    p.dpregate = problem.want_dpregate ? args.dpregate->data : nullptr;
    p.dpostgate = problem.want_dpostgate ? args.dpostgate->data : nullptr;
    set_shared_fields(p, problem, spectrum);
    p.vector_io = problem.length % 8 == 0 &&
                  aligned16_or_null({p.dy, p.u, p.pregate, p.postgate, p.du, p.dpregate, p.dpostgate});
    float* dk = problem.want_dk ? static_cast<float*>(args.dk->data) : nullptr;
    algorithm_->backward(p, problem.dtype, static_cast<char*>(args.workspace) + algorithm_offset(problem.heads), dk,
                         problem.grad_filter_length, s);
  }

 private:
  static bool aligned16(const void* q) { return reinterpret_cast<std::uintptr_t>(q) % 16 == 0; }
  static bool aligned16_or_null(std::initializer_list<const void*> pointers) {
    for (const void* q : pointers) {
      if (q != nullptr && !aligned16(q)) return false;
    }
    return true;
  }

  static cuda::DeviceCaps device_caps(int device) {
    cudaDeviceProp prop{};
    check_cuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    cuda::DeviceCaps caps;
    caps.device = device;
    caps.arch = prop.major * 10 + prop.minor;
    caps.sm_count = prop.multiProcessorCount;
    caps.smem_per_block_optin = prop.sharedMemPerBlockOptin;
    caps.clusters = prop.major >= 9;
    return caps;
  }

  // The constant tables (DFT fragments, twiddles), built in double precision on the host.
  void upload_tables() {
    // The fused factorization's tables; the four-step sizes keep their own (four_step/).
    const cuda::FwdTables tables = cuda::build_fwd_tables(static_cast<int>(cuda::CudaSizes::contains(n_) ? n_ : 32768));
    const std::size_t frag_bytes = tables.frags.size() * sizeof(uint32_t);
    const std::size_t twiddle_bytes = tables.twiddles.size() * sizeof(cuda::Float2);
    tables_.allocate(frag_bytes + twiddle_bytes, device_, "the tables");
    void* buffer = tables_.ptr;
    twiddles_ = reinterpret_cast<const float2*>(static_cast<char*>(buffer));
    frags_ = reinterpret_cast<const uint32_t*>(static_cast<char*>(buffer) + twiddle_bytes);
    check_cuda(cudaMemcpy(buffer, tables.twiddles.data(), twiddle_bytes, cudaMemcpyHostToDevice),
               "cudaMemcpy");
    check_cuda(cudaMemcpy(static_cast<char*>(buffer) + twiddle_bytes, tables.frags.data(), frag_bytes,
                          cudaMemcpyHostToDevice),
               "cudaMemcpy");
  }

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

  // Where the algorithm's part of the backward workspace starts (after the spectrum, 256-aligned).
  std::size_t algorithm_offset(int64_t heads) const {
    return core::checked_add(spectrum_bytes(heads), 255, "backward workspace bytes for heads = " + std::to_string(heads)) / 256 * 256;
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
    algorithm_->transform_filter(p, k.dtype, s);
  }

  int64_t n_ = 0;
  int device_ = 0;
  cuda::DeviceAllocation tables_;  // freed also when construction fails after the upload
  const float2* twiddles_ = nullptr;
  const uint32_t* frags_ = nullptr;
  std::unique_ptr<cuda::Algorithm> algorithm_;
};

}  // namespace

bool cuda_backend_supports(int64_t fft_size) { return cuda::any_algorithm_covers(fft_size); }

std::unique_ptr<BackendImpl> make_cuda_backend(const core::Factorization& factorization, int device,
                                               CudaPath path) {
  return std::make_unique<CudaBackend>(factorization, device, path);
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
