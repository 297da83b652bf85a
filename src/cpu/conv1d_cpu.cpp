// The CPU backend of the short depthwise convolution: one (b, c) row at a time on the shared
// thread pool, rows gathered into f32 with their zero padding, the correlation accumulated in f32
// (taps outermost, so the inner loop runs over time and vectorizes), then the bias, the activation
// and the rounding to the output dtype.
//
// Backward, per channel (one work item: every batch row of it, in order): dz = dy (times SiLU'(z),
// z recomputed), dx = the correlation of dz with the flipped filter, and the channel's dweight and
// dbias sums in double over b and t in order; the channels of a group are then summed in channel
// order. The work items never share an accumulator, so the result does not depend on the threads.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

#include "backend/backend.hpp"
#include "backend/conv1d_backend.hpp"
#include "core/errors.hpp"
#include "core/half.hpp"
#include "cpu/thread_pool.hpp"

namespace ffc::detail {
namespace {

float load(const void* data, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::kF32: return static_cast<const float*>(data)[i];
    case DType::kF16: return core::half_to_float(static_cast<const uint16_t*>(data)[i]);
    case DType::kBF16: return core::bf16_to_float(static_cast<const uint16_t*>(data)[i]);
  }
  return 0.0f;
}

void store(void* data, DType dtype, int64_t i, float v) {
  switch (dtype) {
    case DType::kF32: static_cast<float*>(data)[i] = v; break;
    case DType::kF16: static_cast<uint16_t*>(data)[i] = core::float_to_half(v); break;
    case DType::kBF16: static_cast<uint16_t*>(data)[i] = core::float_to_bf16(v); break;
  }
}

float sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }

// The filters as f32, and the bias (zeros when absent).
struct HostFilters {
  std::vector<float> w;       // [G][K]
  std::vector<float> w_flip;  // [G][K], each filter reversed (the backward's dx)
  std::vector<float> bias;    // [H]
};

HostFilters host_filters(const core::Conv1dProblem& p, const Tensor& weight, const std::optional<Tensor>& bias) {
  HostFilters f;
  const int64_t K = p.kernel_size;
  f.w.resize(static_cast<size_t>(p.groups * K));
  f.w_flip.resize(f.w.size());
  for (int64_t g = 0; g < p.groups; ++g) {
    for (int64_t j = 0; j < K; ++j) {
      const float v = load(weight.data, weight.dtype, g * K + j);
      f.w[static_cast<size_t>(g * K + j)] = v;
      f.w_flip[static_cast<size_t>(g * K + K - 1 - j)] = v;
    }
  }
  f.bias.assign(static_cast<size_t>(p.channels), 0.0f);
  if (bias) {
    for (int64_t c = 0; c < p.channels; ++c) f.bias[static_cast<size_t>(c)] = load(bias->data, bias->dtype, c);
  }
  return f;
}

// out[t] = sum_j w[j] * xp[t + j] for t < n_out, where xp holds n_out + K - 1 samples.
void correlate(const float* xp, const float* w, int64_t K, int64_t n_out, float* out) {
  std::fill(out, out + n_out, 0.0f);
  for (int64_t j = 0; j < K; ++j) {
    const float wj = w[j];
    const float* src = xp + j;
    for (int64_t t = 0; t < n_out; ++t) out[t] += wj * src[t];
  }
}

// One (b, c) row's view of a tensor in the problem's layout.
struct Row {
  const core::Conv1dProblem& p;
  int64_t b, c;
  int64_t at(int64_t t, int64_t len) const { return p.index(b, c, t, len); }
};

// xp[i] = in[i - offset] for i < n (zero outside [0, len)), `in` being a row of `data`.
void gather_padded(const Row& r, const void* data, DType dtype, int64_t len, int64_t offset, int64_t n,
                   float* xp) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t s = i - offset;
    xp[i] = (s >= 0 && s < len) ? load(data, dtype, r.at(s, len)) : 0.0f;
  }
}

struct Scratch {
  std::vector<float> xp, z, dz, dzp, dx;
  static void fit(std::vector<float>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  }
};

class CpuConv1d final : public Conv1dBackendImpl {
 public:
  explicit CpuConv1d(int num_threads) : pool_(&cpu::ThreadPool::shared()) {
    core::check_num_threads(num_threads);
    if (num_threads > 0) pool_->reserve(num_threads);
    threads_ = num_threads > 0 ? num_threads : pool_->size();
    scratch_.resize(static_cast<size_t>(threads_));
  }

  Backend kind() const override { return Backend::kCpu; }
  int device() const override { return -1; }

  void check_memory(const char* name, const void* data, std::size_t) const override {
    if (cuda_pointer_device(data) >= 0) {
      core::throw_invalid(std::string(name) + ": CUDA device memory given to a CPU conv1d plan (rule: host memory)");
    }
  }

  void forward(const core::Conv1dProblem& p, const Conv1dForwardArgs& args, Stream) const override {
    std::lock_guard<std::mutex> lock(exec_mutex_);
    const HostFilters f = host_filters(p, args.weight, args.bias);
    const int64_t K = p.kernel_size, n_pad = p.out_length + K - 1;
    pool_->parallel_for(p.batch * p.channels, threads_, [&](int64_t item, int worker) {
      Scratch& s = scratch_[static_cast<size_t>(worker)];
      Scratch::fit(s.xp, n_pad);
      Scratch::fit(s.z, p.out_length);
      const Row r{p, item / p.channels, item % p.channels};
      gather_padded(r, args.x.data, p.dtype, p.length, p.left_pad, n_pad, s.xp.data());
      const float* w = f.w.data() + (r.c / p.channels_per_group()) * K;
      correlate(s.xp.data(), w, K, p.out_length, s.z.data());
      const float bias = f.bias[static_cast<size_t>(r.c)];
      for (int64_t t = 0; t < p.out_length; ++t) {
        float z = s.z[static_cast<size_t>(t)] + bias;
        if (p.activation == Activation::kSilu) z = z * sigmoid(z);
        store(args.y.data, p.dtype, r.at(t, p.out_length), z);
      }
    });
  }

