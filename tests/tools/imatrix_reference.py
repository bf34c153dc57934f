#!/usr/bin/python3
"""Independent NumPy importance matrix of stories260K: makes tests/data/imatrix_stories260K.json.

What `corelm imatrix` computes (docs/quantization.md, "Importance matrix"), written from that
description and not from corelm's C++: the text is tokenized once with BOS first and cut into
n = len(ids) // ctx windows of ctx ids (the first `chunks`), each run from an empty cache with its
first id replaced by BOS; for the input x [tokens, cols] of every matrix product of the model,
the mean over all tokens of all windows of x_j^2, per column j.

The forward pass and the tokenizer are perplexity_reference.py's (llama2.c's run.c in float64
over the original stories260K.bin and tok512.bin, checked against run.c's logits there); its
`observe` hook hands over each product's input. llama2.c's names map to Hugging Face's:
wq/wk/wv -> self_attn.{q,k,v}_proj (one input), wo -> o_proj, w1/w3 -> mlp.{gate,up}_proj (one
input), w2 -> down_proj, the shared classifier -> lm_head.

Run (Debian 12: apt-get install -y python3-numpy; nothing random):
    /usr/bin/python3 tests/tools/imatrix_reference.py ../shared/data \\
        tests/data/perplexity_text.txt tests/data/imatrix_stories260K.json
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import perplexity_reference as ref  # noqa: E402

CTX, CHUNKS = 128, 3

HF_NAMES = {
    "wq": ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"],
    "wo": ["self_attn.o_proj"],
    "w1": ["mlp.gate_proj", "mlp.up_proj"],
    "w2": ["mlp.down_proj"],
}


def main():
    data_dir, text_path, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    tiny = data_dir + "/tiny-models/stories260K"
    cfg, w = ref.read_model(tiny + "/stories260K.bin")
    pieces, scores = ref.read_tokenizer(tiny + "/tok512.bin", cfg["vocab"])
    text = open(text_path, "rb").read().decode("utf-8")
    ids = ref.encode(text, pieces, scores)
    n = min(len(ids) // CTX, CHUNKS)
    sums, rows = {}, {}

    def observe(layer, name, x):
        key = (layer, name)
        sums[key] = sums.get(key, 0.0) + (x * x).sum(axis=0)
        rows[key] = rows.get(key, 0) + x.shape[0]

    for c in range(n):
        window = list(ids[c * CTX : (c + 1) * CTX])
        window[0] = 1  # BOS
        ref.forward(cfg, w, np.array(window), observe)

    tensors = {}
    for (layer, name), s in sorted(sums.items()):
        mean = [float(v) for v in s / rows[(layer, name)]]
        if layer < 0:
            tensors["lm_head.weight"] = mean
            continue
        for hf in HF_NAMES[name]:
            tensors["model.layers.%d.%s.weight" % (layer, hf)] = mean
    out = {
        "what": "mean x^2 per input column of every stories260K matrix (llama2.c stories260K.bin, "
        "float64) over windows of tests/data/perplexity_text.txt, by "
        "tests/tools/imatrix_reference.py",
        "ctx": CTX,
        "chunks": n,
        "tokens": n * CTX,
        "n_text_ids": len(ids),
        "tensors": tensors,
    }
    with open(out_path, "w") as f:  # one key per line
        f.write("{\n")
        f.write(",\n".join(" %s: %s" % (json.dumps(k), json.dumps(v)) for k, v in out.items()))
        f.write("\n}\n")
    print("%d tensors, %d tokens" % (len(tensors), n * CTX))


if __name__ == "__main__":
    main()
