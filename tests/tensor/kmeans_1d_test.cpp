// optimal_contiguous_clusters (tensor/kmeans_1d.h) against an exhaustive search of every split:
// the same least total cost, on random weighted points, points of weight 0, ties and k = n.
#include "tensor/kmeans_1d.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace corelm {
namespace {

struct Points {
  std::vector<double> p, q, r;  // prefix sums of w, w x, (w x) x
  explicit Points(const std::vector<double>& x, const std::vector<double>& w)
      : p(x.size() + 1, 0.0), q(x.size() + 1, 0.0), r(x.size() + 1, 0.0) {
    for (size_t i = 0; i < x.size(); ++i) {
      p[i + 1] = p[i] + w[i];
      q[i + 1] = q[i] + w[i] * x[i];
      r[i + 1] = r[i] + w[i] * x[i] * x[i];
    }
  }
  // Computed from the points directly (a two-pass mean and squared deviations), not from the sums.
  static double cluster_cost(const std::vector<double>& x, const std::vector<double>& w, size_t a,
                             size_t b) {
    double t = 0.0, s = 0.0;
    for (size_t i = a; i < b; ++i) {
      t += w[i];
      s += w[i] * x[i];
    }
    if (!(t > 0.0)) return 0.0;
    const double mean = s / t;
    double e = 0.0;
    for (size_t i = a; i < b; ++i) e += w[i] * (x[i] - mean) * (x[i] - mean);
    return e;
  }
};

// The least total over all splits of n points into k non-empty contiguous clusters (O(k n^2)).
double exhaustive(const std::vector<double>& x, const std::vector<double>& w, size_t k) {
  const size_t n = x.size();
  std::vector<double> best(n + 1, HUGE_VAL);
  best[0] = 0.0;
  for (size_t j = 0; j < k; ++j) {
    std::vector<double> next(n + 1, HUGE_VAL);
    for (size_t b = 1; b <= n; ++b)
      for (size_t a = 0; a < b; ++a)
        if (best[a] < HUGE_VAL)
          next[b] = std::min(next[b], best[a] + Points::cluster_cost(x, w, a, b));
    best = next;
  }
  return best[n];
}

double total_of(const std::vector<double>& x, const std::vector<double>& w,
                const std::vector<size_t>& ends) {
  double total = 0.0;
  for (size_t i = 0, a = 0; i < ends.size(); a = ends[i++]) {
    EXPECT_LT(a, ends[i]) << "cluster " << i << " is empty";
    total += Points::cluster_cost(x, w, a, ends[i]);
  }
  return total;
}

TEST(Kmeans1d, FindsTheLeastTotalOfAnExhaustiveSearch) {
  std::mt19937 rng(20261205);
  std::student_t_distribution<double> heavy(3.0);
  std::uniform_real_distribution<double> weight(0.0, 2.0);
  for (int trial = 0; trial < 40; ++trial) {
    const size_t n = 20 + static_cast<size_t>(trial) * 3, k = trial % 3 == 0 ? 16 : 8;
    std::vector<double> x(n), w(n);
    for (auto& v : x) v = heavy(rng);
    std::sort(x.begin(), x.end());
    for (size_t i = 0; i < n; ++i) w[i] = trial % 4 == 1 && i % 5 == 0 ? 0.0 : weight(rng);
    if (trial % 5 == 2)
      for (size_t i = 0; i < n; ++i) x[i] = std::round(x[i] * 2) / 2;  // equal points
    const Points pts(x, w);
    std::vector<size_t> ends(k);
    optimal_contiguous_clusters(pts.p.data(), pts.q.data(), pts.r.data(), n, k, ends.data());
    ASSERT_EQ(ends.back(), n);
    const double want = exhaustive(x, w, k), got = total_of(x, w, ends);
    EXPECT_NEAR(got, want, 1e-9 * std::max(1.0, want)) << "trial " << trial;
  }
}

TEST(Kmeans1d, AsManyClustersAsPointsTakesOneEach) {
  const std::vector<double> x{-3.0, -1.0, 0.5, 2.0, 7.0}, w{1.0, 2.0, 0.5, 1.0, 3.0};
  const Points pts(x, w);
  std::vector<size_t> ends(5);
  optimal_contiguous_clusters(pts.p.data(), pts.q.data(), pts.r.data(), 5, 5, ends.data());
  EXPECT_EQ(ends, (std::vector<size_t>{1, 2, 3, 4, 5}));
}

TEST(Kmeans1d, TwoClustersOfAHandComputedSet) {
  // {0, 1, 10, 11, 12}: the split after 1 costs 0.5 + 2 = 2.5, every other split more.
  const std::vector<double> x{0.0, 1.0, 10.0, 11.0, 12.0}, w(5, 1.0);
  const Points pts(x, w);
  std::vector<size_t> ends(2);
  optimal_contiguous_clusters(pts.p.data(), pts.q.data(), pts.r.data(), 5, 2, ends.data());
  EXPECT_EQ(ends, (std::vector<size_t>{2, 5}));
  EXPECT_DOUBLE_EQ(total_of(x, w, ends), 2.5);
}

}  // namespace
}  // namespace corelm
