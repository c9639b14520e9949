"""Unit tests behind issue 13: the output lock without POSIX locks, the stratified sample on the
real SAKURA manifests, progress output, the baseline-coverage warning, user errors."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import socket
import subprocess
import sys
from collections import Counter

import pytest

from audiofaith.store import locking
from audiofaith.errors import UserError
from audiofaith.store.locking import OutputLock, OutputLocked, is_held, lock_path
from audiofaith.store.manifest import ManifestError, load_manifest
from audiofaith.progress import LineProgress, TqdmLoggingHandler, log_handler
from audiofaith.store.resume import drop_lines, read_output_state
from audiofaith.runners.selection import stratified_sample
from tests.conftest import REPO


def _dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def test_lock_is_exclusive_and_released(tmp_path):
    output = tmp_path / "out.jsonl"
    with OutputLock(output):
        # (reading the lock file here would drop this process's POSIX lock: only other processes look)
        seen = subprocess.run([sys.executable, "-c", f"from audiofaith.store.locking import is_held\n"
                               f"print(is_held({str(output)!r}))"], cwd=REPO, capture_output=True, text=True)
        assert f"'pid': {os.getpid()}, 'host': '{socket.gethostname()}'" in seen.stdout
        # another process cannot take it (POSIX locks are per process)
        probe = subprocess.run([sys.executable, "-c", f"from audiofaith.store.locking import OutputLock\n"
                                f"OutputLock({str(output)!r}).acquire()"], cwd=REPO, capture_output=True, text=True)
        assert probe.returncode == 1 and "OutputLocked" in probe.stderr and f"pid {os.getpid()}" in probe.stderr
    assert not lock_path(output).exists() and is_held(output) is None


def test_without_posix_locks_a_dead_local_holder_is_taken_over_and_a_remote_one_refused(tmp_path, monkeypatch):
    def no_lockf(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    import fcntl

    monkeypatch.setattr(fcntl, "lockf", no_lockf)
    output = tmp_path / "out.jsonl"
    lock_path(output).write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "started": "x"}))
    with OutputLock(output):
        assert json.loads(lock_path(output).read_text())["pid"] == os.getpid()
    lock_path(output).write_text(json.dumps({"pid": 1, "host": "node-17", "started": "2026-01-01T00:00:00+00:00"}))
    with pytest.raises(OutputLocked, match=r"pid 1 on host node-17.*no POSIX locks.*remove"):
        OutputLock(output).acquire()
    assert isinstance(OutputLocked("x"), UserError)
    monkeypatch.setattr(locking, "_try_lockf", lambda fd: False)  # a live holder, lockf working
    with pytest.raises(OutputLocked, match="is in use by another run"):
        OutputLock(output).acquire()


def test_sample_of_the_real_sakura_manifest_is_balanced_and_reproducible():
    manifest = load_manifest(REPO / "processed_input" / "sakura" / "animal" / "sakura_manifest.jsonl")
    sample = stratified_sample(manifest, 40, seed=0)
    assert len(sample) == 40 and sample == stratified_sample(manifest, 40, seed=0)
    assert sample != stratified_sample(manifest, 40, seed=1)
    assert Counter(item.hop for item in sample) == {"single": 20, "multi": 20}
    assert Counter(item.answer for item in sample) == {"A": 10, "B": 10, "C": 10, "D": 10}
    classes = Counter(item.meta["attribute_label"] for item in manifest)
    sampled = Counter(item.meta["attribute_label"] for item in sample)
    for label, count in classes.items():  # proportional to the manifest (136 or 80 of 1000 each): not 40 dogs
        assert abs(sampled[label] - 40 * count / len(manifest)) <= 1, (label, sampled)
    assert len({item.meta["attribute_label"] for item in manifest[:40]}) == 1
    positions = [manifest.index(item) for item in sample]
    assert positions == sorted(positions)  # manifest order
    assert stratified_sample(manifest, 5000) == manifest


def test_line_progress_logs_plain_lines(caplog):
    caplog.set_level(logging.INFO, "audiofaith.progress")
    with LineProgress(10, "baseline tiny", "item", interval=0) as bar:
        for _ in range(10):
            bar.update(1)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("baseline tiny: 1/10 items (10%)") and "ETA" in messages[0]
    assert messages[-1].startswith("baseline tiny: 10/10 items (100%)")


def test_log_handler_goes_through_tqdm_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert isinstance(log_handler(Terminal()), TqdmLoggingHandler)
    assert not isinstance(log_handler(io.StringIO()), TqdmLoggingHandler)


def test_missing_baseline_warning_counts_only_selected_items(synthetic_data, caplog, tmp_path):
    from audiofaith.runners.conditioned import load_baseline_results

    manifest = load_manifest(synthetic_data["manifests"]["gender"])
    baseline = tmp_path / "b.jsonl"
    baseline.write_text("".join(json.dumps({"id": item.id, "model": "m", "prompt_mode": "cot", "answer": item.answer,
                                            "runs_raw": ["x"], "runs_reasonings": ["x"], "runs_predictions": [None],
                                            "runs_correct": [None], "runs_letter_logprobs": [{}]}) + "\n"
                                for item in manifest[:2]))
    caplog.set_level(logging.WARNING)
    load_baseline_results(baseline, manifest, {item.id for item in manifest[:2]})  # --limit 2 on both runs
    assert "no baseline result" not in caplog.text
    load_baseline_results(baseline, manifest)
    assert f"{len(manifest) - 2} manifest item(s) have no baseline result" in caplog.text


def test_drop_lines_and_duplicates(tmp_path):
    path = tmp_path / "o.jsonl"
    lines = [{"id": i, "runs_reasonings": [], "runs_predictions": [], "error": e} for i, e in (("a", None), ("b", "x"))]
    path.write_text("".join(json.dumps(l) + "\n" for l in lines))
    state = read_output_state(path)
    assert state.ids == {"a", "b"} and state.errored == {("b",)}
    assert drop_lines(path, state.errored) == 1 and read_output_state(path).ids == {"a"}
    path.write_text(path.read_text() * 2)
    with pytest.raises(UserError, match=r"o.jsonl:2: duplicate line \('a',\) \(first on line 1\)"):
        read_output_state(path)


def test_our_input_errors_are_user_errors():
    assert issubclass(ManifestError, UserError) and issubclass(UserError, ValueError)
    from audiofaith.cli.main import USER_ERRORS

    assert USER_ERRORS == (UserError,)  # a library's ValueError is not swallowed
