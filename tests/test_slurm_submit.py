"""SLURM without a cluster: array tasks take their shard, `submit` writes readable scripts and
chains them with afterok (a fake sbatch records the calls), `status` shows the jobs and what is
left. The real cluster runs in tests/slurm (make test-slurm)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from audiofaith.errors import UserError
from audiofaith.store.jsonl import read_jsonl
from audiofaith.runners.slurm import (SubmitOptions, _join_passthrough, load_plan, parse_stages, plan_study,
                                      read_sbatch_profile, write_scripts)
from audiofaith.store.sharding import is_shard_file, slurm_array_shard
from tests.conftest import run_cli

WRAPPER = "interface/Qwen2Audio_wrapper.py"


def array_env(monkeypatch, task: int, count: int, low: int = 0, high=None) -> None:
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", str(task))
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", str(count))
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", str(low))
    monkeypatch.setenv("SLURM_ARRAY_TASK_MAX", str(count - 1 + low if high is None else high))


def test_array_task_is_a_shard_and_bad_arrays_are_refused(monkeypatch):
    array_env(monkeypatch, 2, 4)
    assert slurm_array_shard() == (2, 4)
    array_env(monkeypatch, 0, 1)
    assert slurm_array_shard() is None  # one task: the whole manifest
    array_env(monkeypatch, 3, 4, low=1)  # --array=1-4: ids cannot be shards
    with pytest.raises(UserError, match="--array=0-3"):
        slurm_array_shard()
    monkeypatch.setenv("AUDIOFAITH_ARRAY_SHARDS", "0")  # an array over manifests, not items
    assert slurm_array_shard() is None
    assert is_shard_file("x/baseline_a.shard-1-of-2.jsonl") and not is_shard_file("x/baseline_a.jsonl")


@pytest.mark.slow
def test_array_tasks_write_shards_the_last_merges_and_report_and_status_read_the_merge(
        synthetic_data, tiny_qwen2_audio, tmp_path, monkeypatch):
    manifest = synthetic_data["manifests"]["gender"]
    common = ["--input", str(manifest), "--data_root", str(synthetic_data["data_root"]),
              "--model_path", str(tiny_qwen2_audio), "--max_new_tokens", "8", "--batch_size", "1"]
    single = tmp_path / "single" / "qwen2_audio" / "gender" / "baseline_gender.jsonl"
    assert run_cli(WRAPPER, "--output", str(single), *common).returncode == 0
    out = tmp_path / "array" / "qwen2_audio" / "gender"
    output = out / "baseline_gender.jsonl"
    for task in (1, 0):
        array_env(monkeypatch, task, 2)
        done = run_cli(WRAPPER, "--output", str(output), *common)
        assert done.returncode == 0, done.stderr
        assert f"SLURM array task {task} of 2" in done.stderr
        if task == 1:
            assert (out / "baseline_gender.shard-1-of-2.jsonl").is_file() and not output.exists()
    assert output.read_text() == single.read_text()  # the last task merged, in canonical order
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
    monkeypatch.delenv("SLURM_ARRAY_TASK_COUNT")

    report = run_cli("-m", "audiofaith", "report", str(tmp_path / "array"), "--manifest_dir", str(manifest.parent))
    assert report.returncode == 0, report.stderr
    assert "2 shard file(s)" in report.stderr
    summary = (tmp_path / "array" / "report" / "summary.csv").read_text().splitlines()
    header = summary[0].split(",")
    baseline_rows = [dict(zip(header, row.split(","))) for row in summary[1:] if ",baseline_cot," in row]
    assert sum(int(row["n"]) for row in baseline_rows if row["hop"] != "all") == len(read_jsonl(manifest))

    status = run_cli("-m", "audiofaith", "status", str(tmp_path / "array"))
    merged_line = next(line for line in status.stdout.splitlines() if line.startswith("qwen2_audio/gender/baseline_gender.jsonl"))
    n = len(read_jsonl(manifest))
    assert f"{n}/{n}" in merged_line.split()


def fake_manifests(tmp_path: Path) -> list:
    paths = []
    for subset in ("animal", "gender"):
        path = tmp_path / "processed_input" / "sakura" / subset / "sakura_manifest.jsonl"
        path.parent.mkdir(parents=True)
        path.write_text("{}\n")
        paths.append(path)
    return paths


def test_stages_and_passthrough_options():
    assert parse_stages("report,early_answering,baseline,conditioned") == [
        "baseline", "conditioned", "early_answering", "report"]
    with pytest.raises(UserError, match="unknown stage"):
        parse_stages("baseline,warp_drive")
    assert _join_passthrough(["--sbatch", "--time=1:00:00 --gres=gpu:1", "--shards", "2"]) == [
        "--sbatch=--time=1:00:00 --gres=gpu:1", "--shards", "2"]


def test_dry_run_writes_scripts_that_run_the_right_shard(tmp_path):
    manifests = fake_manifests(tmp_path)
    profile = tmp_path / "mig.profile"
    profile.write_text("# a 40 GB MIG slice\n#SBATCH --gres=gpu:nvidia_h100_80gb_hbm3_3g.40gb:1\n"
                       "--cpus-per-task=3 --mem=64G\n--time=04:00:00  # AF3\n")
    out = tmp_path / "out"
    done = run_cli("-m", "audiofaith", "submit", "--model", "af3", "--manifest", str(manifests[0]), "--manifest",
                   str(manifests[1]), "--data_root", "data/", "--output_dir", str(out), "--shards", "2",
                   "--stages", "report,conditioned,baseline,early_answering", "--sbatch_profile", str(profile),
                   "--sbatch", "--account=proj --partition=gpu", "--baseline_args", "--max_new_tokens 1024",
                   "--dry_run")
    assert done.returncode == 0, done.stderr
    assert "dry run: nothing submitted" in done.stdout
    assert "task 3: gender shard 1/2" in done.stdout
    plan = load_plan(out)
    assert plan.submitted is None and [stage.name for stage in plan.stages] == [
        "baseline", "conditioned", "early_answering"]
    script = (out / "slurm" / "baseline.sbatch").read_text()
    for line in ("#SBATCH --array=0-3", "#SBATCH --requeue", "#SBATCH --open-mode=append",
                 f"#SBATCH --output={out}/slurm/logs/baseline_%A_%a.log",
                 "#SBATCH --gres=gpu:nvidia_h100_80gb_hbm3_3g.40gb:1", "#SBATCH --cpus-per-task=3",
                 "#SBATCH --mem=64G", "#SBATCH --time=04:00:00", "#SBATCH --account=proj", "#SBATCH --partition=gpu"):
        assert line in script.splitlines(), line
    assert read_sbatch_profile(profile) == ["--gres=gpu:nvidia_h100_80gb_hbm3_3g.40gb:1", "--cpus-per-task=3",
                                            "--mem=64G", "--time=04:00:00"]
    assert "source " in script or "no virtual environment" in script
    assert (out / "slurm" / "logs").is_dir()
    report = (out / "slurm" / "report.sbatch").read_text()
    assert f"-m audiofaith report {out} --manifest_dir {tmp_path / 'processed_input' / 'sakura'}" in report

    # the scripts run as written: task 3 of conditioned is gender, shard 1/2, reading gender's baseline
    options = SubmitOptions(model="af3", manifests=[str(m) for m in manifests], data_root="data/",
                            output_dir=str(out), stages=["baseline", "conditioned"], shards=2, python="echo",
                            activate=":", args=["--batch_size", "4"])
    plan = plan_study(options)
    write_scripts(options, plan)
    ran = subprocess.run(["bash", str(out / "slurm" / "conditioned.sbatch")], capture_output=True, text=True,
                         env=dict(os.environ, SLURM_ARRAY_TASK_ID="3"))
    assert ran.returncode == 0, ran.stderr
    words = ran.stdout.splitlines()[-1].split()
    gender = out / "af3" / "gender"
    assert words[:3] == ["-m", "audiofaith", "conditioned"]
    for flag, value in (("--manifest_file", str(manifests[1].resolve())),
                        ("--input_results_file", str(gender / "baseline_gender.jsonl")),
                        ("--output_conditioned_file", str(gender / "conditioned_gender.jsonl")),
                        ("--shard", "1/2"), ("--batch_size", "4")):
        assert words[words.index(flag) + 1] == value, flag
    merge = (out / "slurm" / "conditioned_merge.sbatch").read_text()
    assert merge.count("-m audiofaith merge") == 2 and "--num_shards 2" in merge
    done = run_cli("-m", "audiofaith", "submit", "--model", "af3", "--manifest", str(manifests[0]), "--output_dir",
                   str(tmp_path / "other"), "--stages", "baseline", "--no_requeue", "--dry_run")
    assert done.returncode == 0, done.stderr
    assert "#SBATCH --no-requeue" in (tmp_path / "other" / "slurm" / "baseline.sbatch").read_text().splitlines()


def executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_submit_chains_arrays_with_afterok_and_status_shows_the_jobs(tmp_path, monkeypatch):
    manifests = fake_manifests(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "sbatch_calls"
    executable(bin_dir / "sbatch", f'#!/bin/bash\necho "$*" >> {calls}\nn=$(wc -l < {calls})\necho $((100 + n))\n')
    executable(bin_dir / "squeue", "#!/bin/bash\nprintf '101_0|RUNNING\\n101_[1-3]|PENDING\\n102|PENDING\\n'\n")
    executable(bin_dir / "sacct", "#!/bin/bash\necho 'Slurm accounting storage is disabled' >&2\nexit 1\n")
    executable(bin_dir / "scontrol", "#!/bin/bash\nexit 1\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "out"
    submit = ["-m", "audiofaith", "submit", "--model", "qwen2_audio", "--manifest", str(manifests[0]), "--manifest",
              str(manifests[1]), "--output_dir", str(out), "--shards", "2",
              "--stages", "baseline,conditioned,early_answering,report"]
    done = run_cli(*submit)
    assert done.returncode == 0, done.stderr
    lines = calls.read_text().splitlines()
    slurm = out / "slurm"
    assert lines == [
        f"--parsable {slurm}/baseline.sbatch",  # 101
        f"--parsable --dependency=afterok:101 --kill-on-invalid-dep=yes {slurm}/baseline_merge.sbatch",  # 102
        f"--parsable --dependency=afterok:102 --kill-on-invalid-dep=yes {slurm}/conditioned.sbatch",  # 103
        f"--parsable --dependency=afterok:103 --kill-on-invalid-dep=yes {slurm}/conditioned_merge.sbatch",  # 104
        f"--parsable --dependency=afterok:102 --kill-on-invalid-dep=yes {slurm}/early_answering.sbatch",  # 105
        f"--parsable --dependency=afterok:105 --kill-on-invalid-dep=yes {slurm}/early_answering_merge.sbatch",
        f"--parsable --dependency=afterok:102:104:106 --kill-on-invalid-dep=yes {slurm}/report.sbatch"]
    plan = load_plan(out)
    assert plan.submitted and plan.stages[0].array_job == "101" and plan.report_job == "107"

    status = run_cli("-m", "audiofaith", "status", str(out))
    assert status.returncode == 0, status.stderr
    text = status.stdout
    assert "baseline (array job 101, merge job 102: PENDING)" in text
    assert "task 0 animal shard 0/2: job 101_0 RUNNING; output not started" in text
    assert "task 3 gender shard 1/2: job 101_3 PENDING; output not started" in text
    left = text.split("left: ")[1]
    assert "baseline animal shard 0/2" in left and "conditioned merge of conditioned_gender.jsonl" in left
    assert left.rstrip().endswith("report")

    # jobs still queued: a second submit is refused instead of racing them
    again = run_cli(*submit)
    assert again.returncode == 2 and "still queued or running (101_0, 101_[1-3], 102)" in again.stderr


@pytest.mark.slow
def test_a_shard_with_no_items_finishes_empty_and_merges(synthetic_data, tiny_qwen2_audio, tmp_path):
    """More shards than items (--shards N over a small manifest): the empty shard completes."""
    manifest = synthetic_data["manifests"]["gender"]
    n = len(read_jsonl(manifest))
    output = tmp_path / "baseline_gender.jsonl"
    for k in range(n + 1):  # shard n of n + 1 selects nothing
        done = run_cli(WRAPPER, "--input", str(manifest), "--output", str(output), "--shard", f"{k}/{n + 1}",
                       "--data_root", str(synthetic_data["data_root"]), "--model_path", str(tiny_qwen2_audio),
                       "--max_new_tokens", "2", "--batch_size", "4")
        assert done.returncode == 0, done.stderr[-2000:]
    empty = output.with_name(f"baseline_gender.shard-{n}-of-{n + 1}.jsonl")
    assert empty.read_text() == ""
    merged = run_cli("-m", "audiofaith", "merge", "--output", str(output), "--manifest_file", str(manifest))
    assert merged.returncode == 0, merged.stderr
    assert [line["id"] for line in read_jsonl(output)] == [item["id"] for item in read_jsonl(manifest)]
