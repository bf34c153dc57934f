"""Shared fixtures of the Python module's tests (run by ctest: Python.*).

ctest sets PYTHONPATH to <build>/python (the built package), CORELM_CLI (the corelm binary),
CORELM_DUMP_LOGITS (tests/python/dump_logits.cpp), CORELM_TEST_DATA (../shared/data) and
CORELM_SOURCE_DIR. Models are converted once per test run with the corelm CLI (not the module
under test)."""

import json
import os
import subprocess
from pathlib import Path

import pytest


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set (run these tests through ctest)")
    return value


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(_env("CORELM_TEST_DATA"))
    if not path.is_dir():
        pytest.fail(f"the shared test data is missing: {path}")
    return path


@pytest.fixture(scope="session")
def cli() -> str:
    return _env("CORELM_CLI")


@pytest.fixture(scope="session")
def source_dir() -> Path:
    return Path(_env("CORELM_SOURCE_DIR"))


@pytest.fixture(scope="session")
def dump_logits() -> str:
    return _env("CORELM_DUMP_LOGITS")


@pytest.fixture(scope="session")
def runc_reference(data_dir: Path) -> dict:
    """llama2.c run.c's outputs for stories260K (ids, texts, logits)."""
    path = data_dir / "tiny-models/stories260K/reference_outputs.json"
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def stories(tmp_path_factory, data_dir: Path, cli: str):
    """stories260K-hf converted by the corelm CLI: stories(quant) -> path, once per quant."""
    folder = tmp_path_factory.mktemp("stories")
    made = {}

    def package(quant: str) -> str:
        if quant not in made:
            out = folder / f"stories260K-{quant}.clm"
            subprocess.run([cli, "convert", str(data_dir / "tiny-models/stories260K-hf"), "-o",
                            str(out), "--quant", quant], check=True, capture_output=True)
            made[quant] = str(out)
        return made[quant]

    return package


@pytest.fixture(scope="session")
def stories_f32(stories) -> str:
    return stories("f32")
