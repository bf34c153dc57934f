"""The parts of corelm.Tokenizer that are about Python values: transformers' apply_chat_template
(messages as dicts) and tokenizer(text) with return_tensors."""

import json
from typing import Any, Dict, List, Optional, Sequence, Union


class BatchEncoding(dict):
    """What tokenizer(text) returns, as transformers': ``enc["input_ids"]`` or ``enc.input_ids``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _error(message: str, code: str = "invalid_argument") -> Exception:
    from ._corelm import Error

    error = Error(f"[python] {message}")
    error.code = code
    return error


def _call(self, text: Union[str, Sequence[str]], add_special_tokens: bool = True,
          return_tensors: Optional[str] = None) -> BatchEncoding:
    """Encodes one text (or a list of texts) as transformers' ``tokenizer(text)`` does.
    return_tensors="np" gives int32 arrays [batch, n] (a list of texts must then encode to one
    length); None gives lists."""
    single = isinstance(text, str)
    texts = [text] if single else list(text)
    ids = [self.encode(t, add_special_tokens=add_special_tokens) for t in texts]
    return _encoding(ids, single, return_tensors)


def _encoding(ids: List[List[int]], single: bool, return_tensors: Optional[str]) -> BatchEncoding:
    if return_tensors is None:
        input_ids: Any = ids[0] if single else ids
        mask: Any = [1] * len(ids[0]) if single else [[1] * len(i) for i in ids]
    elif return_tensors == "np":
        import numpy as np

        if len({len(i) for i in ids}) > 1:
            raise _error("texts of different lengths cannot form one array "
                         "(pad them, or use return_tensors=None)")
        input_ids = np.array(ids, dtype=np.int32)
        mask = np.ones_like(input_ids)
    else:
        raise _error(f"return_tensors must be None or 'np', got {return_tensors!r}")
    return BatchEncoding(input_ids=input_ids, attention_mask=mask)


# transformers' arguments that are not template variables and that corelm does not implement.
_UNSUPPORTED = ("continue_final_message", "padding", "truncation", "max_length",
                "tokenizer_kwargs", "return_assistant_tokens_mask")


def _apply_chat_template(self, messages: List[Dict[str, Any]], *,
                         add_generation_prompt: bool = False, tokenize: bool = False,
                         tools: Optional[List[Dict[str, Any]]] = None,
                         chat_template: Optional[str] = None,
                         return_tensors: Optional[str] = None, return_dict: bool = False,
                         **kwargs: Any) -> Any:
    """Renders a conversation with the model's chat template as transformers' does:
    messages [{"role": ..., "content": ...}, ...]; tools a list of JSON-schema tool dicts;
    other keyword arguments become template variables (documents=..., enable_thinking=False).
    tokenize=True returns the ids (the template's own special tokens, nothing added); with
    return_tensors="np" an int32 array [1, n]; return_dict=True a BatchEncoding (input_ids,
    attention_mask). Unlike transformers, tokenize defaults to False and every argument after
    messages is keyword-only."""
    for name in _UNSUPPORTED:
        if name in kwargs:
            raise _error(f"apply_chat_template does not support {name}=", "unsupported")
    text = self.render_chat_template(
        json.dumps(messages, ensure_ascii=False),
        add_generation_prompt=add_generation_prompt,
        tools_json=json.dumps(tools, ensure_ascii=False) if tools is not None else "",
        extra_context_json=json.dumps(kwargs, ensure_ascii=False) if kwargs else "",
        chat_template=chat_template,
    )
    if not tokenize:
        if return_tensors is not None or return_dict:
            raise _error("return_tensors and return_dict need tokenize=True")
        return text
    ids = self.encode(text, add_special_tokens=False)
    if not return_dict and return_tensors is None:
        return ids
    encoding = _encoding([ids], True, return_tensors)
    return encoding if return_dict else encoding["input_ids"]


def install_tokenizer_methods(tokenizer_class: type) -> None:
    tokenizer_class.__call__ = _call
    tokenizer_class.apply_chat_template = _apply_chat_template
