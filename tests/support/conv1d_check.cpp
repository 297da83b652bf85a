#include "conv1d_check.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "cuda/conv1d/toeplitz_mma_math.hpp"

namespace ffc::testing {
namespace {

constexpr double kU32 = 0x1p-24;

double gamma(double n) { return n * kU32 / (1.0 - n * kU32); }

// The absolute floor of an output's rounding: half the smallest f16 subnormal.
double subnormal_floor(DType dtype) { return dtype == DType::kF16 ? 0x1p-25 : 0.0; }

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

int64_t index_of(const Conv1dCase& c, int64_t b, int64_t ch, int64_t t, int64_t len) {
  return c.layout == Conv1dLayout::kBHL ? (b * c.channels + ch) * len + t : (b * len + t) * c.channels + ch;
}

std::vector<int64_t> shape_of(const Conv1dCase& c, int64_t len) {
  if (c.layout == Conv1dLayout::kBHL) return {c.batch, c.channels, len};
  return {c.batch, len, c.channels};
}

// The tensor-core path's bound E_tc (conv1d_check.hpp) for one correlation: per group, the split's
// per-tap coefficients; per output, sums over the window's taps.
class MmaBound {
 public:
  MmaBound(const Conv1dCase& c, const Conv1dInputs& in, int64_t offset, bool on) : on_(on) {
    if (!on_) return;
    namespace tz = cuda::conv1d::toeplitz;
    const tz::Format f = c.dtype == DType::kF16 ? tz::kF16 : tz::kBf16;
    const int64_t K = c.kernel_size;
    const double n = 8.0 * tz::make_shape(K, offset).tiles;
    acc_ = std::pow(1.0 + 6 * 0x1p-23, n) - 1.0;
    mmag_.resize(static_cast<size_t>(c.g() * K));
    split_.resize(mmag_.size());
    for (int64_t g = 0; g < c.g(); ++g) {
      float mx = 0.0f;
      for (int64_t j = 0; j < K; ++j) mx = std::max(mx, static_cast<float>(std::fabs(in.weight.value(g * K + j))));
      const int E = tz::scale_exponent(mx);
      for (int64_t j = 0; j < K; ++j) {
        const double w = in.weight.value(g * K + j);
        const tz::Split s = tz::split_tap(std::ldexp(static_cast<float>(w), -E), f);
        const size_t i = static_cast<size_t>(g * K + j);
        mmag_[i] = std::ldexp(std::fabs(static_cast<double>(s.hi)) + std::fabs(static_cast<double>(s.lo)), E);
        split_[i] = std::ldexp(1.0, -2 * f.p) * std::fabs(w) + std::ldexp(1.0, E + f.emin - f.p);
      }
    }
  }
  bool on() const { return on_; }
  // The terms of tap (g, j) times input magnitude |v|, summed per output with `sum`.
  void add(int64_t g_times_k_plus_j, double abs_v) {
    if (!on_) return;
    const size_t i = static_cast<size_t>(g_times_k_plus_j);
    split_sum_ += split_[i] * abs_v;
    mma_sum_ += mmag_[i] * abs_v;
  }
  // E_tc for `mag` = sum |w x| + |bias|, then the sums restart.
  double take(double mag) {
    if (!on_) return 0.0;
    const double a = split_sum_ + acc_ * mma_sum_ + 0x1p-149;
    split_sum_ = mma_sum_ = 0.0;
    return a + kU32 * (mag + a);
  }

