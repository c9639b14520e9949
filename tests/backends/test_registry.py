"""Every registry entry resolves to a real backend class (no model is loaded)."""

import sys

import pytest

from audiofaith.backends import MODELS, Backend, backend_class, get_profile, get_spec
from audiofaith.text.prompts import PROFILES


@pytest.mark.parametrize("key", sorted(MODELS))
def test_registry_entry_resolves(key):
    cls = backend_class(key)
    assert issubclass(cls, Backend)
    assert cls.key == key
    assert get_spec(key).profile in PROFILES
    assert get_profile(key).answer_cue


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'nope'; known:"):
        get_spec("nope")


def test_core_modules_do_not_import_torch():
    import subprocess

    code = ("import sys; import audiofaith.cli.main, audiofaith.runners.baseline, audiofaith.runners.conditioned, "
            "audiofaith.store.manifest, audiofaith.text.answers, audiofaith.text.cot, audiofaith.text.prompts, audiofaith.benchmarks.sakura, "
            "audiofaith.backends; bad = [m for m in ('torch', 'transformers') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the spec owns the model's footprint: everything below derives from MODELS ------------------

def test_every_spec_names_an_environment_a_tiny_builder_and_a_unique_script_prefix():
    import inspect

    from audiofaith.backends import ENVIRONMENTS, tiny_builder
    from tests.conftest import REPO

    prefixes = [spec.script_prefix for spec in MODELS.values()]
    assert len(set(prefixes)) == len(prefixes) and all(p.isidentifier() and "_" not in p for p in prefixes), prefixes
    for key, spec in MODELS.items():
        assert spec.key == key and spec.environment in ENVIRONMENTS, key
        assert (REPO / spec.requirements).is_file(), spec.requirements
        assert list(inspect.signature(tiny_builder(key)).parameters)[:2] == ["out", "seed"], key


def test_interface_has_exactly_the_registered_scripts_and_each_is_the_generic_one():
    from audiofaith.cli.model_scripts import INTERFACE_DIR, SCRIPT_TEXT, script_target

    expected = {name: spec for spec in MODELS.values() for name in spec.scripts}
    present = {path.name for path in INTERFACE_DIR.glob("*.py")}
    assert not set(expected) - present, f"registered but missing (python -m audiofaith.cli.model_scripts writes them): " \
                                        f"{sorted(set(expected) - present)}"
    assert not present - set(expected), f"scripts without a spec: {sorted(present - set(expected))}"
    for name, spec in expected.items():
        assert (INTERFACE_DIR / name).read_text(encoding="utf-8") == SCRIPT_TEXT, name
        key, entry_point = script_target(INTERFACE_DIR / name)
        assert key == spec.key and entry_point == {"wrapper": "baseline_main", "conditioned": "conditioned_main",
                                                   "intervene": "intervene_main"}[name[:-3].rpartition("_")[2]]


def test_a_script_name_outside_the_registry_is_a_clear_error(capsys):
    from audiofaith.cli.model_scripts import run_script

    assert run_script("interface/Nope_wrapper.py", ["--help"]) == 2
    assert "no registered model has the script prefix 'Nope'" in capsys.readouterr().err
    assert run_script("interface/AF3_train.py", ["--help"]) == 2
    assert "kind one of wrapper, conditioned, intervene" in capsys.readouterr().err


def test_missing_scripts_are_written_as_the_generic_one(tmp_path):
    from audiofaith.cli.model_scripts import SCRIPT_TEXT, write_missing_scripts

    (tmp_path / "AF3_wrapper.py").write_text("kept", encoding="utf-8")
    written = write_missing_scripts(tmp_path)
    assert len(written) == 3 * len(MODELS) - 1 and (tmp_path / "AF3_wrapper.py").read_text() == "kept"
    assert all(path.read_text(encoding="utf-8") == SCRIPT_TEXT for path in written)


def test_docs_models_table_is_the_registry():
    from audiofaith.backends import models_markdown
    from tests.conftest import REPO

    text = (REPO / "docs" / "models.md").read_text(encoding="utf-8")
    start, end = "<!-- models table: python -m audiofaith models --markdown -->\n", "<!-- end of models table -->"
    assert start in text and end in text
    table = text.split(start, 1)[1].split(end, 1)[0]
    assert table == models_markdown(), "docs/models.md is out of step: paste `python -m audiofaith models --markdown`"
    assert all(f"| `{key}` |" in table for key in MODELS)


def test_models_command_lists_the_registry(capsys):
    from audiofaith.backends import models_main

    assert models_main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(MODELS)
    for line, spec in zip(lines, MODELS.values()):
        assert spec.default_checkpoint in line and f"interface/{spec.script_prefix}_*.py" in line
        assert line.split()[-1] == spec.environment
    assert models_main(["--script_prefix", "af3_think"]) == 0 and capsys.readouterr().out == "AFthink\n"
    with pytest.raises(SystemExit) as exit_info:
        models_main(["--script_prefix", "nope"])
    assert exit_info.value.code == 2 and "unknown model 'nope'; known: af3," in capsys.readouterr().err


def test_tiny_arch_choices_are_the_registry_and_the_rewriter():
    from audiofaith.checkpoints.tiny import EXTRA_BUILDERS, builders

    assert list(builders()) == [*MODELS, *EXTRA_BUILDERS]
    assert set(EXTRA_BUILDERS) == {"causal_lm"}


def test_model_keys_filter_by_environment():
    from audiofaith.backends import ENVIRONMENTS, model_keys

    assert model_keys() == list(MODELS)
    assert sorted(k for env in ENVIRONMENTS for k in model_keys(env)) == sorted(MODELS)
    assert model_keys("salmonn") == ["salmonn", "salmonn_13b"]


def test_backends_never_import_the_tiny_builders():
    """Production code does not depend on test fixtures: no backend imports audiofaith.checkpoints.tiny or tiny_salmonn."""
    import ast

    from tests.conftest import REPO

    for path in sorted((REPO / "audiofaith" / "backends").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert not {name for name in imported if name.startswith("audiofaith.checkpoints.tiny")}, path.name
        assert not any(isinstance(node, ast.ImportFrom) and node.module == "audiofaith" and
                       any(alias.name.startswith("tiny") for alias in node.names) for node in ast.walk(tree)), path.name
