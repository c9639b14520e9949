"""Shared fixtures: a tiny random-weight Qwen2-Audio checkpoint and a synthetic SAKURA dataset,
both built once per test session, offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hypothesis
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# One CPU thread for torch here and in the scripts the tests start: the tiny models' matrices are
# too small to share, and spare threads only spin (on a 2-core machine, against each other).
os.environ.setdefault("OMP_NUM_THREADS", "1")

#: Set by .ci/run: a missing prerequisite (espeak-ng, ../shared, SALMONN's checkout) fails instead of skipping.
CI = os.environ.get("AUDIOFAITH_CI") == "1"

# Property tests check behaviour, not speed: on a loaded 2-core machine an example can take seconds.
# Under CI (AUDIOFAITH_CI=1, or CI set by a hosted runner) examples are derandomised: the same
# examples on every run, so a failure there reproduces with the same command.
hypothesis.settings.register_profile("audiofaith", deadline=None)
hypothesis.settings.register_profile("audiofaith-ci", deadline=None, derandomize=True, print_blob=True)
hypothesis.settings.load_profile("audiofaith-ci" if CI or os.environ.get("CI") else "audiofaith")


def require(condition: bool, reason: str) -> None:
    """Skip the calling test unless ``condition`` holds; under AUDIOFAITH_CI=1 fail instead, so CI
    never passes having skipped what it was meant to run. ``reason`` names what is missing and how
    to get it."""
    if condition:
        return
    if CI:
        pytest.fail(f"AUDIOFAITH_CI=1: missing prerequisite: {reason}", pytrace=False)
    pytest.skip(reason)


def requires(condition: bool, reason: str):
    """``require`` as a decorator: a ``skipif`` mark that fails under AUDIOFAITH_CI=1 instead (the
    condition is evaluated at import, like ``skipif``'s)."""
    if condition or not CI:
        return pytest.mark.skipif(not condition, reason=reason)

    def fail_when_run(test):
        return pytest.mark.usefixtures("_missing_prerequisite")(pytest.mark.missing_prerequisite(reason)(test))

    return fail_when_run


@pytest.fixture
def _missing_prerequisite(request) -> None:
    mark = request.node.get_closest_marker("missing_prerequisite")
    pytest.fail(f"AUDIOFAITH_CI=1: missing prerequisite: {mark.args[0]}", pytrace=False)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "missing_prerequisite(reason): fails the test under AUDIOFAITH_CI=1")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """One line per distinct skip reason with its count, so a run says what it did not cover."""
    reasons: dict = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    total = sum(reasons.values())
    terminalreporter.write_line(f"audiofaith: {total} test(s) skipped" + (":" if total else
                                " (AUDIOFAITH_CI=1)" if CI else ""))
    for reason, count in sorted(reasons.items(), key=lambda pair: (-pair[1], pair[0])):
        terminalreporter.write_line(f"  {count:3d} x {reason}")


