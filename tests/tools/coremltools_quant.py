#!/usr/bin/python3
"""NumPy port of coremltools' linear_symmetric per-block weight quantizer, and corelm's q4s32 /
q8s32 rule built on it; makes tests/data/quant_adversarial_blocks.json.

Written from the algorithm (coremltools 8's optimize.coreml quantize_weight, linear_symmetric,
signed, per_block with block size 32 along the input axis), not from corelm's C++. For a weight
array `w` in its own dtype (fp16 for an fp16 mlprogram, the seed's path) and n bits:

    qmin, qmax = -(2**(n-1)) + 1, 2**(n-1) - 1          # [-7, 7] for int4, [-127, 127] for int8
    max_abs    = maximum(|amin(w)|, |amax(w)|)           # per block, exact
    scale      = (max_abs - (-max_abs)) / (qmax - qmin)  # fp16: 2*max_abs (exact or inf), then
                                                         # the quotient by 14 / 254 rounded once
    q          = round(w / scale)                        # fp16 / fp16 rounded to fp16, then
                                                         # numpy.round: half to even
    q          = clip(q, qmin, qmax).astype(int8)

NumPy computes a float16 division by widening both operands to float32, dividing, and rounding
the float32 quotient to float16 (round to nearest even); that equals the correctly rounded fp16
quotient (see quant.cpp for why double rounding is innocuous here), so the port says what any
IEEE fp16 implementation would.

corelm's rule (docs/package-format.md, "q4s32 block"), `corelm_quantize` below:
  - the source row is cast to fp16 first (round to nearest even; an fp16 source is unchanged);
  - a block whose fp16 values are all finite and whose max_abs < 32768 is exactly coremltools';
  - 32768 <= max_abs <= 65504: coremltools' 2*max_abs overflows to inf (scale inf, every q 0);
    corelm uses scale = fp16(max_abs / qmax) (the same value coremltools would have had without
    the overflow) and the same fp16 division, rounding and clip;
  - a block with a value beyond fp16's range (|w| >= 65520 becomes inf in the cast) or a NaN,
    only possible from bf16 / f32 sources, is quantized from the source's float32 values:
    scale = fp16(min(max|w| / qmax, 65504)) (the float32 quotient rounded to fp16; NaNs left out
    of the max), q = clip(round_half_even(w / scale)) in float32, NaN -> 0;
  - a block whose scale is 0 (all zeros, or max_abs <= 3 * 2^-24, where max_abs / qmax rounds to
    0): coremltools divides by 0, w / 0 = +-inf clips to +-qmax and 0 / 0 = NaN casts to int8 as
    0 (NumPy on x86-64 and arm64); corelm writes the same, explicitly.

Run (Debian 12: apt-get install -y python3-numpy; the random blocks are seeded):
    /usr/bin/python3 tests/tools/coremltools_quant.py tests/data/quant_adversarial_blocks.json
"""

import json
import sys

import numpy as np

BLOCK = 32
FP16_MAX = 65504.0


def quant_range(nbits):
    """coremltools' get_quant_range for signed LINEAR_SYMMETRIC: the lowest code is left out."""
    return -(2 ** (nbits - 1)) + 1, 2 ** (nbits - 1) - 1