  std::size_t backward_workspace_bytes(const core::Conv1dProblem&) const override { return 0; }

  void backward(const core::Conv1dProblem& p, const Conv1dBackwardArgs& args, Stream) const override {
    std::lock_guard<std::mutex> lock(exec_mutex_);
    const HostFilters f = host_filters(p, args.weight, args.bias);
    const int64_t K = p.kernel_size;
    // Per channel: K weight sums then the bias sum, in double.
    std::vector<double> sums(static_cast<size_t>(p.channels * (K + 1)), 0.0);
    pool_->parallel_for(p.channels, threads_, [&](int64_t c, int worker) {
      channel_backward(p, args, f, c, scratch_[static_cast<size_t>(worker)], sums.data() + c * (K + 1));
    });
    if (p.want_dweight) {
      const int64_t per_group = p.channels_per_group();
      float* dw = static_cast<float*>(args.dweight->data);
      for (int64_t g = 0; g < p.groups; ++g) {
        for (int64_t j = 0; j < K; ++j) {
          double total = 0.0;
          for (int64_t c = g * per_group; c < (g + 1) * per_group; ++c) total += sums[static_cast<size_t>(c * (K + 1) + j)];
          dw[g * K + j] = static_cast<float>(total);
        }
      }
    }
    if (p.want_dbias) {
      float* db = static_cast<float*>(args.dbias->data);
      for (int64_t c = 0; c < p.channels; ++c) db[c] = static_cast<float>(sums[static_cast<size_t>(c * (K + 1) + K)]);
    }
  }

 private:
  // Every batch row of channel c: dz, dx, and the channel's sums (sums[j], j < K; sums[K]: bias).
  void channel_backward(const core::Conv1dProblem& p, const Conv1dBackwardArgs& args, const HostFilters& f,
                        int64_t c, Scratch& s, double* sums) const {
    const int64_t K = p.kernel_size, L = p.length, Lo = p.out_length;
    const int64_t filter = c / p.channels_per_group();
    const bool want_sums = p.want_dweight || p.want_dbias;
    Scratch::fit(s.xp, Lo + K - 1);
    Scratch::fit(s.z, Lo);
    Scratch::fit(s.dz, Lo);
    Scratch::fit(s.dzp, L + K - 1);
    Scratch::fit(s.dx, L);
    for (int64_t b = 0; b < p.batch; ++b) {
      const Row r{p, b, c};
      gather_padded(r, args.x.data, p.dtype, L, p.left_pad, Lo + K - 1, s.xp.data());
      gather_padded(r, args.dy.data, p.dtype, Lo, 0, Lo, s.dz.data());
      if (p.activation == Activation::kSilu) {
        correlate(s.xp.data(), f.w.data() + filter * K, K, Lo, s.z.data());
        const float bias = f.bias[static_cast<size_t>(c)];
        for (int64_t t = 0; t < Lo; ++t) {
          const float z = s.z[static_cast<size_t>(t)] + bias, sg = sigmoid(z);
          s.dz[static_cast<size_t>(t)] *= sg * (1.0f + z * (1.0f - sg));
        }
      }
      if (p.want_dx) {
        // dx[s] = sum_j w[j] dz[s - j + P] = sum_j w[K-1-j] dz[s + j - (K - 1 - P)].
        const int64_t offset = K - 1 - p.left_pad;
        for (int64_t i = 0; i < L + K - 1; ++i) {
          const int64_t t = i - offset;
          s.dzp[static_cast<size_t>(i)] = (t >= 0 && t < Lo) ? s.dz[static_cast<size_t>(t)] : 0.0f;
        }
        correlate(s.dzp.data(), f.w_flip.data() + filter * K, K, L, s.dx.data());
        for (int64_t t = 0; t < L; ++t) store(args.dx->data, p.dtype, r.at(t, L), s.dx[static_cast<size_t>(t)]);
      }
      if (want_sums) {
        for (int64_t j = 0; j < K; ++j) {
          double acc = 0.0;
          const float* xs = s.xp.data() + j;
          for (int64_t t = 0; t < Lo; ++t) acc += static_cast<double>(s.dz[static_cast<size_t>(t)]) * xs[t];
          sums[j] += acc;
        }
        double bias_sum = 0.0;
        for (int64_t t = 0; t < Lo; ++t) bias_sum += s.dz[static_cast<size_t>(t)];
        sums[K] += bias_sum;
      }
    }
  }

  cpu::ThreadPool* pool_;
  int threads_ = 1;
  mutable std::vector<Scratch> scratch_;
  mutable std::mutex exec_mutex_;  // the per-worker scratch serves one execution at a time
};

}  // namespace

std::unique_ptr<Conv1dBackendImpl> make_cpu_conv1d_backend(int num_threads) {
  return std::make_unique<CpuConv1d>(num_threads);
}

}  // namespace ffc::detail
