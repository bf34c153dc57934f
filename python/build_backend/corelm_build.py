"""corelm_build: the in-tree PEP 517 / PEP 660 build backend of `pip install ./python`.

Standard library only, so that pip's build isolation has nothing to download (Debian 12 ships
neither scikit-build-core nor a setuptools that pip's isolated environment could use offline).
The C++ build is CMake's, from the repository root (python/..): the module's CMakeLists.txt puts
the extension _corelm<EXT_SUFFIX> into <build>/python/corelm; this backend zips it, with the
package's Python files, into a wheel whose metadata it writes itself.

Config settings (`pip install --config-settings KEY=VALUE`, pip >= 22.1):
  build-dir  the CMake build folder (or env CORELM_PYTHON_BUILD_DIR); a relative one is taken from
             the repository root. One with a CMakeCache.txt is only built, never reconfigured, so
             that a developer's (or ctest's) build folder is reused as it is. Without it, a
             Release build of its own in python/build/<tag>.
  jobs       parallel build jobs (default: env CMAKE_BUILD_PARALLEL_LEVEL, else the CPU count).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple, Union

PYTHON_DIR = Path(__file__).resolve().parent.parent  # python/
SOURCE_DIR = PYTHON_DIR.parent  # the repository root, CMake's source folder
PACKAGE_SOURCES = PYTHON_DIR / "corelm"
NAME = "corelm"
MISSING_MODULE_HINT = "apt install pybind11-dev python3-dev"

ConfigSettings = Optional[Mapping[str, Union[str, List[str]]]]


class BuildError(RuntimeError):
    """A build failure with a message meant for the person running pip."""


def _log(message: str) -> None:
    # pip shows the backend's stderr with `pip install -v`, and always when the build fails.
    print(f"corelm_build: {message}", file=sys.stderr, flush=True)


def _fail(message: str) -> BuildError:
    _log(f"error: {message}")
    return BuildError(message)


def _setting(config_settings: ConfigSettings, key: str) -> Optional[str]:
    value = (config_settings or {}).get(key)
    if isinstance(value, list):  # a setting given twice: the last one wins
        value = value[-1] if value else None
    return value or None


def _version() -> str:
    # Parsed, not imported: importing corelm needs the extension this backend is about to build.
    text = (PACKAGE_SOURCES / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.MULTILINE)
    if not match:
        raise _fail(f"no __version__ = \"...\" in {PACKAGE_SOURCES / '__init__.py'}")
    return match.group(1)


def _tag() -> str:
    # The extension is built for this very interpreter (CPython's C API, not the stable ABI).
    if sys.implementation.name != "cpython":
        raise _fail(f"corelm's extension is built for CPython, not {sys.implementation.name}")
    xy = f"{sys.version_info[0]}{sys.version_info[1]}"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"cp{xy}-cp{xy}{getattr(sys, 'abiflags', '')}-{platform}"


def _base_python() -> str:
    # pip runs this backend in the interpreter it installs for (a venv's python, say); CMake gets
    # the base interpreter behind it, whose headers and EXT_SUFFIX are the same.
    base = getattr(sys, "_base_executable", "") or ""
    return base if os.path.isfile(base) else os.path.realpath(sys.executable)


def _read_cache(build_dir: Path) -> Dict[str, str]:
    cache: Dict[str, str] = {}
    for line in (build_dir / "CMakeCache.txt").read_text(errors="replace").splitlines():
        match = re.match(r"^([^#/][^:=]*):[A-Z]+=(.*)$", line)
        if match:
            cache[match.group(1)] = match.group(2)
    return cache


def _run(command: List[str], env: Mapping[str, str]) -> None:
    _log("$ " + " ".join(command))
    if subprocess.run(command, env=env, check=False).returncode != 0:
        raise _fail(f"failed: {' '.join(command)}")


def _build_dir(config_settings: ConfigSettings) -> Path:
    given = _setting(config_settings, "build-dir") or os.environ.get("CORELM_PYTHON_BUILD_DIR")
    if given:
        return (SOURCE_DIR / os.path.expanduser(given)).resolve()
    return PYTHON_DIR / "build" / _tag()


def _cmake_build(config_settings: ConfigSettings) -> Path:
    """Configures (when new) and builds the module; returns the extension's path."""
    if not (SOURCE_DIR / "CMakeLists.txt").is_file() or not (SOURCE_DIR / "src").is_dir():
        raise _fail(f"{SOURCE_DIR} is not corelm's source tree: build from a git checkout, "
                    "with pip >= 21.3 (which builds in place instead of copying python/ away)")
    cmake = shutil.which("cmake")
    if not cmake:
        raise _fail("cmake not found: apt install cmake ninja-build g++ (scripts/install-deps.sh)")
    build_dir = _build_dir(config_settings)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # pip's isolation overlay is not for the Python CMake queries
    if (build_dir / "CMakeCache.txt").is_file():
        _log(f"building in {build_dir} (configured already: not reconfigured)")
    else:
        _log(f"configuring a Release build in {build_dir}")
        command = [cmake, "-S", str(SOURCE_DIR), "-B", str(build_dir)]
        if shutil.which("ninja"):
            command += ["-G", "Ninja"]
        command += ["-DCMAKE_BUILD_TYPE=Release", "-DCORELM_BUILD_TESTS=OFF",
                    "-DCORELM_BUILD_BENCH=OFF", "-DCORELM_SERVER=OFF", "-DCORELM_PYTHON=ON",
                    "-DCORELM_WERROR=OFF", f"-DPython_EXECUTABLE={_base_python()}"]
        _run(command, env)

    # Without pybind11 (or with the module switched off) CMake configures fine but has no
    # corelm_python target: say why instead of letting the build report an unknown target.
    cache = _read_cache(build_dir)
    if cache.get("CORELM_PYTHON", "ON").upper() in ("OFF", "0", "FALSE", "NO"):
        raise _fail(f"{build_dir} is configured with CORELM_PYTHON=OFF")
    if cache.get("CORELM_SANITIZE", "OFF").upper() in ("ON", "1", "TRUE", "YES"):
        raise _fail(f"{build_dir} is a sanitizer build (CORELM_SANITIZE=ON): no Python module")
    if not (build_dir / "python" / "CMakeFiles" / "corelm_python.dir").is_dir():
        raise _fail(f"CMake found no pybind11 for {build_dir} (\"Python module: off\"): "
                    f"{MISSING_MODULE_HINT}, then reconfigure it (cmake -S {SOURCE_DIR} "
                    f"-B {build_dir}) or remove it")

    jobs = (_setting(config_settings, "jobs") or os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL")
            or str(os.cpu_count() or 1))
    _run([cmake, "--build", str(build_dir), "--target", "corelm_python", "corelm_python_files",
          "--parallel", jobs], env)

    package = build_dir / "python" / NAME
    extension = package / f"_corelm{sysconfig.get_config_var('EXT_SUFFIX')}"
    if not extension.is_file():
        others = sorted(p.name for p in package.glob("_corelm*")) if package.is_dir() else []
        if others:  # a build folder configured for another interpreter
            raise _fail(f"{build_dir} holds {', '.join(others)}, built for another Python than "
                        f"{sys.executable}: use another build-dir")
        raise _fail(f"the build produced no {extension}: {MISSING_MODULE_HINT}")
    return extension


