// ThreadPool: a fixed set of worker threads created once (never per token). `run` executes a task
// on every thread (the caller is thread 0) and returns when all are done; workers spin briefly
// between tasks and then sleep on an atomic wait, so back-to-back kernels cost no syscalls.
// Not reentrant: one `run` at a time per pool. An exception thrown by a task on any thread is
// carried back and rethrown by `run` in the caller once every thread has finished (the first one
// thrown, if several threads throw).
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "base/callable_ref.h"

namespace corelm {

class ThreadPool {
 public:
  // `n_threads` counts the caller; 0 picks default_thread_count().
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls task(thread_index, n_threads) once on each thread; rethrows a task's exception.
  void run(CallableRef<void(int, int)> task);

  // Splits [0, n) into contiguous ranges, one per thread, each a multiple of `grain` (except
  // the last) and calls body(begin, end) for the non-empty ones.
  void parallel_for(size_t n, size_t grain, CallableRef<void(size_t, size_t)> body);

  // Splits [0, n) into tasks of `grain` items handed out on demand (an atomic counter), so a
  // thread slowed by another process's load does not hold the others up.
  void parallel_for_dynamic(size_t n, size_t grain, CallableRef<void(size_t, size_t)> body);

  // Physical cores available to this process (hyper-threads not counted), at least 1.
  static int default_thread_count();

 private:
  void worker_loop(int index);
  void run_guarded(CallableRef<void(int, int)> task, int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  const CallableRef<void(int, int)>* task_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
  alignas(64) std::atomic<size_t> next_task_{0};
};

}  // namespace corelm
