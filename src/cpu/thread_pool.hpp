// A fixed pool of worker threads for the CPU backend. parallel_for(count, fn) runs fn(item, worker)
// for every item in [0, count) on the pool plus the calling thread and returns when all are done;
// the first exception thrown by fn is rethrown to the caller. Calls from several threads are
// serialized.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ffc::cpu {

class ThreadPool {
 public:
  using Task = std::function<void(int64_t item, int worker)>;

  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Workers including the calling thread.
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void parallel_for(int64_t count, const Task& task);

 private:
  void worker_loop(int worker);
  void run_items(int worker);

  std::vector<std::thread> workers_;
  std::mutex call_mutex_;  // one parallel_for at a time
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const Task* task_ = nullptr;
  int64_t count_ = 0;
  int64_t next_ = 0;
  int busy_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace ffc::cpu
