"""The interface scripts run as subprocesses, exactly as a user types them, on the tiny
random-weight checkpoint and the synthetic SAKURA data."""

from __future__ import annotations

import json
import signal

import pytest

from audiofaith.store.jsonl import read_jsonl
from tests.conftest import run_cli, start_and_stop_after

pytestmark = pytest.mark.slow

WRAPPER = "interface/Qwen2Audio_wrapper.py"
CONDITIONED = "interface/Qwen2Audio_conditioned.py"


def baseline_args(data, track, output, *extra):
    return [WRAPPER, "--input", str(data["manifests"][track]), "--output", str(output),
            "--data_root", str(data["data_root"]), *extra]


def test_help_of_every_script():
    for script in (WRAPPER, CONDITIONED, "scripts/prepare_sakura.py"):
        done = run_cli(script, "--help", subprocess_=True)  # each script file as a user types it
        assert done.returncode == 0 and "usage:" in done.stdout, script
    assert "--answer_mode" in run_cli(CONDITIONED, "--help").stdout


def test_baseline_writes_one_record_per_item(animal_run, synthetic_data):
    records = read_jsonl(animal_run["baseline"])
    manifest = read_jsonl(synthetic_data["manifests"]["animal"])
    assert sorted(r["id"] for r in records) == sorted(m["id"] for m in manifest)
    gold = {m["id"]: m["answer"] for m in manifest}
    for record in records:
        assert record["model"] == "qwen2_audio" and record["prompt_mode"] == "cot"
        assert record["answer"] == gold[record["id"]]
        assert len(record["runs_raw"]) == len(record["runs_reasonings"]) == len(record["runs_predictions"]) == 1
        assert record["runs_correct"] == [None if p is None else p == record["answer"] for p in record["runs_predictions"]]
        assert set(record["runs_letter_logprobs"][0]) == set("ABCD"[: len(manifest[0]["choices"])])
        assert all(v < 0 for v in record["runs_letter_logprobs"][0].values())
        assert record["error"] is None
    long_clip = [r for r in records if any("truncated" in w for w in r["warnings"])]
    assert long_clip and all(r["audio_seconds"] == 30.0 for r in long_clip)
    assert "truncated to qwen2_audio's 30 s window" in animal_run["log"]


def test_provenance_sidecar(animal_run, tiny_qwen2_audio):
    meta = json.loads((animal_run["dir"] / "baseline_animal.jsonl.meta.json").read_text())
    assert meta["fingerprint"]["model_key"] == "qwen2_audio"
    assert meta["fingerprint"]["checkpoint"] == str(tiny_qwen2_audio)
    assert meta["fingerprint"]["generation"]["do_sample"] is False
    assert len(meta["fingerprint"]["prompt_hash"]) == 16
    session = meta["sessions"][-1]
    assert session["status"] == "completed" and session["backend"]["libraries"]["transformers"]
    assert meta["counts"]["items"] == 6 and meta["counts"]["errors"] == 0
    assert meta["counts"]["parse_failures"] == sum(
        p is None for r in read_jsonl(animal_run["baseline"]) for p in r["runs_predictions"])


