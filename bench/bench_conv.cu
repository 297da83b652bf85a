// Forward benchmark on a CUDA device: for each configuration it reports our time (CUDA events,
// median after warm-up), the HBM floor (bytes that must move over the device-to-device copy rate
// measured in this run), the same convolution through cuFFT (R2C, multiply, C2R in f32, filter
// spectrum cached like ours), and the relative L2 error against a float64 oracle (FFTW) on sampled
// rows. One JSON object per configuration is printed (and appended to --out).
//
//   bench_conv [--sizes 256,1024,...] [--batch 64] [--heads 768] [--repeat 20] [--out file]
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cufft.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "ffc/ffc.hpp"
#include "inputs.hpp"
#include "oracle.hpp"

namespace {

using ffc::DType;

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}
void check(cufftResult r, const char* what) {
  if (r != CUFFT_SUCCESS) throw std::runtime_error(std::string(what) + ": cuFFT error " + std::to_string(r));
}

// Deterministic pseudo-random normal values, generated on the device.
__device__ __forceinline__ uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <typename T>
__device__ __forceinline__ float to_float(T v);
template <>
__device__ __forceinline__ float to_float<__half>(__half v) { return __half2float(v); }
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <>
__device__ __forceinline__ float to_float<float>(float v) { return v; }

template <typename T>
__global__ void fill_normal(T* out, int64_t n, uint64_t seed, float scale) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const uint64_t h = mix(seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(i));
    const float u1 = (static_cast<float>(h >> 40) + 0.5f) * (1.0f / 16777216.0f);
    const float u2 = static_cast<float>((h >> 16) & 0xffffff) * (1.0f / 16777216.0f);
    out[i] = from_float<T>(scale * sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2));
  }
}

// cuFFT baseline kernels: gate + widen + pad, pointwise spectrum product, narrow + gate.
template <typename T>
__global__ void prep(const T* u, const T* pre, float* x, int64_t rows, int64_t length, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < rows * n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / n, t = i % n;
    float v = 0.0f;
    if (t < length) {
      v = to_float(u[r * length + t]);
      if (pre) v *= to_float(pre[r * length + t]);
    }
    x[i] = v;
  }
}

__global__ void multiply(cufftComplex* x, const cufftComplex* k, int64_t rows, int64_t heads, int64_t bins) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < rows * bins; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t h = (i / bins) % heads, f = i % bins;
    const cufftComplex a = x[i], b = k[h * bins + f];
    x[i] = make_cuFloatComplex(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
  }
}

template <typename T>
__global__ void finish(const float* x, const T* post, T* y, int64_t rows, int64_t length, int64_t n) {
  const float inv_n = 1.0f / static_cast<float>(n);
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < rows * length; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / length, t = i % length;
    float v = x[r * n + t] * inv_n;
    if (post) v *= to_float(post[i]);
    y[i] = from_float<T>(v);
  }
}


// cuFFT backward baseline kernels: the batch sum of W conj(Z) per head, then the spectrum products.
__global__ void batch_correlation(const cufftComplex* w, const cufftComplex* z, cufftComplex* dk, int64_t batch,
                                  int64_t heads, int64_t bins) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < heads * bins; i += int64_t{gridDim.x} * blockDim.x) {
    cufftComplex acc = make_cuFloatComplex(0.0f, 0.0f);
    for (int64_t b = 0; b < batch; ++b) {
      const cufftComplex a = w[b * heads * bins + i], c = z[b * heads * bins + i];
      acc.x += a.x * c.x + a.y * c.y;
      acc.y += a.y * c.x - a.x * c.y;
    }
    dk[i] = acc;
  }
}

