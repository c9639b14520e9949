"""The pipeline API (``audiofaith.runners.pipeline``): stage configs driven without argparse write the same
lines as the command line, inputs are fingerprinted by content, and the command-line layers import
no module that imports them back."""

from __future__ import annotations

import ast
import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from audiofaith.cli.commands import baseline_main, conditioned_main, intervene_main
from audiofaith.errors import UserError
from audiofaith.store.jsonl import read_jsonl
from audiofaith.runners.pipeline import (BaselineStage, ConditionedStage, Hardware, InterventionStage, Selection,
                                         run_stage)

PACKAGE = Path(__file__).resolve().parents[1] / "audiofaith"


def _fingerprint(output: Path) -> dict:
    return json.loads(output.with_name(output.name + ".meta.json").read_text())["fingerprint"]


@pytest.mark.slow
def test_run_stage_writes_what_the_command_line_writes(synthetic_data, tiny_qwen2_audio, tmp_path):
    manifest = tmp_path / "manifest.jsonl"
    shutil.copy(synthetic_data["manifests"]["animal"], manifest)
    data_root = str(synthetic_data["data_root"])
    api, cli = tmp_path / "api", tmp_path / "cli"
    common = ["--data_root", data_root, "--model_path", str(tiny_qwen2_audio), "--limit", "2", "--batch_size", "2"]
    hardware = Hardware(model_path=str(tiny_qwen2_audio), batch_size=2)
    selection = Selection(limit=2)

    result = run_stage(BaselineStage(model="qwen2_audio", manifest=str(manifest), output=str(api / "baseline.jsonl"),
                                     data_root=data_root, max_new_tokens=12, selection=selection, hardware=hardware))
    assert result.output == str(api / "baseline.jsonl") and result.counts["items"] == 2
    assert baseline_main("qwen2_audio", ["--input", str(manifest), "--output", str(cli / "baseline.jsonl"),
                                         "--max_new_tokens", "12", *common]) == 0
    run_stage(ConditionedStage(model="qwen2_audio", manifest=str(manifest), baseline=str(api / "baseline.jsonl"),
                               output=str(api / "conditioned.jsonl"), data_root=data_root, selection=selection,
                               hardware=hardware))
    assert conditioned_main("qwen2_audio", ["--manifest_file", str(manifest), "--input_results_file",
                                            str(cli / "baseline.jsonl"), "--output_conditioned_file",
                                            str(cli / "conditioned.jsonl"), *common]) == 0
    run_stage(InterventionStage(kind="filler", model="qwen2_audio", manifest=str(manifest),
                                baseline=str(api / "baseline.jsonl"), output=str(api / "filler.jsonl"),
                                data_root=data_root, options={"filler_fractions": [0.5]}, selection=selection,
                                hardware=hardware))
    assert intervene_main("qwen2_audio", ["--kind", "filler", "--filler_fractions", "0.5", "--manifest_file",
                                          str(manifest), "--input_results_file", str(cli / "baseline.jsonl"),
                                          "--output_file", str(cli / "filler.jsonl"), *common]) == 0
    for name in ("baseline.jsonl", "conditioned.jsonl", "filler.jsonl"):
        assert read_jsonl(api / name) == read_jsonl(cli / name), name
        assert read_jsonl(api / name), name
        # the same settings, and the two baselines (identical files in two places) count as the same input
        assert _fingerprint(api / name) == _fingerprint(cli / name), name
    assert {line["length_fraction"] for line in read_jsonl(api / "filler.jsonl")} == {0.5}  # the option was used

    # moved inputs still resume (here: nothing left to do, decided before any model load) ...
    moved = tmp_path / "moved"
    moved.mkdir()
    manifest.rename(moved / "manifest.jsonl")
    (api / "baseline.jsonl").rename(moved / "baseline.jsonl")
    again = run_stage(ConditionedStage(model="qwen2_audio", manifest=str(moved / "manifest.jsonl"),
                                       baseline=str(moved / "baseline.jsonl"), output=str(api / "conditioned.jsonl"),
                                       data_root=data_root, selection=selection, hardware=hardware))
    assert again.nothing_to_do and again.counts == {}
    # ... and an edited baseline does not
    lines = read_jsonl(moved / "baseline.jsonl")
    lines[0]["runs_reasonings"] = ["edited reasoning"]
    (moved / "baseline.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(UserError, match="baseline_results: the content of .*baseline.jsonl differs"):
        run_stage(ConditionedStage(model="qwen2_audio", manifest=str(moved / "manifest.jsonl"),
                                   baseline=str(moved / "baseline.jsonl"), output=str(api / "conditioned.jsonl"),
                                   data_root=data_root, selection=selection, hardware=hardware))


def test_stage_configs_are_frozen_and_checked(tmp_path):
    stage = InterventionStage(kind="filler", model="qwen2_audio", manifest="m", baseline="b", output="o",
                              options={"filler_fractions": [1.0]})
    with pytest.raises(dataclasses.FrozenInstanceError):
        stage.seed = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        stage.options["filler_fractions"] = [0.5]  # type: ignore[index]
    with pytest.raises(UserError, match="unknown model 'nope'"):
        run_stage(dataclasses.replace(stage, model="nope"))
    with pytest.raises(UserError, match="--kind filler has no option\\(s\\) percents"):
        run_stage(dataclasses.replace(stage, options={"percents": [50]}))
    with pytest.raises(UserError, match="batch_size must be a positive integer or 'auto'"):
        run_stage(dataclasses.replace(stage, hardware=Hardware(batch_size=0)))


def _import_graph():
    """Module -> the audiofaith modules it imports anywhere (functions included), a submodule's
    parent packages counted (importing ``a.b.c`` runs ``a/b/__init__.py``)."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in names.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in names else node.module
                         for alias in node.names]
            else:
                continue
            for target in found:
                while target.startswith("audiofaith."):
                    if target in names:
                        targets.add(target)
                    target = target.rsplit(".", 1)[0]
        graph[name] = targets - {name, "audiofaith"}
    return graph


def _reaches(graph, start, goal):
    seen, stack = set(), list(graph[start])
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(graph.get(node, ()))
    return False


@pytest.mark.parametrize("module", ["audiofaith.cli.main", "audiofaith.cli.commands", "audiofaith.cli.parsers",
                                    "audiofaith.runners.pipeline", "audiofaith.cli.demo", "audiofaith.text.answers", "audiofaith.text.cot"])
def test_no_import_cycle_through_the_command_line_layers(module):
    graph = _import_graph()
    assert graph["audiofaith.cli.main"] >= {"audiofaith.cli.demo", "audiofaith.cli.commands"}  # the graph sees lazy imports
    assert not _reaches(graph, module, module), f"{module} imports a module that imports it back"
