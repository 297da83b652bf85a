// flashfftconv: the command-line program (the project's main job).
//
//   flashfftconv run --fft-size 4096 --batch 8 --heads 64 --length 2048 --dtype bf16 --gated
//   flashfftconv info
//
// `run` makes random inputs, runs the convolution on the best backend present (or the one asked
// for), times it, checks it against the float64 oracle (FFTW) and prints time, throughput and
// error. The exit status is 0 only if the error is within the dtype's tolerance.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "conv_case.hpp"
#include "ffc/ffc.h"
#include "ffc/ffc.hpp"

namespace {

using namespace ffc;
using namespace ffc::reference;
using Clock = std::chrono::steady_clock;

const char* kUsage = R"(flashfftconv - fast depthwise long convolutions through FFTs

usage:
  flashfftconv run [options]    run, time and check one convolution on random inputs
  flashfftconv info             version, backends, devices and supported FFT sizes
  flashfftconv --help

run computes y = postgate * conv_N(pregate * u, k)[..., :L] with u, gates, y of shape (B, H, L)
and k of shape (H, Lk): causal when L + Lk - 1 <= N (the default, L = N/2), circular when L = N.

run options:
  --fft-size N        FFT size, a power of two from 16 to 4194304 (default 4096)
  --batch B           batch size (default 8)
  --heads H           heads / channels (default 64)
  --length L          input length, L <= N (default N/2: causal)
  --filter-length Lk  filter length, Lk <= N (default L)
  --dtype T           f32, f16 or bf16 for u, gates and y (default bf16)
  --filter-dtype T    dtype of k (default f32)
  --gated             both pregate and postgate (or --pregate / --postgate alone)
  --backend B         auto, cpu or cuda (default auto: CUDA if a GPU is present)
  --threads T         CPU worker threads (default: all hardware threads)
  --repeat R          timed runs; the median is reported (default 5)
  --spectrum          transform the filter once and time the forward with the spectrum
                      (default: time the call with the time-domain filter, which includes it)
  --check-rows R      rows checked against the float64 oracle (default: all, at most 256)
  --no-check          skip the oracle check
  --compare-fftw      also time a plain float32 FFTW convolution of the same shape (CPU)
  --input D           input distribution: randn, dynamic_range, uniform (default randn)
  --seed S            random seed (default 1)
  --json              also print the results as one JSON line
)";

struct Options {
  int64_t fft_size = 4096, batch = 8, heads = 64, length = -1, filter_length = -1;
  DType dtype = DType::kBF16, filter_dtype = DType::kF32;
  bool pregate = false, postgate = false;
  Backend backend = Backend::kAuto;
  int threads = 0, repeat = 5;
  bool spectrum = false, check = true, compare_fftw = false, json = false;
  int64_t check_rows = 256;
  Distribution input = Distribution::kRandn;
  uint64_t seed = 1;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "flashfftconv: %s\n(see flashfftconv --help)\n", message.c_str());
  std::exit(2);
}

int64_t parse_int(const std::string& flag, const char* text) {
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0') usage_error(flag + ": '" + text + "' is not an integer");
  return v;
}

DType parse_dtype(const std::string& flag, const std::string& text) {
  if (text == "f32" || text == "fp32" || text == "float32") return DType::kF32;
  if (text == "f16" || text == "fp16" || text == "float16") return DType::kF16;
  if (text == "bf16" || text == "bfloat16") return DType::kBF16;
  usage_error(flag + ": '" + text + "' is not one of f32, f16, bf16");
}

Options parse_run(int argc, char** argv) {
  Options o;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--fft-size") {
      o.fft_size = parse_int(a, value());
    } else if (a == "--batch") {
      o.batch = parse_int(a, value());
    } else if (a == "--heads") {
      o.heads = parse_int(a, value());
    } else if (a == "--length") {
      o.length = parse_int(a, value());
    } else if (a == "--filter-length") {
      o.filter_length = parse_int(a, value());
    } else if (a == "--dtype") {
      o.dtype = parse_dtype(a, value());
    } else if (a == "--filter-dtype") {
      o.filter_dtype = parse_dtype(a, value());
    } else if (a == "--gated") {
      o.pregate = o.postgate = true;
    } else if (a == "--pregate") {
      o.pregate = true;
    } else if (a == "--postgate") {
      o.postgate = true;
    } else if (a == "--backend") {
      const std::string b = value();
      if (b == "auto") o.backend = Backend::kAuto;
      else if (b == "cpu") o.backend = Backend::kCpu;
      else if (b == "cuda") o.backend = Backend::kCuda;
      else usage_error("--backend: '" + b + "' is not one of auto, cpu, cuda");
    } else if (a == "--threads") {
      o.threads = static_cast<int>(parse_int(a, value()));
    } else if (a == "--repeat") {
      o.repeat = static_cast<int>(parse_int(a, value()));
      if (o.repeat < 1) usage_error("--repeat: must be at least 1");
    } else if (a == "--spectrum") {
      o.spectrum = true;
    } else if (a == "--check-rows") {
      o.check_rows = parse_int(a, value());
    } else if (a == "--no-check") {
      o.check = false;
    } else if (a == "--compare-fftw") {
      o.compare_fftw = true;
    } else if (a == "--input") {
      const std::string d = value();
      if (d == "randn") o.input = Distribution::kRandn;
      else if (d == "dynamic_range") o.input = Distribution::kDynamicRange;
      else if (d == "uniform") o.input = Distribution::kUniform;
      else usage_error("--input: '" + d + "' is not one of randn, dynamic_range, uniform");
    } else if (a == "--seed") {
      o.seed = static_cast<uint64_t>(parse_int(a, value()));
    } else if (a == "--json") {
      o.json = true;
    } else {
      usage_error("unknown option '" + a + "'");
    }
  }
  if (o.length < 0) o.length = o.fft_size / 2;
  if (o.filter_length < 0) o.filter_length = o.length;
  if (o.batch < 0 || o.heads < 0) usage_error("--batch and --heads must be non-negative");
  return o;
}

