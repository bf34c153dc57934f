#include "base/thread_pool.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CORELM_CPU_RELAX() _mm_pause()
#else
#define CORELM_CPU_RELAX() ((void)0)
#endif

namespace corelm {

namespace {
// How many times a waiting thread polls before it sleeps: about 50-100 us on current CPUs,
// longer than the gap between two kernels of one forward pass.
constexpr int kSpinIterations = 20000;
}  // namespace

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(n_threads > 0 ? n_threads : default_thread_count()) {
  workers_.reserve(n_threads_ - 1);
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run(CallableRef<void(int, int)> task) {
  if (n_threads_ == 1) {
    task(0, 1);
    return;
  }
  task_ = &task;
  error_ = nullptr;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  run_guarded(task, 0);
  // The caller's share is done; the others finish within microseconds on their own cores.
  // Yielding would only add a system call (and oversubscribed machines still progress).
  int spins = 0;
  while (pending_.load(std::memory_order_acquire) != 0) {
    if (++spins % 1024 == 0) std::this_thread::yield();
    CORELM_CPU_RELAX();
  }
  task_ = nullptr;
  // Every thread has left the task (it refers to the caller's frame): now an error may unwind.
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void ThreadPool::run_guarded(CallableRef<void(int, int)> task, int index) {
  try {
    task(index, n_threads_);
  } catch (...) {
    // Keep the first error; the others are usually the same failure seen by another thread.
    std::lock_guard<std::mutex> lock(error_mutex_);
    if (!error_) error_ = std::current_exception();
  }
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    uint64_t gen;
    while ((gen = generation_.load(std::memory_order_acquire)) == seen) {
      if (++spins < kSpinIterations) {
        CORELM_CPU_RELAX();
      } else {
        generation_.wait(seen, std::memory_order_acquire);
      }
    }
    seen = gen;
    if (stop_.load(std::memory_order_acquire)) return;
    run_guarded(*task_, index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallel_for(size_t n, size_t grain, CallableRef<void(size_t, size_t)> body) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  size_t chunks = (n + grain - 1) / grain;
  if (n_threads_ == 1 || chunks == 1) {
    body(0, n);
    return;
  }
  run([&](int thread, int n_threads) {
    size_t t = static_cast<size_t>(thread), nt = static_cast<size_t>(n_threads);
    size_t begin = chunks * t / nt * grain;
    size_t end = std::min(n, chunks * (t + 1) / nt * grain);
    if (begin < end) body(begin, end);
  });
}

void ThreadPool::parallel_for_dynamic(size_t n, size_t grain,
                                      CallableRef<void(size_t, size_t)> body) {
  if (n == 0) return;
  grain = std::max<size_t>(grain, 1);
  const size_t tasks = (n + grain - 1) / grain;
  if (n_threads_ == 1 || tasks == 1) {
    body(0, n);
    return;
  }
  next_task_.store(0, std::memory_order_relaxed);
  run([&](int, int) {
    for (;;) {
      size_t task = next_task_.fetch_add(1, std::memory_order_relaxed);
      if (task >= tasks) return;
      size_t begin = task * grain;
      body(begin, std::min(n, begin + grain));
    }
  });
}

int ThreadPool::default_thread_count() {
  // Count distinct (package, core) pairs among the CPUs this process may run on.
  cpu_set_t set;
  CPU_ZERO(&set);
  int allowed = 0;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) allowed = CPU_COUNT(&set);
  std::set<std::pair<std::string, std::string>> cores;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (allowed > 0 && !CPU_ISSET(cpu, &set)) continue;
    std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::ifstream core_file(base + "core_id"), pkg_file(base + "physical_package_id");
    if (!core_file || !pkg_file) continue;
    std::string core, pkg;
    core_file >> core;
    pkg_file >> pkg;
    cores.emplace(pkg, core);
  }
  int n = static_cast<int>(cores.size());
  if (n == 0) n = allowed > 0 ? allowed : static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, n);
}

}  // namespace corelm
