// The optimal split of sorted weighted points into contiguous clusters (exact 1-D k-means on
// "atoms"): lut_fit_group's start (tensor/lut.h). tests/tools/lut_reference.py implements the same
// search in Python, and checks its optimum against an exhaustive one.
#pragma once

#include <cstddef>
#include <cstdint>

namespace corelm {

// Atoms 0 .. n-1, in ascending order of value, given by the prefix sums of their weights `p`, of
// weight x value `q` and of weight x value^2 `r` (n + 1 doubles each, p[0] = q[0] = r[0] = 0).
// The cost of a cluster of atoms [a, b) is its weighted sum of squared deviations from its mean,
//   cost(a, b) = (r[b] - r[a]) - s * s / t,  t = p[b] - p[a], s = q[b] - q[a]   (0 when t <= 0),
// evaluated in that order. Splits the atoms into k non-empty contiguous clusters (k <= n) of least
// total cost and writes each cluster's end (one past its last atom; ends[k - 1] = n).
//
// The search is a dynamic programme over the clusters, each row by divide and conquer on the
// optimal split (it does not decrease as the end grows), so the same inputs give the same ends on
// every machine: D_0(b) = cost(0, b); for cluster j = 1 .. k-1, D_j(b) for b in [j + 1, n - k + j
// + 1] is found by solve(lo, hi, alo, ahi) = {mid = (lo + hi) / 2; the first a in [alo, min(ahi,
// mid - 1)], ascending, of least D_{j-1}(a) + cost(a, mid); solve(lo, mid - 1, alo, a);
// solve(mid + 1, hi, a, ahi)} from solve(j + 1, n - k + j + 1, j, n - k + j). O(k n log n).
void optimal_contiguous_clusters(const double* p, const double* q, const double* r, size_t n,
                                 size_t k, size_t* ends);

}  // namespace corelm
