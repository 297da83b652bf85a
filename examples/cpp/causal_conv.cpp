// A causal long convolution on the CPU through the installed package, checked against a direct
// sum: y[b, h, t] = sum_{j <= t} k[h, j] u[b, h, t - j]. Exits 0 when the f32 result matches to 1e-5.
#include <ffc/ffc.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

int main() {
  const int64_t batch = 2, heads = 3, length = 1000, n = 2048;  // N >= 2 L - 1: causal
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  std::vector<float> u(batch * heads * length), k(heads * length), y(u.size());
  for (float& v : u) v = normal(rng);
  for (float& v : k) v = normal(rng) / std::sqrt(static_cast<float>(length));

  try {
    const ffc::Plan plan = ffc::Plan::create({.fft_size = n, .backend = ffc::Backend::kCpu});
    ffc::ForwardArgs args;
    args.u = ffc::Tensor::contiguous(u.data(), ffc::DType::kF32, {batch, heads, length});
    args.k = ffc::Tensor::contiguous(k.data(), ffc::DType::kF32, {heads, length});
    args.y = ffc::Tensor::contiguous(y.data(), ffc::DType::kF32, {batch, heads, length});
    std::vector<std::byte> workspace(plan.workspace_bytes(heads));
    args.workspace = workspace.data();
    args.workspace_bytes = workspace.size();
    plan.forward(args);
  } catch (const ffc::Error& e) {
    std::fprintf(stderr, "causal_conv: %s\n", e.what());
    return 1;
  }

  double err = 0, norm = 0;
  for (int64_t r = 0; r < batch * heads; ++r) {
    const int64_t h = r % heads;
    for (int64_t t = 0; t < length; ++t) {
      double want = 0;
      for (int64_t j = 0; j <= t; ++j) want += double{k[h * length + j]} * u[r * length + t - j];
      const double got = y[r * length + t];
      err += (got - want) * (got - want);
      norm += want * want;
    }
  }
  const double rel = std::sqrt(err / norm);
  std::printf("flashfftconv %s: causal conv B=%lld H=%lld L=%lld N=%lld, relative L2 error %.2e\n",
              ffc::version_string(), static_cast<long long>(batch), static_cast<long long>(heads),
              static_cast<long long>(length), static_cast<long long>(n), rel);
  return rel < 1e-5 ? 0 : 1;
}
