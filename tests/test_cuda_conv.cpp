// The CUDA backend against the float64 oracle and the convolution's properties, over every FFT size
// it supports (256 .. 32768), f16 and bf16 I/O, gated and plain (each gate alone too), causal,
// circular and in-between lengths, odd L, short filters, several input distributions; plus stream
// and CUDA-graph behaviour and device-memory checks. Skips when no CUDA device is present.
//
// Tolerances (docs/numerics.md): f16 I/O 5e-4, bf16 I/O 3e-3 relative L2 error. They follow from
// the dtypes' rounding: the output rounding alone is ~0.42 u (2.1e-4 for f16, 1.7e-3 for bf16), and
// the kernel adds at most three f16 roundings of intermediates (2.1e-4 each, in quadrature).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "conv_case.hpp"
#include "device_memory.hpp"
#include "gpu_skip.hpp"

namespace ffc::testing {
using namespace ffc::reference;
namespace {

const int kSizes[] = {256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};

Plan cuda_plan(int64_t n) { return Plan::create({.fft_size = n, .backend = Backend::kCuda}); }

class CudaEverySize : public ::testing::TestWithParam<int> {};

TEST_P(CudaEverySize, MatchesFloat64Oracle) {
  SKIP_WITHOUT_GPU();
  const int64_t n = GetParam();
  Plan plan = cuda_plan(n);
  struct Mode {
    const char* name;
    int64_t length, filter_length;
  };
  const Mode modes[] = {{"causal", n / 2, n / 2},
                        {"circular", n, n},
                        {"odd_partial", n / 2 - 1, n / 8 + 3},
                        {"odd_long", n - 3, n / 2 + 1},
                        {"short", 37, 5}};
  uint64_t seed = 100 + static_cast<uint64_t>(n);
  int combo = 0;
  for (const Mode& mode : modes) {
    for (DType dtype : {DType::kF16, DType::kBF16}) {
      for (int gating = 0; gating < 4; ++gating, ++combo) {
        ConvCase c;
        c.fft_size = n;
        c.batch = 3;  // odd: one pair plus a lone row
        c.heads = 5;
        c.length = mode.length;
        c.filter_length = mode.filter_length;
        c.dtype = dtype;
        c.pregate = gating & 1;
        c.postgate = gating & 2;
        c.use_spectrum = combo % 2 == 1;
        const ConvResult r = run_and_check(plan, c, seed++);
        EXPECT_LE(r.rel_err, forward_tolerance(Backend::kCuda, dtype)) << mode.name << ": " << c.describe();
      }
    }
  }
}

TEST_P(CudaEverySize, DistributionsAndFilterDtypes) {
  SKIP_WITHOUT_GPU();
  const int64_t n = GetParam();
  Plan plan = cuda_plan(n);
  uint64_t seed = 900;
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    for (Distribution ud : {Distribution::kDynamicRange, Distribution::kUniform}) {
      for (Distribution kdist : {Distribution::kDecaying, Distribution::kRandn}) {
        for (DType kd : {DType::kF32, DType::kBF16}) {
          ConvCase c;
          c.fft_size = n;
          c.batch = 4;
          c.heads = 2;
          c.length = n / 2;
          c.filter_length = n / 2;
          c.dtype = dtype;
          c.filter_dtype = kd;
          c.input = ud;
          c.filter = kdist;
          c.pregate = c.postgate = true;
          // Filters scaled to unit gain (1/sqrt(Lk)) and, for f16 I/O, inputs kept under 2^7 so
          // the outputs stay inside the f16 range (an overflowing output is not the kernel's error).
          ConvInputs in = ConvInputs::make(c, seed++);
          const double input_scale = dtype == DType::kF16 ? 1.0 / 32 : 1.0;
          for (int64_t i = 0; i < in.u.numel(); ++i) in.u.set(i, in.u.value(i) * input_scale);
          const double gain = 1.0 / std::sqrt(static_cast<double>(c.filter_length));
          for (int64_t i = 0; i < in.k.numel(); ++i) in.k.set(i, in.k.value(i) * gain);
          const std::vector<double> ref = run_oracle(c, in);
          double peak = 0;
          for (double v : ref) peak = std::max(peak, std::abs(v));
          ASSERT_LT(peak, dtype == DType::kF16 ? 65504.0 : 1e38) << "test inputs overflow the output dtype";
          EXPECT_LE(relative_l2(run_library(plan, c, in), ref), forward_tolerance(Backend::kCuda, dtype))
              << c.describe();
        }
      }
    }
  }
}

// Inputs far outside the f16 range (bf16 I/O) must neither overflow nor lose accuracy: the kernel
// scales each pair by a power of two.
TEST_P(CudaEverySize, HugeAndTinyMagnitudes) {
  SKIP_WITHOUT_GPU();
  const int64_t n = GetParam();
  Plan plan = cuda_plan(n);
  for (double scale : {1e-30, 1e-6, 1e6, 1e30}) {
    ConvCase c;
    c.fft_size = n;
    c.batch = 2;
    c.heads = 3;
    c.length = n;
    c.filter_length = n / 4;
    c.dtype = DType::kBF16;
    c.pregate = true;
    ConvInputs in = ConvInputs::make(c, 77);
    std::mt19937_64 rng(5);
    HostTensor scaled(DType::kBF16, {c.batch, c.heads, c.length});
    scaled.fill(Distribution::kRandn, rng, scale);
    in.u = scaled;
    const std::vector<double> y = run_library(plan, c, in);
    const double err = relative_l2(y, run_oracle(c, in));
    EXPECT_LE(err, forward_tolerance(Backend::kCuda, DType::kBF16)) << "scale " << scale;
  }
}

// f16 I/O with large inputs and small gates: the pair's scale s bounds s |u pregate|, not s |u|, so
// s u alone may leave the f16 range (u = 1e4, pregate = 1e-3 give s u > 65504 at every N). The
// packed f16 product of the forward's radix-1 sizes (256, 4096) must not overflow there.
TEST_P(CudaEverySize, F16LargeInputsSmallGates) {
  SKIP_WITHOUT_GPU();
  const int64_t n = GetParam();
  Plan plan = cuda_plan(n);
  ConvCase c;
  c.fft_size = n;
  c.batch = 2;
  c.heads = 3;
  c.length = n;
  c.filter_length = n / 4;
  c.dtype = DType::kF16;
  c.pregate = c.postgate = true;
  ConvInputs in = ConvInputs::make(c, 91);
  std::mt19937_64 rng(9);
  in.u.fill(Distribution::kRandn, rng, 1e4);
  in.pre.fill(Distribution::kRandn, rng, 1e-3);
  const std::vector<double> y = run_library(plan, c, in);
  EXPECT_LE(relative_l2(y, run_oracle(c, in)), forward_tolerance(Backend::kCuda, DType::kF16));
}

INSTANTIATE_TEST_SUITE_P(Sizes, CudaEverySize, ::testing::ValuesIn(kSizes),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return "N" + std::to_string(param.param);
                         });

