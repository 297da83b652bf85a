#include "cpu/thread_pool.hpp"

#include <cerrno>
#include <cstdlib>
#include <string>
#include <system_error>

#include "core/errors.hpp"

namespace ffc::cpu {
namespace {

// FFC_NUM_THREADS, or the hardware's thread count.
int default_threads() {
  const char* env = std::getenv("FFC_NUM_THREADS");
  if (env != nullptr && *env != '\0') {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(env, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > ThreadPool::kMaxThreads) {
      core::throw_invalid(std::string("FFC_NUM_THREADS: '") + env + "' (rule: an integer from 1 to " +
                          std::to_string(ThreadPool::kMaxThreads) + ")");
    }
    return static_cast<int>(v);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw < static_cast<unsigned>(ThreadPool::kMaxThreads) ? hw : ThreadPool::kMaxThreads);
}

}  // namespace

ThreadPool& ThreadPool::shared() {
  // Created once, never destroyed: its idle threads end with the process, and no plan can outlive it.
  static ThreadPool* pool = new ThreadPool(default_threads());
  return *pool;
}

ThreadPool::ThreadPool(int threads) {
  try {
    reserve(threads);
  } catch (...) {
    stop_and_join();  // the threads already started, before the members go
    throw;
  }
}

ThreadPool::~ThreadPool() { stop_and_join(); }

void ThreadPool::stop_and_join() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void ThreadPool::reserve(int threads) {
  if (threads < 1 || threads > kMaxThreads) {
    core::throw_invalid("num_threads: " + std::to_string(threads) + " (rule: 1 <= num_threads <= " +
                        std::to_string(kMaxThreads) + ")");
  }
  std::lock_guard<std::mutex> grow(grow_mutex_);
  while (size() < threads) {
    const int worker = size();
    try {
      threads_.emplace_back([this, worker] { worker_loop(worker); });
    } catch (const std::system_error& e) {
      throw Error(Status::kOutOfMemory, "num_threads: the system refused to start worker thread " +
                                            std::to_string(worker + 1) + " of " + std::to_string(threads) +
                                            " (" + e.what() + "); " + std::to_string(worker) +
                                            " are running (rule: ask for fewer threads)");
    }
    size_.store(worker + 1, std::memory_order_release);
  }
}

void ThreadPool::run_items(int worker, uint64_t generation) {
  for (;;) {
    int64_t item;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // A worker that joined a call late (after it ended) must not take the next call's items: the
      // next call may have fewer workers (its scratch has no slot for this one).
      if (generation_ != generation || next_ >= count_ || error_) return;
      item = next_++;
    }
    try {
      (*task_)(item, worker);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::worker_loop(int worker) {
  uint64_t seen = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    seen = generation_;  // a thread started during a call does not join it
  }
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (worker >= active_) continue;
      ++busy_;
    }
    run_items(worker, seen);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--busy_ == 0) done_.notify_all();
    }
  }
}

void ThreadPool::parallel_for(int64_t count, int threads, const Task& task) {
  if (count <= 0) return;
  const int workers = threads < size() ? threads : size();
  std::unique_lock<std::mutex> call(call_mutex_, std::try_to_lock);
  uint64_t generation = 0;
  if (!call.owns_lock() || workers <= 1 || count == 1) {
    // Busy with another call, one worker, or one item: the calling thread runs everything.
    for (int64_t i = 0; i < count; ++i) task(i, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = &task;
    count_ = count;
    next_ = 0;
    active_ = workers;
    error_ = nullptr;
    generation = ++generation_;
  }
  wake_.notify_all();
  run_items(0, generation);
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    // Items are all claimed once run_items returns; wait for the workers still running theirs.
    done_.wait(lock, [&] { return busy_ == 0; });
    task_ = nullptr;
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace ffc::cpu
