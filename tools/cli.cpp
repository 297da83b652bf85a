// flashfftconv: the command-line program (the project's main job).
//
//   flashfftconv run --fft-size 4096 --batch 8 --heads 64 --length 2048 --dtype bf16 --gated
//   flashfftconv info
//
// `run` makes random inputs, runs the convolution on the best backend present (or the one asked
// for), times it, checks it against the float64 oracle (FFTW, or the reference's own double FFT without it) and prints time, throughput and
// error. The exit status is 0 only if the error is within the dtype's tolerance (see kUsage).
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "conv_case.hpp"
#include "device_memory.hpp"
#include "ffc/ffc.h"
#include "ffc/ffc.hpp"

namespace {

using namespace ffc;
using namespace ffc::reference;
using Clock = std::chrono::steady_clock;

// Exit statuses, as the help states them.
constexpr int kExitPass = 0, kExitFail = 1, kExitUsage = 2, kExitInputRange = 3;

const char* kUsage = R"(flashfftconv - fast depthwise long convolutions through FFTs

usage:
  flashfftconv run [options]    run, time and check one convolution on random inputs
  flashfftconv conv1d [options] run, time and check a short depthwise convolution (conv1d --help)
  flashfftconv info             version, backends, devices and supported FFT sizes
  flashfftconv --help

run computes y = postgate * conv_N(pregate * u, k)[..., :L] with u, gates, y of shape (B, H, L)
and k of shape (H, Lk): causal when L + Lk - 1 <= N (the default, L = N/2), circular when L = N.

run options (integers are whole base-10 numbers; anything else is a usage error):
  --fft-size N        FFT size, a power of two from 16 to 4194304 (default 4096)
  --batch B           batch size, >= 1 (default 8)
  --heads H           heads / channels, >= 1 (default 64)
  --length L          input length, 1 <= L <= N (default N/2: causal)
  --filter-length Lk  filter length, 1 <= Lk <= N (default L)
  --dtype T           f32, f16 or bf16 for u, gates and y (default bf16)
  --filter-dtype T    dtype of k (default f32)
  --gated             both pregate and postgate (or --pregate / --postgate alone)
  --backend B         auto, cpu or cuda (default auto: CUDA if a GPU is present)
  --threads T         CPU worker threads, 0 to 1024 (default 0: FFC_NUM_THREADS, else all
                      hardware threads)
  --repeat R          timed runs, 1 to 1000000; the median is reported (default 5)
  --spectrum          transform the filter once and time the forward with the spectrum
                      (default: time the call with the time-domain filter, which includes it)
  --check-rows R      how many of the B*H rows to check against the float64 oracle, spread evenly
                      over them; 0 checks every row (default 256)
  --no-check          skip the oracle check
  --compare-fftw      also time a plain float32 FFTW convolution of the same shape (CPU)
  --input D           input distribution: randn, dynamic_range, uniform (default randn)
  --seed S            random seed, >= 0 (default 1)
  --json              also print the results as one JSON line (null for what was not measured)

exit status:
  0  the checked rows are within the dtype's tolerance (or --no-check)
  1  the error exceeds the tolerance, or a runtime error (out of memory, device error)
  2  usage error: a bad option or value, or a problem too large for this machine's memory
  3  the inputs overflow the output dtype: the exact output is beyond its largest value
)";

constexpr int64_t kNoMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMaxThreads = 1024;  // PlanOptions::num_threads
constexpr int64_t kMaxRepeat = 1000000;

struct Options {
  int64_t fft_size = 4096, batch = 8, heads = 64;
  std::optional<int64_t> length, filter_length;  // resolved by parse_run
  DType dtype = DType::kBF16, filter_dtype = DType::kF32;
  bool pregate = false, postgate = false;
  Backend backend = Backend::kAuto;
  int threads = 0, repeat = 5;
  bool spectrum = false, check = true, compare_fftw = false, json = false;
  int64_t check_rows = 256;  // 0: every row
  Distribution input = Distribution::kRandn;
  uint64_t seed = 1;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "flashfftconv: %s\n(see flashfftconv --help)\n", message.c_str());
  std::exit(kExitUsage);
}

