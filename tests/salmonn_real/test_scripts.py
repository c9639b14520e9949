"""The SALMONN interface scripts exactly as a user types them, with ``--salmonn_repo`` at SALMONN's
real code and the tiny random-weight stand-ins of its four weights: baseline (greedy and 4-beam),
conditioned with letter log-probabilities, a text and an audio intervention, and the 13B scripts.
The model's text is gibberish (random weights): lines, settings and agreement are checked, not
numbers."""

from __future__ import annotations

import json

import pytest

from audiofaith.store.jsonl import read_jsonl, write_jsonl
from audiofaith.store.manifest import load_manifest
from tests.conftest import run_cli as _run_cli


def run_cli(*args: str):
    """SALMONN's scripts each in their own process, as a user runs them (the checkout's modules and
    the offline environment are per process)."""
    return _run_cli(*args, subprocess_=True)


def _flags(checkout, weights):
    flags = ["--salmonn_repo", str(checkout)]
    for key, value in weights.items():
        flags += [f"--{key}", value]
    return flags


def _meta(path):
    return json.loads(path.with_name(path.name + ".meta.json").read_text())


@pytest.fixture(scope="module")
def greedy_baseline(checkout, weights, synthetic_data, tmp_path_factory):
    """``SALMONN_wrapper.py`` on the synthetic Animal track (6 items, one clip over 30 s)."""
    manifest = str(synthetic_data["manifests"]["animal"])
    baseline = tmp_path_factory.mktemp("out") / "salmonn" / "animal" / "baseline_animal.jsonl"
    args = ["interface/SALMONN_wrapper.py", "--input", manifest, "--output", str(baseline),
            "--data_root", str(synthetic_data["data_root"]), "--max_new_tokens", "12", "--batch_size", "4",
            *_flags(checkout, weights)]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    return {"path": baseline, "args": args, "log": done.stderr, "manifest": manifest}


def test_baseline_greedy(greedy_baseline, weights):
    baseline = greedy_baseline["path"]
    assert "truncated to salmonn's 30 s window" in greedy_baseline["log"]
    records = read_jsonl(baseline)
    assert len(records) == len(read_jsonl(greedy_baseline["manifest"])) == 6
    for record in records:
        assert record["model"] == "salmonn" and record["error"] is None
        letters = set(record["runs_letter_logprobs"][0])
        assert letters == set("ABCD"[: len(letters)]) and len(letters) >= 2
    assert any(r["audio_seconds"] == 30.0 and r["warnings"] for r in records)
    meta = _meta(baseline)
    assert meta["fingerprint"]["backend_options"]["num_beams"] == 1
    assert meta["fingerprint"]["backend_options"]["ckpt"] == weights["ckpt"]
    session = meta["sessions"][-1]
    assert session["status"] == "completed"
    backend = session["backend"]
    assert backend["decoding"]["num_beams"] == 1 and backend["tiny_random_weights"] is True
    assert backend["libraries"]["transformers"] == "4.28.0" and backend["model_class"].startswith("models.salmonn")

    again = run_cli(*greedy_baseline["args"])  # resume: nothing left to do, nothing duplicated
    assert again.returncode == 0, again.stderr
    assert [r["id"] for r in read_jsonl(baseline)] == [r["id"] for r in records]
    refused = run_cli(*greedy_baseline["args"], "--num_beams", "4")
    assert refused.returncode == 2 and "num_beams" in refused.stderr and "Traceback" not in refused.stderr


def test_baseline_with_the_official_beam_search(checkout, weights, synthetic_data, tmp_path):
    out = tmp_path / "baseline_gender.jsonl"
    done = run_cli("interface/SALMONN_wrapper.py", "--input", str(synthetic_data["manifests"]["gender"]),
                   "--output", str(out), "--data_root", str(synthetic_data["data_root"]), "--max_new_tokens", "8",
                   "--batch_size", "4", "--limit", "3", "--num_beams", "4", *_flags(checkout, weights))
    assert done.returncode == 0, done.stderr
    records = read_jsonl(out)
    assert len(records) == 3 and all(r["error"] is None and r["runs_raw"][0] for r in records)
    assert _meta(out)["sessions"][-1]["backend"]["decoding"]["num_beams"] == 4


def test_conditioned_reads_the_same_letter_logprobs(greedy_baseline, checkout, weights, synthetic_data):
    baseline = greedy_baseline["path"]
    conditioned = baseline.with_name("conditioned_animal.jsonl")
    done = run_cli("interface/SALMONN_conditioned.py", "--manifest_file", greedy_baseline["manifest"],
                   "--input_results_file", str(baseline), "--output_conditioned_file", str(conditioned),
                   "--data_root", str(synthetic_data["data_root"]), *_flags(checkout, weights))
    assert done.returncode == 0, done.stderr
    by_id = {r["id"]: r for r in read_jsonl(baseline)}
    lines = read_jsonl(conditioned)
    assert sorted(line["id"] for line in lines) == sorted(by_id)
    scored = 0
    for line in lines:
        base = by_id[line["id"]]
        if not base["runs_reasonings"][0].strip():
            assert line["error"]
            continue
        # the baseline scored the same reasoning + cue after generating it: the same numbers
        assert line["letter_logprobs"] == pytest.approx(base["runs_letter_logprobs"][0], abs=1e-3)
        assert line["prediction"] == max(line["letter_logprobs"], key=line["letter_logprobs"].get)
        scored += 1
    assert scored


