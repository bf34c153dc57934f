#!/usr/bin/python3
"""Independent NumPy implementation of lut palettization: makes tests/data/lut{3,4,6}_reference.json.

Written from the definition (docs/lut-plan.md, "The k-means"; the comment of lut_fit_group in
src/tensor/lut.h), not from corelm's C++. Per group of G output rows (the last group smaller when G
does not divide the rows), over the group's rows x cols values:

  1. h = fp16(w) (nearest even; beyond fp16 saturated to +-65504; NaN and -0 become +0); the
     distinct values u_0 < ... < u_{U-1} with weights W_j = sum of the importance of the
     column of each occurrence, in row-major order (np.bincount adds in index order), or the
     counts when there is no importance vector.
  2. U <= K = 2^bits (8, 16, 64): centroids = the distinct values, the last repeated. Else the
     start is the best split of the distinct values into K contiguous clusters, splitting only
     between "atoms": the runs of distinct values whose order-preserving fp16 keys (h | 0x8000
     for h >= 0, ~h below) share all but their lowest s bits (key >> s equal), s the least shift
     leaving at most MAX_ATOMS atoms. Best = least sum over clusters of (R[b] - R[a]) - S * S / T
     (T = P[b] - P[a], S = Q[b] - Q[a]; 0 when T <= 0), with P, Q as in 3 and R the prefix sums
     of the products (W u) u, taken at the atoms' ends. It is found by a dynamic programme over
     the clusters, each row by divide and conquer on the split (the search order and ties as
     src/tensor/kmeans_1d.h defines them: best_split below), and checked against an exhaustive
     O(K A^2) search of the same atoms (equal totals to rounding). Each cluster [a, b) of
     distinct values starts at its mean as in 3 (u_a when T = 0).
  3. Lloyd, at most 300 passes, on the centroids c_0 <= ... <= c_{K-1} (ascending: the start is,
     and every pass keeps them so): the midpoints m_i = (c_i + c_{i+1}) / 2 in float64 split the
     distinct values into K contiguous clusters, u in cluster i when m_{i-1} < u <= m_i (a value
     on a midpoint goes to the lower cluster: np.searchsorted(u, m, side="right") gives each
     cluster's end). Stop when no cluster end changed since the previous pass; else each cluster
     [a, b) of weight t = P[b] - P[a] > 0 takes the mean (Q[b] - Q[a]) / t clamped to
     [u_a, u_{b-1}], where P and Q are the prefix sums of W and of the products W u (float64,
     P[0] = Q[0] = 0, added one after the other in ascending u: np.cumsum, checked against a plain
     Python loop); a cluster with no values or t = 0 keeps c_i.
  4. table = fp16(c) (float64 -> float16 once, nearest even); each value takes argmin_k
     |u - table_k|.

The cases are small matrices with G = 8, 16, 32 and awkward groups: all values equal, fewer than 16
distinct values, huge outliers (also beyond fp16), -0 and subnormals, a last group shorter than G,
rows whose length is not a multiple of 16, per-column importance with zeros, a cluster of weight 0,
prefix sums whose rounding needs the clamp, groups of more than MAX_ATOMS distinct values, and a
group stopped by a cap of 1 pass (max_passes; the others use MAX_PASSES, which must equal the
C++'s kLutMaxIterations). Inputs are written as
float32 values (exact in JSON), tables as fp16 bit patterns, indices as one hex digit per weight
(two for 6 bits), row by row, with the number of Lloyd passes and the final centroids (float64, before the fp16
rounding) per group; clamped_means counts the means step 3 clamped (for the reader: the
cancellation case must have some).

Run (Debian 12: apt-get install -y python3-numpy; the data come from a fixed seed):
    /usr/bin/python3 tests/tools/lut_reference.py tests/data/lut4_reference.json
    /usr/bin/python3 tests/tools/lut_reference.py tests/data/lut3_reference.json 3
    /usr/bin/python3 tests/tools/lut_reference.py tests/data/lut6_reference.json 6
(the same cases for every bit count; 4 is the default, and its file is unchanged by the argument).
"""

