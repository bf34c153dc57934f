#!/usr/bin/python3
"""Independent NumPy implementation of lut4 palettization: makes tests/data/lut4_reference.json.

Written from the definition (docs/lut-plan.md, "The k-means"; the comment of lut_fit_group in
src/tensor/lut.h), not from corelm's C++. Per group of G output rows (the last group smaller when G
does not divide the rows), over the group's rows x cols values:

  1. h = fp16(w) (nearest even; beyond fp16 saturated to +-65504; NaN and -0 become +0); the
     distinct values u_0 < ... < u_{U-1} with weights W_j = sum of the importance of the
     column of each occurrence, in row-major order (np.bincount adds in index order), or the
     counts when there is no importance vector.
  2. U <= K = 16: centroids = the distinct values, the last repeated. Else centroid k starts at
     the distinct value holding sorted position floor((2k+1) n / 2K) of the n values, its
     distinct index clamped to U-K+k and raised to (the previous index + 1).
  3. Lloyd, at most 50 passes: assign each distinct value to argmin_k |u - c_k| in float64 (argmin:
     ties to the lower index); stop if no assignment changed since the previous pass; else
     c_k = sum(W u) / sum(W) over its values (np.bincount, ascending u), an empty cluster keeps c_k.
  4. table = fp16(c) (float64 -> float16 once, nearest even); each value takes argmin_k
     |u - table_k|.

The cases are small matrices with G = 8, 16, 32 and awkward groups: all values equal, fewer than 16
distinct values, huge outliers (also beyond fp16), -0 and subnormals, a last group shorter than G,
rows whose length is not a multiple of 16, and per-column importance with zeros. Inputs are
written as float32 values (exact in JSON), tables as fp16 bit patterns, indices as one hex digit
per weight, row by row, with the number of Lloyd passes per group.

Run (Debian 12: apt-get install -y python3-numpy; the data come from a fixed seed):
    /usr/bin/python3 tests/tools/lut_reference.py tests/data/lut4_reference.json
"""

import json
import sys

import numpy as np

K = 16
MAX_PASSES = 50


def fit_group(x, importance):
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
    passes = 0
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
        previous = None
        for it in range(MAX_PASSES):
            a = np.abs(u[:, None] - c[None, :]).argmin(axis=1)
            passes += 1
            if it > 0 and np.array_equal(a, previous):
                break
            s = np.bincount(a, weights=w * u, minlength=K)
            t = np.bincount(a, weights=w, minlength=K)
            c = np.where(t > 0, s / np.where(t > 0, t, 1.0), c)
            previous = a
    table = c.astype(np.float16)
    index_of = np.abs(u[:, None] - table.astype(np.float64)[None, :]).argmin(axis=1)
    return table, index_of[inverse].reshape(rows, cols), passes


def quantize(x, g, importance):
    tables, indices, passes = [], [], []
    for r0 in range(0, x.shape[0], g):
        t, idx, p = fit_group(x[r0 : r0 + g], importance)
        tables.append([int(b) for b in t.view(np.uint16)])
        indices.extend("".join("%x" % i for i in row) for row in idx)
        passes.append(p)
    return tables, indices, passes


def cases():
    rng = np.random.RandomState(20261204)
    f = np.float32
    out = []

    x = rng.normal(0, 0.02, (8, 48)).astype(f)
    out.append(("gaussian_g8", 8, x, None))

    x = rng.normal(0, 0.05, (20, 38)).astype(f)  # last group of 4 rows, a tail chunk of 6
    x[3, 5], x[17, 30], x[19, 37] = 1000.0, -3000.0, 12.5
    out.append(("outliers_short_last_group_g16", 16, x, None))

    x = np.empty((24, 16), dtype=f)
    x[0:8] = 0.25  # one value only
    x[8:16] = rng.choice(np.array([-1.5, -0.5, 0.0, 0.75, 2.0], dtype=f), (8, 16))  # 5 values
    x[16:24] = rng.normal(0, 1.0, (8, 16)).astype(f)
    x[16, 0], x[17, 1], x[18, 2] = 1e5, -7e4, 65519.0  # beyond fp16's range
    x[19, 3], x[20, 4], x[21, 5] = -0.0, 3e-8, -6e-8  # -0 and fp16 subnormals
    out.append(("equal_few_saturated_g8", 8, x, None))

    x = rng.normal(0, 0.03, (32, 64)).astype(f)
    x[:, 7] *= 40  # one strong input column
    out.append(("heavy_column_g32", 32, x, None))

    x = rng.normal(0, 0.03, (16, 64)).astype(f)
    importance = rng.uniform(0, 2, 64).astype(f)
    importance[[0, 9, 33]] = 0.0
    importance[7] = 50.0
    out.append(("importance_g16", 16, x, importance))

    x = rng.standard_t(3, (40, 96)).astype(f) * f(0.01)  # heavy tails, groups of 32 + 8
    out.append(("student_t_g32", 32, x, None))

    x = np.round(rng.normal(0, 3, (16, 32))).astype(f) / f(8)  # 17 or so distinct values
    out.append(("near_sixteen_values_g16", 16, x, None))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: lut_reference.py OUT.json")
    result = {
        "what": "lut4 palettization of fixed matrices (tests/tools/lut_reference.py)",
        "produced_with": "numpy " + np.__version__,
        "cases": [],
    }
    for name, g, x, importance in cases():
        tables, indices, passes = quantize(x, g, importance)
        result["cases"].append(
            {
                "name": name,
                "group_rows": g,
                "rows": int(x.shape[0]),
                "cols": int(x.shape[1]),
                "values": [float(v) for v in x.ravel()],
                "importance": None if importance is None else [float(v) for v in importance],
                "tables": tables,
                "indices": indices,
                "passes": passes,
            }
        )
    cases_json = ",\n".join(json.dumps(c, separators=(",", ":")) for c in result.pop("cases"))
    with open(sys.argv[1], "w") as fh:  # one line per case
        fh.write(json.dumps(result)[:-1] + ', "cases": [\n' + cases_json + "\n]}\n")


if __name__ == "__main__":
    main()
