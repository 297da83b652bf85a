// CPU backend: the real fallback on machines without a GPU, multithreaded, fp32 inside.
//
// Data flow of one forward work item (head h, batch rows b0 = 2p and b1 = 2p + 1):
//   z[n] = pre*u[b0, h, n] + i pre*u[b1, h, n]   for n < L, 0 for L <= n < N  (implicit padding)
//   Z = FFT_N(z)                                  (Monarch stages, digit-reversed order)
//   Z *= K_h / N                                  (the filter spectrum, stored in the same order)
//   z = IFFT_N(Z)                                 (stages backwards, natural order)
//   y[b0, h, t] = post * Re z[t], y[b1, h, t] = post * Im z[t]   for t < L
// Two real rows share one complex FFT: the filter is real, so its spectrum is Hermitian and the
// real and imaginary parts of z never mix (conv(u0 + i u1, k) = conv(u0, k) + i conv(u1, k)). Each
// row enters scaled by its own power of two and leaves unscaled (core/row_scales.hpp), so a small
// row keeps its precision next to a large partner, a zero row comes out exactly zero, and a
// non-finite row enters as zeros (its partner is computed as if alone) and comes out NaN.
//
// Filter spectra: [H][2][N] floats (real plane, imaginary plane) in position order, scaled by 1/N,
// computed in double precision.
//
// Backward work item (head h, rows b0, b1), with K' = K_h / N the stored spectrum:
//   W = FFT_N(dc[b0] + i dc[b1]),  dc = post * dy for t < L, 0 beyond
//   Z = FFT_N(x[b0] + i x[b1]),    x = pre * u                       (only for dk or dpostgate)
//   DK_h += W * conj(Z)            in double, pairs in order         (dk)
//   c = IFFT_N(Z * K'):            dpostgate = dy * c                (dpostgate)
//   dx = IFFT_N(W * conj(K')):     du = pre * dx, dpregate = u * dx  (du, dpregate)
// and per head dk = Re IFFT_N(DK_h)[:Lk_grad] / N, in double. The pairing works as in the forward:
// k is real, so IFFT(W conj(K)) = dx[b0] + i dx[b1]; and Re(W conj(Z)) pairs dc[b0] with x[b0] and
// dc[b1] with x[b1], so Re IFFT(sum W conj(Z)) / N = sum_b corr(dc[b], x[b]) = dk. 1/N is a power of
// two: the scaling is exact. dk sums over the batch inside one work item (a head, its pairs in
// order), so the result does not depend on the thread count; the transforms of one item give the
// same bits whether they run on one thread or spread over the pool.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backend/backend.hpp"
#include "core/checked.hpp"
#include "core/errors.hpp"
#include "core/half.hpp"
#include "core/row_scales.hpp"
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

// dst[t] = a[t] * gate[t] (or a[t] without a gate) for t < length, 0 for length <= t < n; `tmp`
// holds length floats.
void load_times(const void* a, const void* gate, DType dtype, int64_t offset, int64_t length,
                int64_t n, float* dst, float* tmp) {
  load_row(a, dtype, offset, length, dst);
  if (gate != nullptr) {
    load_row(gate, dtype, offset, length, tmp);
    for (int64_t t = 0; t < length; ++t) dst[t] *= tmp[t];
  }
  std::fill(dst + length, dst + n, 0.0f);
}

// out[t] = gate[t] * (factor * src[t]) (or factor * src[t]) for t < length, rounded to the dtype;
// `tmp` holds length floats; src is not modified. factor is a row's output scale (core::RowScale).
void store_times(void* out, const void* gate, DType dtype, int64_t offset, int64_t length,
                 const float* src, float factor, float* tmp) {
  if (gate == nullptr) {
    for (int64_t t = 0; t < length; ++t) tmp[t] = factor * src[t];
  } else {
    load_row(gate, dtype, offset, length, tmp);
    for (int64_t t = 0; t < length; ++t) tmp[t] *= factor * src[t];
  }
  store_row(out, dtype, offset, length, tmp);
}

const void* data_or_null(const std::optional<Tensor>& t) { return t ? t->data : nullptr; }

// The CPU backend's scaling target: rows scaled to max |s x| < 2^10 keep every fp32 intermediate of
// the transforms (at most sqrt(2N) max |s x| |K|) far from both ends of the exponent range.
constexpr float kRowBound = 1024.0f;

