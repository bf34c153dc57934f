"""`pip install ./python` (python/pyproject.toml, python/build_backend/corelm_build.py), offline.

A venv with --system-site-packages (Debian's numpy), pip's default build isolation, --no-index:
the in-tree backend needs nothing from an index. It reuses ctest's build folder through
--config-settings build-dir (only `cmake --build`, no reconfigure), since a full C++ build is too
slow for ctest; test_full_build does that one only when CORELM_TEST_PIP_FULL_BUILD=1.
The installed module is then used from a folder outside the repository, so that nothing but the
venv's copy can be imported: convert a tiny model, load it, one predict.

Environment (set by tests/CMakeLists.txt): CORELM_BUILD_DIR, CORELM_SOURCE_DIR, CORELM_TEST_DATA.
What is missing here (python3-venv, the test data, a build with the module) skips the tests, and
fails them under CI=true, where scripts/install-deps.sh has installed everything.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest

SOURCE_DIR = Path(os.environ.get("CORELM_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("CORELM_BUILD_DIR", SOURCE_DIR / "build"))
TEST_DATA = Path(os.environ.get("CORELM_TEST_DATA", SOURCE_DIR.parent / "shared" / "data"))
MODEL = TEST_DATA / "tiny-models" / "stories260K-hf"
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")

# Run by the venv's python, in a folder outside the repository (argv: venv, model, output).
USE_MODULE = r"""
import os, sys
import numpy as np
import corelm
venv, source, output = sys.argv[1:4]
where = os.path.realpath(corelm.__file__)
assert where.startswith(os.path.realpath(venv) + os.sep), f"corelm imported from {where}"
corelm.convert(source, output, quant="f32")
model = corelm.Model.load(output)
state = model.make_state()
ids = np.array([model.tokenizer.encode("Once upon a time")], dtype=np.int32)
n = ids.shape[1]
mask = np.triu(np.full((1, 1, n, n), -np.inf), k=1).astype(np.float16)
logits = model.predict({"inputIds": ids, "causalMask": mask}, state=state)["logits"]
assert logits.shape[:2] == (1, n), logits.shape
assert np.isfinite(logits).all()
print("predict ok", logits.shape, where)
"""


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: scripts/install-deps.sh should have provided it)")
    pytest.skip(reason)


def _env() -> Dict[str, str]:
    # ctest's PYTHONPATH points at the build folder's package: the venv must not see it.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def _run(command: List[str], cwd: Path, env: Dict[str, str] | None = None) -> str:
    result = subprocess.run([str(c) for c in command], cwd=cwd, env=env or _env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800)
    assert result.returncode == 0, f"{command} failed ({result.returncode}):\n{result.stdout}"
    return result.stdout


def _make_venv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                          env=_env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if made.returncode != 0 or not (venv / "bin" / "pip").exists():
        _missing(f"cannot make a venv with pip (apt install python3-venv):\n{made.stdout}")
    probe = subprocess.run([venv / "bin" / "python", "-c", "import numpy"], env=_env())
    if probe.returncode != 0:
        _missing("numpy is not importable in the venv (apt install python3-numpy)")
    return venv


def _check_record(files: Dict[str, bytes], where: str, installed: bool = False) -> None:
    """Every RECORD row names a file whose sha256 (urlsafe base64, no padding) and size match.

    An installed RECORD also lists the .pyc files pip compiled, without hashes: those are skipped.
    """
    record_name = next(name for name in files if name.endswith(".dist-info/RECORD"))
    rows = list(csv.reader(files[record_name].decode().splitlines()))
    if installed:
        rows = [row for row in rows if row[1] or row[0] == record_name]
    assert {row[0] for row in rows} == set(files), f"RECORD of {where} lists other files"
    for name, digest, size in rows:
        if name == record_name:
            assert digest == "" and size == "", name
            continue
        data = files[name]
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert digest == f"sha256={expected}", f"{where}: bad hash for {name}"
        assert int(size) == len(data), f"{where}: bad size for {name}"


@pytest.fixture(scope="module")
def built_module() -> None:
    if not list((BUILD_DIR / "python" / "corelm").glob("_corelm*.so")):
        _missing(f"no Python module in {BUILD_DIR} (apt install pybind11-dev python3-dev)")
    if not (MODEL / "config.json").is_file():
        _missing(f"no test model at {MODEL}")


def test_pip_install_with_build_dir(tmp_path: Path, built_module: None) -> None:
    venv = _make_venv(tmp_path)
    pip = [venv / "bin" / "pip"]
    settings = ["--config-settings", f"build-dir={BUILD_DIR}"]
    offline = ["--no-index", "--no-deps", "--no-cache-dir"]

    # The wheel itself: tag, contents, and a RECORD that matches them.
    wheels = tmp_path / "wheels"
    _run(pip + ["wheel", "-v", *offline, *settings, "-w", wheels, SOURCE_DIR / "python"], tmp_path)
    [wheel] = list(wheels.glob("corelm-*.whl"))
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    assert wheel.name.startswith("corelm-") and f"-{tag}-{tag}" in wheel.name, wheel.name
    with zipfile.ZipFile(wheel) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    _check_record(files, wheel.name)
    assert any(name.startswith("corelm/_corelm.") for name in files), sorted(files)
    assert "corelm/__init__.py" in files and "corelm/py.typed" in files, sorted(files)
    assert "corelm/__main__.py" in files, sorted(files)  # python/generate.py
    metadata = next(data for name, data in files.items() if name.endswith("/METADATA")).decode()
    assert "Name: corelm" in metadata and "Requires-Dist: numpy" in metadata, metadata
    assert "Root-Is-Purelib: false" in next(
        data for name, data in files.items() if name.endswith(".dist-info/WHEEL")).decode()

    # The install the brief is about: pip install ./python, with pip's build isolation.
    _run(pip + ["install", *offline, *settings, SOURCE_DIR / "python"], tmp_path)
    shown = _run(pip + ["show", "-f", "corelm"], tmp_path)
    assert "_corelm." in shown and "Requires: numpy" in shown, shown

    # The installed RECORD (rewritten by pip) matches the installed files too.
    site = Path(_run([venv / "bin" / "python", "-c",
                      "import sysconfig; print(sysconfig.get_paths()['platlib'])"], tmp_path)
                .strip())
    [dist_info] = list(site.glob("corelm-*.dist-info"))
    record = (dist_info / "RECORD").read_text()
    installed = {row[0]: (site / row[0]).read_bytes()
                 for row in csv.reader(record.splitlines()) if row[1]}
    installed[f"{dist_info.name}/RECORD"] = record.encode()
    _check_record(installed, str(dist_info), installed=True)

    # Used from outside the repository: only the venv's copy can be imported.
    work = tmp_path / "work"
    work.mkdir()
    out = _run([venv / "bin" / "python", "-c", USE_MODULE, venv, MODEL, work / "x.clm"], work)
    assert "predict ok" in out, out
    # The seed's script, installed as the package's __main__.
    story = _run([venv / "bin" / "python", "-m", "corelm", work / "x.clm", "--prompt",
                  "Once upon a time", "--max_new_tokens", "12"], work)
    assert len(story.strip()) > 10, story


@pytest.mark.skipif(os.environ.get("CORELM_TEST_PIP_FULL_BUILD") != "1",
                    reason="a full C++ build: run with CORELM_TEST_PIP_FULL_BUILD=1")
def test_full_build(tmp_path: Path, built_module: None) -> None:
    """pip install ./python configuring and building a fresh CMake folder (minutes)."""
    venv = _make_venv(tmp_path)
    env = _env()
    env["CORELM_PYTHON_BUILD_DIR"] = str(tmp_path / "build")  # fresh, and not in the repository
    _run([venv / "bin" / "pip", "install", "--no-index", "--no-deps", "--no-cache-dir",
          SOURCE_DIR / "python"], tmp_path, env)
    work = tmp_path / "work"
    work.mkdir()
    out = _run([venv / "bin" / "python", "-c", USE_MODULE, venv, MODEL, work / "x.clm"], work, env)
    assert "predict ok" in out, out