def _in_salmonn_environment() -> bool:
    """SALMONN's real code needs transformers < 4.56 (it pins 4.28): tests/salmonn_real runs only
    there (``make test-salmonn``), never in the main environment."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        major, minor = (int(part) for part in version("transformers").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    return (major, minor) < (4, 56)


collect_ignore = [] if _in_salmonn_environment() else ["salmonn_real"]


@pytest.fixture(scope="session")
def tiny_qwen2_audio(tmp_path_factory) -> Path:
    """A tiny Qwen2-Audio checkpoint saved with save_pretrained (random weights)."""
    from audiofaith.checkpoints.tiny import build

    return build("qwen2_audio", tmp_path_factory.mktemp("tiny") / "qwen2_audio")


@pytest.fixture(scope="session")
def tiny_qwen_omni(tmp_path_factory) -> Path:
    """A tiny Qwen2.5-Omni checkpoint in the hub layout (full config, thinker.* weights)."""
    from audiofaith.checkpoints.tiny import build

    return build("qwen_omni", tmp_path_factory.mktemp("tiny") / "qwen_omni")


@pytest.fixture(scope="session")
def tiny_af3(tmp_path_factory) -> Path:
    """A tiny Audio Flamingo 3 checkpoint (random weights)."""
    from audiofaith.checkpoints.tiny import build

    return build("af3", tmp_path_factory.mktemp("tiny") / "af3")


@pytest.fixture(scope="session")
def tiny_af3_think(tmp_path_factory) -> Path:
    """The tiny AF3 checkpoint (same seed, same weights as ``tiny_af3``) plus think/: a LoRA adapter
    and non_lora_trainables.bin, both with old-layout names."""
    from audiofaith.checkpoints.tiny import build

    return build("af3_think", tmp_path_factory.mktemp("tiny") / "af3_think")


@pytest.fixture(scope="session")
def tiny_qwen3_omni(tmp_path_factory) -> Path:
    """A tiny Qwen3-Omni-30B-A3B-Instruct thinker (MoE) in the hub layout (full config, thinker.* weights)."""
    from audiofaith.checkpoints.tiny import build

    return build("qwen3_omni", tmp_path_factory.mktemp("tiny") / "qwen3_omni")


@pytest.fixture(scope="session")
def tiny_qwen3_omni_thinking(tmp_path_factory) -> Path:
    """The tiny Qwen3-Omni Thinking checkpoint: same architecture, a template that opens a <think> trace."""
    from audiofaith.checkpoints.tiny import build

    return build("qwen3_omni_thinking", tmp_path_factory.mktemp("tiny") / "qwen3_omni_thinking")


@pytest.fixture(scope="session")
def tiny_music_flamingo(tmp_path_factory) -> Path:
    """A tiny Music Flamingo checkpoint (random weights; AF3 architecture with rotary time embeddings)."""
    from audiofaith.checkpoints.tiny import build

    return build("music_flamingo", tmp_path_factory.mktemp("tiny") / "music_flamingo")


@pytest.fixture(scope="session")
def tiny_gemma4(tmp_path_factory) -> Path:
    """A tiny Gemma 4 checkpoint (random weights; audio and vision towers, thinking and non-thinking modes)."""
    from audiofaith.checkpoints.tiny import build

    return build("gemma4", tmp_path_factory.mktemp("tiny") / "gemma4")


@pytest.fixture(scope="session")
def tiny_nemotron_omni(tmp_path_factory) -> Path:
    """A tiny Nemotron 3 Nano Omni checkpoint (random weights; Mamba-2 / attention / MoE blocks, Parakeet encoder)."""
    from audiofaith.checkpoints.tiny import build

    return build("nemotron_omni", tmp_path_factory.mktemp("tiny") / "nemotron_omni")


@pytest.fixture(scope="session")
def tiny_voxtral(tmp_path_factory) -> Path:
    """A tiny Voxtral checkpoint (random weights; a toy tekken tokenizer read by mistral-common)."""
    from audiofaith.checkpoints.tiny import build

    return build("voxtral", tmp_path_factory.mktemp("tiny") / "voxtral")


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> dict:
    """A synthetic SAKURA tree under data/SAKURA plus its prepared manifests."""
    from audiofaith.benchmarks.sakura import prepare_sakura
    from audiofaith.checkpoints.synthetic import write_synthetic_sakura

    root = tmp_path_factory.mktemp("synthetic")
    data_root = root / "data"
    write_synthetic_sakura(data_root / "SAKURA", rows_per_track=3, long_clip_seconds=31.0)
    written = prepare_sakura(data_root / "SAKURA", root / "processed_input" / "sakura", data_root)
    return {"root": root, "data_root": data_root, "manifests": written}


@pytest.fixture(scope="session")
def animal_run(synthetic_data, tiny_qwen2_audio, tmp_path_factory) -> dict:
    """A CoT baseline of the tiny Qwen2-Audio on the synthetic Animal track (6 items), built once
    through the interface script in its own process (its log is what a SLURM job writes); tests
    write their own outputs beside it."""
    out = tmp_path_factory.mktemp("out") / "qwen2_audio" / "animal"
    baseline = out / "baseline_animal.jsonl"
    done = run_cli("interface/Qwen2Audio_wrapper.py", "--input", str(synthetic_data["manifests"]["animal"]),
                   "--output", str(baseline), "--data_root", str(synthetic_data["data_root"]),
                   "--model_path", str(tiny_qwen2_audio), "--max_new_tokens", "24", "--batch_size", "4", subprocess_=True)
    assert done.returncode == 0, done.stderr
    return {"dir": out, "baseline": baseline, "log": done.stderr}


@pytest.fixture(scope="session")
def speech_clips(synthetic_data, tmp_path_factory) -> Path:
    """A --tts_dir with a short synthetic clip (a tone, not speech) for every option of the synthetic
    manifests: the spoken-injection conditions run end to end without espeak-ng (its own speech is
    tested in tests/interventions/test_audio.py)."""
    import numpy as np

    from audiofaith.audio.io import write_wav
    from audiofaith.store.manifest import load_manifest
    from audiofaith.audio.tts import answer_text, tts_file_name

    folder = tmp_path_factory.mktemp("speech_clips")
    texts = {answer_text(choice) for path in synthetic_data["manifests"].values()
             for item in load_manifest(path) for choice in item.choices}
    for index, text in enumerate(sorted(texts)):
        tone = 0.2 * np.sin(2 * np.pi * (300 + 20 * index) * np.arange(12000) / 16000)
        write_wav(folder / tts_file_name(text), tone.astype(np.float32))
    return folder


def start_and_stop_after(args: "list[str]", lines: int, timeout: float = 300) -> subprocess.Popen:
    """Start ``python ARGS`` in its own process and return once it has stopped itself (SIGSTOP)
    after writing ``lines`` JSONL lines (audiofaith.store.jsonl's test-only hook): the caller then kills
    or races it at that exact point. ``timeout`` only guards a hung start; nothing depends on speed."""
    import signal
    import time

    from audiofaith.store.jsonl import STOP_AFTER_LINES_ENV

    env = dict(os.environ, PYTHONUNBUFFERED="1", **{STOP_AFTER_LINES_ENV: str(lines)})
    process = subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status = os.waitpid(process.pid, os.WNOHANG | os.WUNTRACED)
        if pid and os.WIFSTOPPED(status):
            return process
        if pid:  # exited without stopping: the hook was never reached
            raise AssertionError(f"{args[0]} exited (status {status}) before writing {lines} line(s)")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    raise AssertionError(f"{args[0]} did not reach {lines} written line(s) within {timeout} s")


def run_cli(*args: str, cwd: Path = REPO, timeout: int = 300, subprocess_: bool = False) -> subprocess.CompletedProcess:
    """Run a command as a user types it (``python interface/... --flags`` or ``python -m module ...``).

    By default in this process (``run_in_process``): the same argv, exit code, stdout and stderr,
    without a new interpreter importing torch and transformers for every call. ``subprocess_=True``
    starts a real ``python``: for the CLI contract (tests/test_cli.py) and whatever is about
    processes (locks held by a pid, kills, signals, environment)."""
    if not subprocess_:
        return run_in_process(*args, cwd=cwd)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def run_in_process(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``python SCRIPT ARGS`` / ``python -m MODULE ARGS`` through runpy in this interpreter, with
    sys.argv, the working directory, stdout/stderr, logging, os.environ and sys.path set as a fresh
    process would have them and restored afterwards. An uncaught exception gives exit code 1 and
    its traceback on stderr, like the interpreter."""
    import contextlib
    import io
    import logging
    import runpy
    import traceback

    if args[0] == "-m":
        argv, run = [args[1], *args[2:]], lambda: runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        script = Path(cwd) / args[0]
        argv, run = [args[0], *args[1:]], lambda: runpy.run_path(str(script), run_name="__main__")
    stdout, stderr = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    saved = (list(sys.argv), list(sys.path), dict(os.environ), os.getcwd(), root.handlers[:], root.level)
    saved_levels = {name: logger.level for name, logger in logging.Logger.manager.loggerDict.items()
                    if isinstance(logger, logging.Logger)}
    code = 0
    try:
        sys.argv = argv
        os.chdir(cwd)
        root.handlers = []  # the script's logging.basicConfig then writes to this call's stderr
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                run()
            except SystemExit as exc:
                if exc.code is None:
                    code = 0
                elif isinstance(exc.code, int):
                    code = exc.code
                else:
                    print(exc.code, file=sys.stderr)
                    code = 1
            except Exception:  # noqa: BLE001 - the interpreter prints it and exits 1
                traceback.print_exc()
                code = 1
            finally:
                for handler in root.handlers:
                    handler.flush()
    finally:
        sys.argv = saved[0]
        sys.path[:] = saved[1]
        os.environ.clear()
        os.environ.update(saved[2])
        os.chdir(saved[3])
        root.handlers = saved[4]
        root.setLevel(saved[5])
        # loggers the run made (or made real: a parent of existing ones is a placeholder until then, e.g.
        # "audiofaith", which scripts/bench.py quiets) had no level of their own before it: NOTSET again
        for name, logger in list(logging.Logger.manager.loggerDict.items()):
            if isinstance(logger, logging.Logger):
                logger.setLevel(saved_levels.get(name, logging.NOTSET))
    return subprocess.CompletedProcess(["python", *args], code, stdout.getvalue(), stderr.getvalue())


@pytest.fixture(scope="module")
def golden_report_inputs(tmp_path_factory) -> Path:
    """The golden report's inputs (tests/test_report_scale.py): every line kind, two models; a
    folder holding ``output/`` and ``manifests/``, one per test module."""
    from audiofaith.checkpoints.synthetic_outputs import write_synthetic_outputs

    tmp = tmp_path_factory.mktemp("golden_report_inputs")
    write_synthetic_outputs(tmp / "output", n_clips=8, runs=2, seed=3, manifest_dir=tmp / "manifests")
    return tmp