 private:
  bool on_;
  double acc_ = 0.0, split_sum_ = 0.0, mma_sum_ = 0.0;
  std::vector<double> mmag_, split_;
};

}  // namespace

int64_t Conv1dCase::out_length() const { return conv1d_output_length(length, kernel_size, options()); }

Conv1dOptions Conv1dCase::options() const {
  Conv1dOptions o;
  o.padding = causal ? 0 : padding;
  o.causal = causal;
  o.layout = layout;
  o.activation = activation;
  return o;
}

std::string Conv1dCase::name() const {
  std::ostringstream s;
  s << "B=" << batch << " H=" << channels << " L=" << length << " K=" << kernel_size << " G=" << g()
    << (causal ? " causal" : " padding=" + std::to_string(padding)) << " " << to_string(layout) << " x "
    << to_string(dtype) << " w " << to_string(weight_dtype) << (bias ? " bias" : "")
    << (activation == Activation::kSilu ? " silu" : "");
  return s.str();
}

Conv1dInputs Conv1dInputs::make(const Conv1dCase& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Conv1dInputs in;
  in.x = HostTensor(c.dtype, shape_of(c, c.length));
  in.x.fill(Distribution::kRandn, rng);
  in.weight = HostTensor(c.weight_dtype, {c.g(), c.kernel_size});
  in.weight.fill(Distribution::kRandn, rng, 1.0 / std::sqrt(static_cast<double>(c.kernel_size)));
  in.bias = HostTensor(c.weight_dtype, {c.channels});
  in.bias.fill(Distribution::kRandn, rng);
  in.dy = HostTensor(c.dtype, shape_of(c, c.out_length()));
  in.dy.fill(Distribution::kRandn, rng);
  return in;
}

Conv1dReference conv1d_reference(const Conv1dCase& c, const Conv1dInputs& in, bool f32_terms_dw,
                                 Conv1dArithmetic arithmetic) {
  const int64_t B = c.batch, H = c.channels, L = c.length, K = c.kernel_size, Lo = c.out_length();
  const int64_t P = c.causal ? K - 1 : c.padding, per_group = H / c.g();
  const bool silu = c.activation == Activation::kSilu;
  const double u_out = unit_roundoff(c.dtype), floor = subnormal_floor(c.dtype);
  auto x = [&](int64_t b, int64_t ch, int64_t s) { return in.x.value(index_of(c, b, ch, s, L)); };
  auto w = [&](int64_t ch, int64_t j) { return in.weight.value((ch / per_group) * K + j); };
  const bool mma = arithmetic == Conv1dArithmetic::kToeplitzMma && c.dtype != DType::kF32;
  MmaBound fwd_mma(c, in, P, mma), dx_mma(c, in, K - 1 - P, mma);

  Conv1dReference r;
  const size_t n_out = static_cast<size_t>(B * H * Lo);
  r.y.value.assign(n_out, 0.0);
  r.y.bound.assign(n_out, 0.0);
  std::vector<double> dz(n_out), e_dz(n_out);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t ch = 0; ch < H; ++ch) {
      const double bias = c.bias ? in.bias.value(ch) : 0.0;
      for (int64_t t = 0; t < Lo; ++t) {
        double z = bias, mag = std::fabs(bias);
        for (int64_t j = 0; j < K; ++j) {
          const int64_t s = t + j - P;
          if (s < 0 || s >= L) continue;
          const double term = w(ch, j) * x(b, ch, s);
          z += term;
          mag += std::fabs(term);
          fwd_mma.add((ch / per_group) * K + j, std::fabs(x(b, ch, s)));
        }
        const double e_z = std::max(gamma(static_cast<double>(K + 2)) * mag, fwd_mma.take(mag));
        const size_t i = static_cast<size_t>(index_of(c, b, ch, t, Lo));
        const double y = silu ? z * sigmoid(z) : z;
        const double act_err = silu ? 1.1 * e_z + 8 * kU32 * std::fabs(y) : e_z;
        r.y.value[i] = y;
        r.y.bound[i] = u_out * std::fabs(y) + (1 + u_out) * act_err + floor;
        const double dy = in.dy.value(static_cast<int64_t>(i));
        const double s = sigmoid(z);
        dz[i] = silu ? dy * s * (1 + z * (1 - s)) : dy;
        e_dz[i] = silu ? std::fabs(dy) * (0.5 * e_z + 8 * kU32 * (1 + std::fabs(z))) : 0.0;
      }
    }
  }

  const size_t n_in = static_cast<size_t>(B * H * L);
  r.dx.value.assign(n_in, 0.0);
  r.dx.bound.assign(n_in, 0.0);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t ch = 0; ch < H; ++ch) {
      for (int64_t s = 0; s < L; ++s) {
        double v = 0, mag = 0, prop = 0;
        for (int64_t j = 0; j < K; ++j) {
          const int64_t t = s - j + P;
          if (t < 0 || t >= Lo) continue;
          const size_t o = static_cast<size_t>(index_of(c, b, ch, t, Lo));
          v += w(ch, j) * dz[o];
          mag += std::fabs(w(ch, j) * dz[o]);
          prop += std::fabs(w(ch, j)) * e_dz[o];
          dx_mma.add((ch / per_group) * K + j, std::fabs(dz[o]));
        }
        const size_t i = static_cast<size_t>(index_of(c, b, ch, s, L));
        const double e_dx = std::max(gamma(static_cast<double>(K + 2)) * mag, dx_mma.take(mag));
        r.dx.value[i] = v;
        r.dx.bound[i] = u_out * std::fabs(v) + (1 + u_out) * (e_dx + prop) + floor;
      }
    }
  }

  const double n_dw = f32_terms_dw ? static_cast<double>(per_group * B * Lo + 1) : 2.0;
  const double n_db = f32_terms_dw ? static_cast<double>(B * Lo + 1) : 2.0;
  r.dweight.value.assign(static_cast<size_t>(c.g() * K), 0.0);
  r.dweight.bound.assign(r.dweight.value.size(), 0.0);
  for (int64_t g = 0; g < c.g(); ++g) {
    for (int64_t j = 0; j < K; ++j) {
      double v = 0, mag = 0, prop = 0;
      for (int64_t ch = g * per_group; ch < (g + 1) * per_group; ++ch) {
        for (int64_t b = 0; b < B; ++b) {
          for (int64_t t = 0; t < Lo; ++t) {
            const int64_t s = t + j - P;
            if (s < 0 || s >= L) continue;
            const size_t o = static_cast<size_t>(index_of(c, b, ch, t, Lo));
            v += dz[o] * x(b, ch, s);
            mag += std::fabs(dz[o] * x(b, ch, s));
            prop += std::fabs(x(b, ch, s)) * e_dz[o];
          }
        }
      }
      const size_t i = static_cast<size_t>(g * K + j);
      r.dweight.value[i] = v;
      r.dweight.bound[i] = kU32 * std::fabs(v) + gamma(n_dw) * mag + prop;
    }
  }
  r.dbias.value.assign(static_cast<size_t>(H), 0.0);
  r.dbias.bound.assign(static_cast<size_t>(H), 0.0);
  for (int64_t ch = 0; ch < H; ++ch) {
    double v = 0, mag = 0, prop = 0;
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = 0; t < Lo; ++t) {
        const size_t o = static_cast<size_t>(index_of(c, b, ch, t, Lo));
        v += dz[o];
        mag += std::fabs(dz[o]);
        prop += e_dz[o];
      }
    }
    r.dbias.value[static_cast<size_t>(ch)] = v;
    r.dbias.bound[static_cast<size_t>(ch)] = kU32 * std::fabs(v) + gamma(n_db) * mag + prop;
  }
  return r;
}

