"""Fixtures for the tests against SALMONN's real code (branch ``salmonn``): its checkout
(``$SALMONN_REPO``, default ``../shared/salmonn-code``; every test skips without it, and fails
under AUDIOFAITH_CI=1) and the
tiny random-weight stand-ins for its four weights, built once per session by
``python -m audiofaith.checkpoints.tiny --arch salmonn`` as a user would. These tests run in SALMONN's own
environment (``make test-salmonn``: requirements/salmonn-cpu.txt); tests/conftest.py leaves this
folder out of other environments."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import REPO, require, run_cli


def salmonn_repo() -> Path:
    return Path(os.environ.get("SALMONN_REPO") or REPO.parent / "shared" / "salmonn-code").resolve()


@pytest.fixture(scope="session")
def checkout() -> Path:
    repo = salmonn_repo()
    require((repo / "models" / "salmonn.py").is_file(),
            f"SALMONN's code (branch salmonn) not found at {repo}: set SALMONN_REPO")
    return repo


def _build(arch: str, out: Path, repo: Path) -> Path:
    done = run_cli("-m", "audiofaith.checkpoints.tiny", "--arch", arch, "--out", str(out), "--salmonn_repo", str(repo),
                   subprocess_=True)  # before this process imports transformers (see tiny_salmonn)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="session")
def tiny_salmonn(checkout, tmp_path_factory) -> Path:
    """The four SALMONN weights at toy size (2-layer LLaMA), built by the checkout's code; the
    process environment is made offline with the built bert-base-uncased cache (set before any
    in-process transformers import, which reads it once)."""
    from audiofaith.checkpoints.tiny_salmonn import offline_env

    out = _build("salmonn", tmp_path_factory.mktemp("tiny") / "salmonn", checkout)
    os.environ.update(offline_env(out))
    return out


@pytest.fixture(scope="session")
def tiny_salmonn_13b(checkout, tiny_salmonn, tmp_path_factory) -> Path:
    """SALMONN-13B-shaped stand-ins (40-layer LLaMA); same bert cache layout as ``tiny_salmonn``."""
    return _build("salmonn_13b", tmp_path_factory.mktemp("tiny") / "salmonn_13b", checkout)


@pytest.fixture(scope="session")
def weights(tiny_salmonn) -> dict:
    from audiofaith.checkpoints.tiny_salmonn import weight_paths

    return weight_paths(tiny_salmonn)


@pytest.fixture(scope="session")
def backend(checkout, weights):
    """The backend on the real SALMONN code and the tiny weights, loaded once."""
    from audiofaith.backends import load_backend

    return load_backend("salmonn", None, device="cpu", salmonn_repo=str(checkout), **weights)
