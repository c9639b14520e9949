"""The package's layout (docs/architecture.md, "Module map"): folders name the architecture, a
handful of modules stand at the top, and no module-level import cycle exists anywhere in it."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Set

import audiofaith

PACKAGE = Path(audiofaith.__file__).resolve().parent
REPO = PACKAGE.parent
MAX_TOP_LEVEL_MODULES = 10


def module_names(root: Path) -> Dict[str, Path]:
    """Every module under the package folder ``root``, by dotted name (a package by its ``__init__``)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = (root.name,) + path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _module_level_statements(body: List[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run when the module is imported: the body, and what ``if`` (``TYPE_CHECKING``
    included: a type-only cycle still couples the modules), ``try``, ``with`` and class bodies hold;
    never a function's body, which runs later."""
    for statement in body:
        yield statement
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(statement, field, None)
            if isinstance(inner, list):
                yield from _module_level_statements([s for s in inner if isinstance(s, ast.stmt)] +
                                                    [s for h in inner if isinstance(h, ast.ExceptHandler)
                                                     for s in h.body])


def import_graph(root: Path) -> Dict[str, Set[str]]:
    """Module -> the package's modules it imports at module level. ``from a.b import c`` points at
    ``a.b.c`` when that is a module, else at ``a.b``."""
    modules = module_names(root)
    graph: Dict[str, Set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for statement in _module_level_statements(ast.parse(path.read_text(encoding="utf-8")).body):
            targets: List[str] = []
            if isinstance(statement, ast.Import):
                targets = [alias.name for alias in statement.names]
            elif isinstance(statement, ast.ImportFrom):
                base = statement.module or ""
                if statement.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[:len(anchor) - statement.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in statement.names]
            for target in targets:
                while target and target not in modules:  # import a.b.c of a non-module: its module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def import_cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    cycles: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_module_level_import_cycle_in_the_package():
    cycles = import_cycles(import_graph(PACKAGE))
    assert not cycles, "module-level import cycles (break them, or import inside the function that needs it):\n" + \
        "\n".join(" <-> ".join(cycle) for cycle in cycles)


#: The bottom wings, and what they may import at module level besides one another: the low modules
#: at the top (and the package itself, for its version) and the torch-free backend protocol.
BOTTOM_WINGS = {"store", "text", "audio"}
BOTTOM_MAY_IMPORT = {"audiofaith", "audiofaith.errors", "audiofaith.progress", "audiofaith.helptext", "audiofaith.seeds",
                     "audiofaith.backends.base"}


def upward_imports(graph: Dict[str, Set[str]]) -> List[str]:
    """``module -> target`` for each module-level import of a bottom wing that climbs out of it."""
    def wing(name: str) -> str:
        parts = name.split(".")
        return parts[1] if len(parts) >= 2 else ""

    return [f"{module} -> {target}" for module, targets in sorted(graph.items()) if wing(module) in BOTTOM_WINGS
            for target in sorted(targets) if wing(target) not in BOTTOM_WINGS and target not in BOTTOM_MAY_IMPORT]


def test_the_bottom_wings_import_nothing_above_them():
    assert upward_imports(import_graph(PACKAGE)) == []
    planted = {"audiofaith.text.prompts": {"audiofaith.runners.variant", "audiofaith.errors"},
               "audiofaith.store.records": {"audiofaith.audio.io"}}
    assert upward_imports(planted) == ["audiofaith.text.prompts -> audiofaith.runners.variant"]


def _write_package(root: Path, files: Dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


def test_the_cycle_check_finds_planted_cycles_and_spares_function_imports(tmp_path):
    package = _write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import thing\n",
        "pkg/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\nthing = 1\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": "from . import d\n",
        "pkg/sub/d.py": "def later():\n    from pkg.sub import c\n",
        "pkg/sub/e.py": "try:\n    from ..sub.f import x\nexcept ImportError:\n    x = None\n",
        "pkg/sub/f.py": "import pkg.sub.e\nx = 1\n",
    })
    graph = import_graph(package)
    assert graph["pkg.sub.c"] == {"pkg.sub.d"} and graph["pkg.sub.d"] == set()
    assert import_cycles(graph) == [["pkg.a", "pkg.b"], ["pkg.sub.e", "pkg.sub.f"]]


def test_at_most_ten_modules_stand_at_the_top():
    top = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"{len(top)} top-level modules: {top}; put new ones in a wing"


def test_sakura_lives_beside_the_other_benchmarks():
    benchmarks = {p.stem for p in (PACKAGE / "benchmarks").glob("*.py")}
    assert {"sakura", "mmau", "mmar"} <= benchmarks


def test_public_paths_kept_after_the_move():
    from audiofaith import pipeline
    from audiofaith.runners import pipeline as runners_pipeline

    for name in pipeline.__all__:
        assert getattr(pipeline, name) is getattr(runners_pipeline, name)
    for module in ("audiofaith.tiny", "audiofaith.convert", "audiofaith.report"):
        done = subprocess.run([sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0 and "usage:" in done.stdout, (module, done.stderr[-2000:])
