#!/usr/bin/env python3
"""Makes the seed corpora under fuzz/corpus/<target>/ from ../shared/data (Python standard library
only). Small inputs only: real files are cut down (a tokenizer.json to its first few hundred
tokens, a SentencePiece .model to its first pieces) and a tiny random Llama model (1 layer,
hidden 8, stories260K's 512-token vocabulary) is written as a Hugging Face folder, as GGUF and,
with the corelm CLI (--cli), as a .clm package.

  fuzz/make_corpus.py --data ../shared/data --cli build/corelm [--out fuzz/corpus]

Multi-part inputs follow fuzz/fuzz_support.h's split_parts: main | part 1 | ... | part n |
len n | ... | len 1 (16-bit little-endian lengths at the end)."""

import argparse
import json
import math
import os
import random
import shutil
import struct
import subprocess
import tempfile

TEXTS = [
    "Once upon a time, there was a little girl named Lily.",
    "Hello world! 123 <s> [INST] caf\u00e9 \u2581 \U0001F600\n\ttabs  and   spaces",
    "",
]


SEEN = set()


def write(out, target, name, data):
    """Writes corpus/<target>/<name>, unless the target already has a seed with these bytes."""
    if isinstance(data, str):
        data = data.encode()
    if (target, data) in SEEN:
        return
    SEEN.add((target, data))
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def with_parts(main, *parts):
    """main | parts... | len(parts[-1]) ... len(parts[0]) (fuzz_support.h's split_parts)."""
    parts = [p.encode() if isinstance(p, str) else p for p in parts]
    main = main.encode() if isinstance(main, str) else main
    out = main + b"".join(parts)
    for p in reversed(parts):
        out += struct.pack("<H", len(p))
    return out


