#!/usr/bin/env python3
"""The seed's generate.py (Apple's and Hugging Face's "Running Mistral 7B with Core ML"), ported
to corelm: the same manual loop over a stateful model in NumPy — prefill the prompt with a causal
mask, then one token at a time with end = past + 1, greedy, stop at EOS — with corelm.Model in
place of coremltools' MLModel and the package's own tokenizer in place of AutoTokenizer.

    python3 python/generate.py model.clm --prompt "Once upon a time" --max_new_tokens 128
    python3 python/generate.py model.clm --prompt "What is Core ML?" --chat

It prints the continuation as it is generated (as `corelm generate` does); --print_prompt prints
the prompt first, as the seed's script did.
"""

import argparse
import sys
from typing import Iterator, List, Set

import numpy as np

import corelm


def causal_mask(query_length: int, num_past_tokens: int) -> np.ndarray:
    """The seed's mask: [1, 1, q, past + q], -inf above the diagonal for the prompt; all zeros for
    one new token (it sees every cached position)."""
    return np.triu(
        np.full((1, 1, query_length, num_past_tokens + query_length),
                fill_value=-np.inf if num_past_tokens == 0 else 0),
        k=1,
    ).astype(np.float16)


def get_next_token(model: corelm.Model, prompt_tokens: np.ndarray) -> Iterator[int]:
    """Greedy decoding on the stateful model: yields one token id after another."""
    state = model.make_state()

    def inference(input_ids: np.ndarray, num_past_tokens: int) -> np.ndarray:
        outputs = model.predict(
            {"inputIds": input_ids, "causalMask": causal_mask(input_ids.shape[-1], num_past_tokens)},
            state=state,
        )
        return outputs["logits"]

    logits = inference(prompt_tokens, num_past_tokens=0)
    num_past_tokens = prompt_tokens.shape[-1]
    while True:
        token = int(np.argmax(logits[0][-1], axis=-1))
        yield token
        if num_past_tokens >= state.max_context:
            return  # the context is full
        logits = inference(np.array([[token]], dtype=np.int32), num_past_tokens)
        num_past_tokens += 1


def eos_ids(model: corelm.Model) -> Set[int]:
    ids = set()
    config = model.info.get("generation_config") or {}
    for source in (config.get("eos_token_id"), model.config.get("eos_token_id"),
                   model.tokenizer.eos_token_id):
        if isinstance(source, int):
            ids.add(source)
        elif isinstance(source, list):
            ids.update(source)
    return ids


def generate(model: corelm.Model, prompt_tokens: np.ndarray, max_new_tokens: int,
             out=sys.stdout) -> str:
    """Runs the loop and prints the continuation as it comes; returns it."""
    tokenizer = model.tokenizer
    prompt = prompt_tokens[0].tolist()
    stop = eos_ids(model)
    shown = tokenizer.decode(prompt)
    generated: List[int] = []
    text = ""
    for i, token in enumerate(get_next_token(model, prompt_tokens.astype(np.int32))):
        if token in stop or i == max_new_tokens:
            break
        generated.append(token)
        # The new text is what decoding prompt + generated adds; a partial UTF-8 character (shown
        # as U+FFFD at the end) waits for its next byte.
        full = tokenizer.decode(prompt + generated)
        if not full.endswith("\ufffd"):
            out.write(full[len(shown) + len(text):])
            out.flush()
            text = full[len(shown):]
    text_end = tokenizer.decode(prompt + generated)[len(shown):]
    out.write(text_end[len(text):])
    return text_end


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_path", type=str, help="a .clm package or a .gguf file")
    parser.add_argument("--prompt", type=str, default="Hello")
    parser.add_argument("--max_new_tokens", type=int, default=128)
    parser.add_argument("--chat", action="store_true",
                        help="wrap the prompt as a user message in the model's chat template")
    parser.add_argument("--system", type=str, default=None, help="a system message (with --chat)")
    parser.add_argument("--print_prompt", action="store_true",
                        help="print the prompt before the continuation (the seed's output)")
    args = parser.parse_args()
    try:
        model = corelm.Model.load(args.model_path)
        tokenizer = model.tokenizer
        if args.chat:
            messages = [{"role": "user", "content": args.prompt}]
            if args.system:
                messages.insert(0, {"role": "system", "content": args.system})
            ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                tokenize=True)
            prompt_tokens = np.array([ids], dtype=np.int32)
        else:
            prompt_tokens = tokenizer(args.prompt, return_tensors="np").input_ids
        if args.print_prompt:
            sys.stdout.write(tokenizer.decode(prompt_tokens[0].tolist()))
        generate(model, prompt_tokens, args.max_new_tokens)
        sys.stdout.write("\n")
    except corelm.Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
