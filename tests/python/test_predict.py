"""Model.predict, the seed's stateful contract, against the C++ forward pass it wraps and
against llama2.c's run.c on stories260K."""

import subprocess

import numpy as np
import pytest

import corelm


def seed_mask(q: int, past: int) -> np.ndarray:
    """The seed's generate.py mask, exactly (float16; it is only causal for past == 0 or q == 1)."""
    return np.triu(np.full((1, 1, q, past + q), fill_value=-np.inf if past == 0 else 0),
                   k=1).astype(np.float16)


def causal_mask(q: int, past: int, pad: int = 0, dtype=np.float32) -> np.ndarray:
    """[1, 1, q, past + q]: query i (at position past + i) sees keys [pad, past + i]."""
    mask = np.zeros((1, 1, q, past + q), dtype=np.float32)
    for i in range(q):
        mask[0, 0, i, past + i + 1:] = -np.inf
        mask[0, 0, i, :pad] = -np.inf
    return mask.astype(dtype)


def cpp_logits(dump_logits: str, package: str, ids, tmp_path) -> np.ndarray:
    out = tmp_path / "logits.f32"
    subprocess.run([dump_logits, package, str(out), *map(str, ids)], check=True)
    values = np.fromfile(out, dtype=np.float32)
    return values.reshape(len(ids), -1)


def ids_array(ids) -> np.ndarray:
    return np.array([ids], dtype=np.int32)


@pytest.mark.parametrize("quant", ["f32", "q4s32", "q8s32"])
def test_predict_logits_equal_the_cpp_forward_pass(stories, runc_reference, dump_logits,
                                                   tmp_path, quant):
    package = stories(quant)
    ids = runc_reference["logits"]["input_ids"]
    expected = cpp_logits(dump_logits, package, ids, tmp_path)
    model = corelm.Model.load(package)
    state = model.make_state(max_chunk=len(ids))
    out = model.predict({"inputIds": ids_array(ids), "causalMask": causal_mask(len(ids), 0)},
                        state=state)
    logits = out["logits"]
    assert logits.dtype == np.float32 and logits.shape == (1, len(ids), model.vocab_size)
    np.testing.assert_array_equal(logits[0], expected)
    assert state.past == len(ids)


def test_predict_logits_match_llama2c(stories_f32, runc_reference):
    ref = runc_reference["logits"]
    ids = ref["input_ids"]
    model = corelm.Model.load(stories_f32)
    state = model.make_state(kv_cache="f32")  # run.c keeps its cache in float32
    logits = model.predict({"inputIds": ids_array(ids), "causalMask": seed_mask(len(ids), 0)},
                           state=state)["logits"][0]
    np.testing.assert_allclose(logits, np.array(ref["values"], dtype=np.float32), atol=1e-4)


def test_seed_loop_reproduces_llama2c_greedy_ids(stories_f32, runc_reference):
    """The seed's generate.py loop: prefill with its causal mask, then one token at a time with
    end = past + 1, argmax of logits[0][-1]."""
    ref = runc_reference["greedy_with_prompt"]
    model = corelm.Model.load(stories_f32)
    prompt = np.array([ref["prompt_ids"]], dtype=np.int32)
    assert model.tokenizer.encode(ref["prompt"]) == ref["prompt_ids"]
    state = model.make_state()
    logits = model.predict({"inputIds": prompt, "causalMask": seed_mask(prompt.shape[1], 0)},
                           state=state)["logits"]
    past = prompt.shape[1]
    generated = []
    expected = ref["ids_after_bos"][len(ref["prompt_ids"]) - 1:]
    while len(generated) < len(expected):
        token = int(np.argmax(logits[0][-1]))
        generated.append(token)
        logits = model.predict({"inputIds": np.array([[token]], dtype=np.int32),
                                "causalMask": seed_mask(1, past)}, state=state)["logits"]
        past += 1
        assert state.past == past
    assert generated == expected