def compact(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# --- tokenizer.json ---------------------------------------------------------------------------


def cut_tokenizer_json(path, keep):
    """The tokenizer with only ids < keep (and the merges among them)."""
    with open(path, encoding="utf-8") as f:
        tj = json.load(f)
    model = tj["model"]
    vocab = {t: i for t, i in model["vocab"].items() if i < keep}
    model["vocab"] = vocab
    merges = []
    for m in model.get("merges", []):
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
    model["merges"] = merges
    tj["added_tokens"] = [t for t in tj.get("added_tokens", []) if t["id"] < keep]
    return tj


def tokenizer_json_corpus(data, out):
    config = open(os.path.join(data, "tiny-models/stories260K-hf/tokenizer_config.json")).read()
    stories = json.load(open(os.path.join(data, "tiny-models/stories260K-hf/tokenizer.json")))
    write(out, "tokenizer_json", "stories260K", with_parts(compact(stories), TEXTS[0], config))
    write(out, "tokenizer_json", "stories260K-noconfig", with_parts(compact(stories), TEXTS[1], ""))
    llama = cut_tokenizer_json(os.path.join(data, "llama2-tokenizer/tokenizer.json"), 400)
    llama_config = open(os.path.join(data, "llama2-tokenizer/tokenizer_config.json")).read()
    write(out, "tokenizer_json", "llama2-cut", with_parts(compact(llama), TEXTS[1], llama_config))
    gpt2 = cut_tokenizer_json(os.path.join(data, "gpt2-tokenizer/tokenizer.json"), 400)
    gpt2_config = open(os.path.join(data, "gpt2-tokenizer/tokenizer_config.json")).read()
    write(out, "tokenizer_json", "gpt2-cut", with_parts(compact(gpt2), TEXTS[1], gpt2_config))
    mistral = cut_tokenizer_json(os.path.join(data, "mistral-7b-v0.1-hf/tokenizer.json"), 300)
    write(out, "tokenizer_json", "mistral-cut", with_parts(compact(mistral), TEXTS[0], ""))
    return stories


# --- SentencePiece .model ------------------------------------------------------------------------


def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def proto_fields(b):
    """(field, wire type, raw bytes of the whole record) for each top-level record."""
    i = 0
    while i < len(b):
        start = i
        key, i = varint(b, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            _, i = varint(b, i)
        elif wt == 1:
            i += 8
        elif wt == 2:
            n, i = varint(b, i)
            i += n
        elif wt == 5:
            i += 4
        else:
            raise ValueError("unexpected wire type %d" % wt)
        yield field, wt, b[start:i]


def cut_spm_model(path, keep):
    """The ModelProto with only its first `keep` pieces (field 1); everything else kept."""
    b = open(path, "rb").read()
    out, n = [], 0
    for field, _, raw in proto_fields(b):
        if field == 1:
            n += 1
            if n > keep:
                continue
        out.append(raw)
    return b"".join(out)


def sentencepiece_corpus(data, out):
    v1 = cut_spm_model(os.path.join(data, "mistral-spm-models/tokenizer.model.v1"), 300)
    write(out, "sentencepiece", "mistral-v1-cut", with_parts(v1, TEXTS[0]))
    write(out, "sentencepiece", "mistral-v1-cut-unicode", with_parts(v1, TEXTS[1]))
    v3 = cut_spm_model(
        os.path.join(data, "mistral-spm-models/mistral_instruct_tokenizer_240323.model.v3"), 300)
    write(out, "sentencepiece", "mistral-v3-cut", with_parts(v3, "[INST] Hi [/INST] x"))


# --- Jinja and config.json -----------------------------------------------------------------------


def jinja_corpus(data, out):
    d = os.path.join(data, "mistral-chat-templates")
    for name in sorted(os.listdir(d)):
        if name.endswith(".jinja"):
            write(out, "jinja", name[: -len(".jinja")], open(os.path.join(d, name), "rb").read())
    cases = json.load(open(os.path.join(data, "llamacpp-chat-template-cases/inst_style_cases.json")))
    for i, case in enumerate(cases["cases"]):
        write(out, "jinja", "llamacpp-case-%d" % i, case["template_str"])
    write(out, "jinja", "builtins",
          "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
          "{{ m.role|upper }}:{{ m.content|trim|length }} {{ loop.index }}/{{ loop.length }}"
          "{% if not loop.last %}, {% endif %}{% endfor %}{{ ns.n * 2 }} {{ '%d'|format(3) }}"
          "{{ [1,2,3]|join('-') }}{{ {'a': 1}|tojson }}{{ 'x' ~ 1.5 }}{{ range(3)|list }}"
          "{% macro f(a, b=2) %}{{ a + b }}{% endmacro %}{{ f(1) }}{{ messages[0]['content'][:5] }}"
          "{% if tools is defined %}{{ tools|tojson }}{% endif %}"
          "{{ 'a,b'.split(',') }}{{ 'Hi'.startswith('H') }}{{ 7 // 2 }}{{ 7 % 3 }}{{ -1.5|abs }}"
          "{%- if add_generation_prompt %}[gen]{% endif -%}")


# --- OpenAI request bodies (corelm serve) ----------------------------------------------------------


def openai_request_corpus(data, out):
    d = os.path.join(data, "mistral-chat-samples")
    for name in sorted(os.listdir(d)):
        write(out, "openai_request", name, open(os.path.join(d, name, "sample.json"), "rb").read())
    write(out, "openai_request", "chat-all-fields", compact({
        "model": "m", "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "abcDEF123", "type": "function",
                "function": {"name": "f", "arguments": "{\"a\": [1, {\"b\": null}]}"}}]},
            {"role": "tool", "tool_call_id": "abcDEF123", "name": "f", "content": "22"}],
        "max_completion_tokens": 16, "temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05,
        "seed": -1, "stop": ["\n", "END"], "presence_penalty": 0.5, "frequency_penalty": -0.5,
        "repetition_penalty": 1.1, "logit_bias": {"13": -100, "7": 2.5}, "logprobs": True,
        "top_logprobs": 3, "stream": True, "stream_options": {"include_usage": True},
        "tools": [{"type": "function", "function": {"name": "f", "description": "d",
                   "parameters": {"type": "object", "properties": {"a": {"type": "array"}}}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}}, "n": 1}))
    write(out, "openai_request", "completion-ids", compact({
        "prompt": [[1, 403, 2]], "echo": True, "logprobs": 5, "max_tokens": 8, "stop": "x",
        "best_of": 1, "suffix": ""}))
    write(out, "openai_request", "completion-text", compact({"model": "m", "prompt": ["Once upon"]}))
    write(out, "openai_request", "output-v3",
          '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abcDEF123"}]</s>')
    write(out, "openai_request", "output-v11",
          'Sure.[TOOL_CALLS]get_weather[CALL_ID]abcDEF123[ARGS]{"city": "Paris"}[TOOL_CALLS]now[ARGS]{}</s>')


