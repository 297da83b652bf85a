// Many host threads sharing one CUDA plan: each thread runs its own problems on one of several
// streams (streams shared between threads), forward and backward, many times, and every result must
// equal, bit for bit, the same problem run alone beforehand. Covers the plan's const execution
// (no shared mutable state, no hidden allocation) under concurrency. Skips without a GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "backward_call.hpp"
#include "conv_case.hpp"
#include "device_memory.hpp"
#include "gpu_skip.hpp"

namespace ffc::testing {
using namespace ffc::reference;
namespace {

std::vector<unsigned char> bits_of(const std::vector<double>& v) {
  std::vector<unsigned char> out(v.size() * sizeof(double));
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

TEST(CudaStress, ThreadsAndStreamsSharingOnePlanGiveSerialBits) {
  SKIP_WITHOUT_GPU();
  constexpr int kThreads = 12, kStreams = 4, kRounds = 20;
  for (int64_t n : {4096, 16384}) {  // a one-block and a cluster kernel
    const Plan plan = Plan::create({.fft_size = n, .backend = Backend::kCuda});
    std::vector<ConvCase> cases(kThreads);
    std::vector<ConvInputs> inputs(kThreads);
    std::vector<std::unique_ptr<ForwardCall>> calls;
    std::vector<std::vector<unsigned char>> serial(kThreads);
    for (int i = 0; i < kThreads; ++i) {
      ConvCase& c = cases[static_cast<size_t>(i)];
      c.fft_size = n;
      c.batch = 1 + i % 5;
      c.heads = 3 + i;
      c.length = i % 2 ? n / 2 : n - 7;
      c.filter_length = n / 4;
      c.dtype = i % 3 ? DType::kBF16 : DType::kF16;
      c.pregate = i % 2;
      c.postgate = i % 4 < 2;
      c.use_spectrum = i % 3 == 1;
      inputs[static_cast<size_t>(i)] = ConvInputs::make(c, 1000 + static_cast<uint64_t>(i));
      calls.push_back(std::make_unique<ForwardCall>(plan, c, inputs[static_cast<size_t>(i)]));
      plan.forward(calls.back()->args);
      serial[static_cast<size_t>(i)] = bits_of(calls.back()->result());
    }
    std::vector<cudaStream_t> streams(kStreams);
    for (cudaStream_t& s : streams) ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
    std::atomic<int> mismatches{0}, errors{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        try {
          ForwardCall& call = *calls[static_cast<size_t>(i)];
          cudaStream_t stream = streams[static_cast<size_t>(i % kStreams)];
          for (int r = 0; r < kRounds; ++r) {
            plan.forward(call.args, stream);
            if (r % 5 == 4) {
              if (cudaStreamSynchronize(stream) != cudaSuccess) ++errors;
              if (bits_of(call.result()) != serial[static_cast<size_t>(i)]) ++mismatches;
            }
          }
        } catch (const std::exception&) {
          ++errors;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0) << "N=" << n;
    EXPECT_EQ(mismatches.load(), 0) << "N=" << n << ": concurrent forward calls differ from the serial run";
    for (cudaStream_t s : streams) cudaStreamDestroy(s);

    // Backward: each thread its own problem, results compared with the serial run's bits.
    std::vector<DeviceGradients> serial_grads;
    std::vector<GradCase> grad_cases(kThreads);
    std::vector<HostTensor> dys;
    for (int i = 0; i < kThreads; ++i) {
      grad_cases[static_cast<size_t>(i)].conv = cases[static_cast<size_t>(i)];
      std::mt19937_64 rng(77 + static_cast<uint64_t>(i));
      const ConvCase& c = cases[static_cast<size_t>(i)];
      dys.emplace_back(c.dtype, std::vector<int64_t>{c.batch, c.heads, c.length});
      dys.back().fill(Distribution::kRandn, rng);
      serial_grads.push_back(run_device_backward(plan, grad_cases[static_cast<size_t>(i)], inputs[static_cast<size_t>(i)], dys.back()));
    }
    std::atomic<int> grad_mismatches{0};
    threads.clear();
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        try {
          const size_t k = static_cast<size_t>(i);
          for (int r = 0; r < 3; ++r) {
            ConvInputs in = inputs[k];
            HostTensor dy = dys[k];
            const DeviceGradients g = run_device_backward(plan, grad_cases[k], in, dy);
            const DeviceGradients& s = serial_grads[k];
            if (g.du_bits != s.du_bits || bits_of(g.g.dk) != bits_of(s.g.dk) ||
                bits_of(g.g.dpregate) != bits_of(s.g.dpregate) || bits_of(g.g.dpostgate) != bits_of(s.g.dpostgate)) {
              ++grad_mismatches;
            }
          }
        } catch (const std::exception&) {
          ++errors;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0) << "N=" << n;
    EXPECT_EQ(grad_mismatches.load(), 0) << "N=" << n << ": concurrent backward calls differ from the serial run";
  }
}

}  // namespace
}  // namespace ffc::testing