// "<flag>: <what> (rule: <rule>)", the form of every bad-value message.
[[noreturn]] void bad_value(const std::string& flag, const std::string& what, const std::string& rule) {
  usage_error(flag + ": " + what + " (rule: " + rule + ")");
}

std::string int_rule(int64_t lo, int64_t hi) {
  if (hi == kNoMax) return "an integer >= " + std::to_string(lo);
  return "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
}

// The parser of every numeric option: the whole text must be a base-10 64-bit integer (no spaces,
// '+' or trailing characters) in [lo, hi]; anything else is a usage error naming the option, the
// value and the rule (`rule`, or the range).
int64_t parse_int(const std::string& flag, const std::string& text, int64_t lo, int64_t hi,
                  const std::string& rule = {}) {
  const std::string why = rule.empty() ? int_rule(lo, hi) : rule;
  const char* end = text.data() + text.size();
  int64_t v = 0;
  const auto [stop, ec] = std::from_chars(text.data(), end, v);
  if (ec == std::errc::invalid_argument || stop != end) bad_value(flag, "'" + text + "' is not an integer", why);
  if (ec == std::errc::result_out_of_range || v < lo || v > hi) bad_value(flag, text, why);
  return v;
}

DType parse_dtype(const std::string& flag, const std::string& text) {
  if (text == "f32" || text == "fp32" || text == "float32") return DType::kF32;
  if (text == "f16" || text == "fp16" || text == "float16") return DType::kF16;
  if (text == "bf16" || text == "bfloat16") return DType::kBF16;
  usage_error(flag + ": '" + text + "' is not one of f32, f16, bf16");
}

Backend parse_backend(const std::string& flag, const std::string& text) {
  if (text == "auto") return Backend::kAuto;
  if (text == "cpu") return Backend::kCpu;
  if (text == "cuda") return Backend::kCuda;
  usage_error(flag + ": '" + text + "' is not one of auto, cpu, cuda");
}

int64_t parse_fft_size(const std::string& flag, const std::string& text) {
  const std::string rule = "a power of two from 16 to 4194304";
  const int64_t n = parse_int(flag, text, 16, 4194304, rule);
  if (!std::has_single_bit(static_cast<uint64_t>(n))) bad_value(flag, text, rule);
  return n;
}

// L and Lk against N, once every option is read (--fft-size may come after them).
void resolve_lengths(Options& o) {
  const std::string n = std::to_string(o.fft_size);
  o.length = o.length.value_or(o.fft_size / 2);
  o.filter_length = o.filter_length.value_or(*o.length);
  if (*o.length > o.fft_size) {
    bad_value("--length", std::to_string(*o.length) + " exceeds --fft-size " + n, "1 <= L <= N");
  }
  if (*o.filter_length > o.fft_size) {
    bad_value("--filter-length", std::to_string(*o.filter_length) + " exceeds --fft-size " + n, "1 <= Lk <= N");
  }
}

Options parse_run(int argc, char** argv) {
  Options o;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--fft-size") {
      o.fft_size = parse_fft_size(a, value());
    } else if (a == "--batch") {
      o.batch = parse_int(a, value(), 1, kNoMax);
    } else if (a == "--heads") {
      o.heads = parse_int(a, value(), 1, kNoMax);
    } else if (a == "--length") {
      o.length = parse_int(a, value(), 1, kNoMax);
    } else if (a == "--filter-length") {
      o.filter_length = parse_int(a, value(), 1, kNoMax);
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
      o.backend = parse_backend(a, value());
    } else if (a == "--threads") {
      o.threads = static_cast<int>(
          parse_int(a, value(), 0, kMaxThreads, int_rule(0, kMaxThreads) + "; 0 for the default"));
    } else if (a == "--repeat") {
      o.repeat = static_cast<int>(parse_int(a, value(), 1, kMaxRepeat));
    } else if (a == "--spectrum") {
      o.spectrum = true;
    } else if (a == "--check-rows") {
      o.check_rows = parse_int(a, value(), 0, kNoMax, int_rule(0, kNoMax) + "; 0 checks every row");
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
      o.seed = static_cast<uint64_t>(parse_int(a, value(), 0, kNoMax));
    } else if (a == "--json") {
      o.json = true;
    } else {
      usage_error("unknown option '" + a + "'");
    }
  }
  resolve_lengths(o);
  return o;
}