Conv1dResults run_conv1d(const Conv1dPlan& plan, const MemorySpace& space, const Conv1dCase& c,
                         const Conv1dInputs& in) {
  HostTensor y(c.dtype, shape_of(c, c.out_length())), dx(c.dtype, shape_of(c, c.length));
  HostTensor dw(DType::kF32, {c.g(), c.kernel_size}), db(DType::kF32, {c.channels});
  for (HostTensor* t : {&y, &dx, &dw, &db}) t->poison();
  const Buffer x_d = space.upload(in.x), w_d = space.upload(in.weight), b_d = space.upload(in.bias);
  const Buffer dy_d = space.upload(in.dy);
  Buffer y_d = space.upload(y), dx_d = space.upload(dx), dw_d = space.upload(dw), db_d = space.upload(db);

  Conv1dForwardArgs f;
  f.x = x_d.view(in.x);
  f.weight = w_d.view(in.weight);
  if (c.bias) f.bias = b_d.view(in.bias);
  f.y = y_d.view(y);
  f.options = c.options();
  plan.forward(f);

  Conv1dBackwardArgs a;
  a.dy = dy_d.view(in.dy);
  a.x = f.x;
  a.weight = f.weight;
  a.bias = f.bias;
  a.dx = dx_d.view(dx);
  a.dweight = dw_d.view(dw);
  a.dbias = db_d.view(db);
  a.options = f.options;
  const std::size_t bytes = plan.backward_workspace_bytes(a);
  const Buffer workspace = space.allocate(bytes);
  a.workspace = workspace.data();
  a.workspace_bytes = bytes;
  plan.backward(a);
  space.synchronize();

  y_d.download(y);
  dx_d.download(dx);
  dw_d.download(dw);
  db_d.download(db);
  Conv1dResults r{y.read_back(), dx.read_back(), dw.read_back(), db.read_back(), {}, {}};
  const auto* dx_bytes = static_cast<const unsigned char*>(dx.data());
  const auto* dw_bytes = static_cast<const unsigned char*>(dw.data());
  r.dx_bits.assign(dx_bytes, dx_bytes + dx.bytes());
  r.dweight_bits.assign(dw_bytes, dw_bytes + dw.bytes());
  return r;
}

void expect_within(const std::string& what, const Conv1dCase& c, const std::vector<double>& got, const Bounded& ref) {
  ASSERT_EQ(got.size(), ref.value.size()) << what << ": " << c.name();
  size_t failures = 0, first = 0;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(got[i] - ref.value[i]);
    if (!(err <= ref.bound[i])) {  // NaN fails
      if (failures++ == 0) first = i;
    }
    if (ref.bound[i] > 0) worst = std::max(worst, err / ref.bound[i]);
  }
  EXPECT_EQ(failures, 0u) << what << ": " << failures << " of " << got.size() << " elements beyond their bound ("
                          << c.name() << "); first at " << first << ": got " << got[first] << ", reference "
                          << ref.value[first] << ", bound " << ref.bound[first] << "; worst error / bound " << worst;
}

