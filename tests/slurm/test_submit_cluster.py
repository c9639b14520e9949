"""``audiofaith submit`` on a real one-node SLURM (scripts/slurm_local.sh): a tiny Qwen2-Audio over
the Animal track of ../shared/sakura-sample-mixed, baseline in 2 shards, conditioned, early
answering and the report, equal to a one-process run; one array task cancelled mid-run and the
study resubmitted, another requeued mid-run, with nothing lost or duplicated."""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path

import pytest

from audiofaith.store.jsonl import read_jsonl
from audiofaith.store.provenance import sidecar_path
from audiofaith.store.sharding import line_key
from audiofaith.runners.slurm import load_plan, stage_output
from tests.conftest import SHARED, run_cli

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

#: the float tolerance of docs/scale.md: letter log-probabilities of a sharded run vs one process
FLOAT_TOLERANCE = 1e-4
STAGE_ARGS = ["--batch_size", "1"]
BASELINE_ARGS = ["--max_new_tokens", "16"]


def same(sharded, single, where: str = "") -> None:
    """Equal JSON values; floats within FLOAT_TOLERANCE."""
    if isinstance(single, float) or isinstance(sharded, float):
        assert math.isclose(sharded, single, rel_tol=0, abs_tol=FLOAT_TOLERANCE), where
    elif isinstance(single, dict):
        assert isinstance(sharded, dict) and sharded.keys() == single.keys(), where
        for key in single:
            same(sharded[key], single[key], f"{where}.{key}")
    elif isinstance(single, list):
        assert isinstance(sharded, list) and len(sharded) == len(single), where
        for index, (left, right) in enumerate(zip(sharded, single)):
            same(left, right, f"{where}[{index}]")
    else:
        assert sharded == single, where


def lines_in(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_for_empty_queue(job_ids, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        queued = subprocess.run(["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i %T"], capture_output=True,
                                text=True).stdout.strip()
        if not queued:
            return
        time.sleep(1)
    raise AssertionError(f"jobs still queued after {timeout} s:\n{queued}")


def slurm(*args: str) -> None:
    done = subprocess.run(list(args), capture_output=True, text=True)
    assert done.returncode == 0, f"{args}: {done.stderr}"


def let_start_now(job: str) -> bool:
    """A requeued job waits (BeginTime) before it may start again: ask once that it start now.
    True once it runs (or has left the queue). One quick check, so a polling loop keeps polling."""
    reason = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T %r"], capture_output=True, text=True).stdout
    if not reason.strip() or reason.startswith("RUNNING"):
        return True
    if "BeginTime" in reason:
        subprocess.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], capture_output=True)
    return False


def start_now(job: str, timeout: float = 30) -> None:
    """Wait until the requeued ``job`` runs (or has left the queue), letting it start at once."""
    deadline = time.time() + timeout
    while time.time() < deadline and not let_start_now(job):
        time.sleep(0.5)


@pytest.fixture(scope="module")
def animal_manifest(tmp_path_factory) -> Path:
    from audiofaith.benchmarks.sakura import prepare_sakura

    out = tmp_path_factory.mktemp("manifests") / "sakura"
    return prepare_sakura(SHARED / "sakura-sample-mixed", out, SHARED, tracks=["animal"])["animal"]


def one_process_run(manifest: Path, checkpoint: Path, out: Path) -> dict:
    common = ["--model", "qwen2_audio", "--data_root", str(SHARED), "--model_path", str(checkpoint), *STAGE_ARGS]
    files = {stage: Path(stage_output(str(out), "qwen2_audio", "animal", stage))
             for stage in ("baseline", "conditioned", "early_answering")}
    steps = [["baseline", *common, "--input", str(manifest), "--output", str(files["baseline"]), *BASELINE_ARGS],
             ["conditioned", *common, "--manifest_file", str(manifest), "--input_results_file", str(files["baseline"]),
              "--output_conditioned_file", str(files["conditioned"])],
             ["intervene", "--kind", "early_answering", *common, "--manifest_file", str(manifest),
              "--input_results_file", str(files["baseline"]), "--output_file", str(files["early_answering"])]]
    for step in steps:
        done = run_cli("-m", "audiofaith", *step)
        assert done.returncode == 0, done.stderr[-3000:]
    done = run_cli("-m", "audiofaith", "report", str(out), "--manifest_dir", str(manifest.parent))
    assert done.returncode == 0, done.stderr[-3000:]
    return files