def _package_files(extension: Path) -> List[Tuple[str, Path]]:
    """(name in the wheel, file) for the package: the extension, and the Python files.

    The Python files are taken from python/corelm (the same globs as python/CMakeLists.txt), not
    from the build folder's copies, which may include files since deleted from the sources.
    """
    files = [(f"{NAME}/{extension.name}", extension)]
    sources = sorted(PACKAGE_SOURCES.glob("*.py")) + sorted(PACKAGE_SOURCES.glob("*.pyi"))
    sources += [PACKAGE_SOURCES / "py.typed"] if (PACKAGE_SOURCES / "py.typed").is_file() else []
    files += [(f"{NAME}/{path.name}", path) for path in sources]
    # The seed's generate.py as the package's __main__ (`python3 -m corelm MODEL --prompt ...`);
    # as corelm/generate.py, `import corelm.generate` would shadow the function corelm.generate.
    generate = PYTHON_DIR / "generate.py"
    if generate.is_file():
        files.append((f"{NAME}/__main__.py", generate))
    return files


def _metadata() -> str:
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {_version()}\n"
            "Summary: Run Llama and Mistral models on the CPU from one compact package file\n"
            "Requires-Python: >=3.9\nRequires-Dist: numpy\n")


def _dist_info() -> str:
    return f"{NAME}-{_version()}.dist-info"


