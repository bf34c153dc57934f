#!/usr/bin/python3
"""A random-weight PEFT LoRA adapter for a Hugging Face model folder's shape (benchmarks only:
the weights mean nothing). Writes adapter_config.json and adapter_model.safetensors (float32,
PEFT's key names) into OUT.

    /usr/bin/python3 bench/lora/make_random_adapter.py /work/models/1b-hf /work/models/lora-r16 \
        --rank 16 --alpha 32 --targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj
"""
import argparse
import json
import os
import struct

import numpy as np

GROUP = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn",
         "o_proj": "self_attn", "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}


def shapes(config):
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    head_dim = config.get("head_dim") or hidden // config["num_attention_heads"]
    q = config["num_attention_heads"] * head_dim
    kv = config["num_key_value_heads"] * head_dim
    return {"q_proj": (q, hidden), "k_proj": (kv, hidden), "v_proj": (kv, hidden),
            "o_proj": (hidden, q), "gate_proj": (inter, hidden), "up_proj": (inter, hidden),
            "down_proj": (hidden, inter)}


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("out")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--alpha", type=float, default=32)
    parser.add_argument("--targets", default=",".join(GROUP))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with open(os.path.join(args.model_dir, "config.json")) as f:
        config = json.load(f)
    targets = args.targets.split(",")
    rng = np.random.default_rng(args.seed)
    tensors = {}
    for layer in range(config["num_hidden_layers"]):
        for t in targets:
            out_f, in_f = shapes(config)[t]
            prefix = f"base_model.model.model.layers.{layer}.{GROUP[t]}.{t}"
            tensors[f"{prefix}.lora_A.weight"] = rng.normal(0, 1 / np.sqrt(in_f), (args.rank, in_f))
            tensors[f"{prefix}.lora_B.weight"] = rng.normal(0, 0.01, (out_f, args.rank))
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, "adapter_model.safetensors"), tensors)
    with open(os.path.join(args.out, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": args.rank,
                   "lora_alpha": args.alpha, "target_modules": targets, "bias": "none",
                   "fan_in_fan_out": False, "use_rslora": False, "lora_dropout": 0.0,
                   "base_model_name_or_path": os.path.abspath(args.model_dir)}, f, indent=1)
    print(f"{len(tensors)} tensors, rank {args.rank}, targets {targets} -> {args.out}")


if __name__ == "__main__":
    main()