// max |x[t]| over t < n, NaN when any value is NaN (inf when the largest is inf).
float max_abs(const float* x, int64_t n) {
  float m = 0.0f;
  bool nan = false;
  for (int64_t t = 0; t < n; ++t) {
    const float a = std::fabs(x[t]);
    if (a > m) m = a;
    nan = nan || a != a;
  }
  return nan ? core::quiet_nan() : m;
}

// x[t] *= scale for t < n, or zeros (scale 0: a zero or non-finite row enters as zeros).
void scale_row(float* x, int64_t n, float scale) {
  if (scale == 0.0f) {
    std::fill(x, x + n, 0.0f);
    return;
  }
  for (int64_t t = 0; t < n; ++t) x[t] *= scale;
}

// A plan's share of the process-wide pool: up to `threads` workers (worker indices 0 .. threads - 1,
// which index the plan's scratch buffers).
struct Workers {
  cpu::ThreadPool* pool;
  int threads;
  int size() const { return threads; }
  void parallel_for(int64_t count, const cpu::ThreadPool::Task& task) const {
    pool->parallel_for(count, threads, task);
  }
};

// The pool grown to a plan's thread count (0: the pool's default size).
Workers plan_workers(int num_threads) {
  cpu::ThreadPool& pool = cpu::ThreadPool::shared();
  if (num_threads > 0) pool.reserve(num_threads);
  return {&pool, num_threads > 0 ? num_threads : pool.size()};
}

// One transform of an engine, either on the calling thread (pool == nullptr) or with each stage's
// column groups spread over the pool (used when there are fewer work items than threads).
template <typename T>
void transform(const cpu::FftEngine<T>& engine, T* re, T* im, bool inverse, const Workers* pool) {
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
  std::vector<float> re2, im2;    // backward: the spectrum of dc
  std::vector<double> dre, dim;   // filter transforms; backward: the dk spectrum of one head
};

class CpuBackend final : public BackendImpl {
 public:
  CpuBackend(const core::Factorization& factorization, int num_threads)
      : n_(factorization.size()),
        engine_(factorization, cpu::isa_from_environment()),
        engine_double_(factorization, engine_.isa()),
        pool_(plan_workers(num_threads)),
        scratch_(static_cast<size_t>(pool_.size())) {}

  Backend kind() const override { return Backend::kCpu; }
  int device() const override { return -1; }
  std::string algorithm() const override { return "cpu"; }

  std::size_t spectrum_bytes(int64_t heads) const override {
    return core::checked_mul(static_cast<uint64_t>(heads), 2 * sizeof(float) * static_cast<uint64_t>(n_),
                             "spectrum bytes for heads = " + std::to_string(heads));
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
    std::lock_guard<std::mutex> lock(exec_mutex_);
    transform_filter_locked(k, spectrum);
  }

  void forward(const core::ConvProblem& p, const ForwardArgs& args, Stream) const override {
    std::lock_guard<std::mutex> lock(exec_mutex_);
    const float* spectrum = filter_spectrum_locked(args.k, args.spectrum, args.workspace);
    const int64_t pairs = (p.batch + 1) / 2;
    // Item order is head-major so that consecutive items share a filter spectrum in cache.
    run_items(pairs * p.heads, [&](int64_t item, Scratch& s, const Workers* pool) {
      convolve_pair(p, args, spectrum, item / pairs, item % pairs, s, pool);
    });
  }

  // The workspace holds the filter spectrum of k (a call with a spectrum leaves it untouched).
  std::size_t backward_workspace_bytes(int64_t, int64_t heads) const override {
    return spectrum_bytes(heads);
  }

  void backward(const core::BackwardProblem& p, const BackwardArgs& args, Stream) const override {
    std::lock_guard<std::mutex> lock(exec_mutex_);
    const float* spectrum = filter_spectrum_locked(args.k, args.spectrum, args.workspace);
    const int64_t pairs = (p.batch + 1) / 2;
    if (p.want_dk) {
      // dk sums over the batch: one item per head, whose pairs are accumulated in order.
      run_items(p.heads, [&](int64_t h, Scratch& s, const Workers* pool) {
        backward_head(p, args, spectrum, h, pairs, s, pool);
      });
      return;
    }
    run_items(pairs * p.heads, [&](int64_t item, Scratch& s, const Workers* pool) {
      backward_pair(p, args, spectrum, item / pairs, item % pairs, s, pool);
    });
  }

 private:
  Scratch& scratch(int worker) const { return scratch_[static_cast<size_t>(worker)]; }

