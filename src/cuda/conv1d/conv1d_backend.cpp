// The CUDA backend of the short depthwise convolution: device checks at plan creation, then
// stream-ordered, allocation-free launches of the kernels in kernels.cuh.
//
// Forward: one correlation launch (bias and SiLU in its epilogue): the tensor-core Toeplitz kernel for
// 16-bit (B, H, L) calls with K = 64 ... 1024 (toeplitz_mma.hpp), the direct kernels otherwise.
// Backward: [SiLU: dz = dy * SiLU'(z) into the workspace as f32, z recomputed by a correlation
// launch] -> for K <= 32 with dweight or dbias wanted, one fused pass over dz and x (dx and per-block
// partial sums, backward_fused.cuh); otherwise dx: the correlation of dz with the flipped filter,
// and dweight / dbias: per-part partial sums -> the partials' fixed-order sums. Workspace:
// [dz (SiLU only)][partials].
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "backend/backend.hpp"
#include "backend/conv1d_backend.hpp"
#include "core/checked.hpp"
#include "core/errors.hpp"
#include "cuda/check.hpp"
#include "cuda/conv1d/launch.hpp"
#include "cuda/conv1d/toeplitz_mma.hpp"

namespace ffc::detail {
namespace {

using cuda::check_cuda;
namespace k1 = cuda::conv1d;

// Makes `device` current for the scope.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    check_cuda(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) check_cuda(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceScope() {
    int now = -1;
    if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
};

constexpr std::size_t kAlign = 256;

std::size_t align_up(std::size_t n) { return core::checked_add(n, kAlign - 1, "conv1d workspace bytes") / kAlign * kAlign; }

// The tensor-core Toeplitz kernel where it applies (16-bit BHL, K = 64 ... 1024), else the direct one.
void correlate(DType dtype, const k1::CorrelateParams& p, const k1::MmaDevice& mma, cudaStream_t s) {
  if (dtype != DType::kF32 && k1::toeplitz_mma_applies(p, static_cast<int>(dtype), mma)) {
    if (dtype == DType::kF16) {
      k1::toeplitz_mma_f16(p, mma, s);
    } else {
      k1::toeplitz_mma_bf16(p, mma, s);
    }
    return;
  }
  switch (dtype) {
    case DType::kF32: k1::correlate_f32(p, s); return;
    case DType::kF16: k1::correlate_f16(p, s); return;
    case DType::kBF16: k1::correlate_bf16(p, s); return;
  }
}

void fused_backward(DType dtype, const k1::FusedBackwardParams& p, cudaStream_t s) {
  switch (dtype) {
    case DType::kF32: k1::fused_backward_f32(p, s); return;
    case DType::kF16: k1::fused_backward_f16(p, s); return;
    case DType::kBF16: k1::fused_backward_bf16(p, s); return;
  }
}

void dw_partials(DType dtype, const k1::DwParams& p, cudaStream_t s) {
  switch (dtype) {
    case DType::kF32: k1::dw_partials_f32(p, s); return;
    case DType::kF16: k1::dw_partials_f16(p, s); return;
    case DType::kBF16: k1::dw_partials_bf16(p, s); return;
  }
}

// The shape fields every correlation launch of a problem shares.
k1::CorrelateParams correlate_params(const core::Conv1dProblem& p, const Tensor& weight) {
  k1::CorrelateParams c;
  c.weight = weight.data;
  c.weight_dtype = static_cast<int>(weight.dtype);
  c.batch = p.batch;
  c.channels = p.channels;
  c.kernel_size = p.kernel_size;
  c.channels_per_group = p.channels_per_group();
  c.blh = p.layout == Conv1dLayout::kBLH;
  return c;
}

class CudaConv1d final : public Conv1dBackendImpl {
 public:
  explicit CudaConv1d(int device) {
    int count = cuda_device_count_noexcept();
    if (count == 0) {
      core::throw_error(Status::kNoDevice, "backend: CUDA was requested for conv1d but no CUDA device is usable on this machine");
    }
    if (device < 0) check_cuda(cudaGetDevice(&device), "cudaGetDevice");
    if (device >= count) {
      core::throw_invalid("device: " + std::to_string(device) + " but only " + std::to_string(count) +
                          " CUDA devices are present (rule: 0 <= device < count, or -1)");
    }
    device_ = device;
    cudaDeviceProp prop{};
    check_cuda(cudaGetDeviceProperties(&prop, device_), "cudaGetDeviceProperties");
    if (prop.major < 8) {
      core::throw_error(Status::kNotSupported, "device: compute capability " + std::to_string(prop.major) + "." +
                                                   std::to_string(prop.minor) +
                                                   " (rule: the conv1d kernels need sm_80 or newer)");
    }
    sm_count_ = prop.multiProcessorCount;
    DeviceScope scope(device_);
    mma_ = k1::toeplitz_mma_device(device_);
  }

