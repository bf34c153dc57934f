#!/usr/bin/python3
"""Independent NumPy perplexity of stories260K: makes tests/data/perplexity_stories260K.json.

Written from the method's description (llama.cpp's llama-perplexity, as docs/quantization.md
"Perplexity" states it), not from corelm's C++:

  - tokenize the whole text once, BOS first;
  - cut the ids into n = len(ids) // ctx non-overlapping windows of ctx ids (the tail is dropped);
  - replace the first id of every window by BOS and run the window from an empty cache;
  - score only the second half: at window positions j = ctx/2 .. ctx-2, the negative
    log-likelihood of the id at j + 1 under the logits at j (ctx - 1 - ctx/2 ids per window);
  - ppl = exp(mean NLL); its uncertainty = ppl * sqrt((mean(NLL^2) - mean(NLL)^2) / (N - 1)),
    N the number of scored ids (the standard error of the mean NLL, carried through exp).

Everything comes from the original llama2.c files, not from the HF conversion corelm reads:
  - the tokenizer is llama2.c's run.c `encode` re-implemented over tok512.bin (a dummy-prefix
    space, one piece per UTF-8 character or its bytes as <0xNN> fallback ids (+3), then merging
    the adjacent pair whose merged piece has the highest score until none is in the vocabulary);
  - the forward pass is run.c's (interleaved-pair RoPE, GQA, RMSNorm eps 1e-5, SwiGLU, shared
    classifier) in float64 over stories260K.bin, checked against run.c's own float32 logits in
    reference_outputs.json before anything is written.

Run (Debian 12: apt-get install -y python3-numpy; nothing random):
    /usr/bin/python3 tests/tools/perplexity_reference.py ../shared/data \\
        tests/data/perplexity_text.txt tests/data/perplexity_stories260K.json
"""

import json
import math
import struct
import sys

import numpy as np

# (ctx, chunks or None for all) for each case the fixture holds.
CASES = [(128, None), (64, 3)]


def read_tokenizer(path, vocab_size):
    pieces, scores = [], []
    with open(path, "rb") as f:
        (max_len,) = struct.unpack("<i", f.read(4))
        for _ in range(vocab_size):
            score, n = struct.unpack("<fi", f.read(8))
            pieces.append(f.read(n))
            scores.append(score)
    return pieces, scores


def encode(text, pieces, scores, bos=1):
    """run.c's encode(text, bos=1, eos=0) over bytes pieces."""
    lookup = {}
    for i, p in enumerate(pieces):
        lookup.setdefault(p, i)
    ids = [bos]
    if text:
        ids.append(lookup[b" "])  # the dummy prefix
    for ch in text:
        b = ch.encode("utf-8")
        if b in lookup:
            ids.append(lookup[b])
        else:
            ids.extend(x + 3 for x in b)  # <0xNN> pieces are ids 3..258
    body = ids[1:]
    while True:
        best, best_i, best_id = -1e10, -1, -1
        for i in range(len(body) - 1):
            merged = pieces[body[i]] + pieces[body[i + 1]]
            j = lookup.get(merged)
            if j is not None and scores[j] > best:
                best, best_i, best_id = scores[j], i, j
        if best_i < 0:
            break
        body[best_i : best_i + 2] = [best_id]
    return ids[:1] + body


def read_model(path):
    raw = open(path, "rb").read()
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack("<7i", raw[:28])
    assert vocab > 0, "stories260K shares its classifier with the embedding"
    data = np.frombuffer(raw[28:], dtype="<f4")
    hd = dim // heads
    kv_dim = kv_heads * hd
    at = 0

    def take(*shape):
        nonlocal at
        n = int(np.prod(shape))
        out = data[at : at + n].reshape(shape).astype(np.float64)
        at += n
        return out

    w = {
        "embed": take(vocab, dim),
        "rms_att": take(layers, dim),
        "wq": take(layers, dim, dim),
        "wk": take(layers, kv_dim, dim),
        "wv": take(layers, kv_dim, dim),
        "wo": take(layers, dim, dim),
        "rms_ffn": take(layers, dim),
        "w1": take(layers, hidden, dim),
        "w2": take(layers, dim, hidden),
        "w3": take(layers, hidden, dim),
        "rms_final": take(dim),
    }
    cfg = dict(dim=dim, layers=layers, heads=heads, kv_heads=kv_heads, vocab=vocab, hd=hd)
    return cfg, w


