"""pyproject.toml is the one list of dependencies: requirements/{core,hf,test}.txt hold exactly its
`dependencies` and extras, SALMONN's environments satisfy the core's, torch is never unpinned, and
every third-party module audiofaith imports is declared somewhere."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

packaging = pytest.importorskip("packaging.requirements")
from packaging.requirements import Requirement  # noqa: E402
from packaging.utils import canonicalize_name  # noqa: E402

tomllib = pytest.importorskip("tomllib")

REPO = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO / "requirements"
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]

#: requirements file -> (the file it includes with -r, the pyproject lists it must hold)
MIRRORS = {
    "core.txt": (None, ["dependencies", "report"]),
    "hf.txt": ("core.txt", ["hf"]),
    "test.txt": ("hf.txt", ["test"]),
}
#: the extra each self-reference ("audiofaith[x]") stands for, as an included file
SELF_REFERENCE_FILE = {"report": "core.txt", "hf": "hf.txt"}
TORCH_FAMILY = {"torch", "torchvision", "torchaudio"}
#: modules whose distribution is named differently, when the environment does not have them installed
MODULE_TO_DISTRIBUTION = {"yaml": "pyyaml", "huggingface_hub": "huggingface-hub"}


def _key(requirement: Requirement) -> Tuple[str, str]:
    return canonicalize_name(requirement.name), str(requirement.specifier)


def read_requirements(name: str) -> Tuple[List[str], List[Requirement]]:
    """(files included with -r, requirements) of one requirements file."""
    includes, requirements = [], []
    for line in (REQUIREMENTS / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            includes.append(line[3:].strip())
        else:
            requirements.append(Requirement(line))
    return includes, requirements


def project_list(name: str) -> List[Requirement]:
    specs = PROJECT["dependencies"] if name == "dependencies" else PROJECT["optional-dependencies"][name]
    return [Requirement(spec) for spec in specs]


@pytest.mark.parametrize("file_name", sorted(MIRRORS))
def test_requirements_file_mirrors_pyproject(file_name):
    included, lists = MIRRORS[file_name]
    includes, pinned = read_requirements(file_name)
    declared = [r for name in lists for r in project_list(name)]
    self_refs = [r for r in declared if canonicalize_name(r.name) == "audiofaith"]
    expected_includes = sorted({SELF_REFERENCE_FILE[extra] for r in self_refs for extra in r.extras}
                               | ({included} if included else set()))
    assert sorted(includes) == expected_includes, f"requirements/{file_name}: -r lines"
    wanted = {_key(r) for r in declared if r not in self_refs}
    have = {_key(r) for r in pinned}
    assert have == wanted, (f"requirements/{file_name} differs from pyproject.toml {lists}: only in the file "
                            f"{sorted(have - wanted)}, only in pyproject {sorted(wanted - have)}")


def _all_specs() -> Dict[str, List[Requirement]]:
    specs = {"pyproject.toml": [r for name in ["dependencies", *PROJECT["optional-dependencies"]]
                                for r in project_list(name)]}
    for path in sorted(REQUIREMENTS.glob("*.txt")):
        specs[f"requirements/{path.name}"] = read_requirements(path.name)[1]
    return specs


def test_torch_is_pinned_everywhere():
    """An unpinned torch spec pulls whatever (multi-GB CUDA) build the index serves."""
    loose = [f"{where}: {r}" for where, requirements in _all_specs().items() for r in requirements
             if canonicalize_name(r.name) in TORCH_FAMILY
             and not (len(r.specifier) == 1 and next(iter(r.specifier)).operator == "==")]
    assert not loose, loose


@pytest.mark.parametrize("file_name", ["salmonn.txt", "salmonn-cpu.txt"])
def test_salmonn_environments_satisfy_the_core(file_name):
    """The core (audio I/O included) must run in SALMONN's environments too."""
    pins = {canonicalize_name(r.name): r for r in read_requirements(file_name)[1]}
    for dependency in project_list("dependencies"):
        name = canonicalize_name(dependency.name)
        assert name in pins, f"requirements/{file_name} lacks the core dependency {dependency}"
        (version,) = [spec.version for spec in pins[name].specifier if spec.operator == "=="]
        assert dependency.specifier.contains(version), f"requirements/{file_name}: {pins[name]} vs {dependency}"


def _third_party_imports() -> Dict[str, Set[str]]:
    found: Dict[str, Set[str]] = {}
    for path in sorted((REPO / "audiofaith").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "audiofaith" and top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def _distribution(module: str) -> str:
    from importlib.metadata import packages_distributions

    installed = packages_distributions().get(module)
    return canonicalize_name(installed[0] if installed else MODULE_TO_DISTRIBUTION.get(module, module))


def test_every_imported_package_is_declared():
    """A module audiofaith imports (lazily or not) is in pyproject.toml, or, for SALMONN-only code,
    in SALMONN's requirements files."""
    declared = {canonicalize_name(r.name) for r in _all_specs()["pyproject.toml"]}
    salmonn = {canonicalize_name(r.name) for name in ("salmonn.txt", "salmonn-cpu.txt")
               for r in read_requirements(name)[1]}
    imports = _third_party_imports()
    assert {"huggingface_hub", "soundfile", "soxr", "torch"} <= set(imports)  # the scan sees lazy imports
    missing = {module: sorted(files) for module, files in imports.items()
               if _distribution(module) not in declared
               and not (_distribution(module) in salmonn and all("salmonn" in f for f in files))}
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
