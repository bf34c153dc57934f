#include <gtest/gtest.h>

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "base/thread_pool.h"

namespace corelm {
namespace {

TEST(ThreadPool, ParallelForCoversEveryIndexOnce) {
  for (int threads : {1, 2, 3, 4}) {
    ThreadPool pool(threads);
    for (size_t n : {0u, 1u, 7u, 16u, 17u, 1000u}) {
      for (size_t grain : {1u, 4u, 16u}) {
        std::vector<std::atomic<int>> hits(n);
        pool.parallel_for(n, grain, [&](size_t b, size_t e) {
          for (size_t i = b; i < e; ++i) hits[i]++;
        });
        for (size_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[i].load(), 1) << threads << " " << n << " " << grain;
      }
    }
  }
}

TEST(ThreadPool, RunReachesEveryThread) {
  ThreadPool pool(3);
  for (int round = 0; round < 1000; ++round) {
    std::atomic<int> mask{0};
    pool.run([&](int t, int n) {
      EXPECT_EQ(n, 3);
      mask |= 1 << t;
    });
    ASSERT_EQ(mask.load(), 7);
  }
}

// The kernel's own count of this process's threads.
size_t os_thread_count() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

pid_t os_thread_id() {
  return static_cast<pid_t>(syscall(SYS_gettid));
}

// The thread count once exited threads have left /proc: join() returns when a thread has
// finished, a moment before the kernel removes its task entry. Waits up to 2 s for `expected`.
size_t thread_count_settling_to(size_t expected) {
  size_t n = os_thread_count();
  for (int i = 0; i < 200 && n != expected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    n = os_thread_count();
  }
  return n;
}

TEST(ThreadPool, SizeNMeansNOperatingSystemThreadsCallerIncluded) {
  const size_t before = os_thread_count();
  for (int n : {1, 2, 3, 5}) {
    {
      ThreadPool pool(n);
      EXPECT_EQ(pool.size(), n);
      // n - 1 workers besides the caller, as the kernel sees them.
      EXPECT_EQ(os_thread_count(), before + static_cast<size_t>(n - 1)) << n;
      std::mutex mu;
      std::map<int, pid_t> tid_of_index;
      pool.run([&](int t, int total) {
        EXPECT_EQ(total, n);
        std::lock_guard<std::mutex> lock(mu);
        tid_of_index[t] = os_thread_id();
      });
      ASSERT_EQ(tid_of_index.size(), static_cast<size_t>(n));
      EXPECT_EQ(tid_of_index[0], os_thread_id()) << "thread 0 is the caller";
      std::set<pid_t> distinct;
      for (const auto& [t, tid] : tid_of_index) distinct.insert(tid);
      EXPECT_EQ(distinct.size(), static_cast<size_t>(n)) << "every index on its own thread";
    }
    EXPECT_EQ(thread_count_settling_to(before), before)
        << "workers joined when the pool of " << n << " ends";
  }
}

std::set<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  std::set<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.insert(c);
  return cpus;
}

// cpu -> "socket/core", as lscpu (util-linux) reports it; empty when lscpu is not there or
// knows no cores (some emulators).
std::map<int, std::string> cores_from_lscpu() {
  std::map<int, std::string> core_of;
  FILE* p = popen("lscpu -p=CPU,CORE,SOCKET 2>/dev/null", "r");
  if (!p) return core_of;
  char line[256];
  while (std::fgets(line, sizeof(line), p)) {
    if (line[0] == '#') continue;
    int cpu = -1, core = -1, socket = -1;
    if (std::sscanf(line, "%d,%d,%d", &cpu, &core, &socket) == 3 && core >= 0)
      core_of[cpu] = std::to_string(socket) + "/" + std::to_string(core);
  }
  pclose(p);
  return core_of;
}

// The same from /proc/cpuinfo ("processor", "physical id", "core id"), for machines without
// lscpu.
std::map<int, std::string> cores_from_cpuinfo() {
  std::map<int, std::string> core_of;
  std::ifstream in("/proc/cpuinfo");
  std::string line, package;
  int cpu = -1;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    std::string value = line.substr(colon + 1);
    if (key == "processor") cpu = std::stoi(value);
    if (key == "physical id") package = value;
    if (key == "core id" && cpu >= 0) core_of[cpu] = package + "/" + value;
  }
  return core_of;
}

// Physical cores among `cpus`, counted from outside corelm; 0 when no source knows.
size_t physical_cores(const std::set<int>& cpus) {
  auto core_of = cores_from_lscpu();
  if (core_of.empty()) core_of = cores_from_cpuinfo();
  std::set<std::string> cores;
  for (int c : cpus)
    if (core_of.count(c)) cores.insert(core_of[c]);
  return cores.size();
}

TEST(ThreadPool, DefaultThreadCountIsThePhysicalCoresThisProcessMayUse) {
  const auto cpus = allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  size_t expected = physical_cores(cpus);
  std::printf("allowed CPUs %zu, physical cores among them %zu (lscpu / /proc/cpuinfo)\n",
              cpus.size(), expected);
  if (expected == 0) expected = cpus.size();  // no topology anywhere: one thread per CPU
  EXPECT_EQ(ThreadPool::default_thread_count(), static_cast<int>(expected));
  ThreadPool pool;  // 0 threads asked: the default
  EXPECT_EQ(pool.size(), static_cast<int>(expected));
}

TEST(ThreadPool, DefaultThreadCountFollowsTheAffinityMask) {
  // On a thread pinned to one CPU, only one core may be used, whatever the machine has.
  for (int cpu : allowed_cpus()) {
    int seen = -1;
    std::thread t([&] {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
      seen = ThreadPool::default_thread_count();
    });
    t.join();
    EXPECT_EQ(seen, 1) << "pinned to CPU " << cpu;
  }
}

TEST(ThreadPool, ATasksExceptionReachesTheCallerAndThePoolStaysUsable) {
  // Before: an exception escaping a worker's task called std::terminate.
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int thrower = 0; thrower < threads; ++thrower) {
      std::atomic<int> finished{0};
      try {
        pool.run([&](int t, int) {
          if (t == thrower) throw std::runtime_error("task " + std::to_string(t) + " failed");
          finished++;
        });
        ADD_FAILURE() << "no exception from thread " << thrower;
      } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()), "task " + std::to_string(thrower) + " failed");
      }
      // The other threads ran to the end before run() returned.
      EXPECT_EQ(finished.load(), threads - 1);
    }
    // Every thread throwing: one of them arrives, and the pool still works afterwards.
    EXPECT_THROW(
        pool.parallel_for_dynamic(100, 1, [](size_t, size_t) { throw std::logic_error("x"); }),
        std::logic_error);
    std::atomic<size_t> sum{0};
    pool.parallel_for(1000, 1, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) sum += i;
    });
    EXPECT_EQ(sum.load(), 999u * 1000u / 2);
  }
}

}  // namespace
}  // namespace corelm