  // Runs item(i, scratch, pool) for i in [0, count). Requires exec_mutex_. With at least as many
  // items as workers, the items are spread over the pool (pool argument null: each item runs on
  // one thread with its worker's scratch); with fewer, they run one at a time on this thread with
  // the first worker's scratch, each transform's stages spread over the pool. Either way every
  // element is computed by the same arithmetic, so the bits do not depend on the thread count.
  template <typename Item>
  void run_items(int64_t count, const Item& item) const {
    if (count < pool_.size()) {
      for (int64_t i = 0; i < count; ++i) item(i, scratch(0), &pool_);
      return;
    }
    pool_.parallel_for(count, [&](int64_t i, int worker) { item(i, scratch(worker), nullptr); });
  }

  // Requires exec_mutex_: scratch(0) is used outside the pool when there are few items.
  void transform_filter_locked(const Tensor& k, void* spectrum) const {
    run_items(k.shape[0], [&](int64_t h, Scratch& s, const Workers* pool) {
      transform_one_filter(k, spectrum, h, s, pool);
    });
  }

  // Requires exec_mutex_. The filter spectrum a call reads: the caller's, or k transformed into the
  // workspace (validation guarantees exactly one of k and spectrum).
  const float* filter_spectrum_locked(const std::optional<Tensor>& k,
                                      const std::optional<FilterSpectrum>& spectrum, void* workspace) const {
    if (!k) return static_cast<const float*>(spectrum->data);
    transform_filter_locked(*k, workspace);
    return static_cast<const float*>(workspace);
  }

  void transform_one_filter(const Tensor& k, void* spectrum, int64_t h, Scratch& s,
                            const Workers* pool) const {
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
    load_times(args.u.data, data_or_null(args.pregate), p.dtype, (b * p.heads + h) * p.length,
               p.length, n_, dst, s.gate.data());
  }

  void store_gated(const core::ConvProblem& p, const ForwardArgs& args, int64_t b, int64_t h,
                   const float* src, float factor, Scratch& s) const {
    store_times(args.y.data, data_or_null(args.postgate), p.dtype, (b * p.heads + h) * p.length,
                p.length, src, factor, s.gate.data());
  }

  void convolve_pair(const core::ConvProblem& p, const ForwardArgs& args, const float* spectrum,
                     int64_t h, int64_t pair, Scratch& s, const Workers* pool) const {
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
    const core::RowScale r0 = core::row_scale(max_abs(s.re.data(), p.length), kRowBound);
    const core::RowScale r1 = core::row_scale(max_abs(s.im.data(), p.length), kRowBound);
    scale_row(s.re.data(), p.length, r0.in);
    scale_row(s.im.data(), p.length, r1.in);
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
    store_gated(p, args, b0, h, zr, r0.out, s);
    if (two_rows) store_gated(p, args, b1, h, zi, r1.out, s);
  }

  // One head of a backward call with dk: its pairs in order, accumulating DK_h in s.dre / s.dim,
  // then dk[h] = Re IFFT(DK_h)[:Lk_grad] / N in double.
  void backward_head(const core::BackwardProblem& p, const BackwardArgs& args,
                     const float* spectrum, int64_t h, int64_t pairs, Scratch& s,
                     const Workers* pool) const {
    s.dre.assign(static_cast<size_t>(n_), 0.0);
    s.dim.assign(static_cast<size_t>(n_), 0.0);
    for (int64_t pair = 0; pair < pairs; ++pair) backward_pair(p, args, spectrum, h, pair, s, pool);
    transform(engine_double_, s.dre.data(), s.dim.data(), true, pool);
    const double scale = 1.0 / static_cast<double>(n_);  // a power of two: exact
    float* dk = static_cast<float*>(args.dk->data) + h * p.grad_filter_length;
    for (int64_t j = 0; j < p.grad_filter_length; ++j) dk[j] = static_cast<float>(s.dre[j] * scale);
  }