// Prints "\r<label> i/n" to stderr once a phase has run for more than two seconds.
class Progress {
 public:
  explicit Progress(std::string label) : label_(std::move(label)), start_(Clock::now()) {}
  void update(int64_t done, int64_t total) {
    const auto now = Clock::now();
    if (now - start_ < std::chrono::seconds(2) || now - last_ < std::chrono::milliseconds(500)) return;
    last_ = now;
    shown_ = true;
    std::fprintf(stderr, "\r%s: %lld/%lld (%.0f%%)   ", label_.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total), 100.0 * static_cast<double>(done) / static_cast<double>(total));
    std::fflush(stderr);
  }
  ~Progress() {
    if (shown_) std::fprintf(stderr, "\r%s: done%*s\n", label_.c_str(), 20, "");
  }

 private:
  std::string label_;
  Clock::time_point start_, last_{};
  bool shown_ = false;
};

std::string format_ms(double seconds) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f ms", seconds * 1e3);
  return buf;
}

int run(const Options& o) {
  PlanOptions po;
  po.fft_size = o.fft_size;
  po.backend = o.backend;
  po.num_threads = o.threads;
  Plan plan = Plan::create(po);
  const PlanInfo info = plan.info();

  ConvCase c;
  c.fft_size = o.fft_size;
  c.batch = o.batch;
  c.heads = o.heads;
  c.length = o.length;
  c.filter_length = o.filter_length;
  c.dtype = o.dtype;
  c.filter_dtype = o.filter_dtype;
  c.pregate = o.pregate;
  c.postgate = o.postgate;
  c.input = o.input;
  c.use_spectrum = o.spectrum;

  std::string radices;
  for (size_t i = 0; i < info.radices.size(); ++i) radices += (i ? "x" : "") + std::to_string(info.radices[i]);
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  std::printf("flashfftconv %s | backend %s", version_string(), to_string(info.backend));
  if (info.backend == Backend::kCpu) std::printf(" (%d threads)", o.threads > 0 ? o.threads : static_cast<int>(hw));
  else std::printf(" (device %d)", info.device);
  std::printf(" | N=%lld = %s\n", static_cast<long long>(o.fft_size), radices.c_str());
  const bool causal = o.length + o.filter_length - 1 <= o.fft_size;
  std::printf("problem: B=%lld H=%lld L=%lld Lk=%lld dtype=%s k=%s gates=%s mode=%s\n",
              static_cast<long long>(o.batch), static_cast<long long>(o.heads),
              static_cast<long long>(o.length), static_cast<long long>(o.filter_length),
              to_string(o.dtype), to_string(o.filter_dtype),
              o.pregate && o.postgate ? "pre+post" : o.pregate ? "pre" : o.postgate ? "post" : "none",
              causal ? "causal (linear)" : o.length == o.fft_size ? "circular" : "partially wrapped");
  std::fflush(stdout);

  // Inputs, uploaded once; the timed region is the library call only.
  ConvInputs in = ConvInputs::make(c, o.seed);
  ForwardCall call(plan, c, in);

  std::vector<double> times, got;
  {
    Progress progress("timing");
    plan.forward(call.args);  // warm-up (and the run that is checked)
    got = call.result();
    for (int r = 0; r < o.repeat; ++r) {
      const auto t0 = Clock::now();
      plan.forward(call.args);
      call.synchronize();
      times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      progress.update(r + 1, o.repeat);
    }
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  const int64_t elements = c.batch * c.heads * c.length;
  const int64_t streams = 2 + (c.pregate ? 1 : 0) + (c.postgate ? 1 : 0);
  const double bytes = static_cast<double>(elements) * static_cast<double>(streams * dtype_size(c.dtype)) +
                       static_cast<double>(c.heads * c.filter_length * dtype_size(c.filter_dtype));
  std::printf("time: median %s over %d runs (min %s)%s\n", format_ms(median).c_str(), o.repeat,
              format_ms(times.front()).c_str(),
              c.use_spectrum ? " [forward with a precomputed spectrum]"
                             : " [forward with the time-domain filter, transform included]");
  std::printf("throughput: %.2f GB/s of compulsory traffic (%.1f MB), %.1f M output samples/s\n",
              bytes / median * 1e-9, bytes * 1e-6, static_cast<double>(elements) / median * 1e-6);

  double fftw_time = -1;
  if (o.compare_fftw) {
    std::vector<float> uf(in.u.values().begin(), in.u.values().end());
    std::vector<float> kf(in.k.values().begin(), in.k.values().end());
    std::vector<float> yf(uf.size());
    fftw_time = fftw_float_conv_seconds(c.spec(), uf, kf, yf, o.threads > 0 ? o.threads : static_cast<int>(hw),
                                        o.repeat);
    std::printf("fftw float32 r2c/c2r convolution (same shape, ungated, %d threads): median %s (%.2fx ours)\n",
                o.threads > 0 ? o.threads : static_cast<int>(hw), format_ms(fftw_time).c_str(),
                median / fftw_time);
  }

  double rel_err = -1, tol = -1;
  bool pass = true;
  if (o.check && elements > 0) {
    // Check a spread of rows against the float64 oracle, row by row.
    const int64_t rows = c.batch * c.heads;
    const int64_t check = o.check_rows <= 0 ? rows : std::min(rows, o.check_rows);
    std::vector<double> got_rows, ref_rows;
    Progress progress("float64 oracle");
    for (int64_t i = 0; i < check; ++i) {
      const int64_t row = check == rows ? i : (i * rows) / check;
      const int64_t h = row % c.heads;
      ConvSpec one{1, 1, c.length, c.filter_length, c.fft_size};
      auto slice = [&](const HostTensor& t, int64_t r, int64_t len) {
        return std::vector<double>(t.values().begin() + r * len, t.values().begin() + (r + 1) * len);
      };
      static const std::vector<double> kNone;
      const std::vector<double> pre = c.pregate ? slice(in.pre, row, c.length) : kNone;
      const std::vector<double> post = c.postgate ? slice(in.post, row, c.length) : kNone;
      const std::vector<double> ref = fftw_conv(one, slice(in.u, row, c.length),
                                                slice(in.k, h, c.filter_length), pre, post);
      ref_rows.insert(ref_rows.end(), ref.begin(), ref.end());
      got_rows.insert(got_rows.end(), got.begin() + row * c.length, got.begin() + (row + 1) * c.length);
      progress.update(i + 1, check);
    }
    rel_err = relative_l2(got_rows, ref_rows);
    tol = forward_tolerance(info.backend, c.dtype);
    pass = rel_err <= tol;
    std::printf("error: relative L2 vs float64 oracle = %.3e over %lld of %lld rows (tolerance %.1e): %s\n",
                rel_err, static_cast<long long>(check), static_cast<long long>(rows), tol,
                pass ? "PASS" : "FAIL");
  }
  if (o.json) {
    std::printf(
        "{\"op\": \"forward\", \"backend\": \"%s\", \"dtype\": \"%s\", \"gated\": %s, \"fft_size\": %lld, "
        "\"L\": %lld, \"Lk\": %lld, \"B\": %lld, \"H\": %lld, \"time_ms\": %.6f, \"fftw_ms\": %.6f, "
        "\"rel_err\": %.6e}\n",
        to_string(info.backend), to_string(c.dtype), c.pregate && c.postgate ? "true" : "false",
        static_cast<long long>(c.fft_size), static_cast<long long>(c.length),
        static_cast<long long>(c.filter_length), static_cast<long long>(c.batch),
        static_cast<long long>(c.heads), median * 1e3, fftw_time * 1e3, rel_err);
  }
  return pass ? 0 : 1;
}

int info() {
  std::printf("flashfftconv %s (C ABI %d)\n", version_string(), FFC_ABI_VERSION);
  const int devices = cuda_device_count();
  std::printf("CUDA devices: %d\n", devices);
  for (Backend b : {Backend::kCpu, Backend::kCuda}) {
    std::string sizes;
    for (int k = 4; k <= 22; ++k) {
      if (fft_size_supported(b, int64_t{1} << k)) sizes += " " + std::to_string(int64_t{1} << k);
    }
    std::printf("%s backend FFT sizes:%s\n", to_string(b), sizes.empty() ? " (none in this build)" : sizes.c_str());
  }
  std::printf("CPU hardware threads: %u\n", std::max(1u, std::thread::hardware_concurrency()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  try {
    if (!std::strcmp(argv[1], "run")) return run(parse_run(argc, argv));
    if (!std::strcmp(argv[1], "info")) return info();
    usage_error(std::string("unknown command '") + argv[1] + "'");
  } catch (const ffc::Error& e) {
    std::fprintf(stderr, "flashfftconv: error (%s): %s\n", ffc::to_string(e.status()), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flashfftconv: error: %s\n", e.what());
    return 1;
  }
}
