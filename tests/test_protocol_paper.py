"""``--protocol paper`` end to end, as a user types the commands: baseline, conditioned and an
intervention script of every HF model on its tiny checkpoint, the protocol and its prompt texts
in every line and sidecar, refusals of mixed protocols, and a report that keeps the protocols
apart. Tiny random weights: the texts are gibberish, so the conditioned step is run on a copy of
the baseline whose reasoning is a fixed two-sentence text (what a real model's cut CoT looks like)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from audiofaith.store.jsonl import read_jsonl
from audiofaith.text.protocols import PAPER_PROTOCOLS, drop_last_sentence, paper_protocol, resolve, tagged_conclusion, \
    tagged_reasoning
from audiofaith.backends import get_spec, model_keys
from tests.conftest import REPO, run_cli

PAPER_KEYS = sorted(PAPER_PROTOCOLS)  # the models whose study prompts audiofaith reproduces
REASONING = "The clip has short, loud barks. Dogs bark while crows caw."
TRACK = "gender"


def test_reasoning_cuts_and_answer_tags_as_the_study_read_them():
    assert drop_last_sentence("It barks. Dogs bark! So the answer is (A).") == "It barks. Dogs bark!"
    assert drop_last_sentence("The answer is (A).") == ""
    assert tagged_reasoning("<Reasoning>\nIt barks.\n</Reasoning>\n<Conclusion>\nA\n</Conclusion>") == "It barks."
    assert tagged_reasoning("no tags. at all") == "no tags. at all"
    assert tagged_conclusion("<Reasoning>x</Reasoning><Conclusion> b </Conclusion>", "ABCD") == "B"
    assert tagged_conclusion("<Conclusion>E</Conclusion>", "ABCD") is None
    omni = paper_protocol("qwen_omni")
    from tests.test_prompts import ITEM
    assert omni.read_answer("<Reasoning>it barks</Reasoning>\n<Conclusion>\nC\n</Conclusion>", ITEM) == "C"


def test_paper_protocol_is_defined_for_every_hf_model_and_refused_for_others():
    assert set(PAPER_KEYS) == {"qwen2_audio", "qwen_omni", "af3", "af3_think"}  # the study's four models
    assert set(PAPER_KEYS) <= set(model_keys("hf"))
    assert resolve("ours", "salmonn") is None
    with pytest.raises(ValueError, match="no prompts for 'salmonn'"):
        resolve("paper", "salmonn")
    with pytest.raises(ValueError, match="unknown --protocol"):
        resolve("theirs", "af3")


@pytest.fixture(scope="module")
def paper_runs(request, synthetic_data, tmp_path_factory):
    """For every HF model: a --protocol paper baseline (2 items) via its wrapper script, and a copy
    of it with a two-sentence reasoning per run for the steps that inject reasoning."""
    manifest = str(synthetic_data["manifests"][TRACK])
    root = tmp_path_factory.mktemp("paper")
    runs = {}
    for key in PAPER_KEYS:
        prefix = get_spec(key).script_prefix
        checkpoint = str(request.getfixturevalue(f"tiny_{key}"))
        out = root / key / TRACK
        baseline = out / f"baseline_{TRACK}.jsonl"
        done = run_cli(f"interface/{prefix}_wrapper.py", "--input", manifest, "--output", str(baseline),
                       "--data_root", str(synthetic_data["data_root"]), "--model_path", checkpoint,
                       "--protocol", "paper", "--max_new_tokens", "12", "--limit", "2")
        assert done.returncode == 0, done.stderr
        records = read_jsonl(baseline)
        for record in records:
            record["runs_reasonings"] = [REASONING]
        injected = root / f"{key}_injected.jsonl"
        injected.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        runs[key] = {"checkpoint": checkpoint, "out": out, "baseline": baseline, "injected": injected,
                     "manifest": manifest, "data_root": str(synthetic_data["data_root"])}
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("key", PAPER_KEYS)
def test_paper_baseline_records_and_sidecar(paper_runs, key):
    run = paper_runs[key]
    records = read_jsonl(run["baseline"])
    assert len(records) == 2
    paper = paper_protocol(key)
    for record in records:
        assert record["protocol"] == "paper" and record["error"] is None and record["model"] == key
        assert record["runs_letter_logprobs"] == []  # the study's prompts have no answer cue
        assert record["runs_reasonings"] == [paper.reasoning(record["runs_raw"][0])]
        assert len(record["runs_answer_raw"]) == (1 if key == "qwen2_audio" else 0)
    meta = json.loads((run["baseline"].parent / (run["baseline"].name + ".meta.json")).read_text())
    fingerprint = meta["fingerprint"]
    assert fingerprint["protocol"] == "paper" and fingerprint["letter_logprobs"] is False
    assert fingerprint["generation"]["max_new_tokens"] == 12  # the user's flag wins over the study's length
    assert fingerprint["protocol_prompts"] == json.loads(json.dumps(paper.texts()))
    assert meta["sessions"][-1]["arguments"]["protocol"] == "paper"


@pytest.mark.slow
@pytest.mark.parametrize("key", PAPER_KEYS)
def test_paper_conditioned_generates_after_the_injected_reasoning(paper_runs, key):
    run = paper_runs[key]
    output = run["out"] / f"conditioned_{TRACK}.jsonl"
    done = run_cli(f"interface/{get_spec(key).script_prefix}_conditioned.py", "--manifest_file", run["manifest"],
                   "--input_results_file", str(run["injected"]), "--output_conditioned_file", str(output),
                   "--data_root", run["data_root"], "--model_path", run["checkpoint"], "--protocol", "paper")
    assert done.returncode == 0, done.stderr
    lines = read_jsonl(output)
    assert len(lines) == 2
    for line in lines:
        assert line["protocol"] == "paper" and line["answer_mode"] == "generate" and line["error"] is None
        assert line["raw"] is not None and line["letter_logprobs"] == {}
    meta = json.loads((output.parent / (output.name + ".meta.json")).read_text())["fingerprint"]
    assert meta["protocol"] == "paper" and meta["answer_mode"] == "generate"
    assert meta["answer_max_new_tokens"] == paper_protocol(key).answer_max_new_tokens


@pytest.mark.slow
@pytest.mark.parametrize("key", ["qwen2_audio", "qwen_omni"])
def test_paper_intervention_runs(paper_runs, key):
    run = paper_runs[key]
    output = run["out"] / "interventions" / f"early_answering_{TRACK}.jsonl"
    done = run_cli(f"interface/{get_spec(key).script_prefix}_intervene.py", "--kind", "early_answering",
                   "--manifest_file", run["manifest"], "--input_results_file", str(run["injected"]),
                   "--output_file", str(output), "--data_root", run["data_root"], "--model_path", run["checkpoint"],
                   "--protocol", "paper")
    assert done.returncode == 0, done.stderr
    lines = read_jsonl(output)
    # 2 sentences -> k = 0 (the study's no-reasoning prompt only), 1, 2, per item
    assert len(lines) == 6 and all(l["protocol"] == "paper" and l["error"] is None for l in lines)
    assert {l["prompt"] for l in lines} == {"paper"}


@pytest.mark.slow
def test_mixed_protocols_are_refused_before_the_model_loads(paper_runs):
    run = paper_runs["af3"]
    base = ["--manifest_file", run["manifest"], "--input_results_file", str(run["injected"]),
            "--data_root", run["data_root"], "--model_path", run["checkpoint"]]
    done = run_cli("interface/AF3_conditioned.py", *base, "--output_conditioned_file", str(run["out"] / "x.jsonl"))
    assert done.returncode == 2 and "run this step with the same protocol" in done.stderr
    done = run_cli("interface/AF3_conditioned.py", *base, "--output_conditioned_file", str(run["out"] / "y.jsonl"),
                   "--protocol", "paper", "--answer_mode", "logits")
    assert done.returncode == 2 and "short generation" in done.stderr
    done = run_cli("interface/AF3_intervene.py", "--kind", "hint", *base, "--output_file", str(run["out"] / "z.jsonl"),
                   "--protocol", "paper")
    assert done.returncode == 2 and "run it with --protocol ours" in done.stderr


@pytest.mark.slow
def test_report_keeps_protocols_apart(paper_runs, synthetic_data, tmp_path):
    """An ours baseline and a paper baseline of the same model on the same items: separate rows."""
    run = paper_runs["af3"]
    ours = run["out"].parent.parent / "af3_ours" / TRACK / f"baseline_{TRACK}.jsonl"
    done = run_cli("interface/AF3_wrapper.py", "--input", run["manifest"], "--output", str(ours),
                   "--data_root", run["data_root"], "--model_path", run["checkpoint"], "--max_new_tokens", "8",
                   "--limit", "2", "--no_letter_logprobs")
    assert done.returncode == 0, done.stderr
    done = run_cli("-m", "audiofaith", "report", str(run["out"].parent.parent), "--out", str(tmp_path / "report"),
                   "--manifest_dir", str(synthetic_data["root"] / "processed_input" / "sakura"),
                   "--n_resamples", "50")
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "report" / "summary.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for model in ("af3", "af3 [paper protocol]"):  # each protocol its own rows, 2 answers each
        cot = [r for r in rows if r["condition"] == "baseline_cot" and r["model"] == model and r["hop"] != "all"]
        assert sum(int(r["n"]) for r in cot) == 2, (model, cot)
    report = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "[paper protocol]" in report and "never pooled" in report


@pytest.mark.slow
def test_run_sakura_passes_the_protocol(synthetic_data, tiny_qwen2_audio, tmp_path):
    env = dict(os.environ, MODEL_PATH=str(tiny_qwen2_audio), DATA_ROOT=str(synthetic_data["data_root"]),
               MANIFEST_DIR=str(synthetic_data["root"] / "processed_input" / "sakura"),
               OUTPUT_DIR=str(tmp_path / "out"), TRACKS=TRACK, PYTHON=sys.executable, PROTOCOL="paper",
               BASELINE_ARGS="--max_new_tokens 8", EXTRA_ARGS="--limit 2 --workers 1")
    done = subprocess.run(["bash", str(REPO / "scripts" / "run_sakura.sh"), "qwen2_audio", "baseline", "conditioned"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "--protocol paper" in done.stderr
    baseline = read_jsonl(tmp_path / "out" / "qwen2_audio" / TRACK / f"baseline_{TRACK}.jsonl")
    conditioned = read_jsonl(tmp_path / "out" / "qwen2_audio" / TRACK / f"conditioned_{TRACK}.jsonl")
    assert {r["protocol"] for r in baseline} == {"paper"} == {l["protocol"] for l in conditioned}