  // The gradients of rows b0 = 2 pair and b1 = b0 + 1 of head h (see the top of the file). Reads
  // every input of its rows before it writes du, so du may be dy itself.
  void backward_pair(const core::BackwardProblem& p, const BackwardArgs& args,
                     const float* spectrum, int64_t h, int64_t pair, Scratch& s,
                     const Workers* pool) const {
    s.re.resize(n_);
    s.im.resize(n_);
    s.re2.resize(n_);
    s.im2.resize(n_);
    s.gate.resize(n_);
    const int64_t b0 = 2 * pair, b1 = b0 + 1;
    const bool two_rows = b1 < p.batch;
    const int64_t o0 = (b0 * p.heads + h) * p.length, o1 = (b1 * p.heads + h) * p.length;
    const DType dt = p.dtype;
    const int64_t len = p.length;
    float* tmp = s.gate.data();
    float* wr = s.re2.data();
    float* wi = s.im2.data();
    float* zr = s.re.data();
    float* zi = s.im.data();
    const float* kr = spectrum + h * 2 * n_;
    const float* ki = kr + n_;
    const void* post = data_or_null(args.postgate);
    const void* pre = data_or_null(args.pregate);

    // The rows, unscaled: dc and x (x also without dk and dpostgate: the row scales are tied whatever
    // is requested, so each gradient's bits do not depend on the others); then their scales.
    const bool want_z = p.want_dk || p.want_dpostgate;
    load_times(args.dy.data, post, dt, o0, len, n_, wr, tmp);
    load_times(args.u.data, pre, dt, o0, len, n_, zr, tmp);
    if (two_rows) {
      load_times(args.dy.data, post, dt, o1, len, n_, wi, tmp);
      load_times(args.u.data, pre, dt, o1, len, n_, zi, tmp);
    } else {
      std::fill(wi, wi + n_, 0.0f);
      std::fill(zi, zi + n_, 0.0f);
    }
    const float mx[2] = {max_abs(zr, len), max_abs(zi, len)};
    const float mdc[2] = {max_abs(wr, len), max_abs(wi, len)};
    const core::BackwardScales sc = core::backward_scales(mx, mdc, kRowBound);

    // W = FFT(b0 dc0 + i b1 dc1).
    scale_row(wr, len, sc.dc[0].in);
    scale_row(wi, len, sc.dc[1].in);
    transform(engine_, wr, wi, false, pool);

    if (want_z) {
      // Z = FFT(a0 x0 + i a1 x1), x = pre * u: the forward's spectrum (scaled per row).
      scale_row(zr, len, sc.x[0].in);
      scale_row(zi, len, sc.x[1].in);
      transform(engine_, zr, zi, false, pool);
      if (p.want_dk && sc.dk_z != 0.0f) {
        // DK += W conj(Z) / (a b): float products are exact in double, 1 / (a b) a power of two.
        const double unscale = static_cast<double>(sc.dk_z) * static_cast<double>(sc.dk_w);
        double* dr = s.dre.data();
        double* di = s.dim.data();
        for (int64_t i = 0; i < n_; ++i) {
          const double ar = wr[i], ai = wi[i], br = zr[i], bi = zi[i];
          dr[i] += (ar * br + ai * bi) * unscale;
          di[i] += (ai * br - ar * bi) * unscale;
        }
      }
      if (p.want_dpostgate) {
        // c = IFFT(Z K'), as the forward computes it; dpostgate = dy * c.
        for (int64_t i = 0; i < n_; ++i) {
          const float r = zr[i] * kr[i] - zi[i] * ki[i];
          zi[i] = zr[i] * ki[i] + zi[i] * kr[i];
          zr[i] = r;
        }
        transform(engine_, zr, zi, true, pool);
        store_times(args.dpostgate->data, args.dy.data, dt, o0, len, zr, sc.x[0].out, tmp);
        if (two_rows) store_times(args.dpostgate->data, args.dy.data, dt, o1, len, zi, sc.x[1].out, tmp);
      }
    }

    if (p.want_du || p.want_dpregate) {
      // dx = IFFT(W conj(K')).
      for (int64_t i = 0; i < n_; ++i) {
        const float r = wr[i] * kr[i] + wi[i] * ki[i];
        wi[i] = wi[i] * kr[i] - wr[i] * ki[i];
        wr[i] = r;
      }
      transform(engine_, wr, wi, true, pool);
      for (int row = 0; row < (two_rows ? 2 : 1); ++row) {
        const int64_t offset = row == 0 ? o0 : o1;
        const float* dx = row == 0 ? wr : wi;
        const float out = sc.dc[row].out;
        if (p.want_dpregate) store_times(args.dpregate->data, args.u.data, dt, offset, len, dx, out, tmp);
        if (p.want_du) store_times(args.du->data, pre, dt, offset, len, dx, out, tmp);
      }
    }
  }

  int64_t n_;
  cpu::FftEngine<float> engine_;
  cpu::FftEngine<double> engine_double_;
  Workers pool_;
  mutable std::vector<Scratch> scratch_;
  // One execution at a time: the pool serializes its parallel_for calls, but the few-items paths
  // use scratch(0) outside the pool.
  mutable std::mutex exec_mutex_;
};

}  // namespace

std::unique_ptr<BackendImpl> make_cpu_backend(const core::Factorization& factorization,
                                              int num_threads) {
  return std::make_unique<CpuBackend>(factorization, num_threads);
}

}  // namespace ffc::detail