import itertools
import json
import math
import sys

import numpy as np

MAX_PASSES = 300
MAX_ATOMS = 2048


def cluster_cost(P, Q, R, a, b):
    t = P[b] - P[a]
    if not t > 0:
        return 0.0
    s = Q[b] - Q[a]
    return (R[b] - R[a]) - s * s / t


def best_split(P, Q, R, K):
    """The ends of the K contiguous clusters of least total cost of the n = len(P) - 1 atoms."""
    n = len(P) - 1
    P, Q, R = [float(v) for v in P], [float(v) for v in Q], [float(v) for v in R]
    previous = [math.inf] * (n + 1)
    for b in range(1, n - K + 2):
        previous[b] = cluster_cost(P, Q, R, 0, b)
    splits = [None] * K

    def solve(lo, hi, alo, ahi, current, split):
        mid = (lo + hi) // 2
        best, best_a = math.inf, alo
        for a in range(alo, min(ahi, mid - 1) + 1):
            v = previous[a] + cluster_cost(P, Q, R, a, mid)
            if v < best:
                best, best_a = v, a
        current[mid], split[mid] = best, best_a
        if mid > lo:
            solve(lo, mid - 1, alo, best_a, current, split)
        if mid < hi:
            solve(mid + 1, hi, best_a, ahi, current, split)

    for j in range(1, K):
        current, split = [math.inf] * (n + 1), [0] * (n + 1)
        solve(j + 1, n - K + j + 1, j, n - K + j, current, split)
        previous, splits[j] = current, split
    ends = [n] * K
    b = n
    for j in range(K - 1, 0, -1):
        b = ends[j - 1] = splits[j][b]

    # The exhaustive search (every split of every prefix) reaches the same least total.
    Pa, Qa, Ra = np.array(P), np.array(Q), np.array(R)
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    for _ in range(K):
        nxt = np.full(n + 1, np.inf)
        for b in range(1, n + 1):
            a = np.arange(b)
            t = Pa[b] - Pa[a]
            s = Qa[b] - Qa[a]
            cost = np.where(t > 0, (Ra[b] - Ra[a]) - s * s / np.where(t > 0, t, 1.0), 0.0)
            nxt[b] = np.min(best[a] + cost)
        best = nxt
    total = sum(cluster_cost(P, Q, R, a, b) for a, b in zip([0] + ends[:-1], ends))
    assert abs(total - best[n]) <= 1e-9 * max(abs(best[n]), R[n] - R[0]), (total, best[n])
    return ends


