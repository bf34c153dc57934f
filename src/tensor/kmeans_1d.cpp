#include "tensor/kmeans_1d.h"

#include <cmath>
#include <vector>

namespace corelm {

namespace {

struct Search {
  const double *p, *q, *r;
  const std::vector<double>* previous;  // D_{j-1}
  std::vector<double>* current;         // D_j
  uint32_t* split;                      // this cluster's best start, by end

  double cost(size_t a, size_t b) const {
    const double t = p[b] - p[a];
    if (!(t > 0.0)) return 0.0;
    const double s = q[b] - q[a];
    return (r[b] - r[a]) - s * s / t;
  }

  void solve(size_t lo, size_t hi, size_t alo, size_t ahi) {
    const size_t mid = lo + (hi - lo) / 2, last = ahi < mid - 1 ? ahi : mid - 1;
    double best = HUGE_VAL;
    size_t best_a = alo;
    for (size_t a = alo; a <= last; ++a) {
      const double v = (*previous)[a] + cost(a, mid);
      if (v < best) {
        best = v;
        best_a = a;
      }
    }
    (*current)[mid] = best;
    split[mid] = static_cast<uint32_t>(best_a);
    if (mid > lo) solve(lo, mid - 1, alo, best_a);
    if (mid < hi) solve(mid + 1, hi, best_a, ahi);
  }
};

}  // namespace

void optimal_contiguous_clusters(const double* p, const double* q, const double* r, size_t n,
                                 size_t k, size_t* ends) {
  std::vector<double> previous(n + 1, HUGE_VAL), current(n + 1, HUGE_VAL);
  std::vector<uint32_t> split(k * (n + 1), 0);
  Search search{p, q, r, &previous, &current, nullptr};
  for (size_t b = 1; b + k - 1 <= n; ++b) previous[b] = search.cost(0, b);
  for (size_t j = 1; j < k; ++j) {
    search.split = split.data() + j * (n + 1);
    search.solve(j + 1, n - k + j + 1, j, n - k + j);
    previous.swap(current);
  }
  ends[k - 1] = n;
  for (size_t j = k - 1, b = n; j > 0; --j) b = ends[j - 1] = split[j * (n + 1) + b];
}

}  // namespace corelm