@pytest.mark.parametrize("mode", ["logits", "generate"])
def test_conditioned(animal_run, synthetic_data, tiny_qwen2_audio, mode):
    output = animal_run["dir"] / f"conditioned_animal_{mode}.jsonl"
    done = run_cli(CONDITIONED, "--manifest_file", str(synthetic_data["manifests"]["animal"]),
                   "--input_results_file", str(animal_run["baseline"]), "--output_conditioned_file", str(output),
                   "--data_root", str(synthetic_data["data_root"]), "--model_path", str(tiny_qwen2_audio),
                   "--answer_mode", mode, "--answer_max_new_tokens", "4",
                   subprocess_=mode == "logits")  # the seed command, once in its own process
    assert done.returncode == 0, done.stderr
    baseline = {r["id"]: r for r in read_jsonl(animal_run["baseline"])}
    lines = read_jsonl(output)
    assert sorted(l["id"] for l in lines) == sorted(baseline)
    for line in lines:
        base = baseline[line["id"]]
        assert line["condition"] == "full" and line["run"] == 0 and line["answer_mode"] == mode
        assert line["baseline_prediction"] == base["runs_predictions"][0]
        if not base["runs_reasonings"][0].strip():
            assert line["error"] and line["prediction"] is None
            continue
        if mode == "logits":
            assert line["prediction"] == max(line["letter_logprobs"], key=line["letter_logprobs"].get)
            # the same reasoning + cue was scored in the baseline run: same numbers
            assert line["letter_logprobs"] == pytest.approx(base["runs_letter_logprobs"][0], abs=1e-3)
        else:
            assert line["raw"].startswith("Answer: (")
        # like with like: a letter read-out is compared with the baseline run's letter read-out, a
        # parsed answer with its parsed letter
        reference = "baseline_cue_prediction" if mode == "logits" else "baseline_prediction"
        assert line["reference_field"] == reference
        letters = base["runs_letter_logprobs"][0]
        assert line["baseline_cue_prediction"] == max(letters, key=letters.get)
        expected_agree = None if None in (line["prediction"], line[reference]) else line["prediction"] == line[reference]
        assert line["agrees"] == expected_agree
        assert line["correct"] == (None if line["prediction"] is None else line["prediction"] == line["answer"])


