#!/usr/bin/env python3
"""What Model.predict costs over the C++ forward pass it wraps, for one token at a time (the
decode step of the seed's loop).

Runs, alternately and `--rounds` times each: build/bench/forward_loop (bench/python/
forward_loop.cpp: the seed's greedy decode loop on Session::forward in C++, one token per call
from position 0, an explicit mask, every position's logits kept, as predict's state does) and the
same loop in Python, N calls of model.predict({"inputIds": [[t]], "causalMask": [1, 1, 1, past +
1]}, state) (the mask built in NumPy each step, the logits copied into a new NumPy array, argmax
in NumPy). Prints tokens/s of both and the overhead.

    PYTHONPATH=build/python /usr/bin/python3 bench/python/predict_overhead.py \
        --loop build/bench/forward_loop MODEL.clm -n 64 --rounds 5
"""

import argparse
import statistics
import subprocess
import time

import numpy as np

import corelm


def cpp_tokens_per_s(loop: str, model: str, n: int, threads: int) -> float:
    out = subprocess.run([loop, model, str(n), str(threads)], check=True, capture_output=True,
                         text=True).stdout
    return float(out)


def predict_tokens_per_s(model: corelm.Model, n: int) -> float:
    state = model.make_state(max_context=max(n + 1, 16))
    token = model.tokenizer.bos_token_id or 1
    # One warm-up call outside the timing, as corelm bench's first token is.
    logits = model.predict({"inputIds": np.array([[token]], dtype=np.int32),
                            "causalMask": np.zeros((1, 1, 1, 1), dtype=np.float16)},
                           state=state)["logits"]
    start = time.perf_counter()
    for _ in range(n - 1):
        token = int(np.argmax(logits[0, -1]))
        past = state.past
        mask = np.zeros((1, 1, 1, past + 1), dtype=np.float16)
        logits = model.predict({"inputIds": np.array([[token]], dtype=np.int32),
                                "causalMask": mask}, state=state)["logits"]
    return (n - 1) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--loop", default="build/bench/forward_loop")
    parser.add_argument("-n", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-t", "--threads", type=int, default=0)
    args = parser.parse_args()
    model = corelm.Model.load(args.model, threads=args.threads)
    cpp, py = [], []
    for _ in range(args.rounds):
        cpp.append(cpp_tokens_per_s(args.loop, args.model, args.n, args.threads))
        py.append(predict_tokens_per_s(model, args.n))
    c, p = statistics.median(cpp), statistics.median(py)
    print(f"C++ Session::forward loop: {c:.2f} tok/s  rounds {[round(x, 2) for x in cpp]}")
    print(f"Python Model.predict loop: {p:.2f} tok/s  rounds {[round(x, 2) for x in py]}")
    print(f"predict overhead: {100.0 * (c / p - 1.0):+.2f}% time per token")


if __name__ == "__main__":
    main()
