// CPU backend: the real fallback on machines without a GPU, multithreaded, fp32 inside.
//
// Data flow of one forward work item (head h, batch rows b0 = 2p and b1 = 2p + 1):
//   z[n] = pre*u[b0, h, n] + i pre*u[b1, h, n]   for n < L, 0 for L <= n < N  (implicit padding)
//   Z = FFT_N(z)                                  (Monarch stages, digit-reversed order)
//   Z *= K_h / N                                  (the filter spectrum, stored in the same order)
//   z = IFFT_N(Z)                                 (stages backwards, natural order)
//   y[b0, h, t] = post * Re z[t], y[b1, h, t] = post * Im z[t]   for t < L
// Two real rows share one complex FFT: the filter is real, so its spectrum is Hermitian and the
// real and imaginary parts of z never mix (conv(u0 + i u1, k) = conv(u0, k) + i conv(u1, k)).
//
// Filter spectra: [H][2][N] floats (real plane, imaginary plane) in position order, scaled by 1/N,
// computed in double precision.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/backend.hpp"
#include "core/errors.hpp"
#include "core/half.hpp"
#include "cpu/fft_engine.hpp"
#include "cpu/thread_pool.hpp"

namespace ffc::detail {
namespace {

// Reads n elements of a dtype at element offset `offset` into floats.
void load_row(const void* base, DType dtype, int64_t offset, int64_t n, float* out) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(out, static_cast<const float*>(base) + offset, sizeof(float) * n);
      break;
    case DType::kF16: {
      const uint16_t* p = static_cast<const uint16_t*>(base) + offset;
      for (int64_t i = 0; i < n; ++i) out[i] = core::half_to_float(p[i]);
      break;
    }
    case DType::kBF16: {
      const uint16_t* p = static_cast<const uint16_t*>(base) + offset;
      for (int64_t i = 0; i < n; ++i) out[i] = core::bf16_to_float(p[i]);
      break;
    }
  }
}

void store_row(void* base, DType dtype, int64_t offset, int64_t n, const float* in) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(static_cast<float*>(base) + offset, in, sizeof(float) * n);
      break;
    case DType::kF16: {
      uint16_t* p = static_cast<uint16_t*>(base) + offset;
      for (int64_t i = 0; i < n; ++i) p[i] = core::float_to_half(in[i]);
      break;
    }
    case DType::kBF16: {
      uint16_t* p = static_cast<uint16_t*>(base) + offset;
      for (int64_t i = 0; i < n; ++i) p[i] = core::float_to_bf16(in[i]);
      break;
    }
  }
}

// One transform of an engine, either on the calling thread (pool == nullptr) or with each stage's
// column groups spread over the pool (used when there are fewer work items than threads).
template <typename T>
void transform(const cpu::FftEngine<T>& engine, T* re, T* im, bool inverse, cpu::ThreadPool* pool) {
  if (pool == nullptr) {
    inverse ? engine.inverse(re, im) : engine.forward(re, im);
    return;
  }
  const size_t stages = engine.num_stages();
  for (size_t i = 0; i < stages; ++i) {
    const size_t s = inverse ? stages - 1 - i : i;
    const int64_t groups = engine.groups(s);
    const int64_t chunks = std::min<int64_t>(groups, 4 * static_cast<int64_t>(pool->size()));
    pool->parallel_for(chunks, [&](int64_t c, int) {
      engine.run_stage(s, inverse, re, im, groups * c / chunks, groups * (c + 1) / chunks);
    });
  }
}

// Per-worker buffers, grown on first use by their own worker only.
struct Scratch {
  std::vector<float> re, im, gate;
  std::vector<double> dre, dim;
};

