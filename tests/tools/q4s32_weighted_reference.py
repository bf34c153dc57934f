#!/usr/bin/python3
"""NumPy port of corelm's importance-weighted q4s32 / q8s32 block quantizer (--imatrix); makes
tests/data/quant_weighted_blocks.json.

Written from the definition in docs/quantization.md ("Importance matrix"), not from quant.cpp.
For one block of 32 values w with importances imp >= 0 and qmax = 7 (q4s32) or 127 (q8s32):

    h        = fp16(w)                                      # round to nearest even
    amax     = max |h|
    for k in 0, -4, -3, -2, -1, 1, 2, ..., 16:              # this order; k = 0 first
        D_k  = float32(qmax * (56 + k)) / float32(56)      # float32 division
        s_k  = fp16(float32(amax) / D_k)                   # float32 quotient rounded to fp16
        q_k  = clip(round_half_even(fp16(h / s_k)), -qmax, qmax)   # coremltools' rounding
        E_k  = sum_i imp_i * (h_i - s_k * q_k_i)^2          # float64, in index order
    the first k of least E_k wins (a strictly smaller error replaces the best so far).

k = 0 is coremltools' own scale and rounding, so ties keep coremltools' result; a block whose
coremltools scale is 0 (all zeros) is left as it is. The k = 0 result is taken from
coremltools_quant.py's corelm_quantize (itself checked against coremltools' algorithm), and every
other candidate is computed here.

Run (Debian 12: apt-get install -y python3-numpy; the random blocks are seeded):
    /usr/bin/python3 tests/tools/q4s32_weighted_reference.py tests/data/quant_weighted_blocks.json
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coremltools_quant import corelm_quantize  # noqa: E402

BLOCK = 32
GRID = [0, -4, -3, -2, -1] + list(range(1, 17))


def weighted_error(h, imp, s, q):
    err = 0.0
    for i in range(BLOCK):
        d = float(h[i]) - float(s) * float(q[i])
        err += float(imp[i]) * (d * d)
    return err


def weighted_quantize(w, imp, qmax):
    """(scale as fp16 bits, q list, chosen k, its error) of one block."""
    nbits = 4 if qmax == 7 else 8
    scale0, q0 = corelm_quantize(np.asarray(w, dtype=np.float32).reshape(1, BLOCK), nbits)
    s0 = np.float16(scale0[0, 0])
    q0 = [int(v) for v in q0[0]]
    h = np.asarray(w, dtype=np.float32).astype(np.float16)
    if s0 == 0:
        return int(s0.view(np.uint16)), q0, 0, 0.0
    amax = np.float32(np.max(np.abs(h)))
    best = (int(s0.view(np.uint16)), q0, 0, weighted_error(h, imp, s0, q0))
    for k in GRID[1:]:
        d = np.float32(qmax * (56 + k)) / np.float32(56)
        s = (amax / d).astype(np.float16)
        if s == 0 or not np.isfinite(s):
            continue
        quot = (h / s).astype(np.float16)  # NumPy: widen, divide in float32, round to fp16
        q = np.clip(np.round(quot.astype(np.float32)), -qmax, qmax).astype(np.int64)
        err = weighted_error(h, imp, s, q)
        if err < best[3]:
            best = (int(s.view(np.uint16)), [int(v) for v in q], k, err)
    return best


def blocks():
    out = []
    # Hand-checkable: 7 and 2.625. coremltools' scale is 1 (7 / 7): 2.625 rounds to 3, an error
    # of 0.375^2 = 0.140625 (7 is exact). D = 8 (k = 8) gives s = 0.875: 2.625 = 3 s exactly, but
    # 7 becomes 8 s, clipped to 7 s = 6.125 (error 0.875^2 = 0.765625). With importance 1000 on
    # the 2.625 column that is the best (0.7656 against 140.6 at s = 1). With uniform importance
    # k = 1 wins (s = fp16(7 / 7.125) = 0.98242: errors 0.0151 + 0.1039 = 0.1190 < 0.1406).
    hand = np.zeros(BLOCK, dtype=np.float32)
    hand[0], hand[1] = 7.0, 2.625
    out.append(("hand_uniform", hand, np.ones(BLOCK, dtype=np.float32)))
    heavy = np.ones(BLOCK, dtype=np.float32)
    heavy[1] = 1000.0
    out.append(("hand_heavy_column", hand, heavy))
    # Integers in [-7, 7] with 7 present: exact at s = 1, nothing beats zero error.
    rng = np.random.default_rng(15)
    ints = rng.integers(-7, 8, BLOCK).astype(np.float32)
    ints[5] = -7.0
    out.append(("exact_integers", ints, rng.uniform(0.1, 2.0, BLOCK).astype(np.float32)))
    out.append(("zero_importance", rng.normal(0, 0.02, BLOCK).astype(np.float32),
                np.zeros(BLOCK, dtype=np.float32)))
    out.append(("all_zero_block", np.zeros(BLOCK, dtype=np.float32),
                np.ones(BLOCK, dtype=np.float32)))
    # An outlier whose column never fires: clipping it is free, so a smaller scale wins.
    out_w = rng.normal(0, 0.02, BLOCK).astype(np.float32)
    out_w[9] = 0.2
    out_imp = rng.uniform(0.5, 1.5, BLOCK).astype(np.float32)
    out_imp[9] = 0.0
    out.append(("silent_outlier", out_w, out_imp))
    # Gaussian weights with imatrix-like importances (mean x^2: chi-square-like, a few large).
    for n in range(10):
        w = rng.normal(0, 0.05, BLOCK).astype(np.float32)
        imp = (rng.normal(0, 1, BLOCK) ** 2 * rng.choice([1, 1, 1, 20], BLOCK)).astype(np.float32)
        out.append(("gaussian_%d" % n, w, imp))
    for n in range(4):
        w = rng.standard_t(3, BLOCK).astype(np.float32) * np.float32(0.03)
        imp = rng.uniform(0, 1, BLOCK).astype(np.float32)
        out.append(("student_t_uniform_importance_%d" % n, w, imp))
    return out


def main():
    cases = []
    chosen = {}
    for name, w, imp in blocks():
        entry = {
            "name": name,
            "bits": [int(b) for b in w.astype(np.float32).view(np.uint32)],
            "importance_bits": [int(b) for b in imp.astype(np.float32).view(np.uint32)],
        }
        for key, qmax in (("q4s32", 7), ("q8s32", 127)):
            scale, q, k, err = weighted_quantize(w, imp, qmax)
            entry[key] = {"scale": scale, "q": q, "k": k, "error": err}
            chosen.setdefault(key, []).append(k)
        cases.append(entry)
    out = {
        "what": "corelm's importance-weighted q4s32 / q8s32 blocks by "
        "tests/tools/q4s32_weighted_reference.py (NumPy)",
        "grid": GRID,
        "cases": cases,
    }
    with open(sys.argv[1], "w") as f:
        f.write("{\n")
        f.write(",\n".join(" %s: %s" % (json.dumps(k), json.dumps(v)) for k, v in out.items()))
        f.write("\n}\n")
    for key, ks in chosen.items():
        print(key, "chosen k:", ks)


if __name__ == "__main__":
    main()
