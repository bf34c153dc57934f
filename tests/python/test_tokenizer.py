"""corelm.Tokenizer against outside references: llama2.c's encoder (stories260K), the Hugging
Face / SentencePiece ids and transformers-style chat renders of Mistral's tokenizers."""

import json
from pathlib import Path

import numpy as np
import pytest

import corelm

TOKENIZERS = {
    "v1": "mistral-7b-v0.1-hf/tokenizer.json",
    "v2": "mistral-spm-models/mistral_instruct_tokenizer_240216.model.v2",
    "v3": "mistral-spm-models/mistral_instruct_tokenizer_240323.model.v3",
}


@pytest.fixture(scope="module")
def renders(data_dir: Path) -> dict:
    return json.loads((data_dir / "mistral-chat-templates/generated_renders.json").read_text())


@pytest.fixture(scope="module")
def tokenizers(data_dir: Path) -> dict:
    return {v: corelm.Tokenizer.from_path(str(data_dir / p)) for v, p in TOKENIZERS.items()}


def test_encode_and_decode_match_llama2c(stories_f32, runc_reference):
    tok = corelm.Model.load(stories_f32).tokenizer
    ref = runc_reference["greedy_with_prompt"]
    assert tok.encode(ref["prompt"]) == ref["prompt_ids"]
    assert tok.encode(ref["prompt"], add_special_tokens=False) == ref["prompt_ids"][1:]
    assert (tok.bos_token_id, tok.eos_token_id, tok.vocab_size, len(tok)) == (1, 2, 512, 512)
    story = runc_reference["greedy_from_bos"]
    ids = [1] + story["ids"]
    assert tok.decode(ids) == story["text"].rstrip("\n")  # run.c ends with a newline
    assert tok.decode(np.array(ids, dtype=np.int32)) == tok.decode(ids)


def test_swift_transformers_llama_vector(data_dir):
    case = json.loads((data_dir / "swift-transformers-vectors/llama_encoded.json").read_text())
    tok = corelm.Tokenizer.from_path(str(data_dir / "llama2-tokenizer/tokenizer.model"))
    assert tok.encode(case["text"]) == case["token_ids"]
    assert tok.decode(case["token_ids"], skip_special_tokens=False) == case["decoded_text"]
    assert tok.convert_ids_to_tokens(case["token_ids"])[1:] == case["bpe_tokens"]  # BOS first


def test_call_returns_a_batch_encoding(stories_f32):
    tok = corelm.Model.load(stories_f32).tokenizer
    enc = tok("Once upon a time", return_tensors="np")
    assert enc.input_ids.dtype == np.int32 and enc.input_ids.shape == (1, 5)
    assert enc["input_ids"].tolist() == [tok.encode("Once upon a time")]
    assert tok("Once")["input_ids"] == tok.encode("Once")
    assert tok(["a", "b c"])["input_ids"] == [tok.encode("a"), tok.encode("b c")]
    with pytest.raises(corelm.Error, match="different lengths"):
        tok(["a", "b c d e"], return_tensors="np")


def test_chat_templates_render_as_transformers(renders, tokenizers, data_dir):
    """Every render of generated_renders.json (Jinja2 set up as transformers does, tokenized
    HF-style): the text, the ids and the template's raise_exception messages."""
    checked = 0
    for case in renders["renders"]:
        tok = tokenizers[case["tokenizer"]]
        template = (data_dir / "mistral-chat-templates" / case["template"]).read_text()
        messages = renders["conversations"][case["conversation"]]
        kwargs = dict(add_generation_prompt=case["add_generation_prompt"], chat_template=template)
        if "error" in case:
            with pytest.raises(corelm.Error, match=r"^\[chat\]") as info:
                tok.apply_chat_template(messages, **kwargs)
            assert case["error"] in str(info.value)
        else:
            assert tok.apply_chat_template(messages, **kwargs) == case["rendered"], case
            assert tok.apply_chat_template(messages, tokenize=True, **kwargs) == case["token_ids"]
        checked += 1
    assert checked == 50


def test_the_chat_template_property_and_tools(tokenizers, data_dir):
    """mistral-common's own encoding of a conversation with tools and tool calls (v3)."""
    tok = tokenizers["v3"]
    template = (data_dir / "mistral-chat-templates/v3_spm.jinja").read_text()
    tok.chat_template = template
    assert tok.chat_template == template
    folder = data_dir / "mistral-chat-samples/several_calls"
    sample = json.loads((folder / "sample.json").read_text())
    expected = json.loads((folder / "tokens_v3.json").read_text())["tokens"]
    # The template renders tool-call arguments given as objects (as transformers passes them).
    for message in sample["messages"]:
        for call in message.get("tool_calls") or []:
            if isinstance(call["function"]["arguments"], str):
                call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    assert sample["tools"]
    ids = tok.apply_chat_template(sample["messages"], tools=sample["tools"], tokenize=True)
    assert ids == expected


def test_extra_template_variables(tokenizers):
    tok = tokenizers["v1"]
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}],
                                   chat_template="{{ greeting }} {{ messages[0].content }}",
                                   greeting="hello")
    assert text == "hello hi"


def test_tokenized_chat_as_arrays_and_dicts(tokenizers):
    tok = tokenizers["v1"]
    messages = [{"role": "user", "content": "hi"}]
    template = "{{ bos_token }}[INST] {{ messages[0].content }} [/INST]"
    ids = tok.apply_chat_template(messages, chat_template=template, tokenize=True)
    array = tok.apply_chat_template(messages, chat_template=template, tokenize=True,
                                    return_tensors="np")
    assert array.dtype == np.int32 and array.tolist() == [ids]
    enc = tok.apply_chat_template(messages, chat_template=template, tokenize=True,
                                  return_dict=True)
    assert enc["input_ids"] == ids and enc.attention_mask == [1] * len(ids)
    # documents= is a template variable, as in transformers.
    text = tok.apply_chat_template(messages, chat_template="{{ documents[0].title }}",
                                   documents=[{"title": "T"}])
    assert text == "T"
    with pytest.raises(TypeError):
        tok.apply_chat_template(messages, None)  # keyword-only after messages