// The property tests of the CPU suite, on the GPU with f16 I/O.
class CudaProperties : public ::testing::TestWithParam<int> {};

std::vector<double> run_f16(const Plan& plan, int64_t batch, int64_t heads, int64_t length,
                            const std::vector<double>& u, const std::vector<double>& k, int64_t lk) {
  ConvCase c;
  c.fft_size = plan.info().fft_size;
  c.batch = batch;
  c.heads = heads;
  c.length = length;
  c.filter_length = lk;
  c.dtype = DType::kF16;
  ConvInputs in = ConvInputs::make(c, 1);
  for (int64_t i = 0; i < in.u.numel(); ++i) in.u.set(i, u[i]);
  for (int64_t i = 0; i < in.k.numel(); ++i) in.k.set(i, k[i]);
  return run_library(plan, c, in);
}

std::vector<double> randn_f16(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d;
  std::vector<double> v(n);
  for (double& x : v) x = round_to(DType::kF16, d(rng));
  return v;
}

TEST_P(CudaProperties, DeltaFilterShiftsTheInput) {
  SKIP_WITHOUT_GPU();
  const int64_t n = GetParam();
  Plan plan = cuda_plan(n);
  for (int64_t shift : {int64_t{0}, int64_t{3}, n / 4 + 1}) {
    const int64_t length = n / 2;
    std::vector<double> k(shift + 1, 0.0);
    k[shift] = 1.0;
    const std::vector<double> u = randn_f16(2 * length, 3);
    const std::vector<double> y = run_f16(plan, 2, 1, length, u, k, shift + 1);
    std::vector<double> expect(y.size(), 0.0);
    for (int64_t b = 0; b < 2; ++b) {
      for (int64_t t = shift; t < length; ++t) expect[b * length + t] = u[b * length + t - shift];
    }
    EXPECT_LE(relative_l2(y, expect), forward_tolerance(Backend::kCuda, DType::kF16)) << "shift " << shift;
  }
}

