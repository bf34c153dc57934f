"""Bad input raises corelm.Error (a RuntimeError) with the component's message; the interpreter
survives every one of them."""

import shutil

import numpy as np
import pytest

import corelm


@pytest.fixture(scope="module")
def model(stories_f32):
    return corelm.Model.load(stories_f32)


def ids(*values):
    return np.array([list(values)], dtype=np.int32)


def mask(q, past=0, dtype=np.float16):
    return np.triu(np.full((1, 1, q, past + q), -np.inf), k=past + 1).astype(dtype)


def expect_error(call, fragment, code=None, component="[python]"):
    with pytest.raises(corelm.Error) as info:
        call()
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert message.startswith(component), message
    assert fragment in message, message
    if code is not None:
        assert info.value.code == code
    return message


def test_input_ids_of_the_wrong_dtype(model):
    state = model.make_state()
    expect_error(lambda: model.predict({"inputIds": ids(1, 2).astype(np.float32),
                                        "causalMask": mask(2)}, state=state),
                 "inputIds must be an int32 array [batch, q], got dtype float32", "invalid_argument")
    expect_error(lambda: model.predict({"inputIds": ids(1, 2).astype(np.int64),
                                        "causalMask": mask(2)}, state=state),
                 "got dtype int64 (use ids.astype(np.int32))")
    expect_error(lambda: model.predict({"inputIds": [[1.5, 2.0]]}, state=state),
                 "inputIds must hold integers")
    assert state.past == 0


def test_input_ids_of_the_wrong_shape(model):
    state = model.make_state()
    expect_error(lambda: model.predict({"inputIds": np.array([1, 2], dtype=np.int32)},
                                       state=state), "inputIds must have shape [batch, q]")
    expect_error(lambda: model.predict({"inputIds": np.zeros((1, 0), dtype=np.int32)},
                                       state=state), "got [1, 0]")
    expect_error(lambda: model.predict({"inputIds": np.zeros((2, 3), dtype=np.int32)},
                                       state=state), "make_state(max_batch=2)")


def test_causal_mask_of_the_wrong_dtype_or_shape(model):
    state = model.make_state()
    expect_error(lambda: model.predict({"inputIds": ids(1, 2), "causalMask": np.zeros((1, 1, 2, 2), dtype=np.int32)},
                                       state=state), "causalMask must be a float16 or float32")
    expect_error(lambda: model.predict({"inputIds": ids(1, 2), "causalMask": mask(3)},
                                       state=state),
                 "causalMask has shape [1, 1, 3, 3], expected [batch, 1, q, past + q] = [1, 1, 2, 2]")
    model.predict({"inputIds": ids(1, 2), "causalMask": mask(2)}, state=state)
    # After 2 tokens the next mask must span 3 columns.
    expect_error(lambda: model.predict({"inputIds": ids(3), "causalMask": mask(1)}, state=state),
                 "(past 2)")
    assert state.past == 2


def test_a_non_causal_mask_cannot_be_chunked(model):
    state = model.make_state(max_chunk=2)
    full = np.zeros((1, 1, 4, 4), dtype=np.float32)
    expect_error(lambda: model.predict({"inputIds": ids(1, 2, 3, 4), "causalMask": full},
                                       state=state), "needs a causal mask")
    assert state.past == 0


def test_past_plus_q_beyond_the_context(model):
    state = model.make_state(max_context=4)
    model.predict({"inputIds": ids(1, 2, 3)}, state=state)
    message = expect_error(lambda: model.predict({"inputIds": ids(4, 5), "causalMask": mask(2, 3)},
                                                 state=state),
                           "exceed the state's max_context 4", "out_of_range")
    assert "past (3) + q (2) = 5" in message
    assert state.past == 3


def test_token_ids_outside_the_vocabulary(model):
    state = model.make_state()
    expect_error(lambda: model.predict({"inputIds": ids(1, 512)}, state=state),
                 "token id 512, outside the vocabulary [0, 512)", "out_of_range")
    expect_error(lambda: model.predict({"inputIds": ids(-1)}, state=state), "token id -1")
    expect_error(lambda: model.predict({"inputIds": [[2**40]]}, state=state), "beyond int32")


def test_bad_data_and_state_arguments(model, stories_f32):
    state = model.make_state()
    expect_error(lambda: model.predict({"input_ids": ids(1)}, state=state), "has no 'inputIds'")
    expect_error(lambda: model.predict("text", state=state), "needs a dict")
    expect_error(lambda: model.predict({"inputIds": ids(1)}), "predict needs a state")
    other = corelm.Model.load(stories_f32)
    expect_error(lambda: model.predict({"inputIds": ids(1)}, state=other.make_state()),
                 "another model's make_state()")
    expect_error(lambda: model.make_state(kv_cache="int4"), "kv_cache must be 'f16', 'q8' or 'f32'")
    expect_error(lambda: model.make_state(max_context=0), "max_context must be >= 1")
    expect_error(lambda: model.make_state(max_batch=0), "max_batch (0)", component="[model]")
    expect_error(lambda: state.truncate(-1), "past >= 0")
    with pytest.raises(TypeError):
        model.predict({"inputIds": ids(1)}, state="not a state")


