"""LoRA functions from Python: make_state(function=...), State.set_function, generate(function=)
against the NumPy-merged models (tests/tools/make_lora_fixtures.py)."""

import os
from pathlib import Path

import numpy as np
import pytest

import corelm


@pytest.fixture(scope="module")
def fixtures() -> Path:
    path = Path(os.environ["CORELM_BUILD_DIR"]) / "lora-fixtures"
    if not path.is_dir():
        pytest.fail(f"the LoRA fixtures are missing: {path} (target corelm_lora_fixtures)")
    return path


@pytest.fixture(scope="module")
def packages(tmp_path_factory, data_dir, fixtures):
    out = tmp_path_factory.mktemp("lora")
    with_functions = out / "functions.clm"
    corelm.convert(str(data_dir / "tiny-models/stories260K-hf"), str(with_functions), quant="f32",
                   adapters={"r4": str(fixtures / "r4"), "r16": str(fixtures / "r16")},
                   adapter_dtype="f32")
    merged = {}
    for name in ["r4", "r16"]:
        merged[name] = out / f"merged-{name}.clm"
        corelm.convert(str(fixtures / f"merged_{name}"), str(merged[name]), quant="f32")
    return with_functions, merged


def logits(model, ids, **state_args):
    state = model.make_state(kv_cache="f32", **state_args)
    return model.predict({"inputIds": np.array([ids], dtype=np.int32)}, state=state)["logits"]


def test_functions_give_the_merged_models_logits(packages, runc_reference):
    with_functions, merged = packages
    model = corelm.Model.load(str(with_functions))
    assert [f["name"] for f in model.functions] == ["r4", "r16"]
    assert model.functions[1]["max_rank"] == 16
    ids = runc_reference["logits"]["input_ids"]
    base = logits(model, ids)
    for name in ["r4", "r16"]:
        got = logits(model, ids, function=name)
        want = logits(corelm.Model.load(str(merged[name])), ids)
        np.testing.assert_allclose(got, want, atol=1e-4)
        assert np.abs(got - base).max() > 1e-2
    np.testing.assert_array_equal(logits(model, ids, function="r16", function_scale=0.0), base)


def test_set_function_and_generate(packages):
    with_functions, merged = packages
    model = corelm.Model.load(str(with_functions))
    state = model.make_state()
    assert state.function is None
    model.predict({"inputIds": [[1, 403, 407]]}, state=state)
    state.set_function("r4")
    assert state.function == "r4" and state.past == 0  # the cache was the base model's
    with pytest.raises(corelm.Error, match="no function 'nope'"):
        state.set_function("nope")
    want = corelm.generate(corelm.Model.load(str(merged["r16"])), "Once upon a time",
                           max_new_tokens=30)
    assert corelm.generate(model, "Once upon a time", max_new_tokens=30, function="r16") == want
    base = corelm.generate(model, "Once upon a time", max_new_tokens=30)
    assert base != want
    with pytest.raises(corelm.Error, match="no function"):
        corelm.generate(model, "Once", function="missing")
    assert corelm.generate(model, "Once upon a time", max_new_tokens=30) == base
