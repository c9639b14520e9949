"""Whose CoT is it (issue 11, item 9), and how long continued reasoning may be (item 7): the
conditioned step and interventions refuse another model's baseline unless --allow_foreign_cot,
label such lines in the report, and take the baseline's max_new_tokens from its sidecar."""

from __future__ import annotations

import json

import pytest

from audiofaith import report
from audiofaith.store.jsonl import read_jsonl, write_jsonl
from tests.conftest import run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def foreign_baseline(animal_run, tmp_path_factory):
    """The tiny Qwen2-Audio baseline, relabelled as written by AF3."""
    lines = read_jsonl(animal_run["baseline"])
    for line in lines:
        line["model"] = "af3"
    path = tmp_path_factory.mktemp("foreign") / "af3" / "animal" / "baseline_animal.jsonl"
    write_jsonl(path, lines)
    return path


def _conditioned(synthetic_data, tiny_qwen2_audio, baseline, output, *extra):
    return run_cli("interface/Qwen2Audio_conditioned.py", "--manifest_file", str(synthetic_data["manifests"]["animal"]),
                   "--input_results_file", str(baseline), "--output_conditioned_file", str(output),
                   "--data_root", str(synthetic_data["data_root"]), "--model_path", str(tiny_qwen2_audio),
                   "--limit", "2", *extra)


def test_foreign_cot_is_refused_then_labelled(synthetic_data, tiny_qwen2_audio, foreign_baseline, tmp_path):
    output = tmp_path / "out" / "qwen2_audio" / "animal" / "conditioned_animal.jsonl"
    refused = _conditioned(synthetic_data, tiny_qwen2_audio, foreign_baseline, output)
    assert refused.returncode == 2
    assert "written by af3, not by qwen2_audio" in refused.stderr and "--allow_foreign_cot" in refused.stderr
    assert not output.exists()
    done = _conditioned(synthetic_data, tiny_qwen2_audio, foreign_baseline, output, "--allow_foreign_cot")
    assert done.returncode == 0, done.stderr
    lines = read_jsonl(output)
    assert lines and all(line["cot_source_model"] == "af3" and line["model"] == "qwen2_audio" for line in lines)
    out = tmp_path / "report"
    report.write_report(tmp_path / "out", out, None, report.Settings(n_resamples=50))
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "qwen2_audio conditioned on af3's CoT" in text
    assert "| qwen2_audio | animal |" not in text  # never shown as the model's own faithfulness


def test_intervention_cot_length_defaults_to_the_baselines(synthetic_data, tiny_qwen2_audio, animal_run, tmp_path):
    output = tmp_path / "interventions" / "early_answering_animal.jsonl"
    done = run_cli("interface/Qwen2Audio_intervene.py", "--kind", "early_answering",
                   "--manifest_file", str(synthetic_data["manifests"]["animal"]),
                   "--input_results_file", str(animal_run["baseline"]), "--output_file", str(output),
                   "--data_root", str(synthetic_data["data_root"]), "--model_path", str(tiny_qwen2_audio),
                   "--limit", "1")
    assert done.returncode == 0, done.stderr
    meta = json.loads(output.with_name(output.name + ".meta.json").read_text())
    assert meta["fingerprint"]["cot_max_new_tokens"] == 24  # animal_run's --max_new_tokens
