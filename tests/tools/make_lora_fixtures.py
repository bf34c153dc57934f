#!/usr/bin/python3
"""LoRA test fixtures for stories260K, written from PEFT's and llama.cpp's file conventions with
NumPy only (no torch, no peft, nothing of corelm's code):

  PEFT adapter folders (adapter_config.json + adapter_model.safetensors), keys as PEFT saves them
  ("base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight"), lora_A [r, in_features],
  lora_B [out_features, r]. B is random and non-zero (PEFT initialises it to zero, which would make
  every adapter a no-op):
    r4              r=4,  alpha=8,  q_proj, v_proj
    r16             r=16, alpha=16, all seven projections
    rslora          r=16, alpha=8,  use_rslora (scale alpha/sqrt(r)), q/k/v/o
    fan_in_fan_out  r=8,  alpha=16, fan_in_fan_out=true on q/v. PEFT's lora_A and lora_B are always
                    nn.Linear weights ([r, in], [out, r]); fan_in_fan_out only transposes the merged
                    delta to match a Conv1D base weight stored [in, out], and for an nn.Linear base
                    (every Llama projection) PEFT resets the flag to False with a warning. So the
                    tensors are stored as in any adapter and the merge is the ordinary W + s*B*A.
    bad_rank, bad_target, bad_shape, dora, modules_to_save: adapters a reader must refuse.
  merged_NAME/ for every good adapter: the base HF folder with W + scale * B @ A (float64, then
  float32): the independent reference the engine is tested against.
  r4.gguf (f32) and r16.gguf (f16): the same adapters as llama.cpp's convert_lora_to_gguf.py
  writes them: general.type "adapter", adapter.type "lora", adapter.lora.alpha; tensors
  "blk.N.attn_q.weight.lora_a" with torch shape [r, in] (GGUF dims [in, r]) and ".lora_b" [out, r]
  (dims [r, out]); q and k lora_b rows permuted like the base weights (each head's rotary halves
  interleaved), since the converter runs the model's permute on the LoRA product and that only
  touches B's rows.

A NumPy forward pass (transformers' Llama: rotate-half RoPE, GQA, RMSNorm, SwiGLU) checks that each
merged model changes the greedy choice at some positions of a fixed sequence yet stays sane.

Run: /usr/bin/python3 tests/tools/make_lora_fixtures.py ../shared/data/tiny-models/stories260K-hf OUT
"""
import json
import math
import os
import shutil
import struct
import sys

import numpy as np

PROJ = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
        "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}
GGUF_NAME = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
             "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}
ST_DTYPES = {"F32": np.float32, "F16": np.float16}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        arr = np.frombuffer(data[base + begin:base + end], dtype=ST_DTYPES[info["dtype"]])
        out[name] = arr.reshape(info["shape"]).copy()
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}[arr.dtype]
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def module_name(layer, proj):
    return f"model.layers.{layer}.{PROJ[proj]}.{proj}"


def peft_config(r, alpha, targets, **extra):
    cfg = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "stories260K",
           "r": r, "lora_alpha": alpha, "lora_dropout": 0.0, "target_modules": targets,
           "bias": "none", "fan_in_fan_out": False, "use_rslora": False, "use_dora": False,
           "modules_to_save": None, "layers_to_transform": None, "rank_pattern": {},
           "alpha_pattern": {}, "init_lora_weights": True, "inference_mode": True}
    cfg.update(extra)
    return cfg