def fit_group(x, importance, max_passes=MAX_PASSES, bits=4):
    K = 1 << bits
    rows, cols = x.shape
    v = np.where(np.isnan(x), np.float32(0), x).astype(np.float32)
    v = np.clip(v, np.float32(-65504), np.float32(65504))
    h = v.astype(np.float16).astype(np.float64) + 0.0  # + 0.0 turns -0 into +0
    flat = h.ravel()
    u, inverse, count = np.unique(flat, return_inverse=True, return_counts=True)
    n, n_unique = flat.size, u.size
    if importance is None:
        w = count.astype(np.float64)
    else:
        per_value = np.tile(np.asarray(importance, dtype=np.float32).astype(np.float64), rows)
        w = np.bincount(inverse, weights=per_value, minlength=n_unique)
    passes = clamped = atom_shift = 0
    if n_unique <= K:
        c = u[np.minimum(np.arange(K), n_unique - 1)]
    else:
        p_w = np.concatenate([[0.0], np.cumsum(w)])
        p_wu = np.concatenate([[0.0], np.cumsum(w * u)])
        p_wuu = np.concatenate([[0.0], np.cumsum((w * u) * u)])
        # np.cumsum adds sequentially, as the definition (and the C++ loop) does:
        assert list(p_w) == list(itertools.accumulate(w, initial=0.0))
        assert list(p_wu) == list(itertools.accumulate(w * u, initial=0.0))
        assert list(p_wuu) == list(itertools.accumulate((w * u) * u, initial=0.0))
        bits16 = u.astype(np.float16).view(np.uint16).astype(np.int64)
        key = np.where(bits16 & 0x8000, 0xFFFF - bits16, bits16 | 0x8000)
        shift = 0
        while True:
            atom = key >> shift
            atom_end = [j + 1 for j in range(n_unique) if j + 1 == n_unique or atom[j + 1] != atom[j]]
            if len(atom_end) <= MAX_ATOMS:
                break
            shift += 1
        ends = [0] + atom_end
        split_ends = best_split(p_w[ends], p_wu[ends], p_wuu[ends], K)
        c = np.empty(K)
        first = 0
        for i, e in enumerate(split_ends):
            a, b = ends[first], ends[e]
            t = p_w[b] - p_w[a]
            c[i] = min(max((p_wu[b] - p_wu[a]) / t, u[a]), u[b - 1]) if t > 0 else u[a]
            first = e
        atom_shift = shift
        previous = None
        for it in range(max_passes):
            m = (c[:-1] + c[1:]) / 2
            ends = np.concatenate([[0], np.searchsorted(u, m, side="right"), [n_unique]])
            passes += 1
            if it > 0 and np.array_equal(ends, previous):
                break
            for i in range(K):
                a, b = ends[i], ends[i + 1]
                t = p_w[b] - p_w[a]
                if b > a and t > 0:
                    mean = (p_wu[b] - p_wu[a]) / t
                    clamped += not (u[a] <= mean <= u[b - 1])
                    c[i] = min(max(mean, u[a]), u[b - 1])
            assert np.all(c[:-1] <= c[1:])
            previous = ends
    table = c.astype(np.float16)
    index_of = np.abs(u[:, None] - table.astype(np.float64)[None, :]).argmin(axis=1)
    return table, index_of[inverse].reshape(rows, cols), passes, c, clamped, atom_shift


def quantize(x, g, importance, max_passes, bits=4):
    tables, indices, passes, centroids, clamped, shifts = [], [], [], [], [], []
    digit = "%02x" if bits > 4 else "%x"
    for r0 in range(0, x.shape[0], g):
        t, idx, p, c, n_clamped, shift = fit_group(x[r0 : r0 + g], importance, max_passes, bits)
        tables.append([int(b) for b in t.view(np.uint16)])
        indices.extend("".join(digit % i for i in row) for row in idx)
        passes.append(p)
        centroids.append([float(v) for v in c])  # repr: the exact doubles back
        clamped.append(n_clamped)
        shifts.append(shift)
    return tables, indices, passes, centroids, clamped, shifts


