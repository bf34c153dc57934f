#!/usr/bin/python3
"""Independent NumPy implementation of lut palettization: makes tests/data/lut{3,4,6}_reference.json.

Written from the definition (docs/lut-plan.md, "The k-means"; the comment of lut_fit_group in
src/tensor/lut.h), not from corelm's C++. Per group of G output rows (the last group smaller when G
does not divide the rows), over the group's rows x cols values:

  1. h = fp16(w) (nearest even; beyond fp16 saturated to +-65504; NaN and -0 become +0); the
     distinct values u_0 < ... < u_{U-1} with weights W_j = sum of the importance of the
     column of each occurrence, in row-major order (np.bincount adds in index order), or the
     counts when there is no importance vector.
  2. U <= K = 2^bits (8, 16, 64): centroids = the distinct values, the last repeated. Else centroid k starts at
     the distinct value holding sorted position floor((2k+1) n / 2K) of the n values, its
     distinct index clamped to U-K+k and raised to (the previous index + 1).
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
prefix sums whose rounding needs the clamp, and a group stopped by a cap of 4 passes (max_passes;
the others use MAX_PASSES, which must equal the C++'s kLutMaxIterations). Inputs are written as
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
import sys

import numpy as np

MAX_PASSES = 300


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
    passes = clamped = 0
    if n_unique <= K:
        c = u[np.minimum(np.arange(K), n_unique - 1)]
    else:
        cum = np.cumsum(count)
        j = []
        for k in range(K):
            p = (2 * k + 1) * n // (2 * K)
            jk = int(np.searchsorted(cum, p, side="right"))  # first j with cum[j] > p
            jk = min(jk, n_unique - K + k)
            if k > 0:
                jk = max(jk, j[-1] + 1)
            j.append(jk)
        c = u[j].copy()
        p_w = np.concatenate([[0.0], np.cumsum(w)])
        p_wu = np.concatenate([[0.0], np.cumsum(w * u)])
        # np.cumsum adds sequentially, as the definition (and the C++ loop) does:
        assert list(p_w) == list(itertools.accumulate(w, initial=0.0))
        assert list(p_wu) == list(itertools.accumulate(w * u, initial=0.0))
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
    return table, index_of[inverse].reshape(rows, cols), passes, c, clamped


def quantize(x, g, importance, max_passes, bits=4):
    tables, indices, passes, centroids, clamped = [], [], [], [], []
    digit = "%02x" if bits > 4 else "%x"
    for r0 in range(0, x.shape[0], g):
        t, idx, p, c, n_clamped = fit_group(x[r0 : r0 + g], importance, max_passes, bits)
        tables.append([int(b) for b in t.view(np.uint16)])
        indices.extend("".join(digit % i for i in row) for row in idx)
        passes.append(p)
        centroids.append([float(v) for v in c])  # repr: the exact doubles back
        clamped.append(n_clamped)
    return tables, indices, passes, centroids, clamped


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

    x = rng.normal(0, 0.02, (16, 128)).astype(f)  # stopped by a cap of 4 passes
    out.append(("capped_at_four_passes_g16", 16, x, None, 4))
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
        tables, indices, passes, centroids, clamped = quantize(x, g, importance, max_passes, bits)
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
            }
        )
    cases_json = ",\n".join(json.dumps(c, separators=(",", ":")) for c in result.pop("cases"))
    with open(sys.argv[1], "w") as fh:  # one line per case
        fh.write(json.dumps(result)[:-1] + ', "cases": [\n' + cases_json + "\n]}\n")


if __name__ == "__main__":
    main()