def make_adapter(base, cfg, n_layers, seed, strength):
    """Random A, B for every (layer, target): B*A scaled so that scale*B*A has an RMS of
    `strength` times the base matrix's (visible in the greedy ids, yet a perturbation)."""
    rng = np.random.default_rng(seed)
    r, alpha = cfg["r"], cfg["lora_alpha"]
    scale = alpha / math.sqrt(r) if cfg["use_rslora"] else alpha / r
    tensors, deltas = {}, {}
    for layer in range(n_layers):
        for proj in cfg["target_modules"]:
            mod = module_name(layer, proj)
            w = base[mod + ".weight"]
            out_f, in_f = w.shape
            a = rng.standard_normal((r, in_f)) / math.sqrt(in_f)
            b = rng.standard_normal((out_f, r)) / math.sqrt(r)
            rms = np.sqrt(np.mean((b @ a) ** 2))
            b *= strength * np.sqrt(np.mean(w.astype(np.float64) ** 2)) / (scale * rms)
            a32, b32 = a.astype(np.float32), b.astype(np.float32)
            tensors[f"base_model.model.{mod}.lora_A.weight"] = a32
            tensors[f"base_model.model.{mod}.lora_B.weight"] = b32
            # From the stored float32 values, in float64: exactly what a reader can reproduce.
            deltas[mod] = (scale, a32.astype(np.float64), b32.astype(np.float64))
    return tensors, deltas


def write_peft(out, name, cfg, tensors):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(d, "adapter_model.safetensors"), tensors)


def merge(base, deltas):
    merged = dict(base)
    for mod, (scale, a, b) in deltas.items():
        w = base[mod + ".weight"].astype(np.float64)
        merged[mod + ".weight"] = (w + scale * (b @ a)).astype(np.float32)
    return merged