void check_conv1d_case(const Conv1dPlan& plan, const MemorySpace& space, const Conv1dCase& c, uint64_t seed,
                       bool f32_terms_dw) {
  const Conv1dInputs in = Conv1dInputs::make(c, seed);
  // The CUDA backend's rule (conv1d_backend.cpp, toeplitz_mma_applies): 16-bit (B, H, L) calls with
  // K = 64 ... 1024 run their correlations on the tensor cores, with that path's bound.
  const bool mma = plan.info().backend == Backend::kCuda && c.dtype != DType::kF32 &&
                   c.layout == Conv1dLayout::kBHL && c.kernel_size >= 64 && c.kernel_size <= 1024;
  const Conv1dReference ref =
      conv1d_reference(c, in, f32_terms_dw, mma ? Conv1dArithmetic::kToeplitzMma : Conv1dArithmetic::kDirect);
  const Conv1dResults got = run_conv1d(plan, space, c, in);
  expect_within("y", c, got.y, ref.y);
  expect_within("dx", c, got.dx, ref.dx);
  expect_within("dweight", c, got.dweight, ref.dweight);
  expect_within("dbias", c, got.dbias, ref.dbias);
}

std::vector<Conv1dCase> conv1d_sweep(bool gpu_sizes) {
  static const DType kTypes[] = {DType::kF32, DType::kF16, DType::kBF16};
  std::vector<Conv1dCase> cases;
  int counter = 0;
  auto add = [&](Conv1dCase c) {
    // Rotate the dtype pair, bias, SiLU and groups over the cases.
    c.dtype = kTypes[counter % 3];
    c.weight_dtype = kTypes[(counter / 3) % 3];
    c.bias = counter % 2 == 1;
    c.activation = counter % 3 == 2 ? Activation::kSilu : Activation::kNone;
    const int64_t group_choice[] = {0, 1, 2};
    c.groups = group_choice[counter % 4 % 3];
    ++counter;
    cases.push_back(c);
  };
  std::vector<int64_t> kernel_sizes;
  for (int64_t k = 1; k <= 16; ++k) kernel_sizes.push_back(k);
  for (int64_t k : {32, 64, 127, 128, 256, 1024}) kernel_sizes.push_back(k);
  for (int64_t k : kernel_sizes) {
    for (int variant = 0; variant < 4; ++variant) {
      Conv1dCase c;
      c.kernel_size = k;
      c.layout = variant % 2 ? Conv1dLayout::kBLH : Conv1dLayout::kBHL;
      c.causal = variant < 2;
      c.padding = variant == 2 ? k / 2 : k - 1;  // 'same' (odd K) and 'full'
      if (gpu_sizes) {
        c.batch = 3;
        c.channels = c.layout == Conv1dLayout::kBLH ? 40 : 6;
        c.length = k >= 256 ? 1500 : (variant % 2 ? 4173 : 4096);
      } else {
        c.batch = 2;
        c.channels = 4;
        c.length = k + 21;
      }
      add(c);
    }
    // L < K, causal and symmetric.
    if (k >= 4) {
      Conv1dCase c;
      c.kernel_size = k;
      c.length = k / 2 + 1;
      c.causal = k % 2 == 0;
      c.padding = k / 2;
      c.layout = k % 3 ? Conv1dLayout::kBHL : Conv1dLayout::kBLH;
      add(c);
    }
  }
  // Every dtype pair, both layouts, with bias and SiLU.
  for (int i = 0; i < 9; ++i) {
    for (Conv1dLayout layout : {Conv1dLayout::kBHL, Conv1dLayout::kBLH}) {
      Conv1dCase c;
      c.kernel_size = 4;
      c.layout = layout;
      c.length = gpu_sizes ? 2100 : 29;
      c.channels = gpu_sizes ? 64 : 6;
      c.causal = true;
      c.dtype = kTypes[i % 3];
      c.weight_dtype = kTypes[i / 3];
      c.bias = true;
      c.activation = Activation::kSilu;
      c.groups = 2;
      cases.push_back(c);
    }
  }
  // Padding beyond K - 1 (dx's offset negative), 'valid' padding, one filter for every channel.
  for (Conv1dLayout layout : {Conv1dLayout::kBHL, Conv1dLayout::kBLH}) {
    Conv1dCase c;
    c.kernel_size = 3;
    c.causal = false;
    c.padding = 5;
    c.layout = layout;
    c.bias = true;
    c.length = gpu_sizes ? 3000 : 40;
    cases.push_back(c);
    c.padding = 0;
    c.kernel_size = 7;
    c.groups = 1;
    c.activation = Activation::kSilu;
    cases.push_back(c);
  }
  return cases;
}

}  // namespace ffc::testing
