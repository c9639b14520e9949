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


@pytest.fixture(scope="session")
def tiny_qwen2_audio(tmp_path_factory) -> Path:
    """A tiny Qwen2-Audio checkpoint saved with save_pretrained (random weights)."""
    from audiofaith.tiny import build

    return build("qwen2_audio", tmp_path_factory.mktemp("tiny") / "qwen2_audio")


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


def run_cli(*args: str, cwd: Path = REPO, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run a command exactly as a user types it (``python interface/... --flags``)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