// ---- memory ------------------------------------------------------------------------------------

// A sum of products of sizes in 64 bits that records overflow instead of wrapping.
struct ByteCount {
  uint64_t total = 0;
  bool overflow = false;
  void add(std::initializer_list<uint64_t> factors) {
    uint64_t product = 1;
    for (uint64_t f : factors) overflow |= __builtin_mul_overflow(product, f, &product);
    overflow |= __builtin_add_overflow(total, product, &total);
  }
};

int64_t rows_to_check(const Options& o) {
  int64_t rows = 0;
  if (__builtin_mul_overflow(o.batch, o.heads, &rows)) rows = kNoMax;  // refused by the size check
  return o.check_rows == 0 ? rows : std::min(rows, o.check_rows);
}

// The host memory a run holds at its peak (a lower bound: the library's and FFTW's own scratch is
// left out): u, y and the gates as dtype storage plus their values in double, the CPU backend's
// copies of them and its workspace, y read back in double, the oracle's rows and the FFTW copies.
ByteCount host_bytes_needed(const Options& o, const Plan& plan) {
  const uint64_t b = o.batch, h = o.heads, l = *o.length, lk = *o.filter_length;
  const uint64_t io = dtype_size(o.dtype), fk = dtype_size(o.filter_dtype);
  const uint64_t tensors = 2 + (o.pregate ? 1 : 0) + (o.postgate ? 1 : 0);  // each (B, H, L)
  ByteCount n;
  n.add({tensors, b, h, l, io + sizeof(double)});
  n.add({h, lk, fk + sizeof(double)});
  n.add({b, h, l, sizeof(double)});
  if (plan.info().backend == Backend::kCpu) {
    n.add({tensors, b, h, l, io});
    n.add({h, lk, fk});
    try {
      n.add({o.spectrum ? plan.spectrum_bytes(o.heads) + plan.workspace_bytes(0) : plan.workspace_bytes(o.heads)});
    } catch (const ffc::Error&) {
      n.overflow = true;  // the library's own size check: beyond 2^63 - 1 bytes
    }
  }
  if (o.check) n.add({2, static_cast<uint64_t>(rows_to_check(o)), l, sizeof(double)});
  if (o.compare_fftw) {
    n.add({2, b, h, l, sizeof(float)});
    n.add({h, lk, sizeof(float)});
    n.add({h, static_cast<uint64_t>(o.fft_size / 2 + 1), 2 * sizeof(float)});
  }
  return n;
}