def test_batch_of_two_with_padding_equals_each_alone(stories_f32, runc_reference):
    story = runc_reference["logits"]["input_ids"]
    a, b = story[:7], [1] + story[8:12]  # 7 and 5 tokens: b is left-padded by 2
    pad = len(a) - len(b)
    model = corelm.Model.load(stories_f32)

    # An f32 cache: in f16 the keys, rotated for other positions, would round differently.
    def alone(ids, next_token):
        state = model.make_state(kv_cache="f32")
        first = model.predict({"inputIds": ids_array(ids), "causalMask": causal_mask(len(ids), 0)},
                              state=state)["logits"][0]
        second = model.predict({"inputIds": ids_array([next_token]),
                                "causalMask": causal_mask(1, len(ids))}, state=state)["logits"][0]
        return first, second

    state = model.make_state(max_batch=2, kv_cache="f32")
    q = len(a)
    ids = np.array([a, [0] * pad + b], dtype=np.int32)
    mask = np.concatenate([causal_mask(q, 0), causal_mask(q, 0, pad=pad)])
    mask[1, 0, :pad, :] = -np.inf  # padding rows see nothing
    first = model.predict({"inputIds": ids, "causalMask": mask}, state=state)["logits"]
    step_mask = np.concatenate([causal_mask(1, q), causal_mask(1, q, pad=pad)])
    second = model.predict({"inputIds": np.array([[5], [9]], dtype=np.int32),
                            "causalMask": step_mask}, state=state)["logits"]
    assert state.past == q + 1

    a_first, a_second = alone(a, 5)
    b_first, b_second = alone(b, 9)
    np.testing.assert_allclose(first[0], a_first, atol=1e-4)
    np.testing.assert_allclose(second[0], a_second, atol=1e-4)
    # Sequence b sits at positions pad.. in the batch: RoPE is relative, so the same logits.
    np.testing.assert_allclose(first[1, pad:], b_first, atol=1e-4)
    np.testing.assert_allclose(second[1], b_second, atol=1e-4)


def test_long_calls_run_in_chunks_with_the_same_logits(stories_f32, runc_reference):
    ids = runc_reference["logits"]["input_ids"]
    model = corelm.Model.load(stories_f32)
    # An f32 cache: with f16, keys of earlier chunks are read back rounded (within one call
    # they are not), so chunked and whole prefill differ by the cache's rounding.
    whole = model.predict({"inputIds": ids_array(ids), "causalMask": causal_mask(len(ids), 0)},
                          state=model.make_state(kv_cache="f32"))["logits"]
    state = model.make_state(max_chunk=5, kv_cache="f32")
    chunked = model.predict({"inputIds": ids_array(ids),
                             "causalMask": causal_mask(len(ids), 0, dtype=np.float16)},
                            state=state)["logits"]
    assert state.past == len(ids)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)


def test_float16_float32_and_no_mask_agree(stories_f32, runc_reference):
    ids = ids_array(runc_reference["logits"]["input_ids"][:9])
    model = corelm.Model.load(stories_f32)
    q = ids.shape[1]
    runs = [
        model.predict({"inputIds": ids, "causalMask": causal_mask(q, 0)},
                      state=model.make_state())["logits"],
        model.predict({"inputIds": ids, "causalMask": causal_mask(q, 0, dtype=np.float16)},
                      state=model.make_state())["logits"],
        model.predict({"inputIds": ids}, state=model.make_state())["logits"],
        model.predict({"inputIds": ids.tolist(), "causalMask": causal_mask(q, 0).tolist()},
                      state=model.make_state())["logits"],
    ]
    for other in runs[1:]:
        np.testing.assert_array_equal(other, runs[0])


def test_inputs_are_not_modified_and_non_contiguous_inputs_work(stories_f32, runc_reference):
    story = runc_reference["logits"]["input_ids"]
    model = corelm.Model.load(stories_f32)
    wide = np.array([story[:12]], dtype=np.int32)
    ids = wide[:, ::2]  # a strided view: 6 ids
    mask = causal_mask(6, 0)
    before = (ids.copy(), mask.copy())
    got = model.predict({"inputIds": ids, "causalMask": mask}, state=model.make_state())["logits"]
    want = model.predict({"inputIds": np.ascontiguousarray(ids), "causalMask": mask},
                         state=model.make_state())["logits"]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ids, before[0])
    np.testing.assert_array_equal(mask, before[1])


