"""Researcher-proof runs (issue 13), run as a user types the commands: locks, clean failures,
retries, pre-model checks, sampling, status, help, progress lines."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from audiofaith.store.jsonl import read_jsonl
from audiofaith.store.manifest import load_manifest
from audiofaith.runners.selection import stratified_sample
from tests.conftest import REPO, require, run_cli, start_and_stop_after

pytestmark = pytest.mark.slow

WRAPPER = "interface/Qwen2Audio_wrapper.py"
CONDITIONED = "interface/Qwen2Audio_conditioned.py"
INTERVENE = "interface/Qwen2Audio_intervene.py"


def baseline_args(data, track, output, *extra):
    return [WRAPPER, "--input", str(data["manifests"][track]), "--output", str(output),
            "--data_root", str(data["data_root"]), *extra]


def copy_output(source, target):
    shutil.copy(source, target)
    shutil.copy(f"{source}.meta.json", f"{target}.meta.json")


def test_second_run_is_refused_and_a_killed_runs_lock_is_taken_over(synthetic_data, tiny_qwen2_audio, tmp_path):
    output = tmp_path / "locked.jsonl"
    args = baseline_args(synthetic_data, "language", output, "--model_path", str(tiny_qwen2_audio),
                         "--max_new_tokens", "48", "--batch_size", "1")
    first = start_and_stop_after(args, lines=1)  # holds the lock, stopped after its first line
    lock = tmp_path / "locked.jsonl.lock"
    try:
        second = run_cli(*args)
        assert second.returncode == 2  # refused before any model load ("loading" is not logged)
        assert f"{output} is in use by another run (pid {first.pid} on host {socket.gethostname()}" in second.stderr
        assert "Traceback" not in second.stderr and "loading" not in second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert lock.exists()  # kill -9 leaves the lock file behind; its POSIX lock died with the process
    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    assert f"taking over the stale lock of pid {first.pid}" in resumed.stderr
    ids = [r["id"] for r in read_jsonl(output)]
    assert len(ids) == len(set(ids)) == 6
    sessions = json.loads((tmp_path / "locked.jsonl.meta.json").read_text())["sessions"]
    assert [s["status"] for s in sessions] == ["interrupted", "completed"]
    assert not lock.exists()


def test_a_wrong_local_model_path_is_one_clear_line(synthetic_data, tmp_path):
    output = tmp_path / "o.jsonl"
    missing = tmp_path / "models" / "qwen2-audio"
    done = run_cli(*baseline_args(synthetic_data, "animal", output, "--model_path", str(missing)))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr  # one line
    assert f"--model_path {missing}: no such directory" in done.stderr
    assert not (tmp_path / "o.jsonl.meta.json").exists()


def test_an_unreachable_hub_says_so_at_once(synthetic_data, tmp_path):
    args = baseline_args(synthetic_data, "animal", tmp_path / "o.jsonl", "--model_path", "someorg/some-audio-model")
    env = dict(os.environ, HF_HUB_OFFLINE="0", TRANSFORMERS_OFFLINE="0", HF_ENDPOINT="http://127.0.0.1:9",
               HF_HOME=str(tmp_path / "hf"))
    done = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert "the hub is unreachable" in done.stderr and "HF_HUB_OFFLINE=1" in done.stderr
    assert "Traceback" not in done.stderr
    env["HF_HUB_OFFLINE"] = "1"
    done = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and "not in the local Hugging Face cache while HF_HUB_OFFLINE=1" in done.stderr


def test_a_failed_load_shows_its_traceback_and_does_not_block_the_corrected_rerun(synthetic_data, tiny_qwen2_audio,
                                                                                  tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "no_such_architecture"}')
    output = tmp_path / "o.jsonl"
    done = run_cli(*baseline_args(synthetic_data, "animal", output, "--model_path", str(broken), "--limit", "1"))
    # an exception from transformers is not our input check: it keeps its traceback (exit 1)
    assert done.returncode == 1 and "Traceback" in done.stderr
    meta = json.loads((tmp_path / "o.jsonl.meta.json").read_text())
    assert meta["sessions"][-1]["status"] == "failed" and meta["sessions"][-1]["error"]
    fixed = run_cli(*baseline_args(synthetic_data, "animal", output, "--model_path", str(tiny_qwen2_audio),
                                   "--limit", "1", "--max_new_tokens", "4"))
    assert fixed.returncode == 0, fixed.stderr
    assert "no item was written under its settings" in fixed.stderr
    assert len(read_jsonl(output)) == 1


def test_checks_that_need_no_model_come_before_it(animal_run, synthetic_data, tiny_qwen2_audio, tmp_path):
    same = ["--model_path", str(tiny_qwen2_audio), "--max_new_tokens", "24"]
    done = run_cli(*baseline_args(synthetic_data, "animal", animal_run["baseline"], *same))
    assert done.returncode == 0 and "all 6 selected item(s) are done; nothing to do" in done.stderr
    assert "loading" not in done.stderr
    duplicated = tmp_path / "dup.jsonl"
    copy_output(animal_run["baseline"], duplicated)
    lines = duplicated.read_text().splitlines()
    duplicated.write_text("\n".join(lines[:3] + [lines[1]] + lines[3:5]) + "\n")
    done = run_cli(*baseline_args(synthetic_data, "animal", duplicated, *same))
    assert done.returncode == 2 and f"{duplicated}:4: duplicate line" in done.stderr and "first on line 2" in done.stderr
    assert "loading" not in done.stderr
    mismatch = run_cli(*baseline_args(synthetic_data, "animal", animal_run["baseline"], "--model_path",
                                      str(tiny_qwen2_audio), "--max_new_tokens", "99"))
    assert mismatch.returncode == 2 and "loading" not in mismatch.stderr


def test_retry_errors_redoes_errored_items_in_place(animal_run, synthetic_data, tiny_qwen2_audio, tmp_path):
    output = tmp_path / "retry.jsonl"
    copy_output(animal_run["baseline"], output)
    records = read_jsonl(output)
    broken_id = records[2]["id"]
    records[2].update(error="audio: could not decode", runs_raw=[], runs_reasonings=[], runs_predictions=[],
                      runs_correct=[], runs_letter_logprobs=[])
    output.write_text("".join(json.dumps(r) + "\n" for r in records))
    args = baseline_args(synthetic_data, "animal", output, "--model_path", str(tiny_qwen2_audio),
                         "--max_new_tokens", "24")
    assert "nothing to do" in run_cli(*args).stderr  # without the flag an errored line counts as done
    done = run_cli(*args, "--retry_errors")
    assert done.returncode == 0, done.stderr
    assert "--retry_errors: redoing 1 errored line(s)" in done.stderr
    after = read_jsonl(output)
    assert [r["id"] for r in after] == [r["id"] for r in records]  # same order, nothing duplicated
    fixed = next(r for r in after if r["id"] == broken_id)
    assert fixed["error"] is None and len(fixed["runs_raw"]) == 1
    original = {r["id"]: r for r in read_jsonl(animal_run["baseline"])}
    assert all(r == original[r["id"]] for r in after if r["id"] != broken_id)


def test_conditioned_rerun_has_nothing_to_do(animal_run, synthetic_data, tiny_qwen2_audio, tmp_path):
    args = [CONDITIONED, "--manifest_file", str(synthetic_data["manifests"]["animal"]), "--input_results_file",
            str(animal_run["baseline"]), "--output_conditioned_file", str(tmp_path / "c.jsonl"),
            "--data_root", str(synthetic_data["data_root"]), "--model_path", str(tiny_qwen2_audio)]
    assert run_cli(*args).returncode == 0
    again = run_cli(*args)
    assert again.returncode == 0 and "nothing to do" in again.stderr and "loading" not in again.stderr


def test_sample_is_stratified_and_reproducible(synthetic_data, tiny_qwen2_audio, tmp_path):
    manifest = synthetic_data["manifests"]["emotion"]
    output = tmp_path / "sample.jsonl"
    done = run_cli(*baseline_args(synthetic_data, "emotion", output, "--model_path", str(tiny_qwen2_audio),
                                  "--max_new_tokens", "4", "--sample", "3", "--sample_seed", "1"))
    assert done.returncode == 0, done.stderr
    expected = [item.id for item in stratified_sample(load_manifest(manifest), 3, seed=1)]
    assert [r["id"] for r in read_jsonl(output)] == expected


def test_status_lists_every_output(animal_run, tmp_path):
    folder = tmp_path / "output"
    (folder / "a").mkdir(parents=True)
    copy_output(animal_run["baseline"], folder / "a" / "baseline_animal.jsonl")
    # an unfinished file from a killed session with another max_new_tokens: interrupted, differs
    partial = folder / "a" / "baseline_other.jsonl"
    copy_output(animal_run["baseline"], partial)
    partial.write_text("".join(partial.read_text().splitlines(keepends=True)[:4]))
    meta = json.loads((folder / "a" / "baseline_other.jsonl.meta.json").read_text())
    meta["fingerprint"]["generation"]["max_new_tokens"] = 99
    loaded = partial.stat().st_mtime - 20
    meta["sessions"][-1].update(status="running", expected_lines=6, lines_at_start=2, model_loaded=loaded)
    (folder / "a" / "baseline_other.jsonl.meta.json").write_text(json.dumps(meta))
    done = run_cli("-m", "audiofaith", "status", str(folder))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:4] == ["file", "model", "stage", "done/expected"]
    finished = next(l for l in lines if l.startswith("a/baseline_animal.jsonl"))
    assert finished.split()[1:9] == ["qwen2_audio", "baseline", "(cot)", "6/6", "6/6", "0",
                                     str(sum(p is None for r in read_jsonl(animal_run["baseline"])
                                             for p in r["runs_predictions"])), "completed"]
    unfinished = next(l for l in lines if l.startswith("a/baseline_other.jsonl"))
    assert "4/6" in unfinished and "interrupted" in unfinished
    assert "0m20s" not in unfinished  # interrupted, not running: no ETA (tests/test_new_user.py: a running one has)
    assert "generation.max_new_tokens=99" in unfinished


def test_help_lists_every_family_and_survives_a_closed_pipe():
    helped = run_cli(INTERVENE, "--help")
    assert helped.returncode == 0
    for option in ("--perturbations", "--filler_fractions", "--positions", "--hint_letters", "--regenerate_rest"):
        assert option in helped.stdout, option
    assert "audio options (with --kind audio)" in helped.stdout
    unknown = run_cli("-m", "audiofaith", "frobnicate")
    assert unknown.returncode == 2 and "unknown command 'frobnicate'" in unknown.stderr
    for command in ([INTERVENE, "--help"], ["-m", "audiofaith", "--help"]):
        process = subprocess.Popen([sys.executable, *command], cwd=REPO, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        process.stdout.close()  # `| head` that has already exited
        stderr = process.stderr.read()
        process.wait(timeout=60)
        assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_progress_lines_without_a_terminal(animal_run):
    assert "baseline qwen2_audio: 6/6 items (100%)" in animal_run["log"]
    assert "\r" not in animal_run["log"]  # no tqdm bar, ours or transformers' "Loading weights"


def test_missing_espeak_names_the_conditions_and_the_way_around(animal_run, synthetic_data, tmp_path, monkeypatch):
    monkeypatch.setattr("audiofaith.audio.tts.ESPEAK", str(tmp_path / "no-espeak-ng"))  # absent, installed or not
    done = run_cli(INTERVENE, "--kind", "audio", "--manifest_file", str(synthetic_data["manifests"]["animal"]),
                   "--input_results_file", str(animal_run["baseline"]), "--output_file", str(tmp_path / "a.jsonl"),
                   "--data_root", str(synthetic_data["data_root"]), "--model_path", str(tmp_path / "none"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "inject_correct, inject_wrong need speech" in done.stderr
    assert "--perturbations silence noise_rms noise_snr mask swap no_audio" in done.stderr


def test_prepare_sakura_check(synthetic_data, tmp_path):
    out = tmp_path / "manifests"
    sakura = str(synthetic_data["data_root"] / "SAKURA")
    common = ["scripts/prepare_sakura.py", "--sakura_root", sakura, "--data_root", str(synthetic_data["data_root"]),
              "--output_dir", str(out)]
    assert run_cli(*common).returncode == 0
    same = run_cli(*common, "--check")
    assert same.returncode == 0 and "match the clone" in same.stderr
    manifest = out / "animal" / "sakura_manifest.jsonl"
    lines = manifest.read_text().splitlines()
    edited = json.loads(lines[0])
    edited["answer"] = "D" if edited["answer"] != "D" else "C"
    changed = "\n".join([json.dumps(edited)] + lines[1:-1]) + "\n"
    manifest.write_text(changed)
    differs = run_cli(*common, "--check")
    assert differs.returncode == 1
    assert "animal" in differs.stderr and "1 item(s) differ in answer" in differs.stderr
    assert "1 item(s) only in the clone" in differs.stderr
    assert manifest.read_text() == changed  # nothing written


def test_run_sakura_uses_the_project_venv():
    venv_python = REPO / ".venv" / "bin" / "python"
    require(venv_python.exists(), "no .venv in this checkout (make setup creates it)")
    env = dict(os.environ, PATH="/usr/bin:/bin", TRACKS="animal", EXTRA_ARGS="--help")
    env.pop("PYTHON", None)
    done = subprocess.run(["bash", "scripts/run_sakura.sh", "qwen2_audio", "baseline"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"+ {venv_python} " in done.stderr
    env["PYTHON"] = sys.executable
    done = subprocess.run(["bash", "scripts/run_sakura.sh", "qwen2_audio", "baseline"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and f"+ {sys.executable} " in done.stderr