TEST_P(CudaProperties, IsCausal) {
  SKIP_WITHOUT_GPU();
  const int64_t n = GetParam(), length = n / 2;
  Plan plan = cuda_plan(n);
  const std::vector<double> k = randn_f16(length, 4);
  const std::vector<double> u = randn_f16(2 * length, 5);
  const std::vector<double> y0 = run_f16(plan, 2, 1, length, u, k, length);
  double scale = 0;
  for (double v : y0) scale = std::max(scale, std::abs(v));
  for (int64_t tp : {int64_t{1}, length / 2, length - 2}) {
    std::vector<double> u2 = u;
    u2[tp] = round_to(DType::kF16, u2[tp] + 8.0);
    const std::vector<double> y1 = run_f16(plan, 2, 1, length, u2, k, length);
    // Within row 0 nothing before t' may move beyond the kernel's rounding, and row 1 (which
    // shares the complex transform) only by rounding; a wrap-around or packing bug moves them by
    // O(|y|). The bound is 20x the f16 tolerance on the largest output.
    double leak = 0, cross = 0;
    for (int64_t t = 0; t < tp; ++t) leak = std::max(leak, std::abs(y1[t] - y0[t]));
    for (int64_t t = 0; t < length; ++t) cross = std::max(cross, std::abs(y1[length + t] - y0[length + t]));
    EXPECT_LE(leak, 1e-2 * scale) << "t' = " << tp;
    EXPECT_LE(cross, 1e-2 * scale) << "row 1, t' = " << tp;
    EXPECT_GT(std::abs(y1[tp] - y0[tp]), 0.5) << "the perturbation must reach y[t']";
  }
}

TEST_P(CudaProperties, IsLinearAndShiftEquivariant) {
  SKIP_WITHOUT_GPU();
  const int64_t n = GetParam();
  Plan plan = cuda_plan(n);
  const std::vector<double> k = randn_f16(n, 8), u = randn_f16(n, 9);
  const std::vector<double> y = run_f16(plan, 1, 1, n, u, k, n);
  // Circular shift by s (L = N).
  const int64_t s = n / 3;
  std::vector<double> us(n), expect(n);
  for (int64_t t = 0; t < n; ++t) {
    us[(t + s) % n] = u[t];
    expect[(t + s) % n] = y[t];
  }
  EXPECT_LE(relative_l2(run_f16(plan, 1, 1, n, us, k, n), expect), 2 * forward_tolerance(Backend::kCuda, DType::kF16));
  // Scaling by 2 (exact in f16) scales the output by 2, bit for bit (power-of-two pair scale).
  std::vector<double> u2(n);
  for (int64_t t = 0; t < n; ++t) u2[t] = 2 * u[t];
  const std::vector<double> y2 = run_f16(plan, 1, 1, n, u2, k, n);
  for (int64_t t = 0; t < n; ++t) ASSERT_EQ(y2[t], 2 * y[t]) << t;
}