@pytest.fixture(scope="module")
def written_baseline(synthetic_data, tmp_path_factory):
    """A hand-written baseline with known CoTs (the tiny model's own are gibberish)."""
    items = load_manifest(synthetic_data["manifests"]["animal"])[:2]
    reasoning = "The call is short and sharp. It repeats twice. So the answer is (A)."
    records = [{"id": item.id, "model": "salmonn", "prompt_mode": "cot", "answer": item.answer,
                "runs_reasonings": [reasoning], "runs_raw": [reasoning + "\nAnswer: (A)"], "runs_predictions": ["A"],
                "runs_correct": [item.answer == "A"], "runs_letter_logprobs": [{}]} for item in items]
    path = tmp_path_factory.mktemp("interventions") / "baseline_animal.jsonl"
    write_jsonl(path, records)
    return path


def _intervene(kind, written_baseline, checkout, weights, synthetic_data, *extra):
    out = written_baseline.parent / f"{kind}_animal.jsonl"
    done = run_cli("interface/SALMONN_intervene.py", "--kind", kind, "--manifest_file",
                   str(synthetic_data["manifests"]["animal"]), "--input_results_file", str(written_baseline),
                   "--output_file", str(out), "--data_root", str(synthetic_data["data_root"]), "--batch_size", "8",
                   "--cot_max_new_tokens", "6", *_flags(checkout, weights), *extra)
    assert done.returncode == 0, done.stderr
    lines = read_jsonl(out)
    assert lines and all(line["condition"] for line in lines)
    answered = [line for line in lines if line["error"] is None]
    assert answered, lines[0]["error"]
    for line in answered:
        assert set(line["letter_logprobs"]) >= {"A", "B"}
        if line.get("mode") == "regenerate":  # a regenerated CoT's answer is parsed from its text (may be null)
            assert line["prediction"] is None or line["prediction"] in line["letter_logprobs"]
        else:  # the injected CoT's answer is read from the letter log-probabilities
            assert line["prediction"] == max(line["letter_logprobs"], key=line["letter_logprobs"].get)
    assert _meta(out)["fingerprint"]["kind"] == kind
    return answered


def test_text_intervention(written_baseline, checkout, weights, synthetic_data):
    answered = _intervene("filler", written_baseline, checkout, weights, synthetic_data,
                          "--filler_fractions", "0.0", "1.0")
    assert {line["model"] for line in answered} == {"salmonn"} and len(answered) == 4


def test_audio_intervention(written_baseline, checkout, weights, synthetic_data):
    answered = _intervene("audio", written_baseline, checkout, weights, synthetic_data, "--perturbations",
                          "silence", "no_audio", "--modes", "regenerate", "fixed_cot")
    assert {line["condition"] for line in answered} == {"silence", "no_audio"}
    assert {line["mode"] for line in answered} == {"regenerate", "fixed_cot"}


def test_13b_scripts(tiny_salmonn_13b, checkout, synthetic_data, tmp_path):
    """The 13B scripts with a 40-layer LLaMA (vicuna-13b's depth) and the paths from a decode
    config (--salmonn_config); the 7B script warns about the same weights."""
    manifest = str(synthetic_data["manifests"]["gender"])
    out = tmp_path / "salmonn_13b" / "baseline_gender.jsonl"
    data = ["--data_root", str(synthetic_data["data_root"])]
    code = ["--salmonn_repo", str(checkout), "--salmonn_config", str(tiny_salmonn_13b / "decode_config.yaml")]
    done = run_cli("interface/SALMONN13B_wrapper.py", "--input", manifest, "--output", str(out), *data,
                   "--max_new_tokens", "6", "--limit", "2", *code)
    assert done.returncode == 0, done.stderr
    assert "expects a" not in done.stderr
    records = read_jsonl(out)
    assert len(records) == 2 and all(r["model"] == "salmonn_13b" and r["error"] is None for r in records)
    session = _meta(out)["sessions"][-1]["backend"]
    assert session["model_key"] == "salmonn_13b" and session["checkpoint"] == "tsinghua-ee/SALMONN"
    assert session["llama_layers"] == 40 and session["weights_from"]["ckpt"] == "decode_config.yaml: model.ckpt"

    conditioned = out.with_name("conditioned_gender.jsonl")
    done = run_cli("interface/SALMONN13B_conditioned.py", "--manifest_file", manifest, "--input_results_file",
                   str(out), "--output_conditioned_file", str(conditioned), *data, *code)
    assert done.returncode == 0, done.stderr
    assert all(line["model"] == "salmonn_13b" for line in read_jsonl(conditioned))

    warned = run_cli("interface/SALMONN_wrapper.py", "--input", manifest, "--output", str(tmp_path / "7b.jsonl"),
                     *data, "--max_new_tokens", "6", "--limit", "1", *code)
    assert warned.returncode == 0, warned.stderr
    assert "model key salmonn expects a 32-layer LLaMA" in warned.stderr
