#!/usr/bin/env python3
"""Random blocks of GGUF's run-in-place types and their values as llama.cpp's own Python package
(gguf-py, from ../shared/peers/llama.cpp/gguf-py) dequantizes them: the outside reference for
corelm's readers (tests/tensor/ggml_types_test.cpp) and for its forward pass on those types
(tests/model/ggml_model_test.cpp).

  make_ggml_block_fixtures.py GGUF_PY_DIR STORIES260K_GGUF OUT_DIR

Writes OUT_DIR/<type>.blocks (raw blocks) and OUT_DIR/<type>.f32 (little-endian float32 values)
for Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K. The fp16 fields hold small finite values; every
other byte is random. And two small llama models (hidden 256, 2 layers, stories260K's 512-token
vocabulary) written with gguf-py's GGUFWriter: kquants.gguf (every matrix a K-quant, mixed as
llama.cpp's Q4_K_M mixes them, and then some) and legacy.gguf (Q4_1, Q5_0, Q5_1, Q8_0, Q4_0),
each with a twin *-f32.gguf holding the same weights as gguf-py dequantizes them.
Deterministic (seeded)."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, sys.argv[1])
import gguf  # noqa: E402
from gguf import quants  # noqa: E402
from gguf.constants import GGMLQuantizationType as T  # noqa: E402

# type: (block bytes, [(offset of an fp16 field, low, high)], blocks)
LAYOUT = {
    "Q4_1": (20, [(0, 1e-3, 2e-2), (2, -0.2, 0.2)]),
    "Q5_0": (22, [(0, 1e-3, 2e-2)]),
    "Q5_1": (24, [(0, 1e-3, 2e-2), (2, -0.2, 0.2)]),
    "Q2_K": (84, [(80, 1e-3, 2e-2), (82, 1e-3, 2e-2)]),
    "Q3_K": (110, [(108, 1e-4, 2e-3)]),
    "Q4_K": (144, [(0, 1e-4, 2e-3), (2, 1e-4, 2e-3)]),
    "Q5_K": (176, [(0, 1e-4, 2e-3), (2, 1e-4, 2e-3)]),
    "Q6_K": (210, [(208, 1e-5, 2e-4)]),
}
BLOCKS = 24
# Sizes of the fp16 fields for the model files: weights of a few hundredths.
MODEL_FIELDS = {
    "Q4_1": [(0, 2e-3, 6e-3), (2, -0.04, -0.02)],
    "Q5_0": [(0, 1e-3, 3e-3)],
    "Q5_1": [(0, 1e-3, 3e-3), (2, -0.04, -0.02)],
    "Q2_K": [(80, 1e-3, 3e-3), (82, 1e-3, 3e-3)],
    "Q3_K": [(108, 2e-4, 5e-4)],
    "Q4_K": [(0, 1e-4, 3e-4), (2, 1e-4, 3e-4)],
    "Q5_K": [(0, 5e-5, 1.5e-4), (2, 1e-4, 3e-4)],
    "Q6_K": [(208, 5e-6, 1.5e-5)],
    "Q8_0": [(0, 2e-4, 5e-4)],
    "Q4_0": [(0, 4e-3, 8e-3)],
}
BLOCK_BYTES = {"Q8_0": 34, "Q4_0": 18}
BLOCK_ELEMENTS = {"Q4_1": 32, "Q5_0": 32, "Q5_1": 32, "Q8_0": 32, "Q4_0": 32}


def random_blocks(rng, name, rows, cols, fields):
    size = LAYOUT[name][0] if name in LAYOUT else BLOCK_BYTES[name]
    per_row = cols // BLOCK_ELEMENTS.get(name, 256)
    raw = rng.integers(0, 256, size=(rows * per_row, size), dtype=np.uint8)
    for off, lo, hi in fields:
        vals = rng.uniform(lo, hi, size=rows * per_row).astype(np.float16)
        raw[:, off:off + 2] = vals.view(np.uint8).reshape(-1, 2)
    return raw.reshape(rows, per_row * size)


def write_model(out, stem, types, rng, vocab):
    """A llama GGUF whose matrices have the given types, and its f32 twin."""
    hidden, ffn, layers, heads, kv_heads = 256, 512, 2, 4, 2
    head_dim = hidden // heads
    shapes = {"token_embd": (len(vocab["tokens"]), hidden), "output": (len(vocab["tokens"]), hidden)}
    for i in range(layers):
        shapes.update({f"blk.{i}.attn_q": (hidden, hidden), f"blk.{i}.attn_k": (kv_heads * head_dim, hidden),
                       f"blk.{i}.attn_v": (kv_heads * head_dim, hidden),
                       f"blk.{i}.attn_output": (hidden, hidden), f"blk.{i}.ffn_gate": (ffn, hidden),
                       f"blk.{i}.ffn_up": (ffn, hidden), f"blk.{i}.ffn_down": (hidden, ffn)})
    tensors = []
    for j, (name, (rows, cols)) in enumerate(shapes.items()):
        qtype = types[j % len(types)]
        raw = random_blocks(rng, qtype, rows, cols, MODEL_FIELDS[qtype])
        values = quants.dequantize(raw, getattr(T, qtype)).astype(np.float32).reshape(rows, cols)
        tensors.append((name + ".weight", qtype, raw, values))
    for twin in (False, True):
        w = gguf.GGUFWriter(str(out / (stem + ("-f32" if twin else "") + ".gguf")), "llama")
        w.add_name(stem + ("-f32" if twin else ""))
        w.add_context_length(256)
        w.add_embedding_length(hidden)
        w.add_block_count(layers)
        w.add_feed_forward_length(ffn)
        w.add_head_count(heads)
        w.add_head_count_kv(kv_heads)
        w.add_rope_dimension_count(head_dim)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_tokenizer_model("llama")
        w.add_token_list(vocab["tokens"])
        w.add_token_scores(vocab["scores"])
        w.add_token_types(vocab["types"])
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        for name, qtype, raw, values in tensors:
            if twin:
                w.add_tensor(name, values)
            else:
                w.add_tensor(name, raw, raw_dtype=getattr(T, qtype))
        norm = np.ones(hidden, dtype=np.float32)
        for i in range(layers):
            w.add_tensor(f"blk.{i}.attn_norm.weight", norm)
            w.add_tensor(f"blk.{i}.ffn_norm.weight", norm)
        w.add_tensor("output_norm.weight", norm)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()


def stories_vocab(path):
    r = gguf.GGUFReader(path)
    def field(key):
        f = r.get_field(key)
        return [f.contents(i) for i in range(len(f.data))]
    return {"tokens": field("tokenizer.ggml.tokens"), "scores": field("tokenizer.ggml.scores"),
            "types": field("tokenizer.ggml.token_type")}


def main() -> None:
    out = Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261203)
    for name, (size, fields) in LAYOUT.items():
        raw = rng.integers(0, 256, size=(BLOCKS, size), dtype=np.uint8)
        for off, lo, hi in fields:
            vals = rng.uniform(lo, hi, size=BLOCKS).astype(np.float16)
            raw[:, off:off + 2] = vals.view(np.uint8).reshape(BLOCKS, 2)
        values = quants.dequantize(raw.reshape(-1), getattr(T, name)).astype("<f4").reshape(-1)
        (out / f"{name}.blocks").write_bytes(raw.tobytes())
        (out / f"{name}.f32").write_bytes(values.tobytes())
    vocab = stories_vocab(sys.argv[2])
    write_model(out, "kquants", ["Q4_K", "Q6_K", "Q5_K", "Q3_K", "Q2_K", "Q4_K", "Q6_K"], rng, vocab)
    write_model(out, "legacy", ["Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_0"], rng, vocab)


if __name__ == "__main__":
    main()
