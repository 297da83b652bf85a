// The CPU backend's one process-wide thread pool (src/cpu/thread_pool.hpp): many plans share it, so
// the process's thread count does not grow with the number of plans; calls from many user threads
// at once all complete with the bits of a serial run.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "conv_case.hpp"
#include "cpu/thread_pool.hpp"

namespace ffc::testing {
using namespace ffc::reference;
namespace {

int threads_of_this_process() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "Threads:") {
      int n = -1;
      status >> n;
      return n;
    }
  }
  return -1;
}

TEST(SharedThreadPool, AThousandPlansFromEightThreads) {
  constexpr int kPlans = 1000, kUserThreads = 8;
  const int before = threads_of_this_process();
  std::vector<Plan> plans;
  std::vector<ConvCase> cases;
  std::vector<ConvInputs> inputs;
  std::vector<std::vector<double>> serial;
  for (int i = 0; i < kPlans; ++i) {
    const int64_t n = int64_t{16} << (i % 6);  // 16 .. 512
    plans.push_back(Plan::create({.fft_size = n, .backend = Backend::kCpu, .num_threads = i % 3}));
    ConvCase c;
    c.fft_size = n;
    c.batch = 1 + i % 3;
    c.heads = 1 + i % 4;
    c.length = n / 2;
    c.filter_length = n / 2;
    c.dtype = i % 2 ? DType::kF32 : DType::kBF16;
    c.pregate = i % 5 == 0;
    cases.push_back(c);
    inputs.push_back(ConvInputs::make(c, static_cast<uint64_t>(i)));
  }
  for (int i = 0; i < kPlans; ++i) serial.push_back(run_library(plans[i], cases[i], inputs[i]));

  std::atomic<int> mismatches{0}, errors{0};
  std::vector<std::thread> users;
  for (int t = 0; t < kUserThreads; ++t) {
    users.emplace_back([&, t] {
      for (int i = t; i < kPlans; i += kUserThreads) {
        try {
          ConvInputs in = inputs[static_cast<size_t>(i)];
          if (run_library(plans[static_cast<size_t>(i)], cases[static_cast<size_t>(i)], in) != serial[static_cast<size_t>(i)]) {
            ++mismatches;
          }
        } catch (const std::exception&) {
          ++errors;
        }
      }
    });
  }
  for (std::thread& u : users) u.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0) << "concurrent calls differ from the serial run";
  // One pool: at most its size (the hardware threads, or the largest thread count asked for, 2
  // here) beyond the threads this process had, never one pool per plan.
  const int pool = std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  const int after = threads_of_this_process();
  EXPECT_LE(after - before, pool) << "1000 plans started " << after - before << " threads";
}

}  // namespace
}  // namespace ffc::testing

// A worker woken for one call but scheduled after it ended must not take the next call's items:
// calls alternate between 4 and 2 workers, and every item must run on a worker below its call's
// count (the backend indexes per-worker scratch by it). Regression test of a race the C ABI fuzzer
// found (a late worker of a 4-thread call ran a 2-thread plan's item with worker index 2).
TEST(ThreadPool, LateWorkersDoNotJoinTheNextCall) {
  ffc::cpu::ThreadPool pool(4);
  std::atomic<int> beyond{0};
  for (int call = 0; call < 20000; ++call) {
    const int threads = call % 2 == 0 ? 4 : 2;
    pool.parallel_for(6, threads, [&](int64_t, int worker) {
      if (worker >= threads) beyond.fetch_add(1);
    });
  }
  EXPECT_EQ(beyond.load(), 0);
}