  Backend kind() const override { return Backend::kCuda; }
  int device() const override { return device_; }

  void check_memory(const char* name, const void* data, std::size_t) const override {
    cudaPointerAttributes attr{};
    const cudaError_t e = cudaPointerGetAttributes(&attr, data);
    if (e != cudaSuccess) {
      cudaGetLastError();
      core::throw_invalid(std::string(name) + ": not a pointer the CUDA runtime knows (" + cudaGetErrorName(e) +
                          "); a CUDA plan takes device memory");
    }
    if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged) {
      core::throw_invalid(std::string(name) + ": host memory given to a CUDA conv1d plan on device " +
                          std::to_string(device_) + " (rule: device memory of the plan's device)");
    }
    if (attr.device != device_) {
      core::throw_invalid(std::string(name) + ": memory of CUDA device " + std::to_string(attr.device) +
                          " given to a conv1d plan on device " + std::to_string(device_) +
                          " (rule: device memory of the plan's device)");
    }
  }

  void forward(const core::Conv1dProblem& p, const Conv1dForwardArgs& args, Stream stream) const override {
    DeviceScope scope(device_);
    k1::CorrelateParams c = correlate_params(p, args.weight);
    c.in = args.x.data;
    c.out = args.y.data;
    c.bias = args.bias ? args.bias->data : nullptr;
    c.bias_dtype = static_cast<int>(p.bias_dtype);
    c.in_length = p.length;
    c.out_length = p.out_length;
    c.offset = p.left_pad;
    c.epilogue = p.activation == Activation::kSilu ? k1::Epilogue::kSilu : k1::Epilogue::kLinear;
    correlate(p.dtype, c, mma_, static_cast<cudaStream_t>(stream));
  }

  std::size_t backward_workspace_bytes(const core::Conv1dProblem& p) const override {
    return core::checked_add(dz_bytes(p), p.want_dweight || p.want_dbias ? partial_bytes(p) : 0,
                             "conv1d backward workspace bytes");
  }

  void backward(const core::Conv1dProblem& p, const Conv1dBackwardArgs& args, Stream stream) const override {
    if (args.workspace_bytes > 0 && reinterpret_cast<std::uintptr_t>(args.workspace) % 16 != 0) {
      core::throw_invalid("workspace: address is not 16-byte aligned");
    }
    DeviceScope scope(device_);
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (p.batch == 0 || p.out_length == 0) {
      zero_sums(p, args, s);
      return;
    }
    char* workspace = static_cast<char*>(args.workspace);
    const void* dz = args.dy.data;
    const bool dz_f32 = p.activation == Activation::kSilu;
    if (dz_f32) {
      k1::CorrelateParams c = correlate_params(p, args.weight);
      c.in = args.x.data;
      c.out = workspace;
      c.out_f32 = true;
      c.dy = args.dy.data;
      c.bias = args.bias ? args.bias->data : nullptr;
      c.bias_dtype = static_cast<int>(p.bias_dtype);
      c.in_length = p.length;
      c.out_length = p.out_length;
      c.offset = p.left_pad;
      c.epilogue = k1::Epilogue::kSiluGrad;
      correlate(p.dtype, c, mma_, s);
      dz = workspace;
    }
    if (fuses(p)) {
      k1::FusedBackwardParams f = fused_params(p);
      f.dz = dz;
      f.dz_f32 = dz_f32;
      f.x = args.x.data;
      f.dx = p.want_dx ? args.dx->data : nullptr;
      f.weight = args.weight.data;
      f.weight_dtype = static_cast<int>(args.weight.dtype);
      f.partials = reinterpret_cast<float*>(workspace + dz_bytes(p));
      if (k1::direct_kernels_enabled() &&
          k1::direct_backward_applies({f.blh, f.dz_f32, static_cast<int>(dtype_size(p.dtype)), f.kernel_size, f.length,
                                       f.out_length, f.dz, f.x, f.dx})) {
        f.direct = true;
        f.layout = k1::direct_backward_layout(p.length, p.out_length);
      }
      fused_backward(p.dtype, f, s);
      k1::DwParams d = dw_params(p);
      d.parts = p.batch * f.layout.parts_per_row;
      d.partials = f.partials;
      k1::launch_dw_finish(d, p.groups, p.want_dweight ? static_cast<float*>(args.dweight->data) : nullptr,
                           p.want_dbias ? static_cast<float*>(args.dbias->data) : nullptr, s);
      return;
    }
    if (p.want_dx) {
      // dx[s] = sum_j w[K-1-j] dz[s + j - (K - 1 - P)].
      k1::CorrelateParams c = correlate_params(p, args.weight);
      c.in = dz;
      c.in_f32 = dz_f32;
      c.out = args.dx->data;
      c.flip = true;
      c.in_length = p.out_length;
      c.out_length = p.length;
      c.offset = p.kernel_size - 1 - p.left_pad;
      correlate(p.dtype, c, mma_, s);
    }
    if (p.want_dweight || p.want_dbias) {
      k1::DwParams d = dw_params(p);
      d.dz = dz;
      d.dz_f32 = dz_f32;
      d.x = args.x.data;
      d.partials = reinterpret_cast<float*>(workspace + dz_bytes(p));
      dw_partials(p.dtype, d, s);
      k1::launch_dw_finish(d, p.groups, p.want_dweight ? static_cast<float*>(args.dweight->data) : nullptr,
                           p.want_dbias ? static_cast<float*>(args.dbias->data) : nullptr, s);
    }
  }

