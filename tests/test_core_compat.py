"""The torch-free core must also run in SALMONN's old environment (Python 3.9, numpy, tqdm,
soundfile, soxr, rapidfuzz, PyYAML; transformers 4.28): only those imports at module level, and no syntax or runtime
constructs newer than Python 3.9. Compiled with a real python3.9 when one is installed."""

from __future__ import annotations

import ast
import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "audiofaith"
ALLOWED = {"numpy", "tqdm", "soundfile", "soxr", "rapidfuzz", "audiofaith"}  # = pyproject.toml's dependencies
# Backends of the Hugging Face models run in the other environment; everything else is core (the
# SALMONN backend too: it must import in SALMONN's environment).
NOT_CORE = {"hf.py", "qwen2_audio.py", "qwen_omni.py", "af3.py", "af3_think.py"}


def core_modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if not (p.parent.name == "backends" and p.name in NOT_CORE))


def _module_level_imports(tree: ast.Module):
    """Imports executed when the module is imported (not those inside functions)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.ClassDef)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    stack.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])


def _annotation_nodes(tree: ast.Module):
    ids = set()
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            annotations += [a.annotation for a in args.posonlyargs + args.args + args.kwonlyargs]
            annotations += [args.vararg and args.vararg.annotation, args.kwarg and args.kwarg.annotation, node.returns]
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for annotation in annotations:
            if annotation is not None:
                ids.update(id(sub) for sub in ast.walk(annotation))
    return ids


def _newer_than_39(path: Path, tree: ast.Module):
    """Constructs that break on Python 3.9 at import or call time."""
    future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and
                 any(a.name == "annotations" for a in n.names) for n in tree.body)
    in_annotation = _annotation_nodes(tree)
    for node in ast.walk(tree):
        where = f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', '?')}"
        if type(node).__name__ in ("Match", "TryStar", "TypeAlias"):
            yield f"{where}: `{type(node).__name__}` needs Python >= 3.10"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and (not future or id(node) not in in_annotation):
            operands = (node.left, node.right)
            if any(isinstance(o, ast.Constant) and o.value is None for o in operands) or all(
                    isinstance(o, (ast.Name, ast.Subscript, ast.Attribute, ast.BinOp)) and
                    getattr(o, "id", "") in {"int", "str", "float", "bool", "list", "dict", "tuple", "set", "bytes",
                                             "Path", "Any", "Optional", "List", "Dict"} for o in operands):
                yield f"{where}: `X | Y` type union evaluated at runtime needs Python >= 3.10"
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            keywords = {k.arg for k in node.keywords}
            if name == "zip" and "strict" in keywords:
                yield f"{where}: zip(strict=) needs Python >= 3.10"
            if name == "dataclass" and keywords & {"slots", "kw_only", "match_args"}:
                yield f"{where}: dataclass({', '.join(sorted(keywords))}) needs Python >= 3.10"


def test_core_imports_only_stdlib_numpy_tqdm():
    bad = []
    for path in core_modules():
        for name in _module_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if name not in ALLOWED and name not in sys.stdlib_module_names:
                bad.append(f"{path.relative_to(PACKAGE.parent)}: imports {name} at module level")
    assert not bad, "\n".join(bad)


def test_core_has_no_python_310_constructs():
    bad = []
    for path in core_modules():
        bad += list(_newer_than_39(path, ast.parse(path.read_text(encoding="utf-8"))))
    assert not bad, "\n".join(bad)


def test_the_checker_catches_what_it_should(tmp_path):
    sample = ("from typing import Optional\nx: int | None = None\nAlias = int | None\n"
              "match x:\n    case _: pass\n")
    found = list(_newer_than_39(PACKAGE / "sample.py", ast.parse(sample)))
    assert any("Match" in f for f in found) and sum("X | Y" in f for f in found) == 2


def _python39():
    candidates = ["python3.9"] + sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))
    for candidate in candidates:
        try:
            done = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                                  text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0 and done.stdout.strip() == "(3, 9)":
            return candidate
    return None


def test_core_compiles_with_python39():
    python = _python39()
    if python is None:
        pytest.skip("no python3.9 on this machine (the AST checks above still ran)")
    code = ("import sys\nbad = []\nfor p in sys.argv[1:]:\n    try:\n        compile(open(p, encoding='utf-8').read(), p, "
            "'exec', dont_inherit=True)\n    except SyntaxError as e:\n        bad.append(f'{p}:{e.lineno}: {e.msg}')\n"
            "print('\\n'.join(bad)); sys.exit(1 if bad else 0)")
    done = subprocess.run([python, "-c", code, *map(str, core_modules())], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