INSTANTIATE_TEST_SUITE_P(Sizes, CudaProperties, ::testing::Values(256, 2048, 4096, 32768, 65536),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return "N" + std::to_string(param.param);
                         });

// Device buffers reused by the stream and graph tests.
struct DeviceProblem {
  ConvCase c;
  ConvInputs in;
  MemorySpace memory{0};
  Buffer u, k, y, spectrum, workspace;
  ForwardArgs args;

  DeviceProblem(const Plan& plan, int64_t n) {
    memory = MemorySpace(plan.info().device);
    c.fft_size = n;
    c.batch = 8;
    c.heads = 16;
    c.length = n / 2;
    c.filter_length = n / 2;
    c.dtype = DType::kBF16;
    in = ConvInputs::make(c, 3);
    HostTensor ty(c.dtype, {c.batch, c.heads, c.length});
    u = memory.upload(in.u);
    k = memory.upload(in.k);
    y = memory.upload(ty);
    spectrum = memory.allocate(plan.spectrum_bytes(c.heads));
    plan.transform_filter(k.view(in.k), spectrum.data(), spectrum.bytes());
    args.u = u.view(in.u);
    args.y = y.view(ty);
    args.spectrum = FilterSpectrum{spectrum.data(), spectrum.bytes(), c.heads};
    if (plan.workspace_bytes(0) > 0) {
      workspace = memory.allocate(plan.workspace_bytes(0));
      args.workspace = workspace.data();
      args.workspace_bytes = workspace.bytes();
    }
  }
  std::vector<unsigned char> output() const {
    std::vector<unsigned char> out(y.bytes());
    cudaMemcpy(out.data(), y.data(), y.bytes(), cudaMemcpyDeviceToHost);
    return out;
  }
};

TEST(CudaExecution, NonDefaultStreamAndGraphCaptureGiveTheSameBits) {
  SKIP_WITHOUT_GPU();
  Plan plan = cuda_plan(4096);
  DeviceProblem d(plan, 4096);
  plan.forward(d.args);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<unsigned char> expected = d.output();

  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  cudaMemset(d.y.data(), 0xff, d.y.bytes());
  plan.forward(d.args, stream);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ(d.output(), expected) << "non-default stream";

  // Capture the filter transform and the forward into a graph and replay it.
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  cudaMemset(d.y.data(), 0xff, d.y.bytes());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal), cudaSuccess);
  plan.transform_filter(d.k.view(d.in.k), d.spectrum.data(), d.spectrum.bytes(), stream);
  plan.forward(d.args, stream);
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ(d.output(), expected) << "graph replay";
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

TEST(CudaExecution, RunToRunDeterministic) {
  SKIP_WITHOUT_GPU();
  Plan plan = cuda_plan(16384);
  DeviceProblem d(plan, 16384);
  plan.forward(d.args);
  cudaDeviceSynchronize();
  const std::vector<unsigned char> first = d.output();
  for (int i = 0; i < 3; ++i) {
    plan.forward(d.args);
    cudaDeviceSynchronize();
    EXPECT_EQ(d.output(), first);
  }
}

TEST(CudaValidation, HostMemoryAndUnsupportedDtypeAreRejected) {
  SKIP_WITHOUT_GPU();
  Plan plan = cuda_plan(1024);
  HostTensor u(DType::kF16, {2, 2, 100}), y(DType::kF16, {2, 2, 100}), k(DType::kF32, {2, 10});
  std::vector<unsigned char> ws(plan.workspace_bytes(2));
  ForwardArgs args;
  args.u = u.view();
  args.y = y.view();
  args.k = k.view();
  args.workspace = ws.data();
  args.workspace_bytes = ws.size();
  try {
    plan.forward(args);
    ADD_FAILURE() << "host memory accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("host memory"), std::string::npos) << e.what();
  }
  // f32 I/O on device memory: not supported (yet), said clearly, nothing written.
  MemorySpace mem(plan.info().device);
  HostTensor u32(DType::kF32, {2, 2, 100}), y32(DType::kF32, {2, 2, 100});
  Buffer du = mem.upload(u32), dy = mem.upload(y32), dk = mem.upload(k), dws = mem.allocate(plan.workspace_bytes(2));
  args.u = du.view(u32);
  args.y = dy.view(y32);
  args.k = dk.view(k);
  args.workspace = dws.data();
  try {
    plan.forward(args);
    ADD_FAILURE() << "f32 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::kNotSupported);
    EXPECT_NE(std::string(e.what()).find("f32"), std::string::npos) << e.what();
  }
}