class CpuBackend final : public BackendImpl {
 public:
  CpuBackend(const core::Factorization& factorization, int num_threads)
      : n_(factorization.size()),
        engine_(factorization),
        engine_double_(factorization),
        pool_(num_threads > 0 ? num_threads
                              : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))),
        scratch_(static_cast<size_t>(pool_.size())) {}

  Backend kind() const override { return Backend::kCpu; }
  int device() const override { return -1; }

  std::size_t spectrum_bytes(int64_t heads) const override {
    return static_cast<std::size_t>(heads) * 2 * static_cast<std::size_t>(n_) * sizeof(float);
  }
  std::size_t workspace_bytes(int64_t heads) const override { return spectrum_bytes(heads); }

  void check_memory(const char* name, const void* data, std::size_t) const override {
    const int device = cuda_pointer_device(data);
    if (device >= 0) {
      core::throw_invalid(std::string(name) + ": CUDA device " + std::to_string(device) +
                          " memory given to a CPU plan (rule: a CPU plan takes host memory)");
    }
  }

  void transform_filter(const Tensor& k, void* spectrum, Stream) const override {
    const int64_t heads = k.shape[0];
    // Few filters: one at a time, each transform spread over the threads.
    if (heads < pool_.size()) {
      for (int64_t h = 0; h < heads; ++h) transform_one_filter(k, spectrum, h, scratch(0), &pool_);
    } else {
      pool_.parallel_for(heads, [&](int64_t h, int worker) {
        transform_one_filter(k, spectrum, h, scratch(worker), nullptr);
      });
    }
  }

  void forward(const core::ConvProblem& p, const ForwardArgs& args, Stream stream) const override {
    const float* spectrum;
    if (p.time_domain_filter) {
      transform_filter(*args.k, args.workspace, stream);
      spectrum = static_cast<const float*>(args.workspace);
    } else {
      spectrum = static_cast<const float*>(args.spectrum->data);
    }
    const int64_t pairs = (p.batch + 1) / 2;
    const int64_t items = pairs * p.heads;
    if (items < pool_.size()) {
      // Few items: one at a time, each transform spread over the threads.
      for (int64_t item = 0; item < items; ++item) {
        convolve_pair(p, args, spectrum, item / pairs, item % pairs, scratch(0), &pool_);
      }
      return;
    }
    // Item order is head-major so that consecutive items share a filter spectrum in cache.
    pool_.parallel_for(items, [&](int64_t item, int worker) {
      convolve_pair(p, args, spectrum, item / pairs, item % pairs, scratch(worker), nullptr);
    });
  }

 private:
  Scratch& scratch(int worker) const { return scratch_[static_cast<size_t>(worker)]; }

  void transform_one_filter(const Tensor& k, void* spectrum, int64_t h, Scratch& s,
                            cpu::ThreadPool* pool) const {
    const int64_t lk = k.shape[1];
    s.dre.resize(n_);
    s.dim.resize(n_);
    s.gate.resize(lk);
    load_row(k.data, k.dtype, h * lk, lk, s.gate.data());
    std::copy(s.gate.begin(), s.gate.end(), s.dre.begin());
    std::fill(s.dre.begin() + lk, s.dre.end(), 0.0);
    std::fill(s.dim.begin(), s.dim.end(), 0.0);
    transform(engine_double_, s.dre.data(), s.dim.data(), false, pool);
    const double scale = 1.0 / static_cast<double>(n_);
    float* re = static_cast<float*>(spectrum) + h * 2 * n_;
    float* im = re + n_;
    for (int64_t i = 0; i < n_; ++i) {
      re[i] = static_cast<float>(s.dre[i] * scale);
      im[i] = static_cast<float>(s.dim[i] * scale);
    }
  }

  // Loads (pre *) row b of head h into `dst` (length L), zero-filling up to N.
  void load_gated(const core::ConvProblem& p, const ForwardArgs& args, int64_t b, int64_t h,
                  float* dst, Scratch& s) const {
    const int64_t offset = (b * p.heads + h) * p.length;
    load_row(args.u.data, p.dtype, offset, p.length, dst);
    if (args.pregate) {
      load_row(args.pregate->data, p.dtype, offset, p.length, s.gate.data());
      for (int64_t t = 0; t < p.length; ++t) dst[t] *= s.gate[t];
    }
    std::fill(dst + p.length, dst + n_, 0.0f);
  }

  void store_gated(const core::ConvProblem& p, const ForwardArgs& args, int64_t b, int64_t h,
                   float* src, Scratch& s) const {
    const int64_t offset = (b * p.heads + h) * p.length;
    if (args.postgate) {
      load_row(args.postgate->data, p.dtype, offset, p.length, s.gate.data());
      for (int64_t t = 0; t < p.length; ++t) src[t] *= s.gate[t];
    }
    store_row(args.y.data, p.dtype, offset, p.length, src);
  }

  void convolve_pair(const core::ConvProblem& p, const ForwardArgs& args, const float* spectrum,
                     int64_t h, int64_t pair, Scratch& s, cpu::ThreadPool* pool) const {
    s.re.resize(n_);
    s.im.resize(n_);
    s.gate.resize(n_);
    const int64_t b0 = 2 * pair, b1 = b0 + 1;
    const bool two_rows = b1 < p.batch;
    load_gated(p, args, b0, h, s.re.data(), s);
    if (two_rows) {
      load_gated(p, args, b1, h, s.im.data(), s);
    } else {
      std::fill(s.im.begin(), s.im.end(), 0.0f);
    }
    transform(engine_, s.re.data(), s.im.data(), false, pool);
    const float* kr = spectrum + h * 2 * n_;
    const float* ki = kr + n_;
    float* zr = s.re.data();
    float* zi = s.im.data();
    for (int64_t i = 0; i < n_; ++i) {
      const float r = zr[i] * kr[i] - zi[i] * ki[i];
      zi[i] = zr[i] * ki[i] + zi[i] * kr[i];
      zr[i] = r;
    }
    transform(engine_, zr, zi, true, pool);
    store_gated(p, args, b0, h, zr, s);
    if (two_rows) store_gated(p, args, b1, h, zi, s);
  }

  int64_t n_;
  cpu::FftEngine<float> engine_;
  cpu::FftEngine<double> engine_double_;
  mutable cpu::ThreadPool pool_;
  mutable std::vector<Scratch> scratch_;
};

}  // namespace

std::unique_ptr<BackendImpl> make_cpu_backend(const core::Factorization& factorization,
                                              int num_threads) {
  return std::make_unique<CpuBackend>(factorization, num_threads);
}

}  // namespace ffc::detail
