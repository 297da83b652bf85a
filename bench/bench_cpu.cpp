// CPU benchmark: the library's CPU backend against a float32 FFTW convolution on the same threads.
//
//   bench_cpu [--sizes 256,1024,...] [--rows 1,8,64,512,4096,16384] [--threads T] [--repeat R]
//             [--max-elements E] [--out file.jsonl]
//
// For each FFT size N and row count R = B x H (B = 1 for R = 1, else B = 2 and H = R / 2), a circular
// f32 convolution y = conv_N(u, k) with L = Lk = N (the filter transformed once, outside the timing):
//   ours: ffc::Plan (CPU backend, T threads) forward with the cached spectrum;
//   fftw: fftwf r2c of the R rows (one plan_many, FFTW_MEASURE, T threads), the product with the
//         head's spectrum (1/N folded in; OpenMP over rows), c2r back (one plan_many); plans made once.
// Time: median of --repeat calls after one warm-up (wall clock). Configurations with R x N above
// --max-elements are skipped. One JSON line per configuration (op "cpu_forward"): fft_size, B, H,
// threads, dtype, time_ms, fftw_ms, ratio (ours / fftw), rel_err (ours against fftw, relative L2),
// cpu (the model name from /proc/cpuinfo).
#include <fftw3.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ffc/ffc.hpp"

namespace {

struct Options {
  std::vector<int64_t> sizes{256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304};
  std::vector<int64_t> rows{1, 8, 64, 512, 4096, 16384};
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int repeat = 5;
  int64_t max_elements = int64_t{1} << 26;
  std::string out;
};

std::vector<int64_t> parse_list(const std::string& text, const char* name) {
  std::vector<int64_t> values;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1) {
      throw std::invalid_argument(std::string(name) + ": '" + item + "' (rule: positive integers, comma-separated)");
    }
    values.push_back(v);
  }
  return values;
}

int64_t parse_positive(const std::string& text, const char* name) {
  const std::vector<int64_t> v = parse_list(text, name);
  if (v.size() != 1) throw std::invalid_argument(std::string(name) + ": '" + text + "' (rule: one positive integer)");
  return v[0];
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument(a + ": needs a value (see the header of bench/bench_cpu.cpp)");
    const std::string v = argv[++i];
    if (a == "--sizes") o.sizes = parse_list(v, "--sizes");
    else if (a == "--rows") o.rows = parse_list(v, "--rows");
    else if (a == "--threads") o.threads = static_cast<int>(std::min<int64_t>(parse_positive(v, "--threads"), 1024));
    else if (a == "--repeat") o.repeat = static_cast<int>(std::min<int64_t>(parse_positive(v, "--repeat"), 1000));
    else if (a == "--max-elements") o.max_elements = parse_positive(v, "--max-elements");
    else if (a == "--out") o.out = v;
    else throw std::invalid_argument(a + ": unknown option (--sizes, --rows, --threads, --repeat, --max-elements, --out)");
  }
  return o;
}

double median_ms(const std::function<void()>& fn, int repeat) {
  fn();  // warm-up
  std::vector<double> times;
  for (int i = 0; i < repeat; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      std::string name = line.substr(colon + 2);
      name.erase(std::remove(name.begin(), name.end(), '"'), name.end());
      return name;
    }
  }
  return "unknown";
}

// The FFTW f32 convolution with plans made once.
class FftwConv {
 public:
  FftwConv(int64_t n, int64_t rows, int64_t heads, const std::vector<float>& k, int threads)
      : n_(n), rows_(rows), heads_(heads), bins_(n / 2 + 1) {
    in_ = fftwf_alloc_real(static_cast<size_t>(rows * n));
    out_ = fftwf_alloc_real(static_cast<size_t>(rows * n));
    spec_ = fftwf_alloc_complex(static_cast<size_t>(rows * bins_));
    filter_.resize(static_cast<size_t>(heads * bins_));
    fftwf_plan_with_nthreads(threads);
    const int dims[] = {static_cast<int>(n)};
    forward_ = fftwf_plan_many_dft_r2c(1, dims, static_cast<int>(rows), in_, nullptr, 1, static_cast<int>(n), spec_,
                                       nullptr, 1, static_cast<int>(bins_), FFTW_MEASURE);
    inverse_ = fftwf_plan_many_dft_c2r(1, dims, static_cast<int>(rows), spec_, nullptr, 1, static_cast<int>(bins_),
                                       out_, nullptr, 1, static_cast<int>(n), FFTW_MEASURE);
    // The filter's spectrum, 1/N folded in (made once, like the library's transform_filter).
    std::vector<float> kin(static_cast<size_t>(n));
    std::vector<std::complex<float>> kout(static_cast<size_t>(bins_));
    fftwf_plan kp = fftwf_plan_dft_r2c_1d(static_cast<int>(n), kin.data(),
                                          reinterpret_cast<fftwf_complex*>(kout.data()), FFTW_ESTIMATE);
    for (int64_t h = 0; h < heads; ++h) {
      std::copy(k.begin() + h * n, k.begin() + (h + 1) * n, kin.begin());
      fftwf_execute(kp);
      for (int64_t f = 0; f < bins_; ++f) filter_[h * bins_ + f] = kout[f] / static_cast<float>(n);
    }
    fftwf_destroy_plan(kp);
  }
  ~FftwConv() {
    fftwf_destroy_plan(forward_);
    fftwf_destroy_plan(inverse_);
    fftwf_free(in_);
    fftwf_free(out_);
    fftwf_free(spec_);
  }
  FftwConv(const FftwConv&) = delete;
  FftwConv& operator=(const FftwConv&) = delete;

