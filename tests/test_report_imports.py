"""No import cycle among the report's modules, type-only imports (``if TYPE_CHECKING:``) counted:
every import outside a function body is an edge. Imports inside functions are not (they run late)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

REPORT = Path(__file__).resolve().parents[1] / "audiofaith" / "report"
PACKAGE = "audiofaith.report"


def _imported_modules(node: ast.AST, own: Set[str]) -> Set[str]:
    """Report modules a statement imports (``__init__`` for the package itself)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        if node.module == PACKAGE:  # `from audiofaith.report import x`: module x, else the package
            return {alias.name if alias.name in own else "__init__" for alias in node.names}
        names = [node.module]
    else:
        return set()
    found = set()
    for name in names:
        if name == PACKAGE:
            found.add("__init__")
        elif name.startswith(PACKAGE + "."):
            found.add(name[len(PACKAGE) + 1:].split(".")[0])
    return found


def import_graph(folder: Path = REPORT) -> Dict[str, Set[str]]:
    """module → the report modules it imports outside function bodies (``if TYPE_CHECKING:`` included)."""
    own = {path.stem for path in folder.glob("*.py")}
    graph: Dict[str, Set[str]] = {}
    for path in sorted(folder.glob("*.py")):
        edges: Set[str] = set()
        stack: List[ast.AST] = list(ast.parse(path.read_text(encoding="utf-8")).body)
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            edges |= _imported_modules(node, own)
            stack.extend(ast.iter_child_nodes(node))
        graph[path.stem] = edges - {path.stem}
    return graph


def find_cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One import cycle (its modules, the first repeated at the end), or [] when there is none."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(module: str) -> List[str]:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[module] = 2
        return []

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return []


def test_report_modules_import_no_cycle():
    graph = import_graph()
    assert {"load", "spec", "stats", "plots"} <= set(graph)
    assert find_cycle(graph) == [], " → ".join(find_cycle(graph))


def test_the_cycle_finder_sees_type_only_imports(tmp_path):
    (tmp_path / "a.py").write_text("from audiofaith.report.b import x\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                   "    from audiofaith.report.a import y\n", encoding="utf-8")
    (tmp_path / "c.py").write_text("def f():\n    from audiofaith.report.a import y\n", encoding="utf-8")
    graph = import_graph(tmp_path)
    assert graph == {"a": {"b"}, "b": {"a"}, "c": set()}
    assert find_cycle(graph) == ["a", "b", "a"]
