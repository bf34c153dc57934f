#!/usr/bin/python3
"""Independent NumPy simulation of q4s32 on stories260K: makes tests/data/q4s32_stories260K.json.

Written from the format's definition (docs/package-format.md, "q4s32 block"; coremltools'
linear_symmetric int4 per_block, block size 32), not from corelm's C++; the quantizer is
tests/tools/coremltools_quant.py's corelm_quantize (the float32 weights cast to fp16, then
coremltools' fp16 arithmetic), per block of 32 consecutive weights of one output row:

    h     = fp16(w)
    scale = fp16(max|h| / 7)
    q     = round_half_to_even(fp16(h / scale)) clamped to [-7, 7]
    w'    = scale * q

and the converter's documented plan ("What the converter stores"): linear layers q4s32 when their
rows divide into blocks of 32 (else f16), embed_tokens f16 (tied, so also the output
projection), norm weights f32.

Then it runs the Llama forward pass (transformers' conventions: rotate-half RoPE, GQA, RMSNorm,
SwiGLU) in float64 over the teacher-forced path of llama2.c's greedy run (BOS, then run.c's 255
first greedy ids) three ways:
  - f32:            the safetensors weights as they are; checked against run.c's own logits and
                    greedy ids in reference_outputs.json before anything is written;
  - weights_only:   q4s32/f16 weights, float activations (the format alone);
  - q8_activations: the same weights, and the input of every q4s32 matmul quantized as the
                    runtime's documented kernel contract says (docs/architecture.md, "Quantized
                    matmuls"): int8 blocks of 32, scale = max|x| / 127 (float32),
                    q = round_half_to_even(x / scale); the dot product is then exact per block.
It writes the per-tensor digests of the quantized blocks, the statistics of each variant
against f32, the q8_activations top-1 ids and margins at every position, and its full logits at
a few positions.

Run (Debian 12: apt-get install -y python3-numpy; nothing random, so nothing to seed):
    /usr/bin/python3 tests/tools/q4s32_reference.py ../shared/data tests/data/q4s32_stories260K.json
"""

import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coremltools_quant import corelm_quantize  # noqa: E402

# Positions whose full logits the fixture keeps; the script adds the last position its own float32
# and float64 runs agree on to 1e-3 (no activation rounding reached it), where a float32 runtime
# can match to the fixture's decimals.
LOGIT_POSITIONS = [50, 150, 255]


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype="<f4").reshape(info["shape"])
    return tensors


