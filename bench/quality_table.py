#!/usr/bin/env python3
"""Print the rows of docs/quantization.md's quality tables from the logs of bench/quality_table.sh.

    python3 bench/quality_table.py [OUT]      (OUT default /work/bench/quality)

corelm rows: logs/NAME.TEXT.json (`corelm perplexity --kl-base --json`); llama.cpp rows:
logs/g-Q.TEXT.ppl (`llama-perplexity --kl-divergence`); speeds: logs/speed.*.
Only what the logs hold is printed; a missing log prints as a dash.
"""
import json, os, re, statistics, sys

out = sys.argv[1] if len(sys.argv) > 1 else "/work/bench/quality"
logs = os.path.join(out, "logs")


def load_json(path):
    try:
        with open(path) as f:
            lines = [l for l in f if l.strip().startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except OSError:
        return None


def llama_ppl(path):
    """Figures of one llama-perplexity log (plain or --kl-divergence)."""
    try:
        s = open(path, errors="replace").read()
    except OSError:
        return None
    r = {}
    m = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", s)
    if m:
        r["ppl"], r["ppl_error"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"Mean PPL\(Q\)\s*:\s*([0-9.]+) ±\s*([0-9.]+)", s)
    if m:
        r["ppl"], r["ppl_error"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"Mean PPL\(Q\)/PPL\(base\)\s*:\s*([0-9.]+) ±\s*([0-9.]+)", s)
    if m:
        r["ppl_ratio"], r["ppl_ratio_error"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"Mean\s+KLD:\s*([-0-9.]+) ±\s*([0-9.]+)", s)
    if m:
        r["kld"], r["kld_error"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"Same top p:\s*([0-9.]+) ±\s*([0-9.]+) %", s)
    if m:
        r["same_top"], r["same_top_error"] = float(m.group(1)) / 100, float(m.group(2)) / 100
    m = re.search(r"calculating perplexity over (\d+) chunks", s)
    if m:
        r["n_chunks"] = int(m.group(1))
    return r or None


def bits(name):
    """bits/weight as the converter or llama-quantize printed it."""
    for p in (os.path.join(out, "run-corelm.log"),):
        try:
            s = open(p).read()
        except OSError:
            continue
        m = re.search(r"wrote %s\.clm: .*?, ([0-9.]+ [KM]B), ([0-9.]+) bits/weight" % re.escape(name), s)
        if m:
            return m.group(2)
    q = os.path.join(logs, name + ".quantize")
    if os.path.exists(q):
        m = re.search(r"quant size\s*=\s*[0-9.]+ MiB \(([0-9.]+) BPW\)", open(q).read())
        if m:
            return m.group(1)
    return "-"


def size(name):
    for ext in (".clm", ".gguf"):
        p = os.path.join(out, name + ext)
        if os.path.exists(p):
            return "%d" % os.path.getsize(p)
    return "-"


def fmt(r, base=False):
    if r is None:
        return "- | - | - | -"
    ppl = "%.3f ± %.3f" % (r["ppl"], r["ppl_error"]) if "ppl" in r else "-"
    if base:
        return "%s | 1 | 0 | 100 %%" % ppl
    ratio = "%.5f ± %.5f" % (r["ppl_ratio"], r["ppl_ratio_error"]) if "ppl_ratio" in r else "-"
    kld = "%.6f ± %.6f" % (r["kld"], r["kld_error"]) if "kld" in r else "-"
    top = "%.2f ± %.2f %%" % (100 * r["same_top"], 100 * r["same_top_error"]) if "same_top" in r else "-"
    return "%s | %s | %s | %s" % (ppl, ratio, kld, top)


def corelm_speed(name):
    p = os.path.join(logs, "speed.%s.jsonl" % name)
    try:
        return [float(json.loads(l)["tg_tokens_per_s"]) for l in open(p) if l.strip().startswith("{")]
    except OSError:
        return []


def llama_speed(name):
    p = os.path.join(logs, "speed.%s.llama.json" % name)
    try:
        s = open(p).read()
    except OSError:
        return []
    return [float(x) for x in re.findall(r'"avg_ts":\s*([0-9.]+)', s)]


def spd(vals):
    if not vals:
        return "-"
    return "%.0f (%s)" % (statistics.median(vals), " / ".join("%.0f" % v for v in vals))


rows = [("f32", "s-f32"), ("f16", "s-f16"), ("q8s32", "s-q8s32"), ("q4s32", "s-q4s32"),
        ("q4s32 + imatrix", "s-q4s32-im"), ("lut4 G = 8", "s-lut4g8"), ("lut4 G = 16", "s-lut4g16"),
        ("lut4 G = 32", "s-lut4g32"), ("lut4 G = 16 + imatrix", "s-lut4g16-im")]
for text in ("wiki", "botchan"):
    print("\n## corelm packages, %s\n" % text)
    print("| model | bits / weight | file (bytes) | PPL | PPL / base | mean KLD | same top | decode tok/s, -t 1 (median; runs) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, name in rows:
        r = load_json(os.path.join(logs, "%s.%s.json" % (name, text)))
        print("| %s | %s | %s | %s | %s |" % (label, bits(name), size(name), fmt(r, name == "s-f32"), spd(corelm_speed(name))))
    print("\n## llama.cpp GGUFs, %s\n" % text)
    print("llama-perplexity's KL mode prints a 'Mean PPL(base)' that is not its F32 run's PPL on this model;")
    print("the llama ratio here is PPL(Q) / PPL(F32 run), both as llama-perplexity printed them.\n")
    print("| GGUF | BPW (llama-quantize) | file (bytes) | llama-perplexity: PPL | PPL / F32 | mean KLD | same top | corelm: PPL | PPL / f32 package | mean KLD | same top | llama-bench tg128 -t 1 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    base = llama_ppl(os.path.join(logs, "g-F32.%s.ppl" % text))
    for q in ("F32", "F16", "Q8_0", "Q4_0", "Q4_K_M"):
        name = "g-" + q
        lr = llama_ppl(os.path.join(logs, "%s.%s.ppl" % (name, text)))
        if lr and base and "ppl" in lr and "ppl" in base and q != "F32":
            lr["ppl_ratio"] = lr["ppl"] / base["ppl"]
            lr["ppl_ratio_error"] = 0.0
        cr = load_json(os.path.join(logs, "%s.%s.json" % (name, text)))
        print("| %s | %s | %s | %s | %s | %s |" % (q, bits(name) if q != "F32" else "32.00", size(name),
              fmt(lr, q == "F32"), fmt(cr), spd(llama_speed(name))))
    print()

print("\n## 1.1B random weights, KL against the f16 GGUF\n")
print("| model | runner | PPL | PPL / base | mean KLD | same top |")
print("|---|---|---|---|---|---|")
for b in ("1b-f16", "1b-q8s32", "1b-q4s32", "1b-lut4g16", "1b-Q8_0", "1b-Q4_0", "1b-Q4_K_M"):
    r = load_json(os.path.join(logs, b + ".json"))
    if r:
        print("| %s | corelm | %s |" % (b, fmt(r, b == "1b-f16")))
for b in ("1b-f16", "1b-Q8_0", "1b-Q4_0", "1b-Q4_K_M"):
    r = llama_ppl(os.path.join(logs, b + ".ppl"))
    if r:
        print("| %s | llama-perplexity | %s |" % (b, fmt(r, b == "1b-f16")))
