"""Regenerated and continued reasoning is decoded as the baseline's CoT was (issue 22, item 5):
after a sampled baseline (--num_runs > 1) with its sampler and run r's own seed; the audio family's
``unedited`` control regenerates on the clean clip, so decoder drift is measured."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from audiofaith.backends.base import GenerationSettings, ModelInput
from audiofaith.store.jsonl import read_jsonl
from audiofaith.runners.pipeline import BaselineStage, Hardware, InterventionStage, Selection, run_stage
from audiofaith.text.prompts import DEFAULT_PROFILE
from audiofaith.store.provenance import sidecar_path
from audiofaith.runners.variants import CotSampler, Variant, VariantConfig, _answer_group, _new_record
from audiofaith.seeds import derive_seed
from tests.runners.fake_backend import FakeBackend
from tests.test_prompts import ITEM


class RecordingBackend(FakeBackend):
    def __init__(self) -> None:
        super().__init__("It barks. Answer: (A)")
        self.generations: list = []

    def generate(self, inputs, settings: GenerationSettings):
        self.generations.append((list(inputs), settings))
        return super().generate(inputs, settings)


@pytest.mark.parametrize("action", ["regenerate", "continue"])
def test_sampled_baseline_sampler_and_run_seed_decode_the_reasoning(action):
    backend = RecordingBackend()
    sampler = CotSampler(do_sample=True, temperature=0.7, top_p=0.9, seed=5)
    config = VariantConfig(model_key="fake", cot_max_new_tokens=11, cot_sampler=sampler)
    variant = Variant(item=ITEM, run=1, condition="c", params={}, baseline_prediction="A", reasoning="It barks.",
                      action=action)
    _answer_group(backend, [variant], [ModelInput("q", np.zeros(160, np.float32))], [_new_record(variant, config)],
                  config, DEFAULT_PROFILE)
    (inputs, settings), = backend.generations
    assert (settings.do_sample, settings.temperature, settings.top_p, settings.max_new_tokens) == (True, 0.7, 0.9, 11)
    assert inputs[0].run_seeds == (derive_seed(5, ITEM.id, 1),)  # the baseline run's own seed


def test_greedy_baseline_keeps_greedy_reasoning():
    backend = RecordingBackend()
    config = VariantConfig(model_key="fake", cot_max_new_tokens=11)
    variant = Variant(item=ITEM, run=0, condition="c", params={}, baseline_prediction="A", action="regenerate")
    _answer_group(backend, [variant], [ModelInput("q", np.zeros(160, np.float32))], [_new_record(variant, config)],
                  config, DEFAULT_PROFILE)
    (inputs, settings), = backend.generations
    assert not settings.do_sample and inputs[0].run_seeds is None


@pytest.mark.slow
def test_unedited_control_reproduces_a_sampled_baseline(synthetic_data, tiny_qwen2_audio, tmp_path):
    """Two sampled runs per item; the unedited control, regenerated on the clean clip with the
    baseline's sampler and run seeds, writes exactly each run's CoT again (no decoder drift)."""
    manifest = tmp_path / "manifest.jsonl"
    shutil.copy(synthetic_data["manifests"]["animal"], manifest)
    data_root = str(synthetic_data["data_root"])
    hardware = Hardware(model_path=str(tiny_qwen2_audio), batch_size=2, device="cpu", dtype="fp32")
    selection = Selection(limit=2)
    baseline = tmp_path / "baseline.jsonl"
    run_stage(BaselineStage(model="qwen2_audio", manifest=str(manifest), output=str(baseline), data_root=data_root,
                            num_runs=2, temperature=1.0, top_p=0.95, seed=3, max_new_tokens=10,
                            selection=selection, hardware=hardware))
    control = tmp_path / "audio.jsonl"
    stage = InterventionStage(kind="audio", model="qwen2_audio", manifest=str(manifest), baseline=str(baseline),
                              output=str(control), data_root=data_root,
                              options={"perturbations": ["unedited"], "modes": ["regenerate", "fixed_cot"]},
                              selection=selection, hardware=hardware)
    run_stage(stage)
    runs = {line["id"]: line["runs_raw"] for line in read_jsonl(baseline)}
    assert any(raw[0] != raw[1] for raw in runs.values())  # sampled: the runs differ, else this proves nothing
    lines = read_jsonl(control)
    assert len(lines) == 4 and {line["condition"] for line in lines} == {"unedited"}
    assert {line["mode"] for line in lines} == {"regenerate"}  # the control has no fixed-CoT form
    for line in lines:
        assert line["error"] is None and line["raw"] == runs[line["id"]][line["run"]], line
    assert _fingerprint(control)["cot_sampler"] == {"do_sample": True, "temperature": 1.0, "top_p": 0.95, "seed": 3}
    # without the sidecar the sampler of a multi-run baseline is unknown: greedy, and the sidecar says so
    sidecar_path(str(baseline)).unlink()
    again = tmp_path / "again.jsonl"
    run_stage(dataclasses.replace(stage, output=str(again)))
    assert _fingerprint(again)["cot_sampler"] == "unknown (no baseline sidecar): greedy"


def _fingerprint(output) -> dict:
    import json

    return json.loads(sidecar_path(str(output)).read_text(encoding="utf-8"))["fingerprint"]


def test_the_report_shows_the_unedited_control_as_its_own_row(tmp_path):
    import csv

    from audiofaith import report
    from audiofaith.store.jsonl import write_jsonl
    from tests.test_report import M1_COT, _baseline, _conditioned, _manifest

    outputs = tmp_path / "output"
    base = outputs / "m1" / "animal"
    write_jsonl(base / "baseline_animal.jsonl", _baseline("m1", "cot", M1_COT))
    write_jsonl(base / "interventions" / "audio_animal.jsonl",
                _conditioned("m1", "unedited", M1_COT, ["A", "B", "C", "C"], params={"mode": "regenerate"})
                + _conditioned("m1", "silence", M1_COT, ["A", "C", "C", "C"], params={"mode": "regenerate"}))
    report.write_report(outputs, tmp_path / "report", _manifest(tmp_path), report.Settings(n_resamples=200, seed=0))
    rows = list(csv.DictReader(open(tmp_path / "report" / "summary.csv", encoding="utf-8")))
    control = [r for r in rows if r["condition"] == "unedited"]
    assert len(control) == 1 and control[0]["variant"] == "mode=regenerate" and control[0]["n_agree"] == "2"
    md = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "| unedited | mode=regenerate |" in md and "Row `unedited` is the control" in md
