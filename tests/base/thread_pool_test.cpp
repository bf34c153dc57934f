#include <gtest/gtest.h>

#include <atomic>
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

TEST(ThreadPool, DefaultThreadCountIsPositive) {
  EXPECT_GE(ThreadPool::default_thread_count(), 1);
}

}  // namespace
}  // namespace corelm