def test_state_reset_and_truncate(stories_f32, runc_reference):
    ids = runc_reference["logits"]["input_ids"]
    model = corelm.Model.load(stories_f32)
    state = model.make_state(max_context=64, kv_cache="f32")
    assert (state.past, state.max_context, state.max_batch, state.kv_cache) == (0, 64, 1, "f32")
    assert state.kv_cache_bytes > 0
    full = model.predict({"inputIds": ids_array(ids)}, state=state)["logits"]
    # Back to 10 positions, then the rest again: the same logits as the first time.
    state.truncate(10)
    assert state.past == 10
    again = model.predict({"inputIds": ids_array(ids[10:]), "causalMask": causal_mask(6, 10)},
                          state=state)["logits"]
    np.testing.assert_allclose(again[0], full[0, 10:], atol=1e-5)
    state.reset()
    assert state.past == 0
    fresh = model.predict({"inputIds": ids_array(ids)}, state=state)["logits"]
    np.testing.assert_array_equal(fresh, full)


def test_states_are_independent(stories_f32, runc_reference):
    ids = runc_reference["logits"]["input_ids"]
    model = corelm.Model.load(stories_f32)
    one, two = model.make_state(), model.make_state()
    a = model.predict({"inputIds": ids_array(ids[:8])}, state=one)["logits"]
    model.predict({"inputIds": ids_array(ids[8:])}, state=one)
    b = model.predict({"inputIds": ids_array(ids[:8])}, state=two)["logits"]
    np.testing.assert_array_equal(a, b)
    assert (one.past, two.past) == (16, 8)


def test_model_metadata(stories_f32, data_dir):
    model = corelm.Model.load(stories_f32)
    hf = __import__("json").loads((data_dir / "tiny-models/stories260K-hf/config.json").read_text())
    for key in ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "vocab_size", "max_position_embeddings", "rms_norm_eps",
                "rope_theta", "tie_word_embeddings"]:
        assert model.config[key] == hf[key], key
    assert model.config["architectures"] == hf["architectures"]
    assert model.user_defined_metadata["co.huggingface.exporters.name"] == "stories260K-hf"
    assert model.info["quantization"] == "f32" and model.info["format"] == "clm"


def test_gguf_greedy_loop_matches_llama_cpp(data_dir):
    folder = data_dir / "tiny-models/stories260K-gguf"
    run = __import__("json").loads((folder / "llamacpp_reference.json").read_text())["runs"][0]
    model = corelm.Model.load(str(folder / "stories260K.gguf"))
    assert model.info["format"] == "gguf"
    state = model.make_state()
    ids, generated = run["prompt_ids"], []
    expected = run["greedy_ids"][:48]
    while len(generated) < len(expected):
        logits = model.predict({"inputIds": ids_array(ids)}, state=state)["logits"]
        ids = [int(np.argmax(logits[0, -1]))]
        generated += ids
    assert generated == expected


def test_coreml_compatible_surface(stories_f32):
    from corelm.coreml import MLModel

    model = MLModel(stories_f32)
    spec = model.get_spec()
    assert spec.description.metadata.userDefined["co.huggingface.exporters.name"] == "stories260K-hf"
    state = model.make_state()
    ids = np.array([[1, 403, 407]], dtype=np.int32)
    out = model.predict(data={"inputIds": ids, "causalMask": seed_mask(3, 0)}, state=state)
    assert out["logits"].shape == (1, 3, 512)


def test_threads_share_a_model_and_a_state_is_used_by_one_at_a_time(stories_f32, runc_reference):
    import threading

    ids = ids_array(runc_reference["logits"]["input_ids"])
    model = corelm.Model.load(stories_f32)
    want = model.predict({"inputIds": ids}, state=model.make_state())["logits"]
    results, errors = {}, []

    def own_state(i):
        try:
            state = model.make_state()
            for _ in range(20):
                state.reset()
                results[i] = model.predict({"inputIds": ids}, state=state)["logits"]
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    shared = model.make_state(max_context=512)

    def shared_state():
        try:
            for _ in range(20):
                model.predict({"inputIds": ids[:, :1]}, state=shared)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=own_state, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=shared_state) for _ in range(2)]
    for t in threads:
        t.start()
    polls = 0
    while any(t.is_alive() for t in threads) and polls < 100000:
        assert 0 <= shared.past <= 40  # reading the state while others run must not deadlock
        polls += 1
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive()
    assert errors == []
    assert shared.past == 40
    for i in range(3):
        np.testing.assert_array_equal(results[i], want)
