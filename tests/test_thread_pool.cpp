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
