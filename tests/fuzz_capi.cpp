// A fuzz test of the C ABI (CPU backend), built with AddressSanitizer and UndefinedBehaviorSanitizer
// (tests/CMakeLists.txt, ctest label "sanitizers"): random plan options, shapes, strides, dtypes,
// null pointers, mismatched workspaces and sizes near 2^31 and 2^63, through every entry point.
// Every call must return a known status, with a message when it is not FFC_SUCCESS, and never
// FFC_INTERNAL; the sanitizers fail the run on any out-of-bounds access, leak or undefined
// behaviour.
//
// Memory is always valid for what a tensor claims when the claim is small: each tensor's buffer
// holds exactly numel x element size bytes (the library accepts only contiguous tensors), so an
// access past it is the library's bug. Claims too large to allocate are made invalid on purpose
// (a product beyond 2^63, a negative extent, L above N), so the library must reject them before
// touching memory. Deterministic: a fixed seed per iteration (FFC_FUZZ_ITERATIONS overrides the
// count).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ffc/ffc.h"

namespace {

using Rng = std::mt19937_64;

int64_t pick(Rng& rng, std::initializer_list<int64_t> values) {
  std::uniform_int_distribution<size_t> d(0, values.size() - 1);
  return *(values.begin() + static_cast<std::ptrdiff_t>(d(rng)));
}

bool chance(Rng& rng, double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; }

size_t element_bytes(int dtype) { return dtype == FFC_F32 ? 4 : 2; }

// Buffers of exactly the bytes asked for, freed at the end of an iteration.
struct Arena {
  std::vector<std::unique_ptr<unsigned char[]>> blocks;
  void* get(size_t bytes) {
    blocks.push_back(std::make_unique<unsigned char[]>(bytes == 0 ? 1 : bytes));
    std::memset(blocks.back().get(), 0, bytes == 0 ? 1 : bytes);
    return blocks.back().get();
  }
};

constexpr int64_t kAllocLimit = int64_t{1} << 22;  // elements

// A tensor of rank `rank` with the given shape, mostly well-formed, sometimes not.
ffc_tensor_t make_tensor(Rng& rng, Arena& arena, int rank, const int64_t* shape, int dtype) {
  ffc_tensor_t t{};
  t.dtype = static_cast<ffc_dtype_t>(chance(rng, 0.03) ? pick(rng, {-1, 3, 7, 1 << 30}) : dtype);
  t.ndim = chance(rng, 0.03) ? static_cast<int32_t>(pick(rng, {-1, 0, 1, 4, 100})) : rank;
  int64_t numel = 1;
  bool huge = false;
  for (int i = 0; i < rank; ++i) {
    t.shape[i] = shape[i];
    if (shape[i] < 0 || (shape[i] > 0 && numel > kAllocLimit / shape[i])) huge = true;
    numel = huge ? numel : numel * shape[i];
  }
  int64_t stride = 1;
  for (int i = rank - 1; i >= 0; --i) {
    t.strides[i] = stride;
    if (shape[i] > 0 && shape[i] < (int64_t{1} << 40) && stride < (int64_t{1} << 20)) stride *= shape[i];
  }
  if (chance(rng, 0.05)) t.strides[rng() % rank] = pick(rng, {0, -1, 2, int64_t{1} << 62, INT64_MIN});
  if (chance(rng, 0.03)) {
    t.data = nullptr;
  } else if (huge) {
    t.data = arena.get(64);  // the claim is invalid: the library must not read it
  } else {
    t.data = arena.get(static_cast<size_t>(numel) * element_bytes(static_cast<int>(dtype)));
  }
  return t;
}

// A dimension: usually small, sometimes zero, negative or near 2^31 / 2^63.
int64_t dimension(Rng& rng, int64_t typical) {
  if (chance(rng, 0.85)) return typical;
  return pick(rng, {0, -1, -(int64_t{1} << 40), int64_t{1} << 31, (int64_t{1} << 31) - 1, int64_t{1} << 55,
                    int64_t{1} << 62, INT64_MAX, INT64_MIN});
}

// A huge dimension leaves the buffers unallocated; it is kept only where the call is invalid
// anyway: the product with the other dimensions passes 2^63, or it is negative, or L exceeds N.
bool invalid_anyway(const int64_t* shape, int rank, int64_t n, int l_axis) {
  double product = 1;
  for (int i = 0; i < rank; ++i) {
    if (shape[i] < 0) return true;
    product *= static_cast<double>(shape[i]);
    if (product > 0x1p62) return true;
  }
  return l_axis >= 0 && shape[l_axis] > n;
}

bool too_big(const int64_t* shape, int rank) {
  double product = 1;
  for (int i = 0; i < rank; ++i) {
    if (shape[i] < 0) return false;
    product *= static_cast<double>(shape[i]);
  }
  return product > static_cast<double>(kAllocLimit);
}

struct Tally {
  int calls = 0, successes = 0;
};

void expect_status(ffc_status_t s, const std::string& what, Tally& tally) {
  ++tally.calls;
  ASSERT_GE(static_cast<int>(s), 0) << what;
  ASSERT_LE(static_cast<int>(s), static_cast<int>(FFC_INTERNAL)) << what;
  EXPECT_NE(s, FFC_INTERNAL) << what << ": " << ffc_last_error();
  if (s == FFC_SUCCESS) {
    ++tally.successes;
  } else {
    EXPECT_GT(std::strlen(ffc_last_error()), 0u) << what << " returned " << s << " without a message";
  }
}

void fuzz_once(uint64_t seed, Tally& tally) {
  Rng rng(seed);
  Arena arena;
  ffc_plan_options_t o = FFC_PLAN_OPTIONS_INIT;
  o.fft_size = chance(rng, 0.9) ? int64_t{16} << (rng() % 8) : pick(rng, {0, 17, 1000, -16, int64_t{1} << 40, INT64_MIN});
  o.backend = static_cast<ffc_backend_t>(chance(rng, 0.95) ? int64_t{FFC_BACKEND_CPU} : pick(rng, {-1, 5, FFC_BACKEND_AUTO}));
  o.num_threads = static_cast<int32_t>(chance(rng, 0.9) ? pick(rng, {0, 1, 2, 3}) : pick(rng, {-1, 1025, 100000, INT32_MAX}));
  if (chance(rng, 0.03)) o.struct_size = pick(rng, {0, 1, 1 << 20});
  ffc_plan_t* plan = nullptr;
  const ffc_status_t created = ffc_plan_create(&o, &plan);
  expect_status(created, "plan_create", tally);
  if (created != FFC_SUCCESS) {
    EXPECT_EQ(plan, nullptr);
    return;
  }
  const int64_t n = o.fft_size;
  const int dtype = static_cast<int>(rng() % 3);
  int64_t bhl[3] = {dimension(rng, 1 + static_cast<int64_t>(rng() % 4)), dimension(rng, 1 + static_cast<int64_t>(rng() % 3)),
                    dimension(rng, 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(n)))};
  int64_t hk[2] = {chance(rng, 0.9) ? bhl[1] : dimension(rng, 2), dimension(rng, 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(n)))};
  // Work bounded too: B H transforms of size N (an empty length still transforms its rows).
  const int64_t rows_by_n[3] = {bhl[0], bhl[1], n};
  const bool too_much_work = too_big(rows_by_n, 3) && !invalid_anyway(bhl, 3, n, 2);
  if (too_much_work || (too_big(bhl, 3) && !invalid_anyway(bhl, 3, n, 2)) ||
      (too_big(hk, 2) && !invalid_anyway(hk, 2, n, 1))) {
    ffc_plan_destroy(plan);
    return;  // a valid claim too large to back with memory: not fuzzable
  }
  const int gate_dtype = chance(rng, 0.05) ? (dtype + 1) % 3 : dtype;
  ffc_tensor_t u = make_tensor(rng, arena, 3, bhl, dtype), y = make_tensor(rng, arena, 3, bhl, dtype);
  ffc_tensor_t pre = make_tensor(rng, arena, 3, bhl, gate_dtype), post = make_tensor(rng, arena, 3, bhl, dtype);
  ffc_tensor_t k = make_tensor(rng, arena, 2, hk, static_cast<int>(rng() % 3));
  ffc_tensor_t dy = make_tensor(rng, arena, 3, bhl, dtype), du = make_tensor(rng, arena, 3, bhl, dtype);
  ffc_tensor_t dpre = make_tensor(rng, arena, 3, bhl, dtype), dpost = make_tensor(rng, arena, 3, bhl, dtype);
  int64_t dk_shape[2] = {hk[0], chance(rng, 0.9) ? hk[1] : dimension(rng, n)};
  if (too_big(dk_shape, 2) && !invalid_anyway(dk_shape, 2, n, 1)) dk_shape[1] = 1;
  ffc_tensor_t dk = make_tensor(rng, arena, 2, dk_shape, FFC_F32);

  // Sizes, with heads and batch from the tensors or anywhere.
  const int64_t heads = chance(rng, 0.8) ? bhl[1] : dimension(rng, 3);
  const int64_t batch = chance(rng, 0.8) ? bhl[0] : dimension(rng, 3);
  size_t spectrum_bytes = 0, workspace_bytes = 0, backward_bytes = 0;
  const bool have_spectrum = ffc_spectrum_bytes(plan, heads, &spectrum_bytes) == FFC_SUCCESS;
  expect_status(have_spectrum ? FFC_SUCCESS : FFC_INVALID_ARGUMENT, "spectrum_bytes", tally);
  const bool have_workspace = ffc_workspace_bytes(plan, heads, &workspace_bytes) == FFC_SUCCESS;
  const bool have_backward = ffc_backward_workspace_bytes(plan, batch, heads, &backward_bytes) == FFC_SUCCESS;
  expect_status(ffc_spectrum_bytes(plan, heads, nullptr), "spectrum_bytes(null)", tally);
  constexpr size_t kBufferLimit = size_t{1} << 28;
  auto buffer = [&](bool have, size_t bytes) -> std::pair<void*, size_t> {
    if (chance(rng, 0.05)) return {nullptr, bytes};
    if (!have || bytes > kBufferLimit) return {arena.get(64), 64};
    const size_t size = chance(rng, 0.1) && bytes > 0 ? bytes - 1 : bytes;  // one byte short
    return {arena.get(size), size};
  };

  // transform_filter, then forward with the spectrum or with k.
  auto [spectrum, spectrum_size] = buffer(have_spectrum, spectrum_bytes);
  expect_status(ffc_transform_filter(plan, chance(rng, 0.03) ? nullptr : &k, spectrum, spectrum_size, nullptr),
                "transform_filter", tally);
  auto [workspace, workspace_size] = buffer(have_workspace, workspace_bytes);
  ffc_forward_args_t f = FFC_FORWARD_ARGS_INIT;
  f.u = chance(rng, 0.03) ? nullptr : &u;
  f.y = chance(rng, 0.1) ? &u : &y;  // in place sometimes
  if (chance(rng, 0.5)) {
    f.k = &k;
    f.workspace = workspace;
    f.workspace_bytes = workspace_size;
  } else {
    f.spectrum = spectrum;
    f.spectrum_bytes = spectrum_size;
    f.spectrum_heads = chance(rng, 0.9) ? heads : dimension(rng, 2);
  }
  if (chance(rng, 0.03)) f.k = &k;  // both filter forms
  if (chance(rng, 0.5)) f.pregate = &pre;
  if (chance(rng, 0.5)) f.postgate = &post;
  if (chance(rng, 0.02)) f.struct_size = pick(rng, {0, 8, 1 << 20});
  expect_status(ffc_forward(plan, chance(rng, 0.02) ? nullptr : &f, nullptr), "forward", tally);

  // backward
  auto [bws, bws_size] = buffer(have_backward, backward_bytes);
  ffc_backward_args_t b = FFC_BACKWARD_ARGS_INIT;
  b.dy = &dy;
  b.u = &u;
  if (chance(rng, 0.5)) {
    b.k = &k;
  } else {
    b.spectrum = spectrum;
    b.spectrum_bytes = spectrum_size;
    b.spectrum_heads = heads;
  }
  b.pregate = chance(rng, 0.5) ? &pre : nullptr;
  b.postgate = chance(rng, 0.5) ? &post : nullptr;
  b.du = chance(rng, 0.7) ? (chance(rng, 0.1) ? &dy : &du) : nullptr;
  b.dk = chance(rng, 0.5) ? &dk : nullptr;
  b.dpregate = chance(rng, 0.4) ? &dpre : nullptr;
  b.dpostgate = chance(rng, 0.4) ? &dpost : nullptr;
  b.workspace = bws;
  b.workspace_bytes = bws_size;
  expect_status(ffc_backward(plan, &b, nullptr), "backward", tally);

  ffc_plan_info_t info = FFC_PLAN_INFO_INIT;
  expect_status(ffc_plan_get_info(plan, &info), "get_info", tally);
  ffc_plan_destroy(plan);
}

TEST(FuzzCApi, EveryCallReturnsAStatusAndStaysInBounds) {
  int iterations = 20000;
  if (const char* env = std::getenv("FFC_FUZZ_ITERATIONS")) iterations = std::atoi(env);
  Tally tally;
  for (int i = 0; i < iterations; ++i) {
    fuzz_once(0x5eed0000u + static_cast<uint64_t>(i), tally);
    if (::testing::Test::HasFatalFailure() || ::testing::Test::HasFailure()) {
      ADD_FAILURE() << "first failing seed: " << 0x5eed0000u + static_cast<uint64_t>(i);
      break;
    }
  }
  // The fuzz must reach the library's work, not only its argument checks.
  EXPECT_GT(tally.successes, tally.calls / 10) << tally.successes << " successes in " << tally.calls << " calls";
  std::printf("%d calls, %d succeeded\n", tally.calls, tally.successes);
}

}  // namespace
