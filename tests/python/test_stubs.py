"""The type stubs (corelm/_corelm.pyi) name exactly what the extension defines, so editors
complete the real API."""

import ast
import inspect
from pathlib import Path

import corelm
from corelm import _corelm


def stub_names() -> dict:
    tree = ast.parse((Path(corelm.__file__).parent / "_corelm.pyi").read_text())
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            members = set()
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    members.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    members.add(item.target.id)
            names[node.name] = members
        elif isinstance(node, ast.FunctionDef):
            names[node.name] = None
    return names


def public(cls) -> set:
    return {n for n in dir(cls) if not n.startswith("_")} | (
        {"__call__"} if "__call__" in cls.__dict__ else set())


def test_every_extension_name_has_a_stub_and_no_stub_is_stale():
    stubs = stub_names()
    module_names = {n for n in dir(_corelm) if not n.startswith("__")}
    assert set(stubs) == module_names
    for name, members in stubs.items():
        if members is None:
            assert callable(getattr(_corelm, name))
            continue
        cls = getattr(_corelm, name)
        real = public(cls) - {"code", "args", "with_traceback", "add_note"}
        declared = {m for m in members if not m.startswith("__")} | (
            {"__call__"} & members)
        if name == "Error":
            assert declared == {"code"}
            continue
        assert real == declared, name


def test_the_stub_signatures_match_the_docstrings():
    # pybind11 writes each function's signature into its docstring: the parameter names the
    # stubs declare must be those.
    tree = ast.parse((Path(corelm.__file__).parent / "_corelm.pyi").read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            doc = inspect.getdoc(getattr(_corelm, node.name)) or ""
            for arg in node.args.args:
                assert f"{arg.arg}:" in doc, (node.name, arg.arg)
        if isinstance(node, ast.ClassDef) and node.name != "Error":
            cls = getattr(_corelm, node.name)
            for item in node.body:
                if not isinstance(item, ast.FunctionDef) or item.name.startswith("__"):
                    continue
                if item.name not in vars(cls) or isinstance(vars(cls)[item.name], property):
                    continue
                doc = vars(cls)[item.name].__doc__ or ""
                if not doc.startswith(item.name + "("):
                    continue  # defined in Python (corelm/_tokenizer.py)
                for arg in item.args.args[1:]:
                    assert f"{arg.arg}:" in doc, (node.name, item.name, arg.arg)