def config_corpus(data, out):
    for src, name in [("tiny-models/stories260K-hf/config.json", "stories260K"),
                      ("mistral-7b-v0.1-hf/config.json", "mistral-7b")]:
        write(out, "config", name, open(os.path.join(data, src), "rb").read())
    c = json.load(open(os.path.join(data, "mistral-7b-v0.1-hf/config.json")))
    c["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    c["eos_token_id"] = [2, 32000]
    write(out, "config", "llama3-rope", compact(c))
    c["rope_scaling"] = {"type": "linear", "factor": 2.0}
    c["sliding_window"] = None
    write(out, "config", "linear-rope", compact(c))


# --- a tiny random Llama: HF folder, safetensors, GGUF, package ---------------------------------

TINY = dict(hidden=8, inter=16, heads=2, kv_heads=1, head_dim=4, layers=1, vocab=512)


def tiny_tensors():
    """(HF name, shape) of the tiny model, in transformers' orientation."""
    h, i, v = TINY["hidden"], TINY["inter"], TINY["vocab"]
    q, kv = TINY["heads"] * TINY["head_dim"], TINY["kv_heads"] * TINY["head_dim"]
    t = [("model.embed_tokens.weight", [v, h]), ("model.norm.weight", [h])]
    for l in range(TINY["layers"]):
        p = "model.layers.%d." % l
        t += [(p + "input_layernorm.weight", [h]), (p + "post_attention_layernorm.weight", [h]),
              (p + "self_attn.q_proj.weight", [q, h]), (p + "self_attn.k_proj.weight", [kv, h]),
              (p + "self_attn.v_proj.weight", [kv, h]), (p + "self_attn.o_proj.weight", [h, q]),
              (p + "mlp.gate_proj.weight", [i, h]), (p + "mlp.up_proj.weight", [i, h]),
              (p + "mlp.down_proj.weight", [h, i])]
    return t


def f16_bytes(values):
    return b"".join(struct.pack("<e", x) for x in values)


def random_values(rng, n, name):
    if name.endswith("norm.weight"):
        return [1.0] * n
    return [rng.uniform(-0.5, 0.5) for _ in range(n)]


def safetensors_bytes(tensors, dtype="F16"):
    """tensors: [(name, shape, raw bytes)]."""
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = compact(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def tiny_config():
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": TINY["hidden"], "intermediate_size": TINY["inter"],
            "num_hidden_layers": TINY["layers"], "num_attention_heads": TINY["heads"],
            "num_key_value_heads": TINY["kv_heads"], "head_dim": TINY["head_dim"],
            "vocab_size": TINY["vocab"], "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0, "tie_word_embeddings": True, "hidden_act": "silu",
            "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float16"}


def safetensors_corpus(out, weights):
    write(out, "safetensors", "tiny-llama-f16",
          safetensors_bytes([(n, s, f16_bytes(v)) for n, s, v in weights if n != "model.embed_tokens.weight"]))
    rng = random.Random(7)
    f32 = [("a", [2, 3], struct.pack("<6f", *[rng.random() for _ in range(6)])),
           ("b", [4], struct.pack("<4f", 1, 2, 3, 4))]
    write(out, "safetensors", "f32", safetensors_bytes(f32, "F32"))
    bf16 = [("w", [2, 2], struct.pack("<4H", 0x3F80, 0x4000, 0xBF80, 0x0000))]
    write(out, "safetensors", "bf16", safetensors_bytes(bf16, "BF16"))
    write(out, "safetensors", "empty", safetensors_bytes([]))


# GGUF value types (gguf/gguf_file.h)
U32, I32, F32, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9


def gguf_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gguf_value(t, v):
    if t == U32:
        return struct.pack("<I", v)
    if t == I32:
        return struct.pack("<i", v)
    if t == F32:
        return struct.pack("<f", v)
    if t == BOOL:
        return struct.pack("<?", v)
    if t == STRING:
        return gguf_str(v)
    et, items = v
    return struct.pack("<IQ", et, len(items)) + b"".join(gguf_value(et, x) for x in items)


def gguf_bytes(metadata, tensors, alignment=32):
    """metadata: [(key, type, value)]; tensors: [(gguf name, ggml dims, ggml type, raw)]."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, t, v in metadata:
        out += gguf_str(key) + struct.pack("<I", t) + gguf_value(t, v)
    offset, data = 0, b""
    for name, dims, gtype, raw in tensors:
        out += gguf_str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", gtype, len(data))
        data += raw + b"\0" * (-len(raw) % alignment)
    out += b"\0" * (-len(out) % alignment)
    return out + data


GGUF_NAMES = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
              "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
              "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
              "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
              "mlp.down_proj": "ffn_down"}


def gguf_name(hf):
    if hf in GGUF_NAMES:
        return GGUF_NAMES[hf]
    parts = hf.split(".")  # model.layers.N.<module>.<proj>.weight
    module = ".".join(parts[3:-1])
    return "blk.%s.%s.weight" % (parts[2], GGUF_NAMES[module])


def interleave_rotary(values, rows, cols, heads):
    """llama.cpp's permutation of q/k rows (GGUF stores rotary pairs interleaved)."""
    hd = rows // heads
    out = []
    for h in range(heads):
        for j in range(hd // 2):
            for r in (h * hd + j, h * hd + j + hd // 2):
                out += values[r * cols:(r + 1) * cols]
    return out


def gguf_corpus(out, weights, stories_tokenizer):
    vocab = stories_tokenizer["model"]["vocab"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    types = [3 if i < 3 else (6 if t.startswith("<0x") else 1) for i, t in enumerate(tokens)]
    scores = [-float(i) for i in range(len(tokens))]
    tok_meta = [("tokenizer.ggml.model", STRING, "llama"),
                ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
                ("tokenizer.ggml.scores", ARRAY, (F32, scores)),
                ("tokenizer.ggml.token_type", ARRAY, (I32, types)),
                ("tokenizer.ggml.bos_token_id", U32, 1), ("tokenizer.ggml.eos_token_id", U32, 2),
                ("tokenizer.ggml.unknown_token_id", U32, 0)]
    meta = [("general.architecture", STRING, "llama"), ("general.name", STRING, "tiny"),
            ("general.alignment", U32, 32),
            ("llama.context_length", U32, 64), ("llama.embedding_length", U32, TINY["hidden"]),
            ("llama.block_count", U32, TINY["layers"]), ("llama.feed_forward_length", U32, TINY["inter"]),
            ("llama.attention.head_count", U32, TINY["heads"]),
            ("llama.attention.head_count_kv", U32, TINY["kv_heads"]),
            ("llama.rope.dimension_count", U32, TINY["head_dim"]),
            ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
            ("llama.rope.freq_base", F32, 10000.0)] + tok_meta
    tensors = []
    for name, shape, values in weights:
        if name.endswith("q_proj.weight"):
            values = interleave_rotary(values, shape[0], shape[1], TINY["heads"])
        elif name.endswith("k_proj.weight"):
            values = interleave_rotary(values, shape[0], shape[1], TINY["kv_heads"])
        tensors.append((gguf_name(name), list(reversed(shape)), 1, f16_bytes(values)))  # 1: F16
    write(out, "gguf", "tiny-llama-f16", gguf_bytes(meta, tensors))
    write(out, "gguf", "vocab-only-llama",
          gguf_bytes([("general.architecture", STRING, "llama")] + tok_meta
                     + [("tokenizer.chat_template", STRING, "{% for m in messages %}{{ m.content }}{% endfor %}")], []))
    gpt2 = tokens[:300]  # the same strings as a byte-level BPE vocabulary, with merges
    kept = set(gpt2)
    merges = ["%s %s" % (a, b) for a in gpt2[3:] for b in gpt2[3:] if a + b in kept][:200]
    write(out, "gguf", "vocab-only-gpt2",
          gguf_bytes([("general.architecture", STRING, "gpt2"), ("tokenizer.ggml.model", STRING, "gpt2"),
                      ("tokenizer.ggml.tokens", ARRAY, (STRING, gpt2)),
                      ("tokenizer.ggml.merges", ARRAY, (STRING, merges)),
                      ("tokenizer.ggml.bos_token_id", U32, 1)], []))


def package_corpus(out, cli, weights, stories_tokenizer, data):
    if not os.access(cli, os.X_OK):
        raise SystemExit("make_corpus: no corelm CLI at %s (build it, or pass --cli)" % cli)
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "tiny-hf")
        os.makedirs(folder)
        with open(os.path.join(folder, "config.json"), "w") as f:
            f.write(compact(tiny_config()))
        with open(os.path.join(folder, "model.safetensors"), "wb") as f:
            f.write(safetensors_bytes([(n, s, f16_bytes(v)) for n, s, v in weights]))
        with open(os.path.join(folder, "tokenizer.json"), "w") as f:
            f.write(compact(stories_tokenizer))
        cfg = json.load(open(os.path.join(data, "tiny-models/stories260K-hf/tokenizer_config.json")))
        cfg["chat_template"] = open(os.path.join(data, "mistral-chat-templates/hf_mistral-7b-instruct-v0.2_original.jinja")).read()
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            f.write(compact(cfg))
        for quant in ["f16", "bf16"]:
            clm = os.path.join(tmp, "tiny-%s.clm" % quant)
            r = subprocess.run([cli, "convert", folder, "-o", clm, "--quant", quant, "-q"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print("note: convert --quant %s failed: %s" % (quant, r.stderr.strip()))
                continue
            write(out, "package", "tiny-llama-%s" % quant, open(clm, "rb").read())


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("CORELM_TEST_DATA", os.path.join(here, "../../shared/data")))
    ap.add_argument("--cli", default=os.path.join(here, "../build/corelm"))
    ap.add_argument("--out", default=os.path.join(here, "corpus"))
    a = ap.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)
    rng = random.Random(260)
    weights = [(n, s, random_values(rng, math.prod(s), n)) for n, s in tiny_tensors()]
    stories = tokenizer_json_corpus(a.data, a.out)
    sentencepiece_corpus(a.data, a.out)
    jinja_corpus(a.data, a.out)
    config_corpus(a.data, a.out)
    openai_request_corpus(a.data, a.out)
    safetensors_corpus(a.out, weights)
    gguf_corpus(a.out, weights, stories)
    package_corpus(a.out, a.cli, weights, stories, a.data)
    total = 0
    for root, _, files in os.walk(a.out):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    print("corpus: %d bytes under %s" % (total, a.out))


if __name__ == "__main__":
    main()