def cases():
    rng = np.random.RandomState(20261204)
    f = np.float32
    out = []

    x = rng.normal(0, 0.02, (8, 48)).astype(f)
    out.append(("gaussian_g8", 8, x, None, MAX_PASSES))

    x = rng.normal(0, 0.05, (20, 38)).astype(f)  # last group of 4 rows, a tail chunk of 6
    x[3, 5], x[17, 30], x[19, 37] = 1000.0, -3000.0, 12.5
    out.append(("outliers_short_last_group_g16", 16, x, None, MAX_PASSES))

    x = np.empty((24, 16), dtype=f)
    x[0:8] = 0.25  # one value only
    x[8:16] = rng.choice(np.array([-1.5, -0.5, 0.0, 0.75, 2.0], dtype=f), (8, 16))  # 5 values
    x[16:24] = rng.normal(0, 1.0, (8, 16)).astype(f)
    x[16, 0], x[17, 1], x[18, 2] = 1e5, -7e4, 65519.0  # beyond fp16's range
    x[19, 3], x[20, 4], x[21, 5] = -0.0, 3e-8, -6e-8  # -0 and fp16 subnormals
    out.append(("equal_few_saturated_g8", 8, x, None, MAX_PASSES))

    x = rng.normal(0, 0.03, (32, 64)).astype(f)
    x[:, 7] *= 40  # one strong input column
    out.append(("heavy_column_g32", 32, x, None, MAX_PASSES))

    x = rng.normal(0, 0.03, (16, 64)).astype(f)
    importance = rng.uniform(0, 2, 64).astype(f)
    importance[[0, 9, 33]] = 0.0
    importance[7] = 50.0
    out.append(("importance_g16", 16, x, importance, MAX_PASSES))

    x = rng.standard_t(3, (40, 96)).astype(f) * f(0.01)  # heavy tails, groups of 32 + 8
    out.append(("student_t_g32", 32, x, None, MAX_PASSES))

    x = np.round(rng.normal(0, 3, (16, 32))).astype(f) / f(8)  # 17 or so distinct values
    out.append(("near_sixteen_values_g16", 16, x, None, MAX_PASSES))

    x = rng.normal(0, 0.05, (8, 32)).astype(f)
    x[:, 0] = np.arange(8, dtype=f) / f(4) + f(5)  # the top values, all in a column of weight 0:
    importance = rng.uniform(0.5, 1.5, 32).astype(f)  # the last cluster weighs 0 and stays
    importance[0] = 0.0
    out.append(("weightless_cluster_g8", 8, x, importance, MAX_PASSES))

    # 20 distinct values and one at -60000 first in the prefix sums, weighted by float32
    # importance: the sums' rounding puts means of one-value clusters beside their value (clamped).
    x = rng.choice(rng.normal(0, 0.05, 20).astype(f), (8, 32)).astype(f)
    x[0, 0] = -60000.0
    importance = rng.uniform(0.5, 1.5, 32).astype(f)
    out.append(("cancellation_clamped_g8", 8, x, importance, MAX_PASSES))

    # Atoms of 8 values (shift 3): the start's splits are refined by Lloyd passes, stopped here
    # by a cap of 1 pass (main checks that the uncapped fit takes more).
    x = rng.normal(0, 0.02, (16, 384)).astype(f)
    out.append(("capped_at_one_pass_g16", 16, x, None, 1))

    # More than MAX_ATOMS distinct values in a group: the start splits atoms of 2^s values.
    x = rng.standard_t(4, (8, 512)).astype(f) * f(0.01)
    out.append(("atoms_of_several_values_g8", 8, x, None, MAX_PASSES))
    return out


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: lut_reference.py OUT.json [BITS: 3, 4 or 6]")
    bits = int(sys.argv[2]) if len(sys.argv) == 3 else 4
    if bits not in (3, 4, 6):
        sys.exit("BITS must be 3, 4 or 6")
    result = {
        "what": "lut%d palettization of fixed matrices (tests/tools/lut_reference.py)" % bits,
        "produced_with": "numpy " + np.__version__,
        "default_max_passes": MAX_PASSES,
        **({} if bits == 4 else {"bits": bits}),
        "cases": [],
    }
    for name, g, x, importance, max_passes in cases():
        tables, indices, passes, centroids, clamped, shifts = quantize(x, g, importance, max_passes, bits)
        if max_passes < MAX_PASSES:  # the cap must change the result
            assert max(quantize(x, g, importance, MAX_PASSES, bits)[2]) > max_passes, name
        result["cases"].append(
            {
                "name": name,
                "group_rows": g,
                "rows": int(x.shape[0]),
                "cols": int(x.shape[1]),
                "values": [float(v) for v in x.ravel()],
                "importance": None if importance is None else [float(v) for v in importance],
                "max_passes": max_passes,
                "tables": tables,
                "indices": indices,
                "passes": passes,
                "centroids": centroids,
                "clamped_means": clamped,
                "atom_shifts": shifts,
            }
        )
    cases_json = ",\n".join(json.dumps(c, separators=(",", ":")) for c in result.pop("cases"))
    with open(sys.argv[1], "w") as fh:  # one line per case
        fh.write(json.dumps(result)[:-1] + ', "cases": [\n' + cases_json + "\n]}\n")


if __name__ == "__main__":
    main()