// Sizes the CPU backend runs and no CUDA algorithm covers (below 256): a CUDA plan says so, an auto
// plan falls back to the CPU. From 256 to 4M every size is a CUDA size (auto picks CUDA).
TEST(CudaValidation, UnsupportedSizeSaysSo) {
  SKIP_WITHOUT_GPU();
  try {
    cuda_plan(128);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), Status::kNotSupported);
    EXPECT_NE(std::string(e.what()).find("128"), std::string::npos);
  }
  EXPECT_EQ(Plan::create({.fft_size = 128}).info().backend, Backend::kCpu) << "auto falls back";
  for (int64_t n : {256, 65536, 4194304}) {
    EXPECT_EQ(Plan::create({.fft_size = n}).info().backend, Backend::kCuda) << n;
  }
}

// More than 2^31 elements per tensor: 64-bit indexing (checks a few rows at the end).
TEST(CudaExecution, TensorsBeyond2To31Elements) {
  SKIP_WITHOUT_GPU();
  size_t free_bytes = 0, total = 0;
  cudaMemGetInfo(&free_bytes, &total);
  const int64_t n = 32768, heads = (int64_t{1} << 31) / n + 3, batch = 1;
  const size_t tensor_bytes = static_cast<size_t>(batch * heads * n) * 2;
  if (free_bytes < 3 * tensor_bytes) GTEST_SKIP() << "needs " << 3 * tensor_bytes << " bytes of GPU memory";
  Plan plan = cuda_plan(n);
  // u: row r = hash-free pattern: only the last 3 heads carry random data, the rest zeros.
  std::mt19937_64 rng(11);
  HostTensor tail_u(DType::kF16, {1, 3, n}), k(DType::kF32, {heads, 64});
  tail_u.fill(Distribution::kRandn, rng);
  k.fill(Distribution::kRandn, rng);
  Buffer du(plan.info().device, tensor_bytes), dy(plan.info().device, tensor_bytes);
  cudaMemset(du.data(), 0, tensor_bytes);
  cudaMemcpy(static_cast<char*>(du.data()) + (heads - 3) * n * 2, tail_u.data(), tail_u.bytes(), cudaMemcpyHostToDevice);
  MemorySpace mem(plan.info().device);
  Buffer dk = mem.upload(k), ws = mem.allocate(plan.workspace_bytes(heads));
  ForwardArgs args;
  args.u = Tensor::contiguous(du.data(), DType::kF16, {batch, heads, n});
  args.y = Tensor::contiguous(dy.data(), DType::kF16, {batch, heads, n});
  args.k = dk.view(k);
  args.workspace = ws.data();
  args.workspace_bytes = ws.bytes();
  plan.forward(args);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  HostTensor tail_y(DType::kF16, {1, 3, n});
  cudaMemcpy(tail_y.data(), static_cast<char*>(dy.data()) + (heads - 3) * n * 2, tail_y.bytes(), cudaMemcpyDeviceToHost);
  std::vector<double> k_tail(k.values().end() - 3 * 64, k.values().end());
  static const std::vector<double> kNone;
  const std::vector<double> ref = fftw_conv({1, 3, n, 64, n}, tail_u.values(), k_tail, kNone, kNone);
  EXPECT_LE(relative_l2(tail_y.read_back(), ref), forward_tolerance(Backend::kCuda, DType::kF16));
}

}  // namespace
}  // namespace ffc::testing