// Host memory a new allocation can get now: MemAvailable (Linux), else the physical memory; 0 when
// unknown.
uint64_t available_host_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  while (meminfo >> key >> kib) {
    if (key == "MemAvailable:") return kib * 1024;
    meminfo.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

std::string gib(uint64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

// A usage error, before anything is allocated, when the problem's byte count overflows 64 bits or
// exceeds the host memory available. Returns the bytes needed.
uint64_t check_fits_in_memory(const Options& o, const Plan& plan) {
  const std::string shape = "--batch " + std::to_string(o.batch) + " --heads " + std::to_string(o.heads) +
                            " --length " + std::to_string(*o.length);
  const ByteCount need = host_bytes_needed(o, plan);
  if (need.overflow) usage_error(shape + ": the problem's size in bytes overflows 64 bits");
  const uint64_t available = available_host_bytes();
  if (available > 0 && need.total > available) {
    usage_error(shape + ": the problem needs " + gib(need.total) + " of host memory, more than the " +
                gib(available) + " available");
  }
  return need.total;
}

// Runs `allocate`, turning std::bad_alloc into an error that says what was being allocated.
template <class F>
auto allocating(const std::string& what, F&& allocate) {
  try {
    return allocate();
  } catch (const std::bad_alloc&) {
    throw std::runtime_error("out of host memory while allocating " + what);
  }
}

// ---- output ------------------------------------------------------------------------------------

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

// A JSON number, or null for a value not measured or not finite (JSON has no inf or NaN).
std::string json_number(std::optional<double> v, const char* format) {
  if (!v || !std::isfinite(*v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, *v);
  return buf;
}

// ---- the oracle check --------------------------------------------------------------------------

enum class Outcome { kNotChecked, kPass, kFail, kInputOverflow };

struct CheckResult {
  Outcome outcome = Outcome::kNotChecked;
  std::optional<double> rel_err;
};

// The largest finite value of a dtype of u and y.
double dtype_max(DType dtype) {
  switch (dtype) {
    case DType::kF32: return std::numeric_limits<float>::max();
    case DType::kF16: return 65504.0;
    case DType::kBF16: return 3.3895313892515355e38;
  }
  return 0.0;
}

// The largest |value| of the exact output, if some value rounds to infinity in the output dtype.
std::optional<double> overflow_peak(const std::vector<double>& ref, DType dtype) {
  double peak = 0.0;
  for (double r : ref) peak = std::max(peak, std::fabs(r));
  if (std::isinf(round_to(dtype, peak))) return peak;
  return std::nullopt;
}

// Checks rows_to_check(o) rows, spread evenly over the B * H rows, against the float64 oracle.
CheckResult check_against_oracle(const Options& o, const ConvCase& c, const ConvInputs& in,
                                 const std::vector<double>& got, Backend backend) {
  const int64_t rows = c.batch * c.heads;
  const int64_t check = rows_to_check(o);
  std::vector<double> got_rows, ref_rows;
  {
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
  }
  if (const auto peak = overflow_peak(ref_rows, c.dtype)) {
    std::fprintf(stderr,
                 "flashfftconv: inputs overflow %s (--dtype %s): the exact output reaches %.4g > %.6g, the "
                 "largest %s; scale the inputs (e.g. --input uniform, shorter --length) or use a wider --dtype\n",
                 to_string(c.dtype), to_string(c.dtype), *peak, dtype_max(c.dtype), to_string(c.dtype));
    std::printf("error: not measured: the exact output is out of %s range (exit status %d)\n",
                to_string(c.dtype), kExitInputRange);
    return {Outcome::kInputOverflow, std::nullopt};
  }
  const double rel_err = relative_l2(got_rows, ref_rows);
  const double tol = forward_tolerance(backend, c.dtype);
  const bool pass = rel_err <= tol;
  std::printf("error: relative L2 vs float64 oracle = %.3e over %lld of %lld rows (tolerance %.1e): %s\n",
              rel_err, static_cast<long long>(check), static_cast<long long>(rows), tol, pass ? "PASS" : "FAIL");
  return {pass ? Outcome::kPass : Outcome::kFail, rel_err};
}

const char* outcome_json(Outcome outcome) {
  switch (outcome) {
    case Outcome::kNotChecked: return "null";
    case Outcome::kPass: return "\"pass\"";
    case Outcome::kFail: return "\"fail\"";
    case Outcome::kInputOverflow: return "\"input_overflow\"";
  }
  return "null";
}

int exit_status(Outcome outcome) {
  switch (outcome) {
    case Outcome::kNotChecked:
    case Outcome::kPass: return kExitPass;
    case Outcome::kFail: return kExitFail;
    case Outcome::kInputOverflow: return kExitInputRange;
  }
  return kExitFail;
}

// ---- run ---------------------------------------------------------------------------------------

ConvCase conv_case(const Options& o) {
  ConvCase c;
  c.fft_size = o.fft_size;
  c.batch = o.batch;
  c.heads = o.heads;
  c.length = *o.length;
  c.filter_length = *o.filter_length;
  c.dtype = o.dtype;
  c.filter_dtype = o.filter_dtype;
  c.pregate = o.pregate;
  c.postgate = o.postgate;
  c.input = o.input;
  c.use_spectrum = o.spectrum;
  return c;
}

void print_header(const ConvCase& c, const PlanInfo& info, int threads) {
  std::string radices;
  for (size_t i = 0; i < info.radices.size(); ++i) radices += (i ? "x" : "") + std::to_string(info.radices[i]);
  std::printf("flashfftconv %s | backend %s", version_string(), to_string(info.backend));
  if (info.backend == Backend::kCpu) std::printf(" (%d threads)", threads);
  else std::printf(" (device %d)", info.device);
  std::printf(" | N=%lld = %s\n", static_cast<long long>(c.fft_size), radices.c_str());
  const bool causal = c.length + c.filter_length - 1 <= c.fft_size;
  std::printf("problem: B=%lld H=%lld L=%lld Lk=%lld dtype=%s k=%s gates=%s mode=%s\n",
              static_cast<long long>(c.batch), static_cast<long long>(c.heads),
              static_cast<long long>(c.length), static_cast<long long>(c.filter_length),
              to_string(c.dtype), to_string(c.filter_dtype),
              c.pregate && c.postgate ? "pre+post" : c.pregate ? "pre" : c.postgate ? "post" : "none",
              causal ? "causal (linear)" : c.length == c.fft_size ? "circular" : "partially wrapped");
  std::fflush(stdout);
}

int run(const Options& o) {
  PlanOptions po;
  po.fft_size = o.fft_size;
  po.backend = o.backend;
  po.num_threads = o.threads;
  Plan plan = Plan::create(po);
  const PlanInfo info = plan.info();
  const uint64_t need = check_fits_in_memory(o, plan);
  const ConvCase c = conv_case(o);
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  print_header(c, info, threads);

  // Inputs, uploaded once; the timed region is the library call only.
  const std::string what = "the inputs and outputs (" + gib(need) + " estimated for the run)";
  const ConvInputs in = allocating(what, [&] { return ConvInputs::make(c, o.seed); });
  std::optional<ForwardCall> call;
  allocating(what, [&] { call.emplace(plan, c, in); });

  std::vector<double> times, got;
  {
    Progress progress("timing");
    plan.forward(call->args);  // warm-up (and the run that is checked)
    got = allocating("y read back in float64", [&] { return call->result(); });
    for (int r = 0; r < o.repeat; ++r) {
      const auto t0 = Clock::now();
      plan.forward(call->args);
      call->synchronize();
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

  std::optional<double> fftw_time;
  if (o.compare_fftw && !fftw_available()) {
    std::printf("fftw float32 comparison: not available (this build has no FFTW; libfftw3-dev)\n");
  } else if (o.compare_fftw) {
    fftw_time = allocating("the float32 FFTW comparison", [&] {
      std::vector<float> uf(in.u.values().begin(), in.u.values().end());
      std::vector<float> kf(in.k.values().begin(), in.k.values().end());
      std::vector<float> yf(uf.size());
      return fftw_float_conv_seconds(c.spec(), uf, kf, yf, threads, o.repeat);
    });
    std::printf("fftw float32 r2c/c2r convolution (same shape, ungated, %d threads): median %s (%.2fx ours)\n",
                threads, format_ms(*fftw_time).c_str(), median / *fftw_time);
  }

  CheckResult check;
  if (o.check) {
    check = allocating("the oracle check's rows", [&] { return check_against_oracle(o, c, in, got, info.backend); });
  }
  if (o.json) {
    std::printf(
        "{\"op\": \"forward\", \"backend\": \"%s\", \"dtype\": \"%s\", \"gated\": %s, \"fft_size\": %lld, "
        "\"L\": %lld, \"Lk\": %lld, \"B\": %lld, \"H\": %lld, \"time_ms\": %s, \"fftw_ms\": %s, "
        "\"rel_err\": %s, \"check\": %s}\n",
        to_string(info.backend), to_string(c.dtype), c.pregate && c.postgate ? "true" : "false",
        static_cast<long long>(c.fft_size), static_cast<long long>(c.length),
        static_cast<long long>(c.filter_length), static_cast<long long>(c.batch),
        static_cast<long long>(c.heads), json_number(median * 1e3, "%.6f").c_str(),
        json_number(fftw_time ? std::optional<double>(*fftw_time * 1e3) : std::nullopt, "%.6f").c_str(),
        json_number(check.rel_err, "%.6e").c_str(), outcome_json(check.outcome));
  }
  return exit_status(check.outcome);
}

// ---- conv1d: the short depthwise convolution ---------------------------------------------------

const char* kConv1dUsage = R"(flashfftconv conv1d - run, time and check one short depthwise convolution

  y[b, c, t] = act(bias[c] + sum_{j < K} w[c / (H / G), j] * x[b, c, t + j - P])

on random inputs (x, dy standard normal, w normal / sqrt(K), bias normal), timed (median) and
checked against a float64 direct sum (relative L2 over up to 64 rows).

options:
  --batch B --channels H --length L   shape (defaults 8, 64, 4096)
  --kernel-size K                     1 to 1024 (default 4)
  --groups G                          filters, H a multiple of G (default H)
  --causal | --padding P              causal (default) or P zeros on each side
  --layout bhl|blh                    (B, H, L) or (B, L, H) (default bhl)
  --dtype T --weight-dtype T          f32, f16 or bf16 (defaults bf16, f32)
  --bias --silu                       add a bias; apply SiLU
  --backward                          also time the backward (dx, dweight, dbias)
  --backend B --threads T --repeat R --seed S --json   as for run
)";

struct Conv1dOptionsCli {
  int64_t batch = 8, channels = 64, length = 4096, kernel_size = 4, groups = 0, padding = 0;
  bool causal = true, bias = false, silu = false, backward = false, json = false;
  Conv1dLayout layout = Conv1dLayout::kBHL;
  DType dtype = DType::kBF16, weight_dtype = DType::kF32;
  Backend backend = Backend::kAuto;
  int threads = 0, repeat = 20;
  uint64_t seed = 1;
};

Conv1dOptionsCli parse_conv1d(int argc, char** argv) {
  Conv1dOptionsCli o;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kConv1dUsage, stdout);
      std::exit(0);
    } else if (a == "--batch") {
      o.batch = parse_int(a, value(), 1, kNoMax);
    } else if (a == "--channels") {
      o.channels = parse_int(a, value(), 1, kNoMax);
    } else if (a == "--length") {
      o.length = parse_int(a, value(), 1, kNoMax);
    } else if (a == "--kernel-size") {
      o.kernel_size = parse_int(a, value(), 1, kConv1dMaxKernelSize);
    } else if (a == "--groups") {
      o.groups = parse_int(a, value(), 1, kNoMax);
    } else if (a == "--padding") {
      o.padding = parse_int(a, value(), 0, kConv1dMaxKernelSize);
      o.causal = false;
    } else if (a == "--causal") {
      o.causal = true;
    } else if (a == "--layout") {
      const std::string l = value();
      if (l == "bhl") o.layout = Conv1dLayout::kBHL;
      else if (l == "blh") o.layout = Conv1dLayout::kBLH;
      else usage_error("--layout: '" + l + "' is not one of bhl, blh");
    } else if (a == "--dtype") {
      o.dtype = parse_dtype(a, value());
    } else if (a == "--weight-dtype") {
      o.weight_dtype = parse_dtype(a, value());
    } else if (a == "--bias") {
      o.bias = true;
    } else if (a == "--silu") {
      o.silu = true;
    } else if (a == "--backward") {
      o.backward = true;
    } else if (a == "--backend") {
      o.backend = parse_backend(a, value());
    } else if (a == "--threads") {
      o.threads = static_cast<int>(parse_int(a, value(), 0, kMaxThreads));
    } else if (a == "--repeat") {
      o.repeat = static_cast<int>(parse_int(a, value(), 1, kMaxRepeat));
    } else if (a == "--seed") {
      o.seed = static_cast<uint64_t>(parse_int(a, value(), 0, kNoMax));
    } else if (a == "--json") {
      o.json = true;
    } else {
      usage_error("unknown option '" + a + "'");
    }
  }
  if (o.groups == 0) o.groups = o.channels;
  return o;
}

template <typename Call>
double median_seconds(int repeat, const MemorySpace& space, Call&& call) {
  call();  // warm-up
  space.synchronize();
  std::vector<double> times;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = Clock::now();
    call();
    space.synchronize();
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Relative L2 error of y against a float64 direct sum over up to 64 rows spread evenly.
double conv1d_rel_err(const Conv1dOptionsCli& o, const Conv1dOptions& opt, const HostTensor& x, const HostTensor& w,
                      const HostTensor& bias, const std::vector<double>& y) {
  const int64_t H = o.channels, L = o.length, K = o.kernel_size;
  const int64_t Lo = conv1d_output_length(L, K, opt), P = o.causal ? K - 1 : o.padding, per_group = H / o.groups;
  const bool bhl = o.layout == Conv1dLayout::kBHL;
  auto at = [&](int64_t b, int64_t c, int64_t t, int64_t len) { return bhl ? (b * H + c) * len + t : (b * len + t) * H + c; };
  const int64_t rows = o.batch * H, step = std::max<int64_t>(1, rows / 64);
  double err = 0, norm = 0;
  for (int64_t row = 0; row < rows; row += step) {
    const int64_t b = row / H, c = row % H;
    for (int64_t t = 0; t < Lo; ++t) {
      double z = o.bias ? bias.value(c) : 0.0;
      for (int64_t j = 0; j < K; ++j) {
        const int64_t s = t + j - P;
        if (s >= 0 && s < L) z += w.value((c / per_group) * K + j) * x.value(at(b, c, s, L));
      }
      if (o.silu) z = z / (1 + std::exp(-z));
      const double d = y[static_cast<size_t>(at(b, c, t, Lo))] - z;
      err += d * d;
      norm += z * z;
    }
  }
  return norm > 0 ? std::sqrt(err / norm) : std::sqrt(err);
}

int conv1d(const Conv1dOptionsCli& o) {
  Conv1dPlanOptions po;
  po.backend = o.backend;
  po.num_threads = o.threads;
  const Conv1dPlan plan = Conv1dPlan::create(po);
  const Conv1dPlanInfo info = plan.info();
  const MemorySpace space(info.backend == Backend::kCuda ? std::max(info.device, 0) : -1);
  Conv1dOptions opt;
  opt.causal = o.causal;
  opt.padding = o.causal ? 0 : o.padding;
  opt.layout = o.layout;
  opt.activation = o.silu ? Activation::kSilu : Activation::kNone;
  const int64_t Lo = conv1d_output_length(o.length, o.kernel_size, opt);
  if (Lo < 1) bad_value("--length", std::to_string(o.length), "L + 2 * padding >= K");
  auto shape = [&](int64_t len) -> std::vector<int64_t> {
    return o.layout == Conv1dLayout::kBHL ? std::vector<int64_t>{o.batch, o.channels, len}
                                          : std::vector<int64_t>{o.batch, len, o.channels};
  };
  std::mt19937_64 rng(o.seed);
  HostTensor x(o.dtype, shape(o.length)), w(o.weight_dtype, {o.groups, o.kernel_size}), bias(o.weight_dtype, {o.channels});
  HostTensor y(o.dtype, shape(Lo)), dy(o.dtype, shape(Lo)), dx(o.dtype, shape(o.length));
  HostTensor dw(DType::kF32, {o.groups, o.kernel_size}), db(DType::kF32, {o.channels});
  x.fill(Distribution::kRandn, rng);
  w.fill(Distribution::kRandn, rng, 1.0 / std::sqrt(static_cast<double>(o.kernel_size)));
  bias.fill(Distribution::kRandn, rng);
  dy.fill(Distribution::kRandn, rng);
  const Buffer x_d = space.upload(x), w_d = space.upload(w), b_d = space.upload(bias), dy_d = space.upload(dy);
  Buffer y_d = space.upload(y), dx_d = space.upload(dx), dw_d = space.upload(dw), db_d = space.upload(db);

  Conv1dForwardArgs f;
  f.x = x_d.view(x);
  f.weight = w_d.view(w);
  if (o.bias) f.bias = b_d.view(bias);
  f.y = y_d.view(y);
  f.options = opt;
  std::printf("conv1d: B = %lld, H = %lld, L = %lld, K = %lld, G = %lld, %s, %s, x %s, w %s%s%s on %s\n",
              static_cast<long long>(o.batch), static_cast<long long>(o.channels), static_cast<long long>(o.length),
              static_cast<long long>(o.kernel_size), static_cast<long long>(o.groups),
              o.causal ? "causal" : ("padding " + std::to_string(o.padding)).c_str(), to_string(o.layout),
              to_string(o.dtype), to_string(o.weight_dtype), o.bias ? ", bias" : "", o.silu ? ", silu" : "",
              to_string(info.backend));
  const double fwd = median_seconds(o.repeat, space, [&] { plan.forward(f); });
  y_d.download(y);
  const double rel_err = conv1d_rel_err(o, opt, x, w, bias, y.read_back());
  const double elem = static_cast<double>(dtype_size(o.dtype));
  const double fwd_bytes = elem * static_cast<double>(o.batch * o.channels) * static_cast<double>(o.length + Lo);
  std::printf("forward: median %s over %d runs, %.1f GB/s of compulsory traffic\n", format_ms(fwd).c_str(), o.repeat,
              fwd_bytes / fwd * 1e-9);
  const double tol = unit_roundoff(o.dtype) + static_cast<double>(o.kernel_size + 3) * 0x1p-24;
  std::printf("error: relative L2 vs float64 = %.3e (tolerance %.1e): %s\n", rel_err, tol, rel_err <= tol ? "PASS" : "FAIL");
  std::optional<double> bwd;
  if (o.backward) {
    Conv1dBackwardArgs a;
    a.dy = dy_d.view(dy);
    a.x = f.x;
    a.weight = f.weight;
    a.bias = f.bias;
    a.dx = dx_d.view(dx);
    a.dweight = dw_d.view(dw);
    a.dbias = db_d.view(db);
    a.options = opt;
    const std::size_t bytes = plan.backward_workspace_bytes(a);
    const Buffer workspace = space.allocate(bytes);
    a.workspace = workspace.data();
    a.workspace_bytes = bytes;
    bwd = median_seconds(o.repeat, space, [&] { plan.backward(a); });
    std::printf("backward (dx, dweight, dbias): median %s over %d runs\n", format_ms(*bwd).c_str(), o.repeat);
  }
  if (o.json) {
    std::printf("{\"op\": \"conv1d\", \"backend\": \"%s\", \"kernel_size\": %lld, \"layout\": \"%s\", \"groups\": %lld, "
                "\"causal\": %s, \"dtype\": \"%s\", \"weight_dtype\": \"%s\", \"B\": %lld, \"H\": %lld, \"L\": %lld, "
                "\"forward_ms\": %s, \"backward_ms\": %s, \"rel_err\": %s}\n",
                to_string(info.backend), static_cast<long long>(o.kernel_size), to_string(o.layout),
                static_cast<long long>(o.groups), o.causal ? "true" : "false", to_string(o.dtype),
                to_string(o.weight_dtype), static_cast<long long>(o.batch), static_cast<long long>(o.channels),
                static_cast<long long>(o.length), json_number(fwd * 1e3, "%.6f").c_str(),
                json_number(bwd ? std::optional<double>(*bwd * 1e3) : std::nullopt, "%.6f").c_str(),
                json_number(rel_err, "%.6e").c_str());
  }
  return rel_err <= tol ? kExitPass : kExitFail;
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
    return argc < 2 ? kExitUsage : kExitPass;
  }
  try {
    if (!std::strcmp(argv[1], "run")) return run(parse_run(argc, argv));
    if (!std::strcmp(argv[1], "info")) return info();
    if (!std::strcmp(argv[1], "conv1d")) return conv1d(parse_conv1d(argc, argv));
    usage_error(std::string("unknown command '") + argv[1] + "'");
  } catch (const ffc::Error& e) {
    std::fprintf(stderr, "flashfftconv: error (%s): %s\n", ffc::to_string(e.status()), e.what());
    return kExitFail;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "flashfftconv: error: out of host memory\n");
    return kExitFail;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flashfftconv: error: %s\n", e.what());
    return kExitFail;
  }
}