def test_resume_after_kill_loses_and_duplicates_nothing(synthetic_data, tiny_qwen2_audio, tmp_path):
    args = ["--model_path", str(tiny_qwen2_audio), "--max_new_tokens", "48", "--batch_size", "1"]
    reference = tmp_path / "reference.jsonl"
    assert run_cli(*baseline_args(synthetic_data, "language", reference, *args)).returncode == 0
    killed = tmp_path / "killed.jsonl"
    # the run stops itself after its 2nd line (of 6) and is killed there: no race with its speed
    process = start_and_stop_after(baseline_args(synthetic_data, "language", killed, *args), lines=2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert killed.read_text().count("\n") == 2
    done = run_cli(*baseline_args(synthetic_data, "language", killed, *args))
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr
    ids = [r["id"] for r in read_jsonl(killed)]
    assert len(ids) == len(set(ids)) == 6
    by_id = {r["id"]: r for r in read_jsonl(reference)}
    for record in read_jsonl(killed):  # greedy at batch size 1: identical to the uninterrupted run
        assert record["runs_raw"] == by_id[record["id"]]["runs_raw"]
    sessions = json.loads((tmp_path / "killed.jsonl.meta.json").read_text())["sessions"]
    assert [s["status"] for s in sessions] == ["interrupted", "completed"]  # the killed session, marked on resume


def test_resume_with_other_settings_is_refused(animal_run, synthetic_data, tiny_qwen2_audio):
    done = run_cli(*baseline_args(synthetic_data, "animal", animal_run["baseline"], "--model_path",
                                  str(tiny_qwen2_audio), "--max_new_tokens", "99"))
    assert done.returncode == 2
    assert "was started with other settings" in done.stderr and "max_new_tokens" in done.stderr


def test_inputs_are_validated_before_the_model_loads(synthetic_data, tmp_path):
    bad = tmp_path / "manifest.jsonl"
    lines = synthetic_data["manifests"]["gender"].read_text().splitlines()
    lines[1] = lines[1].replace('.wav"', '_missing.wav"')
    bad.write_text("\n".join(lines) + "\n")
    # a model path that does not exist proves no model load was attempted
    done = run_cli(WRAPPER, "--input", str(bad), "--output", str(tmp_path / "o.jsonl"), "--data_root",
                   str(synthetic_data["data_root"]), "--model_path", str(tmp_path / "no-model"))
    assert done.returncode == 2
    assert "audio file(s) not found" in done.stderr and "_missing.wav" in done.stderr
    assert "Traceback" not in done.stderr
    lines[2] = lines[2].replace('"answer": "', '"answer": "Z')
    bad.write_text("\n".join(lines) + "\n")
    done = run_cli(WRAPPER, "--input", str(bad), "--output", str(tmp_path / "o.jsonl"), "--data_root",
                   str(synthetic_data["data_root"]), "--model_path", str(tmp_path / "no-model"))
    assert done.returncode == 2 and f"{bad}:3:" in done.stderr


def test_conditioned_refuses_results_from_another_manifest(animal_run, synthetic_data, tmp_path):
    done = run_cli(CONDITIONED, "--manifest_file", str(synthetic_data["manifests"]["gender"]),
                   "--input_results_file", str(animal_run["baseline"]), "--output_conditioned_file",
                   str(tmp_path / "c.jsonl"), "--data_root", str(synthetic_data["data_root"]),
                   "--model_path", str(tmp_path / "no-model"))
    assert done.returncode == 2
    assert f"{animal_run['baseline']}:1: id 'sakura/animal/" in done.stderr and "not in the manifest" in done.stderr


def test_direct_answers_sampling_shard_and_limit(synthetic_data, tiny_qwen2_audio, tmp_path):
    common = ["--model_path", str(tiny_qwen2_audio), "--max_new_tokens", "6"]
    direct = tmp_path / "direct.jsonl"
    assert run_cli(*baseline_args(synthetic_data, "emotion", direct, "--no_reasoning", *common)).returncode == 0
    for record in read_jsonl(direct):
        assert record["prompt_mode"] == "direct" and record["runs_reasonings"] == [""]
    sampled = [tmp_path / f"sampled{n}.jsonl" for n in (1, 2)]
    for path in sampled:
        done = run_cli(*baseline_args(synthetic_data, "emotion", path, "--num_runs", "3", "--shard", "1/2",
                                      "--limit", "2", "--seed", "5", *common))
        assert done.returncode == 0, done.stderr
    first, second = (read_jsonl(p.with_name(f"{p.stem}.shard-1-of-2.jsonl")) for p in sampled)
    manifest = read_jsonl(synthetic_data["manifests"]["emotion"])
    assert sorted(r["id"] for r in first) == sorted(m["id"] for m in manifest[1::2][:2])
    assert all(len(r["runs_raw"]) == 3 for r in first)
    assert first == second  # same seed, same outputs
    assert any(len(set(r["runs_raw"])) > 1 for r in first)  # the runs are samples, not copies
    meta = json.loads((tmp_path / "sampled1.shard-1-of-2.jsonl.meta.json").read_text())
    assert meta["fingerprint"]["generation"]["do_sample"] is True


def test_early_answering_intervention(animal_run, synthetic_data, tiny_qwen2_audio):
    from audiofaith.text.cot import split_sentences

    output = animal_run["dir"] / "interventions" / "early_answering_animal.jsonl"
    done = run_cli("interface/Qwen2Audio_intervene.py", "--kind", "early_answering",
                   "--manifest_file", str(synthetic_data["manifests"]["animal"]),
                   "--input_results_file", str(animal_run["baseline"]), "--output_file", str(output),
                   "--data_root", str(synthetic_data["data_root"]), "--model_path", str(tiny_qwen2_audio))
    assert done.returncode == 0, done.stderr
    lines = read_jsonl(output)
    baseline = {r["id"]: r for r in read_jsonl(animal_run["baseline"])}
    expected = 0
    for record in baseline.values():
        n = len(split_sentences(record["runs_reasonings"][0]))
        expected += n + 2 if n else 1
    assert len(lines) == expected
    for line in lines:
        assert line["condition"] == "early_answering"
        assert set(line["param_names"]) == {"k", "n", "fraction", "prompt"}
        if line["error"]:
            continue
        assert line["fraction"] == pytest.approx(line["k"] / line["n"])
        if line["k"] == line["n"]:  # the whole CoT: the same numbers as the baseline's own read-out
            assert line["letter_logprobs"] == pytest.approx(baseline[line["id"]]["runs_letter_logprobs"][0], abs=1e-3)
    assert {l["prompt"] for l in lines if not l["error"]} == {"conditioned", "no_reasoning"}
    meta = json.loads(output.with_name(output.name + ".meta.json").read_text())
    assert meta["fingerprint"]["kind"] == "early_answering" and meta["fingerprint"]["stage"] == "intervene:early_answering"
