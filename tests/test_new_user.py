"""What a new user tripped on (issue 27), run as a user types the commands: folders given as files,
pilots that run everything, an unfinished baseline, error reasons, one null count, short argparse
errors, help texts, messages, and a full disk."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from audiofaith.backends import MODELS
from audiofaith.store.jsonl import AppendWriter, read_jsonl
from tests.conftest import REPO, run_cli

WRAPPER = "interface/Qwen2Audio_wrapper.py"
CONDITIONED = "interface/Qwen2Audio_conditioned.py"
INTERVENE = "interface/Qwen2Audio_intervene.py"


def baseline_args(data, output, *extra, track="animal"):
    return [WRAPPER, "--input", str(data["manifests"][track]), "--output", str(output),
            "--data_root", str(data["data_root"]), *extra]


def conditioned_args(data, baseline, output, *extra):
    return [CONDITIONED, "--manifest_file", str(data["manifests"]["animal"]), "--input_results_file", str(baseline),
            "--output_conditioned_file", str(output), "--data_root", str(data["data_root"]), *extra]


def copy_output(source, target, keep_lines=None):
    lines = Path(source).read_text().splitlines(keepends=True)
    Path(target).write_text("".join(lines if keep_lines is None else lines[:keep_lines]))
    shutil.copy(f"{source}.meta.json", f"{target}.meta.json")


def error_lines(stderr: str) -> list:
    return [line for line in stderr.strip().splitlines() if line.strip()]


# -- 1. a folder as --output / --input -------------------------------------------------------------

def test_a_folder_as_output_or_input_is_one_line_saying_what_to_pass(synthetic_data, tmp_path):
    nowhere = ["--model_path", str(tmp_path / "no-model")]
    not_yet = f"{tmp_path / 'o1'}/"
    done = run_cli(*baseline_args(synthetic_data, not_yet, *nowhere))
    assert done.returncode == 2 and len(error_lines(done.stderr)) == 1, done.stderr
    assert f"--output {not_yet}: a folder, not a file" in done.stderr
    assert f"e.g. --output {tmp_path / 'o1' / 'baseline.jsonl'}" in done.stderr
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o1.meta.json").exists()

    existing = tmp_path / "o2"
    existing.mkdir()
    done = run_cli(*baseline_args(synthetic_data, existing, *nowhere))
    assert done.returncode == 2 and len(error_lines(done.stderr)) == 1, done.stderr
    assert f"--output {existing}: a folder, not a file" in done.stderr and "Traceback" not in done.stderr

    folder = synthetic_data["manifests"]["animal"].parent
    done = run_cli(WRAPPER, "--input", str(folder), "--output", str(tmp_path / "b.jsonl"), *nowhere)
    assert done.returncode == 2 and len(error_lines(done.stderr)) == 1, done.stderr
    assert f"{folder}: a folder, not a manifest file" in done.stderr and "sakura_manifest.jsonl" in done.stderr

    done = run_cli(*conditioned_args(synthetic_data, tmp_path, tmp_path / "c.jsonl", *nowhere))
    assert done.returncode == 2 and f"{tmp_path}: a folder, not a baseline results file" in done.stderr
    done = run_cli(*conditioned_args(synthetic_data, tmp_path / "b.jsonl", existing, *nowhere))
    assert done.returncode == 2 and f"--output_conditioned_file {existing}: a folder" in done.stderr


# -- 2. --sample >= the selection ------------------------------------------------------------------

def test_a_sample_as_large_as_the_manifest_warns(synthetic_data, tmp_path):
    nowhere = ["--model_path", str(tmp_path / "no-model")]  # stops before any model loads
    done = run_cli(*baseline_args(synthetic_data, tmp_path / "b.jsonl", "--sample", "100000", *nowhere))
    assert "--sample 100000 is not smaller than the 6 items of" in done.stderr and "every item runs" in done.stderr
    done = run_cli(*baseline_args(synthetic_data, tmp_path / "b.jsonl", "--sample", "2", *nowhere))
    assert done.returncode == 2 and "is not smaller than" not in done.stderr


# -- 3. conditioned on an unfinished baseline; status against the manifest --------------------------

def test_conditioned_on_an_unfinished_baseline_warns_and_status_shows_what_it_lacks(animal_run, synthetic_data,
                                                                                      tiny_qwen2_audio, tmp_path):
    baseline = tmp_path / "baseline_animal.jsonl"
    copy_output(animal_run["baseline"], baseline, keep_lines=2)
    meta = json.loads(Path(f"{baseline}.meta.json").read_text())
    meta["sessions"][-1]["status"] = "interrupted"
    Path(f"{baseline}.meta.json").write_text(json.dumps(meta))
    output = tmp_path / "conditioned_animal.jsonl"
    done = run_cli(*conditioned_args(synthetic_data, baseline, output, "--model_path", str(tiny_qwen2_audio)))
    assert done.returncode == 0, done.stderr
    assert "4 selected item(s) have no baseline result" in done.stderr
    assert "the baseline covers 2 of the 6 selected items" in done.stderr
    assert "says its last session was interrupted" in done.stderr and "Finish the baseline first" in done.stderr
    status = run_cli("-m", "audiofaith", "status", str(tmp_path))
    row = next(line for line in status.stdout.splitlines() if line.startswith("conditioned_animal.jsonl"))
    assert row.split()[3:5] == ["2/2", "2/6"], row  # done/expected lines, items against the manifest
    assert "completed; its baseline lacked 4 of 6 items" in row
    base_row = next(line for line in status.stdout.splitlines() if line.startswith("baseline_animal.jsonl"))
    assert "interrupted" in base_row and "2/6" in base_row


# -- 5, 6. error reasons once with their count; one labelled null count -----------------------------

def test_error_reasons_once_with_counts_and_the_null_count_status_shows(animal_run, synthetic_data,
                                                                         tiny_qwen2_audio, tmp_path):
    baseline = tmp_path / "baseline_animal.jsonl"
    copy_output(animal_run["baseline"], baseline)
    rows = read_jsonl(baseline)
    for row in rows[:3]:  # three runs without reasoning: three error lines with one reason
        row["runs_reasonings"] = [""]
    baseline.write_text("".join(json.dumps(row) + "\n" for row in rows))
    output = tmp_path / "conditioned_animal.jsonl"
    done = run_cli(*conditioned_args(synthetic_data, baseline, output, "--model_path", str(tiny_qwen2_audio)))
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("the baseline run has no reasoning to inject") == 1
    assert "3 × the baseline run has no reasoning to inject" in done.stderr
    lines = read_jsonl(output)
    nulls = sum(1 for line in lines if line["error"] is None and line["prediction"] is None)
    assert f"6 line(s), 3 with an error, {nulls} null answers (no letter, on lines without an error)" in done.stderr
    counts = json.loads(Path(f"{output}.meta.json").read_text())["counts"]
    assert counts["null_answers"] == nulls and counts["errors"] == 3  # errors are not null answers as well
    status = run_cli("-m", "audiofaith", "status", str(tmp_path))
    header, row = status.stdout.splitlines()[0], next(line for line in status.stdout.splitlines()
                                                       if line.startswith("conditioned_animal.jsonl"))
    assert "null answers" in header and "null answers (no letter, on lines without an error)" in status.stdout
    assert row.split()[5:7] == ["3", str(nulls)], row


def test_swaps_without_a_clip_are_listed_once_with_their_likely_cause(animal_run, synthetic_data,
                                                                     tiny_qwen2_audio, tmp_path):
    # a pilot manifest of two clips: no other clip of the same track and hop to swap in
    manifest = tmp_path / "pilot_manifest.jsonl"
    rows = read_jsonl(synthetic_data["manifests"]["animal"])
    pilot = [rows[0], next(row for row in rows if row["hop"] != rows[0]["hop"])]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in pilot))
    baseline = tmp_path / "baseline.jsonl"
    baseline.write_text("".join(json.dumps(row) + "\n" for row in read_jsonl(animal_run["baseline"])
                                if row["id"] in {p["id"] for p in pilot}))
    output = tmp_path / "audio_animal.jsonl"
    done = run_cli(INTERVENE, "--kind", "audio", "--manifest_file", str(manifest),
                   "--input_results_file", str(baseline), "--output_file", str(output),
                   "--data_root", str(synthetic_data["data_root"]), "--model_path", str(tiny_qwen2_audio),
                   "--perturbations", "swap", "--modes", "fixed_cot", "--cot_max_new_tokens", "8")
    assert done.returncode == 0, done.stderr
    errors = [line["error"] for line in read_jsonl(output) if line["error"]]
    assert len(errors) == 2
    for reason, count in Counter(errors).items():
        assert done.stderr.count(reason) == 1 and f"{count} × {reason}" in done.stderr
    assert "(2 swap line(s) found no clip to swap in" in done.stderr
    assert "so a small sample is not the cause" in done.stderr and "a small manifest" in done.stderr


def test_reason_lines_group_and_cap():
    from audiofaith.store.run_summary import SHOWN_REASONS, reason_lines

    reasons = Counter({("full", f"reason {i}"): i + 1 for i in range(SHOWN_REASONS + 2)})
    lines = reason_lines(reasons)
    assert lines[0] == f"  {SHOWN_REASONS + 2} × reason {SHOWN_REASONS + 1}"
    assert lines[-1] == "  … and 2 other reason(s) on 3 line(s) (the `error` field)"
    assert not any("swap" in line for line in lines)
    swap = reason_lines(Counter({("swap", "no other item"): 4}))
    assert swap[0] == "  4 × no other item" and swap[1].startswith("  (4 swap line(s) found no clip to swap in")


# -- 7. help and docs ---------------------------------------------------------------------------------

def test_help_describes_the_demo_that_runs_without_markup():
    top = run_cli("-m", "audiofaith", "--help")
    assert "known-answer checkpoints" in top.stdout and "meaningless" not in top.stdout
    demo = run_cli("-m", "audiofaith", "demo", "--help")
    assert demo.returncode == 0 and "``" not in demo.stdout and "faithful and posthoc" in demo.stdout


def test_the_readme_says_what_run_sakura_runs():
    script = (REPO / "scripts" / "run_benchmark.sh").read_text()
    defaults = re.search(r"STAGES=\(([a-z ]+)\)", script).group(1).split()
    readme = (REPO / "README.md").read_text()
    line = next(line for line in readme.splitlines() if line.startswith("scripts/run_sakura.sh af3 "))
    assert "all stages" not in line
    assert line.split("#")[1].strip() == f"all four tracks: {', '.join(defaults)}"
    assert "The interventions and the report are separate commands" in readme


# -- 9. messages --------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, wanted", [
    (["-m", "audiofaith", "baseline", "--model", "qwen2audio", "--input", "m", "--output", "o"],
     "argument --model: invalid choice: 'qwen2audio' (choose from " + ", ".join(sorted(MODELS)) + "); did you mean "
     "qwen2_audio?"),
    ([INTERVENE, "--kind", "early_answer", "--manifest_file", "m", "--input_results_file", "b", "--output_file", "o"],
     "did you mean early_answering?"),
    ([WRAPPER, "--input", "m", "--output", "o", "--batch_size", "0"],
     "argument --batch_size: must be a positive integer or 'auto', got '0'"),
])
def test_argparse_errors_are_the_usage_line_and_the_error(args, wanted):
    done = run_cli(*args, subprocess_=True)
    assert done.returncode == 2
    lines = error_lines(done.stderr)
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith("usage: ") and lines[0].endswith("--help)")
    assert wanted in lines[1]


def test_an_unknown_command_suggests_the_close_one():
    done = run_cli("-m", "audiofaith", "stauts")
    assert done.returncode == 2 and "did you mean status?" in done.stderr


def test_a_data_root_one_level_too_deep_suggests_the_right_one(synthetic_data, tmp_path):
    deep = synthetic_data["data_root"] / "SAKURA"
    done = run_cli(WRAPPER, "--input", str(synthetic_data["manifests"]["animal"]), "--output",
                   str(tmp_path / "b.jsonl"), "--data_root", str(deep), "--model_path", str(tmp_path / "none"))
    assert done.returncode == 2
    assert f"they are there one folder up: pass --data_root {synthetic_data['data_root']}" in done.stderr


def test_prepare_benchmark_missing_audio_names_skip_audio_check(tmp_path):
    from tests.test_benchmarks import prepare, write_metadata

    meta = write_metadata(tmp_path)
    meta["mmau_audio"] = tmp_path / "no-such-audio"
    done = prepare("mmau", meta, output_dir=tmp_path / "mmau")
    assert done.returncode != 0 and "does not exist" in done.stderr
    assert "--skip_audio_check" in done.stderr and "Traceback" not in done.stderr


def test_status_shows_an_eta_only_for_a_running_file(animal_run, tmp_path, monkeypatch):
    from audiofaith.cli import status

    partial = tmp_path / "baseline_animal.jsonl"
    copy_output(animal_run["baseline"], partial, keep_lines=4)
    meta = json.loads(Path(f"{partial}.meta.json").read_text())
    meta["sessions"][-1].update(status="running", expected_lines=6, lines_at_start=2,
                                model_loaded=partial.stat().st_mtime - 20)
    assert status.file_status(partial, meta).eta_seconds is None  # no live holder: interrupted, no ETA
    assert status.file_status(partial, meta).status == "interrupted"
    monkeypatch.setattr(status, "is_held", lambda path: {"pid": 1})
    running = status.file_status(partial, meta)
    assert running.status == "running" and running.eta_seconds is not None


# -- 10. a full disk ----------------------------------------------------------------------------------

def _fail_fsync_when(monkeypatch, full):
    """os.fsync raises ENOSPC once ``full(fd)`` is true, and for every file after that."""
    real = os.fsync
    state = {"full": False}

    def fsync(fd):
        if state["full"] or full(fd):
            state["full"] = True
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return state


def test_a_full_disk_cuts_the_batch_and_says_what_is_safe(tmp_path, monkeypatch):
    from audiofaith.errors import DiskFull

    path = tmp_path / "o.jsonl"
    with AppendWriter(path) as writer:
        writer.write_many([{"id": "a"}, {"id": "b"}])
        _fail_fsync_when(monkeypatch, lambda fd: True)
        with pytest.raises(DiskFull) as caught:
            writer.write_many([{"id": "c"}, {"id": "d"}])
    assert str(caught.value) == (f"{path}: no space left on device; its 2 finished line(s) are safe (the batch being "
                                 f"written was cut). Free space and rerun the same command to resume")
    assert [row["id"] for row in read_jsonl(path)] == ["a", "b"] and path.read_bytes().endswith(b"\n")


def test_a_full_disk_leaves_no_temporary_sidecar(tmp_path, monkeypatch):
    from audiofaith.errors import DiskFull
    from audiofaith.store.provenance import Provenance

    provenance = Provenance(tmp_path / "o.jsonl", {"stage": "baseline"}, {})
    provenance.write()
    before = provenance.path.read_bytes()
    _fail_fsync_when(monkeypatch, lambda fd: True)
    with pytest.raises(DiskFull, match="its previous version is kept. Free space and rerun"):
        provenance.finish("completed", {"items": 1})
    assert provenance.path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.jsonl.meta.json"]


def test_a_full_disk_mid_run_is_one_line_and_the_rerun_resumes(synthetic_data, tiny_qwen2_audio, tmp_path,
                                                               monkeypatch):
    output = tmp_path / "out" / "baseline_animal.jsonl"
    args = baseline_args(synthetic_data, output, "--model_path", str(tiny_qwen2_audio), "--max_new_tokens", "8",
                         "--batch_size", "2")

    def output_past_first_batch(fd):
        return os.path.realpath(f"/proc/self/fd/{fd}") == str(output.resolve()) and \
            output.read_bytes().count(b"\n") > 2

    _fail_fsync_when(monkeypatch, output_past_first_batch)
    done = run_cli(*args)
    monkeypatch.undo()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    last = error_lines(done.stderr)[-1]
    assert last.endswith(f"{output}: no space left on device; its 2 finished line(s) are safe (the batch being "
                         "written was cut). Free space and rerun the same command to resume"), done.stderr
    assert sorted(p.name for p in output.parent.iterdir()) == ["baseline_animal.jsonl",
                                                                "baseline_animal.jsonl.meta.json"]
    assert output.read_bytes().count(b"\n") == 2 and output.read_bytes().endswith(b"\n")
    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    ids = [row["id"] for row in read_jsonl(output)]
    assert len(ids) == len(set(ids)) == 6
    sessions = json.loads(Path(f"{output}.meta.json").read_text())["sessions"]
    assert [s["status"] for s in sessions] == ["interrupted", "completed"]


def _mount_tmpfs(where: Path, size_kib: int) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(where)],
                          capture_output=True, text=True)
    return done.returncode == 0


def test_a_real_full_filesystem(animal_run, synthetic_data, tiny_qwen2_audio, tmp_path):
    """On a real tmpfs that fills up mid-run (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "small"
    if not _mount_tmpfs(mount, 1024):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        output = mount / "baseline_animal.jsonl"
        args = baseline_args(synthetic_data, output, "--model_path", str(tiny_qwen2_audio), "--max_new_tokens", "200",
                             "--batch_size", "1")  # lines of about 1.5 kB: the output needs more than the room
        # room for the sidecar twice (its atomic rewrite) and the lock, sized from the same run's
        # sidecar (animal_run): the disk fills while the output or the sidecar is written
        page = os.statvfs(mount).f_frsize
        sidecar = -(-(Path(f"{animal_run['baseline']}.meta.json").stat().st_size + 1024) // page)
        room = (2 * sidecar + 1) * page
        filler = mount / "filler"
        free = os.statvfs(mount).f_bavail * page
        filler.write_bytes(b"\0" * (free - room))
        done = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300,
                              env=dict(os.environ, PYTHONUNBUFFERED="1"))
        assert done.returncode == 2, done.stderr
        last = error_lines(done.stderr)[-1]
        assert "no space left on device" in last and "Free space and rerun the same command to resume" in last
        assert "Traceback" not in done.stderr
        assert not list(mount.glob("*.tmp"))
        assert output.read_bytes().endswith(b"\n") or output.stat().st_size == 0
        filler.unlink()
        resumed = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        ids = [row["id"] for row in read_jsonl(output)]
        assert len(ids) == len(set(ids)) == 6
    finally:
        subprocess.run(["umount", str(mount)], check=False)


# -- 4. smoke tests: a tiny checkpoint's own reasoning budget ------------------------------------------

def test_a_tiny_checkpoint_declares_a_small_reasoning_budget(tiny_qwen2_audio, tmp_path):
    from audiofaith.backends.model_source import TINY_MAX_NEW_TOKENS, tiny_max_new_tokens

    assert json.loads((tiny_qwen2_audio / "generation_config.json").read_text())["max_new_tokens"] == 48
    assert tiny_max_new_tokens(tiny_qwen2_audio) == TINY_MAX_NEW_TOKENS == 48
    real = tmp_path / "real"  # a real checkpoint's generation config never changes our defaults
    real.mkdir()
    (real / "generation_config.json").write_text(json.dumps({"max_new_tokens": 8192}))
    assert tiny_max_new_tokens(real) is None and tiny_max_new_tokens(None) is None


def test_smoke_runs_on_a_tiny_checkpoint_use_its_budget(synthetic_data, tiny_qwen2_audio, tmp_path):
    baseline = tmp_path / "baseline_animal.jsonl"
    done = run_cli(*baseline_args(synthetic_data, baseline, "--model_path", str(tiny_qwen2_audio), "--limit", "1"))
    assert done.returncode == 0, done.stderr
    assert "a tiny test checkpoint: reasoning up to 48 tokens, from its generation_config.json" in done.stderr
    meta = json.loads(Path(f"{baseline}.meta.json").read_text())
    assert meta["fingerprint"]["generation"]["max_new_tokens"] == 48
    Path(f"{baseline}.meta.json").unlink()  # no sidecar: the interventions fall back to the checkpoint's budget
    output = tmp_path / "audio_animal.jsonl"
    done = run_cli(INTERVENE, "--kind", "audio", "--manifest_file", str(synthetic_data["manifests"]["animal"]),
                   "--input_results_file", str(baseline), "--output_file", str(output),
                   "--data_root", str(synthetic_data["data_root"]), "--model_path", str(tiny_qwen2_audio),
                   "--perturbations", "silence", "--modes", "regenerate", "--limit", "1")
    assert done.returncode == 0, done.stderr
    assert "continued / regenerated reasoning up to 48 tokens" in done.stderr
    assert json.loads(Path(f"{output}.meta.json").read_text())["fingerprint"]["cot_max_new_tokens"] == 48


# -- 8. report oddities -------------------------------------------------------------------------------

def _summary_row(**fields):
    from audiofaith import report

    values = dict(dataset="sakura", model="m", subset="animal", hop="single",
                  condition=report.BASELINE_CONDITION["cot"], variant="", x_name="", x=None, n=10, n_error=0,
                  n_excluded=0, n_cut_by_length=0, n_scored=10, n_missing=0, n_null_prediction=0,
                  parse_failure_rate=0.0, n_correct=5, accuracy=0.5, accuracy_lo=0.4, accuracy_hi=0.6,
                  accuracy_excl_null=0.5)
    values.update(fields)
    return report.SummaryRow(**values)


def _texts(blocks):
    return [getattr(block, "text", "") for block in blocks]


def test_the_accuracy_section_is_named_after_the_dataset(tmp_path):
    from audiofaith import report

    known = report.section_accuracy([_summary_row(dataset="known_answer", subset="calls")], {"m": "#000"}, tmp_path,
                                    "known_answer")
    assert _texts(known)[0] == "known_answer accuracy by track and hop"
    assert not any("SAKURA accuracy" in text or "1000 questions" in text for text in _texts(known))
    sakura = report.section_accuracy([_summary_row()], {"m": "#000"}, tmp_path, "sakura")
    assert _texts(sakura)[0] == "SAKURA accuracy by track and hop"
    assert any("1000 questions when complete" in text for text in _texts(sakura))


def test_an_empty_adding_mistakes_table_is_left_out_and_explained():
    from audiofaith import report
    from audiofaith.interventions.adding_mistakes import _report_tables

    def aoc(variant):
        return report.AocRow("m", "animal", "single", "adding_mistakes", variant, aoc=0.5, n_chains=2, lengths="3:2",
                             n_reference_fallback=0)

    only_at_once = _report_tables([aoc("continued=False")])
    texts = _texts(only_at_once)
    assert "Lanham's adding mistakes (`continued=True`)" not in texts
    assert any("No `continued=True` lines" in text for text in texts)
    assert all(block.rows for block in only_at_once if isinstance(block, report.Table))
    both = _report_tables([aoc("continued=True"), aoc("continued=False")])
    assert "Lanham's adding mistakes (`continued=True`)" in _texts(both)
    assert sum(isinstance(block, report.Table) for block in both) == 2


def _drawn_figure(monkeypatch, rows, spec, tmp_path):
    """plot_curves' figure, kept open for inspection."""
    from audiofaith import report

    plt = report._pyplot()
    monkeypatch.setattr(plt, "close", lambda fig=None: None)
    assert report.plot_curves(rows, spec, {"m": "#1f77b4"}, tmp_path / "curve.png")
    figure = plt.gcf()
    monkeypatch.undo()
    return plt, figure


def test_the_adding_mistakes_plot_spans_the_range_the_aoc_integrates(monkeypatch, tmp_path):
    from audiofaith.interventions.adding_mistakes import REPORT

    spec = dict(REPORT.curves)["adding_mistakes"]
    rows = [_summary_row(condition="adding_mistakes", x_name="fraction", x=x, same_as_full_rate=0.5,
                         same_as_full_lo=0.4, same_as_full_hi=0.6) for x in (0.3, 0.5, 0.7)]
    plt, figure = _drawn_figure(monkeypatch, rows, spec, tmp_path)
    low, high = figure.axes[0].get_xlim()
    plt.close(figure)
    assert low <= 0 and high >= 100


def test_the_legend_says_why_a_promised_line_is_missing(monkeypatch, tmp_path):
    import math

    from audiofaith.interventions.audio import REPORT

    spec = dict(REPORT.curves)["noise_snr_agreement"]
    rows = [_summary_row(condition="noise_snr", variant=f"mode={mode}", x_name="snr_db", x=snr,
                         agree_rate_excl_null=math.nan if mode == "regenerate" else 0.5,
                         agree_excl_null_lo=math.nan if mode == "regenerate" else 0.4,
                         agree_excl_null_hi=math.nan if mode == "regenerate" else 0.6)
            for mode in ("regenerate", "fixed_cot") for snr in (10.0, -10.0)]
    plt, figure = _drawn_figure(monkeypatch, rows, spec, tmp_path)
    labels = [text.get_text() for legend in figure.legends for text in legend.get_texts()]
    plt.close(figure)
    missing = [label for label in labels if "regenerate" in label]
    assert len(missing) == 1 and "no line" in missing[0] and "every answer null" in missing[0], labels
    assert any("fixed_cot" in label and "no line" not in label for label in labels)


def test_a_full_disk_elsewhere_is_one_line_too(caplog):
    from audiofaith.cli.commands import guarded

    def save_audio():
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "out/perturbed/a.wav")

    assert guarded(save_audio) == 2
    assert caplog.messages == ["out/perturbed/a.wav: no space left on device; every batch written before it is safe. "
                               "Free space and rerun the same command to resume"]
    with pytest.raises(PermissionError):  # any other OSError is not ours to hide
        guarded(lambda: (_ for _ in ()).throw(PermissionError(errno.EACCES, "denied")))