  float* input() { return in_; }
  const float* output() const { return out_; }

  void run(int threads) {
    fftwf_execute(forward_);
    auto* s = reinterpret_cast<std::complex<float>*>(spec_);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows_; ++r) {
      const std::complex<float>* kf = filter_.data() + (r % heads_) * bins_;
      std::complex<float>* row = s + r * bins_;
      for (int64_t f = 0; f < bins_; ++f) row[f] *= kf[f];
    }
    fftwf_execute(inverse_);
  }

 private:
  int64_t n_, rows_, heads_, bins_;
  float* in_ = nullptr;
  float* out_ = nullptr;
  fftwf_complex* spec_ = nullptr;
  std::vector<std::complex<float>> filter_;
  fftwf_plan forward_ = nullptr, inverse_ = nullptr;
};

void run_config(const Options& o, int64_t n, int64_t rows, const std::string& cpu, std::ofstream* out) {
  const int64_t batch = rows == 1 ? 1 : 2, heads = rows / batch;
  std::mt19937 gen(static_cast<unsigned>(n * 31 + rows));
  std::normal_distribution<float> normal;
  std::vector<float> u(static_cast<size_t>(rows * n)), k(static_cast<size_t>(heads * n)), y(u.size());
  for (float& v : u) v = normal(gen);
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t t = 0; t < n; ++t) k[h * n + t] = normal(gen) * std::exp(-8.0f * static_cast<float>(t) / static_cast<float>(n));
  }

  ffc::PlanOptions po;
  po.fft_size = n;
  po.backend = ffc::Backend::kCpu;
  po.num_threads = o.threads;
  const ffc::Plan plan = ffc::Plan::create(po);
  std::vector<unsigned char> spectrum(plan.spectrum_bytes(heads));
  plan.transform_filter(ffc::Tensor::contiguous(k.data(), ffc::DType::kF32, {heads, n}), spectrum.data(),
                        spectrum.size());
  ffc::ForwardArgs args;
  args.u = ffc::Tensor::contiguous(u.data(), ffc::DType::kF32, {batch, heads, n});
  args.y = ffc::Tensor::contiguous(y.data(), ffc::DType::kF32, {batch, heads, n});
  args.spectrum = ffc::FilterSpectrum{spectrum.data(), spectrum.size(), heads};
  std::vector<unsigned char> scratch(plan.workspace_bytes(0));
  args.workspace = scratch.empty() ? nullptr : scratch.data();
  args.workspace_bytes = scratch.size();
  const double ours = median_ms([&] { plan.forward(args); }, o.repeat);

  FftwConv fftw(n, rows, heads, k, o.threads);
  std::copy(u.begin(), u.end(), fftw.input());
  const double theirs = median_ms([&] { fftw.run(o.threads); }, o.repeat);

  double num = 0, den = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double d = static_cast<double>(y[i]) - fftw.output()[i];
    num += d * d;
    den += static_cast<double>(fftw.output()[i]) * fftw.output()[i];
  }
  char line[512];
  std::snprintf(line, sizeof line,
                "{\"op\": \"cpu_forward\", \"fft_size\": %lld, \"B\": %lld, \"H\": %lld, \"threads\": %d, "
                "\"dtype\": \"f32\", \"time_ms\": %.4f, \"fftw_ms\": %.4f, \"ratio\": %.3f, \"rel_err\": %.2e, "
                "\"cpu\": \"%s\"}",
                static_cast<long long>(n), static_cast<long long>(batch), static_cast<long long>(heads), o.threads,
                ours, theirs, ours / theirs, std::sqrt(num / (den > 0 ? den : 1)), cpu.c_str());
  std::puts(line);
  std::fflush(stdout);
  if (out) *out << line << "\n" << std::flush;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    if (fftwf_init_threads() == 0) throw std::runtime_error("fftwf_init_threads failed");
    std::ofstream out;
    if (!o.out.empty()) {
      out.open(o.out, std::ios::app);
      if (!out) throw std::runtime_error("--out: cannot open '" + o.out + "' for appending");
    }
    const std::string cpu = cpu_model();
    for (int64_t n : o.sizes) {
      for (int64_t rows : o.rows) {
        if (rows * n > o.max_elements) continue;
        run_config(o, n, rows, cpu, o.out.empty() ? nullptr : &out);
      }
    }
    fftwf_cleanup_threads();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cpu: %s\n", e.what());
    return 2;
  }
}
