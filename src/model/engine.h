// Engine: the compute resources that every Session of one Model shares — one thread pool (so N
// sessions never mean N pools oversubscribing the cores) and the lock that gives one forward
// call at a time the whole pool. A server batches its sequences into one call instead of
// running sessions side by side; sessions on different threads simply take turns.
#pragma once

#include <mutex>

#include "base/thread_pool.h"

namespace corelm {

class Engine {
 public:
  // n_threads counts the caller; 0 picks one per physical core.
  explicit Engine(int n_threads) : pool_(n_threads) {}
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  ThreadPool& pool() { return pool_; }
  int threads() const { return pool_.size(); }
  // Held for the whole of a forward call.
  std::mutex& compute_mutex() { return mutex_; }

 private:
  ThreadPool pool_;
  std::mutex mutex_;
};

}  // namespace corelm