def _write_wheel(wheel_directory: str, contents: List[Tuple[str, bytes]]) -> str:
    """Writes {name}-{version}-{tag}.whl with contents plus its .dist-info; returns its name."""
    tag = _tag()
    dist_info = _dist_info()
    wheel = (f"Wheel-Version: 1.0\nGenerator: corelm_build\nRoot-Is-Purelib: false\n"
             f"Tag: {tag}\n")
    contents = contents + [(f"{dist_info}/METADATA", _metadata().encode()),
                           (f"{dist_info}/WHEEL", wheel.encode())]
    record = []
    for name, data in contents:  # PEP 376/427: urlsafe base64 sha256 without padding, size
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}\n")
    record.append(f"{dist_info}/RECORD,,\n")
    contents.append((f"{dist_info}/RECORD", "".join(record).encode()))

    filename = f"{NAME}-{_version()}-{tag}.whl"
    path = Path(wheel_directory) / filename
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in contents:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible
            info.external_attr = (0o755 if name.endswith(".so") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    _log(f"wrote {path}")
    return filename


# ---- PEP 517 hooks ---------------------------------------------------------------------------


def get_requires_for_build_wheel(config_settings: ConfigSettings = None) -> List[str]:
    return []  # CMake, the compiler and pybind11 are system packages, not Python ones


def prepare_metadata_for_build_wheel(metadata_directory: str,
                                     config_settings: ConfigSettings = None) -> str:
    # Cheap (no C++ build), so pip learns the name, version and dependencies first.
    dist_info = Path(metadata_directory) / _dist_info()
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(_metadata(), encoding="utf-8")
    return dist_info.name


def build_wheel(wheel_directory: str, config_settings: ConfigSettings = None,
                metadata_directory: Optional[str] = None) -> str:
    extension = _cmake_build(config_settings)
    files = _package_files(extension)
    return _write_wheel(wheel_directory, [(name, path.read_bytes()) for name, path in files])


# No build_sdist: the C++ sources live outside python/ (an sdist of python/ could not build).


# ---- PEP 660 hooks: `pip install -e ./python` --------------------------------------------------


def get_requires_for_build_editable(config_settings: ConfigSettings = None) -> List[str]:
    return []


def prepare_metadata_for_build_editable(metadata_directory: str,
                                        config_settings: ConfigSettings = None) -> str:
    return prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def build_editable(wheel_directory: str, config_settings: ConfigSettings = None,
                   metadata_directory: Optional[str] = None) -> str:
    """A wheel holding only a .pth that puts python/ on sys.path, as `make python` does.

    The extension is copied into python/corelm (git-ignored) so that the package imports in place:
    edits to its Python files show at once; C++ changes need `make python` or this install again.
    """
    extension = _cmake_build(config_settings)
    for stale in PACKAGE_SOURCES.glob("_corelm*.so"):
        stale.unlink()  # unlink, not overwrite: a running python may have the old one mapped
    shutil.copy2(extension, PACKAGE_SOURCES / extension.name)
    _log(f"copied {extension.name} into {PACKAGE_SOURCES}")
    pth = f"{PYTHON_DIR}\n".encode()
    return _write_wheel(wheel_directory, [(f"__editable__.{NAME}.pth", pth)])
