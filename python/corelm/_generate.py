"""corelm.generate: text from a prompt on the model's reusable stateful session."""

from typing import Any, Dict, List, Optional, Sequence, Union

from ._corelm import Error, Generation, Model, _start_generation


def _error(message: str, code: str = "invalid_argument") -> Error:
    error = Error(f"[python] {message}")
    error.code = code
    return error

Prompt = Union[str, List[Dict[str, Any]]]


def _chat_ids(model: Model, prompt: Prompt, system: Optional[str]) -> List[int]:
    if isinstance(prompt, str):
        messages: List[Dict[str, Any]] = [{"role": "user", "content": prompt}]
    else:
        messages = list(prompt)
    if system:  # as the CLI's --system: an empty one adds no message
        messages.insert(0, {"role": "system", "content": system})
    return model.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                               tokenize=True)


def _text(generation: Generation) -> str:
    return "".join(generation)


def generate(model: Model, prompt: Prompt, max_new_tokens: Optional[int] = 256,
             temperature: float = 0.0, top_p: float = 1.0, top_k: int = 0, min_p: float = 0.0,
             repetition_penalty: float = 1.0, seed: Optional[int] = None,
             stop: Union[None, str, Sequence[str]] = None, stream: bool = False,
             chat: bool = False, system: Optional[str] = None, ignore_eos: bool = False,
             max_context: Optional[int] = None, kv_cache: str = "f16",
             function: Optional[str] = None,
             function_scale: float = 1.0) -> Union[str, Generation]:
    """Continues `prompt` (a string; with chat=True a string or a list of messages, rendered
    with the model's chat template and `system` first) and returns the new text, or with
    stream=True a corelm.Generation: an iterator of text pieces (never a partial UTF-8 character
    nor part of a stop string) whose .stats and .ids are there once it ends.

    Greedy when temperature is 0 (the default); else sampling with top_k, top_p and min_p, seeded
    by `seed`. It stops at EOS, at a stop string (not included), after max_new_tokens (None: no
    limit), or when the context (max_context, default the package's) is full. Calls reuse one
    stateful session (its KV cache kv_cache: 'f16', 'q8' or 'f32'): a prompt that extends the
    previous one only prefills the new tokens. function: a LoRA function of the package
    (model.functions; None: the base model), its adapters' scales times function_scale."""
    if not isinstance(model, Model):
        raise _error(f"generate needs a corelm.Model, got {type(model).__name__}")
    if max_new_tokens is not None and max_new_tokens < 0:
        raise _error(f"max_new_tokens must be >= 0 (or None: no limit), got {max_new_tokens}")
    if chat:
        ids = _chat_ids(model, prompt, system)
    else:
        if not isinstance(prompt, str):
            raise _error("a prompt that is a list of messages needs chat=True")
        if system is not None:
            raise _error("system= needs chat=True")
        ids = model.tokenizer.encode(prompt)
    if isinstance(stop, str):
        stop = [stop]
    generation = _start_generation(
        model, ids, -1 if max_new_tokens is None else max_new_tokens, temperature, top_p, top_k,
        min_p, repetition_penalty, seed, list(stop or []), ignore_eos, max_context or 0, kv_cache,
        function, function_scale)
    if stream:
        return generation
    return _text(generation)