def test_missing_truncated_and_corrupt_files(stories_f32, tmp_path):
    expect_error(lambda: corelm.Model.load(str(tmp_path / "missing.clm")), "cannot open",
                 "not_found", component="[package]")
    data = open(stories_f32, "rb").read()
    truncated = tmp_path / "truncated.clm"
    truncated.write_bytes(data[: len(data) // 2])
    expect_error(lambda: corelm.Model.load(str(truncated)), "", component="[package]")
    garbage = tmp_path / "garbage.clm"
    garbage.write_bytes(b"not a model at all" * 100)
    expect_error(lambda: corelm.Model.load(str(garbage)), "", component="[")
    expect_error(lambda: corelm.Tokenizer.from_path(str(tmp_path / "nothing")), "",
                 component="[")


def test_generation_arguments(model):
    expect_error(lambda: corelm.generate(model, "hi", temperature=-1), "temperature must be >= 0")
    expect_error(lambda: corelm.generate(model, "hi", top_p=0), "top_p must be in (0, 1]")
    expect_error(lambda: corelm.generate(model, "hi", max_new_tokens=-5), "max_new_tokens")
    expect_error(lambda: corelm.generate(model, [{"role": "user", "content": "hi"}]),
                 "needs chat=True")
    expect_error(lambda: corelm.generate("model.clm", "hi"), "needs a corelm.Model")
    # A prompt longer than the context.
    gen = corelm.generate(model, "Once upon a time " * 200, max_context=32, stream=True)
    expect_error(lambda: list(gen), "the context holds 32", component="[generate]")
    # The model is usable again afterwards.
    assert isinstance(corelm.generate(model, "Once", max_new_tokens=3), str)


def test_chat_without_a_template(model):
    expect_error(lambda: model.tokenizer.apply_chat_template([{"role": "user", "content": "hi"}]),
                 "has no chat template", "not_found")
    expect_error(lambda: corelm.generate(model, "hi", chat=True), "has no chat template")


def test_template_errors_come_from_the_template_engine(model):
    messages = [{"role": "user", "content": "hi"}]
    expect_error(lambda: model.tokenizer.apply_chat_template(
        messages, chat_template="{% if %}"), "", component="[chat]")
    expect_error(lambda: model.tokenizer.apply_chat_template(
        messages, chat_template="{{ raise_exception('roles must alternate') }}"),
        "roles must alternate", component="[chat]")


def test_a_failed_conversion_leaves_nothing(data_dir, tmp_path):
    out = tmp_path / "model.clm"
    expect_error(lambda: corelm.convert(str(data_dir / "tiny-models/stories260K-hf"), str(out),
                                        quant="q3"), "q3", component="[")
    broken = tmp_path / "broken"
    shutil.copytree(data_dir / "tiny-models/stories260K-hf", broken)
    (broken / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    expect_error(lambda: corelm.convert(str(broken), str(out)), "", component="[")
    assert not out.exists()
    assert list(tmp_path.glob("model.clm*")) == []


def test_unpickled_arrays_are_accepted_and_other_byte_orders_refused(model):
    import pickle

    state = model.make_state()
    ids_ = pickle.loads(pickle.dumps(ids(1, 403, 407)))
    mask_ = pickle.loads(pickle.dumps(mask(3, 0, np.float32)))
    out = model.predict({"inputIds": ids_, "causalMask": mask_}, state=state)["logits"]
    assert out.shape == (1, 3, 512)
    state.reset()
    expect_error(lambda: model.predict({"inputIds": ids(1, 2), "causalMask": mask(2).astype(">f2")},
                                       state=state), "in the machine's byte order")
    expect_error(lambda: model.predict({"inputIds": ids(1, 2).astype(">i4")}, state=state),
                 "got dtype >i4")


def test_errors_raised_in_python_have_a_code(model):
    with pytest.raises(corelm.Error) as info:
        corelm.generate(model, [{"role": "user", "content": "hi"}])
    assert info.value.code == "invalid_argument"
    with pytest.raises(corelm.Error) as info:
        model.tokenizer("a", return_tensors="pt")
    assert info.value.code == "invalid_argument"
    with pytest.raises(corelm.Error) as info:
        model.tokenizer.apply_chat_template([], chat_template="x", continue_final_message=True)
    assert info.value.code == "unsupported"
    assert corelm.Error.code == "invalid_argument"  # the default of an Error made in Python
