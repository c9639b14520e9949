"""Shared fixtures: a tiny random-weight Qwen2-Audio checkpoint and a synthetic SAKURA dataset,
both built once per test session, offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


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
    from audiofaith.tiny import build

    return build("qwen2_audio", tmp_path_factory.mktemp("tiny") / "qwen2_audio")


@pytest.fixture(scope="session")
def tiny_qwen_omni(tmp_path_factory) -> Path:
    """A tiny Qwen2.5-Omni checkpoint in the hub layout (full config, thinker.* weights)."""
    from audiofaith.tiny import build

    return build("qwen_omni", tmp_path_factory.mktemp("tiny") / "qwen_omni")


@pytest.fixture(scope="session")
def tiny_af3(tmp_path_factory) -> Path:
    """A tiny Audio Flamingo 3 checkpoint (random weights)."""
    from audiofaith.tiny import build

    return build("af3", tmp_path_factory.mktemp("tiny") / "af3")


@pytest.fixture(scope="session")
def tiny_af3_think(tmp_path_factory) -> Path:
    """The tiny AF3 checkpoint (same seed, same weights as ``tiny_af3``) plus think/: a LoRA adapter
    and non_lora_trainables.bin, both with old-layout names."""
    from audiofaith.tiny import build

    return build("af3_think", tmp_path_factory.mktemp("tiny") / "af3_think")


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> dict:
    """A synthetic SAKURA tree under data/SAKURA plus its prepared manifests."""
    from audiofaith.sakura import prepare_sakura
    from audiofaith.synthetic import write_synthetic_sakura

    root = tmp_path_factory.mktemp("synthetic")
    data_root = root / "data"
    write_synthetic_sakura(data_root / "SAKURA", rows_per_track=3, long_clip_seconds=31.0)
    written = prepare_sakura(data_root / "SAKURA", root / "processed_input" / "sakura", data_root)
    return {"root": root, "data_root": data_root, "manifests": written}


@pytest.fixture(scope="session")
def animal_run(synthetic_data, tiny_qwen2_audio, tmp_path_factory) -> dict:
    """A CoT baseline of the tiny Qwen2-Audio on the synthetic Animal track (6 items), built once
    through the interface script; tests write their own outputs beside it."""
    out = tmp_path_factory.mktemp("out") / "qwen2_audio" / "animal"
    baseline = out / "baseline_animal.jsonl"
    done = run_cli("interface/Qwen2Audio_wrapper.py", "--input", str(synthetic_data["manifests"]["animal"]),
                   "--output", str(baseline), "--data_root", str(synthetic_data["data_root"]),
                   "--model_path", str(tiny_qwen2_audio), "--max_new_tokens", "24", "--batch_size", "4")
    assert done.returncode == 0, done.stderr
    return {"dir": out, "baseline": baseline, "log": done.stderr}


def run_cli(*args: str, cwd: Path = REPO, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run a command exactly as a user types it (``python interface/... --flags``)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