def test_submitted_study_equals_one_process_run_after_a_cancel_and_a_requeue(animal_manifest, tiny_qwen2_audio,
                                                                              tmp_path):
    single = one_process_run(animal_manifest, tiny_qwen2_audio, tmp_path / "single")
    out = tmp_path / "slurm_run"
    submit = ["-m", "audiofaith", "submit", "--model", "qwen2_audio", "--manifest", str(animal_manifest),
              "--data_root", str(SHARED), "--model_path", str(tiny_qwen2_audio), "--output_dir", str(out),
              "--stages", "baseline,conditioned,early_answering,report", "--shards", "2",
              "--sbatch", "--cpus-per-task=1 --time=00:10:00", "--args", " ".join(STAGE_ARGS),
              "--baseline_args", " ".join(BASELINE_ARGS)]
    done = run_cli(*submit)
    assert done.returncode == 0, done.stderr
    plan = load_plan(out)
    baseline = plan.stages[0]
    assert [stage.name for stage in plan.stages] == ["baseline", "conditioned", "early_answering"]
    shard_files = [Path(task.shard_output) for task in baseline.tasks]

    # mid-run (some lines written, not all 8): cancel task 0, requeue task 1 (and let it start at once).
    # The shards run side by side and each writes its 8 lines in about 2 s, so nothing in this loop
    # may block: waiting here for task 1's restart once let task 0 finish unseen.
    cancelled = requeued = None
    deadline = time.time() + 180
    while (cancelled is None or requeued is None) and time.time() < deadline:
        if cancelled is None and 1 <= lines_in(shard_files[0]) < 8:
            slurm("scancel", f"{baseline.array_job}_0")
            cancelled = lines_in(shard_files[0])
        if requeued is None and 1 <= lines_in(shard_files[1]) < 8:
            slurm("scontrol", "requeue", f"{baseline.array_job}_1")
            requeued = lines_in(shard_files[1])
        if requeued is not None:
            let_start_now(f"{baseline.array_job}_1")
        time.sleep(0.1)
    assert cancelled is not None and requeued is not None, "never saw the baseline shards mid-run"
    start_now(f"{baseline.array_job}_1")
    wait_for_empty_queue(plan.job_ids())  # task 1 finishes after its requeue; the dependents of task 0 are cancelled
    status = run_cli("-m", "audiofaith", "status", str(out))
    assert status.returncode == 0
    assert "left: " in status.stdout and "baseline animal shard 0/2" in status.stdout
    assert "report" in status.stdout.split("left: ")[1]
    assert not Path(stage_output(str(out), "qwen2_audio", "animal", "baseline")).exists()  # never merged

    # resubmit the same command: task 0 resumes from its own lines, task 1 has nothing left to do
    done = run_cli(*submit)
    assert done.returncode == 0, done.stderr
    wait_for_empty_queue(load_plan(out).job_ids())

    for stage, reference in single.items():
        merged = Path(stage_output(str(out), "qwen2_audio", "animal", stage))
        got, want = read_jsonl(merged), read_jsonl(reference)
        keys = [line_key(line) for line in got]
        assert len(keys) == len(set(keys)), f"{stage}: duplicated lines"
        assert [line["id"] for line in got] == [line["id"] for line in want], stage
        for index, (left, right) in enumerate(zip(got, want)):
            same(left, right, f"{stage}:{index}")
    for shard_file, lines_then in ((shard_files[0], cancelled), (shard_files[1], requeued)):
        sessions = json.loads(sidecar_path(shard_file).read_text())["sessions"]
        resumed = [session for session in sessions if session.get("lines_at_start", 0) >= lines_then]
        assert sessions[-1]["status"] == "completed"
        assert len(sessions) >= 2 and resumed, sessions  # a later session started from the lines written before
    assert "DUE TO JOB REQUEUE" in (out / "slurm" / "logs" / f"baseline_{baseline.array_job}_1.log").read_text()
    for table in ("summary.csv", "aoc.csv"):
        assert (out / "report" / table).read_text() == (tmp_path / "single" / "report" / table).read_text(), table
    status = run_cli("-m", "audiofaith", "status", str(out))
    assert "left: nothing, the study is complete" in status.stdout, status.stdout