def write_merged(src, out, name, merged):
    d = os.path.join(out, "merged_" + name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(src):
        if f.endswith(".json"):
            shutil.copyfile(os.path.join(src, f), os.path.join(d, f))
    write_safetensors(os.path.join(d, "model.safetensors"), merged)


# ---- a NumPy Llama forward pass, only to check that an adapter matters ----

def forward(w, cfg, ids):
    hd, nh, nkv = cfg["head_dim"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    eps, n = cfg["rms_norm_eps"], len(ids)
    g = {k: v.astype(np.float64) for k, v in w.items()}

    def rms(x, wt):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * wt

    inv = 1.0 / cfg["rope_theta"] ** (np.arange(0, hd, 2) / hd)
    ang = np.outer(np.arange(n), inv)
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))

    def rope(x):  # [heads, n, hd], rotate-half
        rot = np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], -1)
        return x * cos + rot * sin

    x = g["model.embed_tokens.weight"][ids]
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms(x, g[p + "input_layernorm.weight"])
        q = (h @ g[p + "self_attn.q_proj.weight"].T).reshape(n, nh, hd).transpose(1, 0, 2)
        k = (h @ g[p + "self_attn.k_proj.weight"].T).reshape(n, nkv, hd).transpose(1, 0, 2)
        v = (h @ g[p + "self_attn.v_proj.weight"].T).reshape(n, nkv, hd).transpose(1, 0, 2)
        q, k = rope(q), rope(k)
        k, v = np.repeat(k, nh // nkv, 0), np.repeat(v, nh // nkv, 0)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        att = (s / s.sum(-1, keepdims=True)) @ v
        x = x + att.transpose(1, 0, 2).reshape(n, nh * hd) @ g[p + "self_attn.o_proj.weight"].T
        h = rms(x, g[p + "post_attention_layernorm.weight"])
        gate = h @ g[p + "mlp.gate_proj.weight"].T
        up = h @ g[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ g[p + "mlp.down_proj.weight"].T
    x = rms(x, g["model.norm.weight"])
    return x @ g["model.embed_tokens.weight"].T


# ---- llama.cpp's LoRA GGUF (convert_lora_to_gguf.py's layout), version 3 ----

def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def permute_rows(m, n_head):
    # llama.cpp's LlamaModel.permute: rotate-half pairs -> interleaved, per head, on rows.
    return m.reshape(n_head, 2, m.shape[0] // n_head // 2, *m.shape[1:]).swapaxes(1, 2).reshape(
        m.shape)


def write_gguf_lora(path, tensors, alpha, cfg, dtype):
    ggml_type = {np.float32: 0, np.float16: 1}[dtype]
    kv = [("general.architecture", 8, gguf_string("llama")),
          ("general.type", 8, gguf_string("adapter")),
          ("adapter.type", 8, gguf_string("lora")),
          ("adapter.lora.alpha", 6, struct.pack("<f", float(alpha)))]
    items = []
    for key, arr in tensors.items():
        mod = key[len("base_model.model."):].rsplit(".lora_", 1)[0]
        layer, proj = int(mod.split(".")[2]), mod.split(".")[-1]
        if key.endswith("lora_B.weight") and proj in ("q_proj", "k_proj"):
            heads = cfg["num_attention_heads"] if proj == "q_proj" else cfg["num_key_value_heads"]
            arr = permute_rows(arr, heads)
        suffix = "lora_a" if key.endswith("lora_A.weight") else "lora_b"
        items.append((f"blk.{layer}.{GGUF_NAME[proj]}.weight.{suffix}", arr.astype(dtype)))
    align = 32
    head = b"GGUF" + struct.pack("<IQQ", 3, len(items), len(kv))
    for k, t, v in kv:
        head += gguf_string(k) + struct.pack("<I", t) + v
    data, offset = b"", 0
    for name, arr in items:
        head += gguf_string(name) + struct.pack("<I", 2)
        head += struct.pack("<QQ", arr.shape[1], arr.shape[0])  # ggml order: columns first
        head += struct.pack("<IQ", ggml_type, offset)
        raw = arr.tobytes() + b"\0" * (-arr.nbytes % align)
        data += raw
        offset += len(raw)
    head += b"\0" * (-len(head) % align)
    with open(path, "wb") as f:
        f.write(head + data)


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    base = read_safetensors(os.path.join(src, "model.safetensors"))
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    n_layers = cfg["num_hidden_layers"]
    attn = ["q_proj", "k_proj", "v_proj", "o_proj"]
    good = {
        "r4": (peft_config(4, 8, ["q_proj", "v_proj"]), 4, 0.6),
        "r16": (peft_config(16, 16, attn + ["gate_proj", "up_proj", "down_proj"]), 16, 0.3),
        "rslora": (peft_config(16, 8, attn, use_rslora=True), 1616, 0.4),
        "fan_in_fan_out": (peft_config(8, 16, ["q_proj", "v_proj"], fan_in_fan_out=True), 8, 0.6),
    }
    rng = np.random.default_rng(7)
    ids = np.concatenate([[1], rng.integers(3, cfg["vocab_size"], 47)])
    base_top = forward(base, cfg, ids).argmax(-1)
    for name, (acfg, seed, strength) in good.items():
        tensors, deltas = make_adapter(base, acfg, n_layers, seed, strength)
        write_peft(out, name, acfg, tensors)
        merged = merge(base, deltas)
        write_merged(src, out, name, merged)
        logits = forward(merged, cfg, ids)
        changed = int((logits.argmax(-1) != base_top).sum())
        assert np.isfinite(logits).all() and np.abs(logits).max() < 100, name
        assert 0 < changed < len(ids), f"{name}: {changed} of {len(ids)} greedy ids changed"
        print(f"{name}: greedy id changed at {changed} of {len(ids)} positions")
        if name in ("r4", "r16"):
            dtype = np.float32 if name == "r4" else np.float16
            write_gguf_lora(os.path.join(out, name + ".gguf"), tensors, acfg["lora_alpha"], cfg,
                            dtype)

    # Adapters a reader must refuse (each one thing wrong).
    qv = peft_config(4, 8, ["q_proj", "v_proj"])
    t, _ = make_adapter(base, qv, n_layers, 4, 0.6)
    bad = dict(t)
    key = "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"
    bad[key] = np.ones((t[key].shape[0], 8), np.float32)  # rank 8 against lora_A's 4
    write_peft(out, "bad_rank", qv, bad)
    write_peft(out, "bad_target", peft_config(4, 8, ["q_proj", "foo_proj"]), t)
    bad = dict(t)
    key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    bad[key] = np.ones((4, cfg["hidden_size"] + 1), np.float32)
    write_peft(out, "bad_shape", qv, bad)
    write_peft(out, "dora", peft_config(4, 8, ["q_proj", "v_proj"], use_dora=True), t)
    write_peft(out, "modules_to_save",
               peft_config(4, 8, ["q_proj", "v_proj"], modules_to_save=["lm_head"]), t)


if __name__ == "__main__":
    main()