// W <- W conj(K) (for dx), Z <- Z K (for c).
__global__ void backward_products(cufftComplex* w, cufftComplex* z, const cufftComplex* k, int64_t rows,
                                  int64_t heads, int64_t bins) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < rows * bins; i += int64_t{gridDim.x} * blockDim.x) {
    const cufftComplex kk = k[((i / bins) % heads) * bins + i % bins];
    const cufftComplex a = w[i], c = z[i];
    w[i] = make_cuFloatComplex(a.x * kk.x + a.y * kk.y, a.y * kk.x - a.x * kk.y);
    z[i] = make_cuFloatComplex(c.x * kk.x - c.y * kk.y, c.x * kk.y + c.y * kk.x);
  }
}

// du = pre dx / N, dpre = u dx / N, dpost = dy c / N.
template <typename T>
__global__ void backward_finish(const float* dx, const float* cv, const T* u, const T* pre, const T* dy, T* du,
                                T* dpre, T* dpost, int64_t rows, int64_t length, int64_t n) {
  const float inv_n = 1.0f / static_cast<float>(n);
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < rows * length; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / length, t = i % length;
    const float x = dx[r * n + t] * inv_n;
    du[i] = from_float<T>(pre ? x * to_float(pre[i]) : x);
    if (dpre) dpre[i] = from_float<T>(x * to_float(u[i]));
    if (dpost) dpost[i] = from_float<T>(cv[r * n + t] * inv_n * to_float(dy[i]));
  }
}

__global__ void scale_copy(const float* src, float* dst, int64_t rows, int64_t length, int64_t n) {
  const float inv_n = 1.0f / static_cast<float>(n);
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < rows * length; i += int64_t{gridDim.x} * blockDim.x) {
    dst[i] = src[(i / length) * n + i % length] * inv_n;
  }
}

constexpr int kGrid = 132 * 16, kBlock = 256;

// One result line (a JSON object) to stdout and, when given, to the results file.
void emit(const char* line, FILE* out) {
  std::printf("%s\n", line);
  std::fflush(stdout);
  if (out) {
    std::fprintf(out, "%s\n", line);
    std::fflush(out);
  }
}