def forward(cfg, w, tokens, observe=None):
    """Logits [len(tokens), vocab] in float64, as run.c computes them position by position.

    observe(layer, name, x), when given, sees the input rows x [T, cols] of every matrix product:
    names "wq" (also wk, wv's input), "wo", "w1" (also w3's), "w2", and "classifier" (layer -1).
    """
    if observe is None:
        observe = lambda layer, name, x: None  # noqa: E731
    T, hd, H, KV = len(tokens), cfg["hd"], cfg["heads"], cfg["kv_heads"]

    def rmsnorm(x, g):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + 1e-5) * g

    # run.c: pair (i, i+1) of each head rotated by pos * 10000^(-(i % hd) / hd), i even.
    freq = 1.0 / 10000.0 ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = np.arange(T, dtype=np.float64)[:, None] * freq[None, :]  # [T, hd/2]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]

    def rope(x):  # [T, heads, hd]
        a, b = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = a * sin + b * cos
        return out

    x = w["embed"][tokens]
    mask = np.triu(np.full((T, T), -np.inf), k=1)
    for l in range(cfg["layers"]):
        h = rmsnorm(x, w["rms_att"][l])
        observe(l, "wq", h)
        q = rope((h @ w["wq"][l].T).reshape(T, H, hd))
        k = rope((h @ w["wk"][l].T).reshape(T, KV, hd))
        v = (h @ w["wv"][l].T).reshape(T, KV, hd)
        out = np.empty((T, H, hd))
        for head in range(H):
            kv = head // (H // KV)
            s = q[:, head] @ k[:, kv].T / math.sqrt(hd) + mask
            s = np.exp(s - s.max(axis=1, keepdims=True))
            out[:, head] = (s / s.sum(axis=1, keepdims=True)) @ v[:, kv]
        observe(l, "wo", out.reshape(T, H * hd))
        x = x + out.reshape(T, H * hd) @ w["wo"][l].T
        h = rmsnorm(x, w["rms_ffn"][l])
        observe(l, "w1", h)
        g, u = h @ w["w1"][l].T, h @ w["w3"][l].T
        observe(l, "w2", g / (1.0 + np.exp(-g)) * u)
        x = x + (g / (1.0 + np.exp(-g)) * u) @ w["w2"][l].T
    final = rmsnorm(x, w["rms_final"])
    observe(-1, "classifier", final)
    return final @ w["embed"].T


def log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def perplexity(cfg, w, ids, ctx, chunks):
    n = len(ids) // ctx
    assert len(ids) >= 2 * ctx, (len(ids), ctx)
    if chunks is not None:
        n = min(n, chunks)
    first = ctx // 2
    nll = []
    running = []
    for c in range(n):
        window = list(ids[c * ctx : (c + 1) * ctx])
        window[0] = 1  # BOS
        lp = log_softmax(forward(cfg, w, np.array(window)))
        for j in range(first, ctx - 1):
            nll.append(-lp[j, window[j + 1]])
        running.append(math.exp(np.mean(nll)))
    nll = np.array(nll)
    mean, mean2 = nll.mean(), (nll * nll).mean()
    ppl = math.exp(mean)
    err = ppl * math.sqrt((mean2 - mean * mean) / (len(nll) - 1))
    return {
        "ctx": ctx,
        "chunks": n,
        "scored": int(len(nll)),
        "ppl": ppl,
        "ppl_error": err,
        "running_ppl": running,
    }


def main():
    data_dir, text_path, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    tiny = data_dir + "/tiny-models/stories260K"
    cfg, w = read_model(tiny + "/stories260K.bin")
    pieces, scores = read_tokenizer(tiny + "/tok512.bin", cfg["vocab"])

    # The forward pass must reproduce run.c's float32 logits before anything is written.
    ref = json.load(open(tiny + "/reference_outputs.json"))["logits"]
    got = forward(cfg, w, np.array(ref["input_ids"]))
    want = np.array(ref["values"], dtype=np.float64)
    diff = float(np.abs(got[: len(want)] - want).max())
    assert diff < 1e-4, diff
    # And the tokenizer run.c's prompt ids.
    prompt = json.load(open(tiny + "/reference_outputs.json"))["greedy_with_prompt"]
    assert encode(prompt["prompt"], pieces, scores) == prompt["prompt_ids"]

    text = open(text_path, "rb").read().decode("utf-8")
    ids = encode(text, pieces, scores)
    out = {
        "what": "perplexity of stories260K (llama2.c stories260K.bin, float64) on "
        "tests/data/perplexity_text.txt by tests/tools/perplexity_reference.py "
        "(llama-perplexity's method: BOS-led windows of ctx, second half scored)",
        "run_c_logits_max_abs_diff": round(diff, 9),
        "n_tokens": len(ids),
        "token_ids": ids,
        "cases": [perplexity(cfg, w, ids, ctx, chunks) for ctx, chunks in CASES],
    }
    with open(out_path, "w") as f:  # one key per line, each value on its line
        f.write("{\n")
        f.write(",\n".join(" %s: %s" % (json.dumps(k), json.dumps(v)) for k, v in out.items()))
        f.write("\n}\n")
    for c in out["cases"]:
        print("ctx %d chunks %d: ppl %.6f +/- %.6f" % (c["ctx"], c["chunks"], c["ppl"], c["ppl_error"]))


if __name__ == "__main__":
    main()