def quantize_q4s32(w):
    """Returns (fp16 scales [rows, blocks], int8 q [rows, cols], dequantized float32): corelm's
    q4s32 rule from tests/tools/coremltools_quant.py (the float32 weights cast to fp16, then
    coremltools' fp16 arithmetic)."""
    scale16, q = corelm_quantize(np.asarray(w, dtype=np.float32), 4)
    rows, cols = q.shape
    s = scale16.astype(np.float32)[:, :, None]
    deq = (s * q.reshape(rows, cols // 32, 32).astype(np.float32)).reshape(rows, cols)
    return scale16, q, deq


def quantize_activations_q8(x):
    """x [n, k] -> dequantized int8 blocks of 32 (scale = max|x|/127 in float32), in x's dtype."""
    dtype = x.dtype
    x = np.asarray(x, dtype=np.float32)
    n, k = x.shape
    blocks = x.reshape(n, k // 32, 32)
    scale = (np.max(np.abs(blocks), axis=2) / np.float32(127.0))[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(scale > 0, np.rint(blocks / scale), 0)
    return (q.astype(dtype) * scale.astype(dtype)).reshape(n, k)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def plan(weights):
    """name -> stored dtype, as docs/package-format.md says the converter stores them."""
    out = {}
    for name, w in weights.items():
        if name == "model.embed_tokens.weight":
            out[name] = "f16"
        elif w.ndim == 1:
            out[name] = "f32"
        else:
            out[name] = "q4s32" if w.shape[1] % 32 == 0 else "f16"
    return out


def forward(cfg, w, kinds, tokens, q8_activations, F=np.float64):
    """Logits [len(tokens), vocab] for every prefix of `tokens`, computed in dtype F."""
    w = {k: v.astype(F) for k, v in w.items()}
    hidden = cfg["hidden_size"]
    n_heads = cfg["num_attention_heads"]
    n_kv = cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or hidden // n_heads
    eps = cfg["rms_norm_eps"]
    theta = cfg["rope_theta"]
    T = len(tokens)

    def linear(x, name):
        if q8_activations and kinds[name] == "q4s32":
            x = quantize_activations_q8(x)
        return x @ w[name].T

    def rmsnorm(x, name):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + F(eps)) * w[name]

    inv_freq = 1.0 / theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    angles = np.arange(T, dtype=np.float64)[:, None] * inv_freq[None, :]  # [T, hd/2]
    cos = np.concatenate([np.cos(angles)] * 2, axis=1)[:, None, :].astype(F)  # [T, 1, hd]
    sin = np.concatenate([np.sin(angles)] * 2, axis=1)[:, None, :].astype(F)

    def rope(x):  # [T, heads, hd], rotate-half pairs (i, i + hd/2)
        half = hd // 2
        rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
        return x * cos + rotated * sin

    x = w["model.embed_tokens.weight"][tokens]  # [T, hidden]
    causal = np.triu(np.full((T, T), -np.inf, dtype=F), k=1)
    for layer in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % layer
        h = rmsnorm(x, p + "input_layernorm.weight")
        q = rope(linear(h, p + "self_attn.q_proj.weight").reshape(T, n_heads, hd))
        k = rope(linear(h, p + "self_attn.k_proj.weight").reshape(T, n_kv, hd))
        v = linear(h, p + "self_attn.v_proj.weight").reshape(T, n_kv, hd)
        group = n_heads // n_kv
        out = np.empty((T, n_heads, hd), dtype=F)
        for head in range(n_heads):
            kv = head // group
            scores = q[:, head, :] @ k[:, kv, :].T / F(np.sqrt(hd)) + causal  # [T, T]
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
            out[:, head, :] = scores @ v[:, kv, :]
        x = x + linear(out.reshape(T, n_heads * hd), p + "self_attn.o_proj.weight")
        h = rmsnorm(x, p + "post_attention_layernorm.weight")
        gate = linear(h, p + "mlp.gate_proj.weight")
        up = linear(h, p + "mlp.up_proj.weight")
        x = x + linear(gate / (F(1) + np.exp(-gate)) * up, p + "mlp.down_proj.weight")
    x = rmsnorm(x, "model.norm.weight")
    return x @ w["model.embed_tokens.weight"].T  # tied output projection


def stats(ref, got):
    err = np.abs(ref - got)
    return {
        "top1_agreement": round(float(np.mean(ref.argmax(1) == got.argmax(1))), 6),
        "max_abs_error": round(float(err.max()), 6),
        "mean_abs_error": round(float(err.mean()), 6),
    }


def main():
    data_dir, out_path = sys.argv[1], sys.argv[2]
    hf = data_dir + "/tiny-models/stories260K-hf"
    cfg = json.load(open(hf + "/config.json"))
    assert cfg["tie_word_embeddings"], "this simulation assumes a tied output projection"
    src = read_safetensors(hf + "/model.safetensors")
    ref = json.load(open(data_dir + "/tiny-models/stories260K/reference_outputs.json"))
    greedy = ref["greedy_from_bos"]["ids"]
    tokens = np.array([1] + greedy[:-1])  # 256 positions

    f32 = src
    kinds = plan(src)
    quant = {}
    digests = {}
    for name, wt in src.items():
        if kinds[name] == "q4s32":
            scale16, q, deq = quantize_q4s32(wt)
            quant[name] = deq
            digests[name] = {
                "scales_fnv1a64": fnv1a64(scale16.astype("<f2").tobytes()),
                "q_fnv1a64": fnv1a64(q.astype(np.int8).tobytes()),
                "q_histogram": [int(np.sum(q == v)) for v in range(-7, 8)],
            }
        elif kinds[name] == "f16":
            quant[name] = wt.astype(np.float16).astype(np.float32)
        else:
            quant[name] = wt

    base = forward(cfg, f32, kinds, tokens, False)
    # The float path must be run.c's before any quantized figure means anything.
    run_c = np.array(ref["logits"]["values"], dtype=np.float64)
    check = float(np.abs(base[: len(run_c)] - run_c).max())
    assert check < 5e-5, "float forward differs from run.c's logits by %g" % check
    assert list(base.argmax(1)) == greedy, "float forward does not reproduce run.c's greedy ids"

    weights_only = forward(cfg, quant, kinds, tokens, False)
    q8 = forward(cfg, quant, kinds, tokens, True)
    # Rounding activations to int8 amplifies float noise: an activation near a rounding boundary
    # goes one way or the other. The same simulation in float32 shows how far that reaches; a
    # float32 runtime can differ from these float64 logits by about as much.
    q8_float32 = forward(cfg, quant, kinds, tokens, True, np.float32)
    top2 = np.sort(q8, axis=1)[:, -2:]
    quiet = np.nonzero(np.abs(q8 - q8_float32).max(axis=1) < 1e-3)[0]
    positions = sorted(set(LOGIT_POSITIONS) | ({int(quiet[-1])} if len(quiet) else set()))
    fixture = {
        "what": "q4s32 simulated in NumPy on stories260K (see the script's docstring)",
        "produced_with": "tests/tools/q4s32_reference.py, NumPy %s" % np.__version__,
        "path": "teacher-forced: BOS then reference_outputs.json greedy_from_bos.ids[0:255]",
        "positions": int(len(tokens)),
        "float_vs_run_c_max_abs": check,
        "stored_dtypes": {k: kinds[k] for k in sorted(kinds)},
        "q4s32_digests": digests,
        "weights_only_vs_f32": stats(base, weights_only),
        "q8_activations_vs_f32": stats(base, q8),
        "q8_activations_vs_weights_only": stats(weights_only, q8),
        "q8_activations_float32_vs_float64": dict(
            stats(q8, q8_float32),
            worst_position_mean_abs_error=round(float(np.abs(q8 - q8_float32).mean(1).max()), 6),
        ),
        "q8_activations": {
            "top1": [int(i) for i in q8.argmax(1)],
            "top1_margin": [round(float(m), 4) for m in top2[:, 1] - top2[:, 0]],
            "logit_positions": positions,
            "logits": [[round(float(v), 3) for v in q8[p]] for p in positions],
        },
    }
    with open(out_path, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    for key in (
        "weights_only_vs_f32",
        "q8_activations_vs_f32",
        "q8_activations_vs_weights_only",
        "q8_activations_float32_vs_float64",
    ):
        print(key, fixture[key])


if __name__ == "__main__":
    main()