struct DeviceBuffer {
  void* p = nullptr;
  size_t bytes = 0;
  explicit DeviceBuffer(size_t b) : bytes(b) {
    if (b) check(cudaMalloc(&p, b), "cudaMalloc");
  }
  ~DeviceBuffer() { cudaFree(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

template <typename F>
double median_ms(F&& run, int repeat) {
  cudaEvent_t a, b;
  check(cudaEventCreate(&a), "event");
  check(cudaEventCreate(&b), "event");
  for (int i = 0; i < 3; ++i) run();
  check(cudaDeviceSynchronize(), "warm-up");
  std::vector<double> t;
  for (int i = 0; i < repeat; ++i) {
    cudaEventRecord(a);
    run();
    cudaEventRecord(b);
    check(cudaEventSynchronize(b), "event sync");
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    t.push_back(ms);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Device-to-device copy rate (bytes read + written per second).
double copy_rate() {
  const size_t bytes = size_t{2} << 30;
  DeviceBuffer a(bytes), b(bytes);
  check(cudaMemset(a.p, 1, bytes), "memset");
  const double ms = median_ms([&] { cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice); }, 10);
  return 2.0 * static_cast<double>(bytes) / (ms * 1e-3);
}

struct Config {
  int64_t n, length, batch, heads;
  DType dtype;
  bool gated;
  const char* mode;
};

template <typename T>
void run_config(const Config& c, double rate, const std::string& gpu, int repeat, FILE* out) {
  const int64_t rows = c.batch * c.heads, elements = rows * c.length, lk = c.length;
  const size_t io_bytes = static_cast<size_t>(elements) * sizeof(T);
  DeviceBuffer u(io_bytes), y(io_bytes), pre(c.gated ? io_bytes : 0), post(c.gated ? io_bytes : 0);
  DeviceBuffer k(static_cast<size_t>(c.heads * lk) * sizeof(float));
  fill_normal<T><<<kGrid, kBlock>>>(static_cast<T*>(u.p), elements, 1, 1.0f);
  if (c.gated) {
    fill_normal<T><<<kGrid, kBlock>>>(static_cast<T*>(pre.p), elements, 2, 1.0f);
    fill_normal<T><<<kGrid, kBlock>>>(static_cast<T*>(post.p), elements, 3, 1.0f);
  }
  fill_normal<float><<<kGrid, kBlock>>>(static_cast<float*>(k.p), c.heads * lk, 4, 1.0f / std::sqrt(static_cast<float>(lk)));
  check(cudaGetLastError(), "fill");

  ffc::Plan plan = ffc::Plan::create({.fft_size = c.n, .backend = ffc::Backend::kCuda});
  DeviceBuffer spectrum(plan.spectrum_bytes(c.heads)), workspace(plan.workspace_bytes(c.heads)),
      scratch(plan.workspace_bytes(0));
  const ffc::Tensor tk = ffc::Tensor::contiguous(k.p, DType::kF32, {c.heads, lk});
  plan.transform_filter(tk, spectrum.p, spectrum.bytes);
  ffc::ForwardArgs args;
  args.u = ffc::Tensor::contiguous(u.p, c.dtype, {c.batch, c.heads, c.length});
  args.y = ffc::Tensor::contiguous(y.p, c.dtype, {c.batch, c.heads, c.length});
  if (c.gated) {
    args.pregate = ffc::Tensor::contiguous(pre.p, c.dtype, {c.batch, c.heads, c.length});
    args.postgate = ffc::Tensor::contiguous(post.p, c.dtype, {c.batch, c.heads, c.length});
  }
  args.spectrum = ffc::FilterSpectrum{spectrum.p, spectrum.bytes, c.heads};
  args.workspace = scratch.p;  // two-pass algorithms stage through HBM (0 bytes otherwise)
  args.workspace_bytes = scratch.bytes;
  const double ours = median_ms([&] { plan.forward(args); }, repeat);
  ffc::ForwardArgs td = args;
  td.spectrum.reset();
  td.k = tk;
  td.workspace = workspace.p;
  td.workspace_bytes = workspace.bytes;
  const double ours_td = median_ms([&] { plan.forward(td); }, repeat);
  plan.forward(args);
  check(cudaDeviceSynchronize(), "forward");

  // Sampled rows against the float64 oracle.
  const int64_t sample = std::min<int64_t>(rows, 24);
  std::vector<double> got, ref;
  for (int64_t i = 0; i < sample; ++i) {
    const int64_t r = (i * rows) / sample + (i % 2);  // both rows of pairs
    const int64_t row = std::min(r, rows - 1), h = row % c.heads;
    auto fetch = [&](const void* base, DType dt) {
      ffc::reference::HostTensor t(dt, {c.length});
      check(cudaMemcpy(t.data(), static_cast<const char*>(base) + row * c.length * sizeof(T), t.bytes(),
                       cudaMemcpyDeviceToHost), "fetch");
      return t.read_back();
    };
    ffc::reference::HostTensor kh(DType::kF32, {lk});
    check(cudaMemcpy(kh.data(), static_cast<const float*>(k.p) + h * lk, kh.bytes(), cudaMemcpyDeviceToHost), "fetch k");
    const std::vector<double> none;
    const std::vector<double> r1 = ffc::reference::fftw_conv(
        {1, 1, c.length, lk, c.n}, fetch(u.p, c.dtype), kh.read_back(),
        c.gated ? fetch(pre.p, c.dtype) : none, c.gated ? fetch(post.p, c.dtype) : none);
    const std::vector<double> g1 = fetch(y.p, c.dtype);
    ref.insert(ref.end(), r1.begin(), r1.end());
    got.insert(got.end(), g1.begin(), g1.end());
  }
  const double rel_err = ffc::reference::relative_l2(got, ref);

  // cuFFT baseline (f32, spectrum of k cached as for ours).
  double cufft_ms = -1;
  {
    const int64_t bins = c.n / 2 + 1;
    DeviceBuffer x(static_cast<size_t>(rows * c.n) * sizeof(float));
    DeviceBuffer xf(static_cast<size_t>(rows * bins) * sizeof(cufftComplex));
    DeviceBuffer kx(static_cast<size_t>(c.heads * c.n) * sizeof(float));
    DeviceBuffer kf(static_cast<size_t>(c.heads * bins) * sizeof(cufftComplex));
    cufftHandle r2c, c2r, r2c_k;
    int n = static_cast<int>(c.n);
    check(cufftPlanMany(&r2c, 1, &n, nullptr, 1, n, nullptr, 1, static_cast<int>(bins), CUFFT_R2C, static_cast<int>(rows)), "plan");
    check(cufftPlanMany(&c2r, 1, &n, nullptr, 1, static_cast<int>(bins), nullptr, 1, n, CUFFT_C2R, static_cast<int>(rows)), "plan");
    check(cufftPlanMany(&r2c_k, 1, &n, nullptr, 1, n, nullptr, 1, static_cast<int>(bins), CUFFT_R2C, static_cast<int>(c.heads)), "plan");
    prep<float><<<kGrid, kBlock>>>(static_cast<const float*>(k.p), nullptr, static_cast<float*>(kx.p), c.heads, lk, c.n);
    check(cufftExecR2C(r2c_k, static_cast<float*>(kx.p), static_cast<cufftComplex*>(kf.p)), "R2C k");
    const T* gate_in = c.gated ? static_cast<const T*>(pre.p) : nullptr;
    const T* gate_out = c.gated ? static_cast<const T*>(post.p) : nullptr;
    cufft_ms = median_ms(
        [&] {
          prep<T><<<kGrid, kBlock>>>(static_cast<const T*>(u.p), gate_in, static_cast<float*>(x.p), rows, c.length, c.n);
          cufftExecR2C(r2c, static_cast<float*>(x.p), static_cast<cufftComplex*>(xf.p));
          multiply<<<kGrid, kBlock>>>(static_cast<cufftComplex*>(xf.p), static_cast<const cufftComplex*>(kf.p), rows, c.heads, bins);
          cufftExecC2R(c2r, static_cast<cufftComplex*>(xf.p), static_cast<float*>(x.p));
          finish<T><<<kGrid, kBlock>>>(static_cast<const float*>(x.p), gate_out, static_cast<T*>(y.p), rows, c.length, c.n);
        },
        std::max(3, repeat / 4));
    check(cudaDeviceSynchronize(), "cufft");
    cufftDestroy(r2c);
    cufftDestroy(c2r);
    cufftDestroy(r2c_k);
  }

  const double streams = c.gated ? 4.0 : 2.0;
  const double bytes = static_cast<double>(elements) * sizeof(T) * streams + static_cast<double>(c.heads * lk) * 4.0;
  const double floor_ms = bytes / rate * 1e3;
  char line[1024];
  std::snprintf(line, sizeof line,
                "{\"op\": \"forward\", \"mode\": \"%s\", \"dtype\": \"%s\", \"gated\": %s, \"fft_size\": %lld, "
                "\"L\": %lld, \"B\": %lld, \"H\": %lld, \"time_ms\": %.4f, \"time_with_filter_ms\": %.4f, "
                "\"floor_ms\": %.4f, \"ratio\": %.3f, \"cufft_ms\": %.4f, \"rel_err\": %.3e, "
                "\"copy_rate_tbs\": %.3f, \"gpu\": \"%s\", \"algorithm\": \"%s\"}",
                c.mode, ffc::to_string(c.dtype), c.gated ? "true" : "false", static_cast<long long>(c.n),
                static_cast<long long>(c.length), static_cast<long long>(c.batch), static_cast<long long>(c.heads),
                ours, ours_td, floor_ms, ours / floor_ms, cufft_ms, rel_err, rate * 1e-12, gpu.c_str(),
                plan.info().algorithm.c_str());
  emit(line, out);
}

// Backward of one configuration, every gradient (gated: du, dk, dpregate, dpostgate; plain: du, dk):
// ours, the HBM floor (dy, u and the gates read; du and the gate gradients written; k read, dk
// written), a cuFFT f32 pipeline and the relative error of sampled rows and heads against float64.
template <typename T>
void run_backward_config(const Config& c, double rate, const std::string& gpu, int repeat, FILE* out) {
  const int64_t rows = c.batch * c.heads, elements = rows * c.length, lk = c.length;
  const size_t io = static_cast<size_t>(elements) * sizeof(T);
  DeviceBuffer u(io), dy(io), pre(io), post(io), du(io), dpre(io), dpost(io);
  DeviceBuffer k(static_cast<size_t>(c.heads * lk) * 4), dk(static_cast<size_t>(c.heads * lk) * 4);
  fill_normal<T><<<kGrid, kBlock>>>(static_cast<T*>(u.p), elements, 11, 1.0f);
  fill_normal<T><<<kGrid, kBlock>>>(static_cast<T*>(dy.p), elements, 12, 1.0f);
  fill_normal<T><<<kGrid, kBlock>>>(static_cast<T*>(pre.p), elements, 13, 1.0f);
  fill_normal<T><<<kGrid, kBlock>>>(static_cast<T*>(post.p), elements, 14, 1.0f);
  fill_normal<float><<<kGrid, kBlock>>>(static_cast<float*>(k.p), c.heads * lk, 15, 1.0f / std::sqrt(static_cast<float>(lk)));
  check(cudaGetLastError(), "fill");
  ffc::Plan plan = ffc::Plan::create({.fft_size = c.n, .backend = ffc::Backend::kCuda});
  DeviceBuffer spectrum(plan.spectrum_bytes(c.heads)), ws(plan.backward_workspace_bytes(c.batch, c.heads));
  const ffc::Tensor tk = ffc::Tensor::contiguous(k.p, DType::kF32, {c.heads, lk});
  plan.transform_filter(tk, spectrum.p, spectrum.bytes);
  auto bhl = [&](void* p) { return ffc::Tensor::contiguous(p, c.dtype, {c.batch, c.heads, c.length}); };
  ffc::BackwardArgs a;
  a.dy = bhl(dy.p);
  a.u = bhl(u.p);
  a.spectrum = ffc::FilterSpectrum{spectrum.p, spectrum.bytes, c.heads};
  a.du = bhl(du.p);
  if (c.gated) {
    a.pregate = bhl(pre.p);
    a.postgate = bhl(post.p);
    a.dpregate = bhl(dpre.p);
    a.dpostgate = bhl(dpost.p);
  }
  a.dk = ffc::Tensor::contiguous(dk.p, DType::kF32, {c.heads, lk});
  a.workspace = ws.p;
  a.workspace_bytes = ws.bytes;
  const double ours = median_ms([&] { plan.backward(a); }, repeat);
  plan.backward(a);
  check(cudaDeviceSynchronize(), "backward");

  // Error: du, dpregate, dpostgate on sampled rows; dk on the first head (all batch rows).
  std::vector<double> got, ref;
  auto fetch_row = [&](const void* base, int64_t row, DType dt, int64_t len, size_t elem) {
    ffc::reference::HostTensor t(dt, {len});
    check(cudaMemcpy(t.data(), static_cast<const char*>(base) + row * len * elem, t.bytes(), cudaMemcpyDeviceToHost), "fetch");
    return t.read_back();
  };
  const std::vector<double> k0 = fetch_row(k.p, 0, DType::kF32, lk, 4);
  for (int64_t i = 0; i < std::min<int64_t>(rows, 8); ++i) {
    const int64_t row = (i * rows) / 8, h = row % c.heads;
    const std::vector<double> kh = fetch_row(k.p, h, DType::kF32, lk, 4);
    auto gate_row = [&](const void* gate) {
      return c.gated ? fetch_row(gate, row, c.dtype, c.length, sizeof(T)) : std::vector<double>{};
    };
    const ffc::reference::ConvGradients r = ffc::reference::fftw_backward(
        {1, 1, c.length, lk, c.n}, 1, fetch_row(u.p, row, c.dtype, c.length, sizeof(T)), kh, gate_row(pre.p),
        gate_row(post.p), fetch_row(dy.p, row, c.dtype, c.length, sizeof(T)));
    std::vector<std::pair<std::vector<double>, std::vector<double>>> pairs = {
        {fetch_row(du.p, row, c.dtype, c.length, sizeof(T)), r.du}};
    if (c.gated) {
      pairs.emplace_back(fetch_row(dpre.p, row, c.dtype, c.length, sizeof(T)), r.dpregate);
      pairs.emplace_back(fetch_row(dpost.p, row, c.dtype, c.length, sizeof(T)), r.dpostgate);
    }
    for (const auto& [mine, theirs] : pairs) {
      got.insert(got.end(), mine.begin(), mine.end());
      ref.insert(ref.end(), theirs.begin(), theirs.end());
    }
  }
  const double rel_err = ffc::reference::relative_l2(got, ref);
  double dk_err = -1;
  {
    std::vector<double> hu, hp, hq, hd;
    for (int64_t b = 0; b < c.batch; ++b) {
      const int64_t row = b * c.heads;  // head 0
      for (auto [dst, src] : {std::pair{&hu, u.p}, std::pair{&hp, pre.p}, std::pair{&hq, post.p}, std::pair{&hd, dy.p}}) {
        if (!c.gated && (dst == &hp || dst == &hq)) continue;
        const std::vector<double> v = fetch_row(src, row, c.dtype, c.length, sizeof(T));
        dst->insert(dst->end(), v.begin(), v.end());
      }
    }
    const ffc::reference::ConvGradients r =
        ffc::reference::fftw_backward({c.batch, 1, c.length, lk, c.n}, lk, hu, k0, hp, hq, hd);
    dk_err = ffc::reference::relative_l2(fetch_row(dk.p, 0, DType::kF32, lk, 4), r.dk);
  }

  // cuFFT f32 baseline with the filter spectrum cached.
  double cufft_ms = -1;
  {
    const int64_t bins = c.n / 2 + 1;
    DeviceBuffer xd(static_cast<size_t>(rows * c.n) * 4), xx(static_cast<size_t>(rows * c.n) * 4);
    DeviceBuffer wf(static_cast<size_t>(rows * bins) * 8), zf(static_cast<size_t>(rows * bins) * 8);
    DeviceBuffer kx(static_cast<size_t>(c.heads * c.n) * 4), kf(static_cast<size_t>(c.heads * bins) * 8);
    DeviceBuffer dkf(static_cast<size_t>(c.heads * bins) * 8), dkx(static_cast<size_t>(c.heads * c.n) * 4);
    const T* gate_pre = c.gated ? static_cast<const T*>(pre.p) : nullptr;
    const T* gate_post = c.gated ? static_cast<const T*>(post.p) : nullptr;
    cufftHandle r2c, c2r, r2c_h, c2r_h;
    int n = static_cast<int>(c.n);
    check(cufftPlanMany(&r2c, 1, &n, nullptr, 1, n, nullptr, 1, static_cast<int>(bins), CUFFT_R2C, static_cast<int>(rows)), "plan");
    check(cufftPlanMany(&c2r, 1, &n, nullptr, 1, static_cast<int>(bins), nullptr, 1, n, CUFFT_C2R, static_cast<int>(rows)), "plan");
    check(cufftPlanMany(&r2c_h, 1, &n, nullptr, 1, n, nullptr, 1, static_cast<int>(bins), CUFFT_R2C, static_cast<int>(c.heads)), "plan");
    check(cufftPlanMany(&c2r_h, 1, &n, nullptr, 1, static_cast<int>(bins), nullptr, 1, n, CUFFT_C2R, static_cast<int>(c.heads)), "plan");
    prep<float><<<kGrid, kBlock>>>(static_cast<const float*>(k.p), nullptr, static_cast<float*>(kx.p), c.heads, lk, c.n);
    check(cufftExecR2C(r2c_h, static_cast<float*>(kx.p), static_cast<cufftComplex*>(kf.p)), "R2C k");
    cufft_ms = median_ms(
        [&] {
          prep<T><<<kGrid, kBlock>>>(static_cast<const T*>(dy.p), gate_post, static_cast<float*>(xd.p), rows, c.length, c.n);
          prep<T><<<kGrid, kBlock>>>(static_cast<const T*>(u.p), gate_pre, static_cast<float*>(xx.p), rows, c.length, c.n);
          cufftExecR2C(r2c, static_cast<float*>(xd.p), static_cast<cufftComplex*>(wf.p));
          cufftExecR2C(r2c, static_cast<float*>(xx.p), static_cast<cufftComplex*>(zf.p));
          batch_correlation<<<kGrid, kBlock>>>(static_cast<const cufftComplex*>(wf.p), static_cast<const cufftComplex*>(zf.p),
                                              static_cast<cufftComplex*>(dkf.p), c.batch, c.heads, bins);
          backward_products<<<kGrid, kBlock>>>(static_cast<cufftComplex*>(wf.p), static_cast<cufftComplex*>(zf.p),
                                              static_cast<const cufftComplex*>(kf.p), rows, c.heads, bins);
          cufftExecC2R(c2r, static_cast<cufftComplex*>(wf.p), static_cast<float*>(xd.p));
          if (c.gated) cufftExecC2R(c2r, static_cast<cufftComplex*>(zf.p), static_cast<float*>(xx.p));
          cufftExecC2R(c2r_h, static_cast<cufftComplex*>(dkf.p), static_cast<float*>(dkx.p));
          backward_finish<T><<<kGrid, kBlock>>>(static_cast<const float*>(xd.p), static_cast<const float*>(xx.p),
                                                static_cast<const T*>(u.p), gate_pre, static_cast<const T*>(dy.p),
                                                static_cast<T*>(du.p), c.gated ? static_cast<T*>(dpre.p) : nullptr,
                                                c.gated ? static_cast<T*>(dpost.p) : nullptr, rows, c.length, c.n);
          scale_copy<<<kGrid, kBlock>>>(static_cast<const float*>(dkx.p), static_cast<float*>(dk.p), c.heads, lk, c.n);
        },
        std::max(3, repeat / 4));
    check(cudaDeviceSynchronize(), "cufft backward");
    cufftDestroy(r2c);
    cufftDestroy(c2r);
    cufftDestroy(r2c_h);
    cufftDestroy(c2r_h);
  }
  // Gated: dy, u, pregate, postgate read; du, dpregate, dpostgate written. Plain: dy, u; du.
  const double tensors = c.gated ? 7.0 : 3.0;
  const double bytes = static_cast<double>(elements) * sizeof(T) * tensors + static_cast<double>(c.heads * lk) * 8.0;
  const double floor_ms = bytes / rate * 1e3;
  char line[1024];
  std::snprintf(line, sizeof line,
                "{\"op\": \"backward\", \"mode\": \"%s\", \"dtype\": \"%s\", \"gated\": %s, \"fft_size\": %lld, "
                "\"L\": %lld, \"B\": %lld, \"H\": %lld, \"time_ms\": %.4f, \"floor_ms\": %.4f, \"ratio\": %.3f, "
                "\"cufft_ms\": %.4f, \"rel_err\": %.3e, \"dk_rel_err\": %.3e, \"copy_rate_tbs\": %.3f, \"gpu\": \"%s\", "
                "\"algorithm\": \"%s\"}",
                c.mode, ffc::to_string(c.dtype), c.gated ? "true" : "false", static_cast<long long>(c.n),
                static_cast<long long>(c.length), static_cast<long long>(c.batch), static_cast<long long>(c.heads), ours,
                floor_ms, ours / floor_ms, cufft_ms, rel_err, dk_err, rate * 1e-12, gpu.c_str(),
                plan.info().algorithm.c_str());
  emit(line, out);
}

std::vector<int64_t> parse_list(const char* s) {
  std::vector<int64_t> v;
  for (const char* p = s; *p;) {
    v.push_back(std::strtoll(p, const_cast<char**>(&p), 10));
    if (*p == ',') ++p;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes = {256, 512, 1024, 2048, 4096, 8192, 16384, 32768};
  int64_t batch = 64, heads = 768;
  int repeat = 20;
  std::vector<std::string> dtypes = {"f16", "bf16"};
  bool do_forward = true, do_backward = true;
  std::string mode_filter;  // empty: every mode
  const char* out_path = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--sizes" && i + 1 < argc) sizes = parse_list(argv[++i]);
    else if (a == "--batch" && i + 1 < argc) batch = std::atoll(argv[++i]);
    else if (a == "--heads" && i + 1 < argc) heads = std::atoll(argv[++i]);
    else if (a == "--repeat" && i + 1 < argc) repeat = std::atoi(argv[++i]);
    else if (a == "--dtype" && i + 1 < argc) dtypes = {argv[++i]};
    else if (a == "--out" && i + 1 < argc) out_path = argv[++i];
    else if (a == "--modes" && i + 1 < argc) mode_filter = "," + std::string(argv[++i]) + ",";
    else if (a == "--ops" && i + 1 < argc) {
      const std::string ops = argv[++i];
      do_forward = ops.find("forward") != std::string::npos;
      do_backward = ops.find("backward") != std::string::npos;
    }
    else {
      std::fprintf(stderr, "usage: bench_conv [--sizes a,b] [--batch B] [--heads H] [--repeat R] [--dtype f16|bf16] [--ops forward,backward] [--modes gated,conv,gated_causal,conv_causal] [--out file]\n");
      return 2;
    }
  }
  try {
    if (ffc::cuda_device_count() == 0) {
      std::fprintf(stderr, "bench_conv: no CUDA device\n");
      return 1;
    }
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, 0), "properties");
    const double rate = copy_rate();
    std::fprintf(stderr, "device %s, %d SMs, device-to-device copy %.3f TB/s\n", prop.name, prop.multiProcessorCount, rate * 1e-12);
    FILE* out = out_path ? std::fopen(out_path, "a") : nullptr;
    for (const std::string& dt : dtypes) {
      for (int64_t n : sizes) {
        struct Mode {
          const char* name;
          bool gated;
          int64_t length;
        } modes[] = {{"gated", true, n}, {"conv", false, n}, {"gated_causal", true, n / 2}, {"conv_causal", false, n / 2}};
        auto wanted = [&](const Mode& m) {
          return mode_filter.empty() || mode_filter.find("," + std::string(m.name) + ",") != std::string::npos;
        };
        for (const Mode& m : modes) {
          if (!do_forward) break;
          if (!wanted(m)) continue;
          Config c{n, m.length, batch, heads, dt == "f16" ? DType::kF16 : DType::kBF16, m.gated, m.name};
          if (c.dtype == DType::kF16) run_config<__half>(c, rate, prop.name, repeat, out);
          else run_config<__nv_bfloat16>(c, rate, prop.name, repeat, out);
        }
        if (do_backward) {
          // All gradients of the gated and the plain convolution, circular (L = N) and causal (L = N / 2).
          for (const Mode& m : modes) {
            if (!wanted(m)) continue;
            Config c{n, m.length, batch, heads, dt == "f16" ? DType::kF16 : DType::kBF16, m.gated, m.name};
            if (c.dtype == DType::kF16) run_backward_config<__half>(c, rate, prop.name, repeat, out);
            else run_backward_config<__nv_bfloat16>(c, rate, prop.name, repeat, out);
          }
        }
      }
    }
    if (out) std::fclose(out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_conv: %s\n", e.what());
    return 1;
  }
  return 0;
}
