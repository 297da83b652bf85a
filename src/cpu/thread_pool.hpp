// The CPU backend's worker threads: one pool per process, created on first use and shared by every
// plan. parallel_for(count, threads, fn) runs fn(item, worker) for every item in [0, count) on up to
// `threads` workers (the calling thread is worker 0, pool threads 1 .. threads - 1) and returns when
// all are done; the first exception thrown by fn is rethrown to the caller.
//
// Many user threads may call it at once: one call at a time uses the pool's threads, and a call that
// finds them busy runs its items on the calling thread alone (same items, same worker index 0), so
// no call waits for another's work and none can deadlock. Results never depend on which worker ran
// an item (the backend's contract), only the speed does.
//
// Size: FFC_NUM_THREADS (1 .. kMaxThreads) when set, else std::thread::hardware_concurrency(); a plan
// that asks for more threads grows the pool up to kMaxThreads. A thread the system refuses to start
// is reported as ffc::Error(kOutOfMemory) and the pool keeps the threads it has.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/validate.hpp"

namespace ffc::cpu {

class ThreadPool {
 public:
  using Task = std::function<void(int64_t item, int worker)>;

  // The upper bound of any thread count (plans, FFC_NUM_THREADS).
  static constexpr int kMaxThreads = core::kMaxThreads;

  // The process-wide pool, created on first use. Throws ffc::Error(kInvalidArgument) when
  // FFC_NUM_THREADS is set but not an integer in [1, kMaxThreads].
  static ThreadPool& shared();

  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Workers including the calling thread.
  int size() const { return size_.load(std::memory_order_acquire); }

  // Grows the pool to at least `threads` workers (1 <= threads <= kMaxThreads).
  void reserve(int threads);

  void parallel_for(int64_t count, int threads, const Task& task);

 private:
  void worker_loop(int worker);
  void run_items(int worker, uint64_t generation);
  void stop_and_join();

  std::vector<std::thread> threads_;
  std::atomic<int> size_{1};
  std::mutex grow_mutex_;  // reserve() calls
  std::mutex call_mutex_;  // the call that owns the pool's threads
  std::mutex mutex_;       // the state below
  std::condition_variable wake_;
  std::condition_variable done_;
  const Task* task_ = nullptr;
  int64_t count_ = 0;
  int64_t next_ = 0;
  int active_ = 0;  // workers taking part in the current call
  int busy_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace ffc::cpu