 private:
  // A sum over no terms: zeros.
  static void zero_sums(const core::Conv1dProblem& p, const Conv1dBackwardArgs& args, cudaStream_t s) {
    if (p.want_dweight) {
      check_cuda(cudaMemsetAsync(args.dweight->data, 0, static_cast<std::size_t>(args.dweight->numel()) * sizeof(float), s),
                 "cudaMemsetAsync");
    }
    if (p.want_dbias) {
      check_cuda(cudaMemsetAsync(args.dbias->data, 0, static_cast<std::size_t>(args.dbias->numel()) * sizeof(float), s),
                 "cudaMemsetAsync");
    }
  }

  // The fused pass serves K <= 32 whenever a weight or bias gradient is wanted.
  static bool fuses(const core::Conv1dProblem& p) {
    return p.kernel_size <= k1::kFusedMaxTaps && (p.want_dweight || p.want_dbias);
  }

  k1::FusedBackwardParams fused_params(const core::Conv1dProblem& p) const {
    k1::FusedBackwardParams f;
    f.batch = p.batch;
    f.channels = p.channels;
    f.length = p.length;
    f.out_length = p.out_length;
    f.kernel_size = p.kernel_size;
    f.channels_per_group = p.channels_per_group();
    f.padding = p.left_pad;
    f.blh = p.layout == Conv1dLayout::kBLH;
    f.layout = k1::fused_backward_layout(p.batch, p.channels, p.length, p.out_length, p.kernel_size, p.left_pad, f.blh,
                                         16 * static_cast<int64_t>(sm_count_));
    return f;
  }

  k1::DwParams dw_params(const core::Conv1dProblem& p) const {
    k1::DwParams d;
    d.batch = p.batch;
    d.channels = p.channels;
    d.length = p.length;
    d.out_length = p.out_length;
    d.kernel_size = p.kernel_size;
    d.offset = p.left_pad;
    d.blh = p.layout == Conv1dLayout::kBLH;
    d.parts = k1::dw_parts(d, 2 * static_cast<int64_t>(sm_count_));
    return d;
  }

  // SiLU's dz, f32 in y's layout.
  static std::size_t dz_bytes(const core::Conv1dProblem& p) {
    if (p.activation != Activation::kSilu) return 0;
    const uint64_t n = core::checked_mul(core::checked_mul(static_cast<uint64_t>(p.batch), static_cast<uint64_t>(p.channels),
                                                           "conv1d dz elements"),
                                         static_cast<uint64_t>(p.out_length), "conv1d dz elements");
    return align_up(core::checked_mul(n, sizeof(float), "conv1d dz bytes"));
  }

  std::size_t partial_bytes(const core::Conv1dProblem& p) const {
    if (fuses(p)) {
      // Room for either layout: the direct kernel's is chosen at execution (it depends on alignment).
      k1::FusedBackwardParams f = fused_params(p);
      uint64_t floats = static_cast<uint64_t>(k1::fused_partial_floats(f));
      if (!f.blh && p.kernel_size <= k1::kDirectBackwardMaxTaps) {
        f.layout = k1::direct_backward_layout(p.length, p.out_length);
        floats = std::max<uint64_t>(floats, static_cast<uint64_t>(k1::fused_partial_floats(f)));
      }
      return core::checked_mul(floats, sizeof(float), "conv1d dweight partial bytes");
    }
    return core::checked_mul(static_cast<uint64_t>(k1::dw_partial_floats(dw_params(p))), sizeof(float),
                             "conv1d dweight partial bytes");
  }

  int device_ = 0;
  int sm_count_ = 1;
  k1::MmaDevice mma_;  // the tensor-core path's device limits, read at plan creation
};

}  // namespace

std::unique_ptr<Conv1dBackendImpl> make_cuda_conv1d_backend(int device) { return std::make_unique<CudaConv1d>(device); }

}  // namespace ffc::detail