def coremltools_quantize(w, nbits):
    """coremltools' arithmetic on `w` ([rows, cols], cols % 32 == 0) in w's own dtype.

    Returns (scale [rows, cols // 32] in w.dtype, q [rows, cols] int8)."""
    rows, cols = w.shape
    blocks = w.reshape(rows, cols // BLOCK, BLOCK)
    qmin, qmax = quant_range(nbits)
    with np.errstate(all="ignore"):
        val_min = np.amin(blocks, axis=2, keepdims=True)
        val_max = np.amax(blocks, axis=2, keepdims=True)
        max_abs = np.maximum(np.abs(val_min), np.abs(val_max))
        val_min, val_max = -max_abs, max_abs
        scale = (val_max - val_min) / (qmax - qmin)  # stays in w.dtype (a Python int operand)
        assert scale.dtype == w.dtype
        q = np.round(blocks / scale)
        q = np.clip(q, qmin, qmax)
    # 0 / 0 in a block whose scale is 0: the NaN cast to int8 is 0 on x86-64 and arm64.
    q = np.where(np.isnan(q), 0, q).astype(np.int8)
    return scale.astype(w.dtype)[:, :, 0], q.reshape(rows, cols)


def corelm_quantize(w, nbits):
    """corelm's q4s32 (nbits 4) / q8s32 (nbits 8) of a float32 or float16 [rows, cols] array.

    Returns (fp16 scale [rows, cols // 32], q [rows, cols] int8)."""
    rows, cols = w.shape
    nb = cols // BLOCK
    qmin, qmax = quant_range(nbits)
    with np.errstate(over="ignore"):
        h = np.asarray(w).astype(np.float16)  # round to nearest even; overflow -> inf
    scale, q = coremltools_quantize(h, nbits)
    scale = scale.copy()
    q = q.reshape(rows, nb, BLOCK).copy()
    hb = h.reshape(rows, nb, BLOCK)
    finite = np.all(np.isfinite(hb), axis=2)
    max_abs = np.max(np.abs(np.where(np.isfinite(hb), hb, 0)), axis=2)  # float16
    for r, b in zip(*np.nonzero(finite & (max_abs >= np.float16(32768)))):
        s = max_abs[r, b] / np.float16(qmax)  # fp16 / fp16, rounded once to fp16
        scale[r, b] = s
        with np.errstate(all="ignore"):
            q[r, b] = np.clip(np.round(hb[r, b] / s), qmin, qmax).astype(np.int8)
    wb = np.asarray(w, dtype=np.float32).reshape(rows, nb, BLOCK)
    for r, b in zip(*np.nonzero(~finite)):
        x = wb[r, b]
        amax = np.max(np.where(np.isnan(x), np.float32(0), np.abs(x)))
        s16 = np.minimum(amax / np.float32(qmax), np.float32(FP16_MAX)).astype(np.float16)
        scale[r, b] = s16
        s = np.float32(s16)
        with np.errstate(all="ignore"):
            if s > 0:
                qq = np.clip(np.rint(x / s), qmin, qmax)
            else:
                qq = np.zeros_like(x)
        q[r, b] = np.where(np.isnan(qq), 0, qq).astype(np.int8)
    return scale, q.reshape(rows, cols)


def float32_division_quantize(w, nbits):
    """corelm's quantizer before this port (the quotient in float32, not rounded to fp16), only
    to count which blocks the fp16 rounding changes."""
    rows, cols = w.shape
    qmin, qmax = quant_range(nbits)
    blocks = np.asarray(w, dtype=np.float32).reshape(rows, cols // BLOCK, BLOCK)
    amax = np.max(np.abs(blocks), axis=2, keepdims=True)
    s = (amax / np.float32(qmax)).astype(np.float16).astype(np.float32)
    with np.errstate(all="ignore"):
        q = np.where(s > 0, np.clip(np.rint(blocks / s), qmin, qmax), 0)
    return q.astype(np.int8).reshape(rows, cols)


def fp16(values):
    return np.array(values, dtype=np.float64).astype(np.float16)


def adversarial_fp16_blocks():
    """Named fp16 blocks of 32 values."""
    rng = np.random.default_rng(20240615)
    out = []

    def add(name, values):
        v = np.zeros(BLOCK, dtype=np.float16)
        values = np.asarray(values, dtype=np.float16)
        v[: len(values)] = values
        out.append((name, v))

    # Exact ties: scale exactly 1 (q4: max 7; q8: the quotients are the values themselves).
    add("ties_scale_1", [7, 0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, -0.5, -1.5, -2.5, -3.5, -4.5,
                         -5.5, -6.5, 6.499, 6.501, 0.4998, -0.5005])
    add("ties_scale_1_q8", [127, 0.5, 1.5, 2.5, 63.5, 64.5, 100.5, 126.5, -126.5, -0.5, -2.5,
                            -63.5, 125.5, -127])
    # Ties with a scale of 0.25 (max 1.75) and of 2^-10.
    add("ties_scale_quarter", [1.75] + [(k + 0.5) * 0.25 for k in range(-7, 7)])
    add("ties_scale_2^-10", [7 * 2.0**-10] + [(k + 0.5) * 2.0**-10 for k in range(-7, 7)])
    # All zero, negative zeros, a single nonzero at either end and in the high half.
    add("all_zero", [])
    out.append(("negative_zeros", np.full(BLOCK, -0.0, dtype=np.float16)))
    add("single_nonzero_first", [0.0123])
    v = np.zeros(BLOCK, dtype=np.float16)
    v[31] = -3.1
    out.append(("single_nonzero_last_negative", v))
    v = np.zeros(BLOCK, dtype=np.float16)
    v[16] = 1e-3
    out.append(("single_nonzero_16", v))
    # The maximum from a negative value; both signs of the same magnitude.
    add("negative_maximum", [-0.75, 0.7, 0.5, -0.375, 0.2, -0.1, 0.05, 0.32, -0.321, 0.6])
    add("both_signs_of_max", [0.3, -0.3, 0.15, -0.15, 0.07, 0.01, -0.2143, 0.2143])
    # Subnormals: scale 0 (max 3 * 2^-24: coremltools' w / 0 = +-inf -> +-qmax), the smallest
    # nonzero scale (max 4 * 2^-24), subnormal scales, and subnormals beside normal values.
    t = 2.0**-24
    add("subnormal_scale_zero", [3 * t, t, -2 * t, 0, -3 * t, 2 * t])
    add("subnormal_scale_smallest", [4 * t, t, -2 * t, 3 * t, -4 * t])
    add("subnormal_mixed", [1000 * t, -1023 * t, 517 * t, 3 * t, -t, 250 * t, 2.0**-14])
    add("subnormal_beside_normal", [2.0**-10, 2.0**-15, -(2.0**-16), 2.0**-13, 3 * t, -(2.0**-12)])
    # Near fp16's maximum: 32752 is the largest max_abs whose 2 * max_abs is finite; from 32768 on
    # coremltools' scale is inf (corelm's rule applies); 65504 is fp16's largest value.
    add("max_32752", [32752, -16000, 2339.5, 4679, -7018.5, 100, 32000])
    add("max_32768_coremltools_overflows", [32768, -16000, 2340.5, 4681, -7020, 100])
    add("max_65504_coremltools_overflows", [-65504, 65504, 4679, 9357, -14035, 1, 32768])
    add("near_fp16_max_q8", [65504, 257.9, -515.75, 32000])
    # Random blocks like trained weights (normal, sd 0.02), and ones whose fp16 quotients round
    # differently from float32 quotients: found by search over seeded random blocks.
    for i in range(4):
        add("random_normal_%d" % i, rng.normal(0.0, 0.02, BLOCK))
    for nbits, want in ((4, 6), (8, 6)):
        found = 0
        while found < want:
            cand = rng.normal(0.0, 0.02, (4096, BLOCK)).astype(np.float16)
            ref = coremltools_quantize(cand, nbits)[1]
            old = float32_division_quantize(cand.astype(np.float32), nbits)
            for r in np.nonzero(np.any(ref != old, axis=1))[0][: want - found]:
                out.append(("fp16_vs_f32_division_q%d_%d" % (nbits, found), cand[r]))
                found += 1
    # Exact ties in fp16 division that are not ties of the float32 quotient: scales of few
    # significant bits times k + 0.5.
    for s in (0.375, 0.15625, 1.125):
        s16 = np.float16(s)
        vals = [np.float16(7) * s16] + [np.float16(k + 0.5) * s16 for k in range(-7, 7)]
        add("ties_scale_%g" % s, vals)
    return out


def adversarial_f32_blocks():
    """Named float32 blocks of 32 values (bf16 / f32 sources: the cast to fp16 comes first)."""
    rng = np.random.default_rng(7)
    out = []

    def add(name, values):
        v = np.zeros(BLOCK, dtype=np.float32)
        v[: len(values)] = np.asarray(values, dtype=np.float32)
        out.append((name, v))

    for i in range(3):
        out.append(("f32_random_normal_%d" % i, rng.normal(0, 0.02, BLOCK).astype(np.float32)))
    # float32 values whose fp16 cast is a tie (halfway between two fp16 values).
    add("f32_cast_ties", [1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11, 7.0 + 2.0**-9, -(2.0 + 2.0**-10),
                          2.0**-25, 3 * 2.0**-25, 7.0])
    add("f32_below_fp16_range", [1e-9, -3e-8, 2.0**-26])
    add("f32_max_rounds_to_32768", [32767.0, -1000.0, 4681.0])
    add("f32_beyond_fp16", [70000.0, -1.0e5, 3.0e4, 1.0, -65519.0])
    add("f32_far_beyond_fp16", [1.0e6, -2.5e5, 1.0e5, 3.0])
    add("f32_inf_and_nan", [np.inf, np.nan, -3.0e4, 5.0e4])
    return out


def case(name, source, values):
    row = values.reshape(1, BLOCK)
    entry = {"name": name, "input": source}
    if source == "f16":
        entry["bits"] = [int(b) for b in values.astype(np.float16).view(np.uint16)]
    else:
        entry["bits"] = [int(b) for b in values.astype(np.float32).view(np.uint32)]
    for nbits, key in ((4, "q4s32"), (8, "q8s32")):
        scale, q = corelm_quantize(row, nbits)
        ct_input = row.astype(np.float16) if source == "f16" else None
        result = {
            "scale": int(scale.astype(np.float16).view(np.uint16)[0, 0]),
            "q": [int(v) for v in q[0]],
        }
        if ct_input is not None:
            ct_scale, ct_q = coremltools_quantize(ct_input, nbits)
            same = bool(
                ct_scale.view(np.uint16)[0, 0] == result["scale"] and np.all(ct_q[0] == q[0])
            )
            result["equals_coremltools"] = same
            old = float32_division_quantize(row.astype(np.float32), nbits)
            result["f32_division_differs"] = bool(np.any(old[0] != q[0]))
        entry[key] = result
    return entry


def main():
    out_path = sys.argv[1]
    cases = [case(n, "f16", v) for n, v in adversarial_fp16_blocks()]
    cases += [case(n, "f32", v) for n, v in adversarial_f32_blocks()]
    # corelm's rule is coremltools' for every fp16 block but the two whose 2 * max_abs overflows.
    for c in cases:
        if c["input"] != "f16":
            continue
        for key in ("q4s32", "q8s32"):
            expect = "coremltools_overflows" not in c["name"] and "near_fp16_max" not in c["name"]
            assert c[key]["equals_coremltools"] == expect, (c["name"], key)
    assert any(c["q4s32"].get("f32_division_differs") for c in cases)
    fixture = {
        "what": "q4s32 / q8s32 blocks as coremltools quantizes fp16 weights and as corelm's "
        "documented rule extends it (see the script's docstring)",
        "produced_with": "tests/tools/coremltools_quant.py, NumPy %s" % np.__version__,
        "cases": cases,
    }
    with open(out_path, "w") as f:
        json.dump(fixture, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print("%d cases; q4s32 blocks where float32 division differs: %d, q8s32: %d" % (
        len(cases),
        sum(bool(c["q4s32"].get("f32_division_differs")) for c in cases),
        sum(bool(c["q8s32"].get("f32_division_differs")) for c in cases),
    ))


if __name__ == "__main__":
    main()
