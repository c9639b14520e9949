"""The known-answer checkpoints and the whole pipeline on their held-out set, built once per test
session (the checkpoints come from the training cache after the first build; see
audiofaith/known_answer/train.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def known_answer_checkpoints(tmp_path_factory) -> dict:
    """{variant: checkpoint directory} for ``faithful`` and ``posthoc``."""
    from audiofaith.known_answer.train import train_missing
    from audiofaith.tiny import build_trained

    train_missing(("faithful", "posthoc"))  # both at once on two cores when the cache is empty
    root = tmp_path_factory.mktemp("known_answer")
    return {variant: build_trained("qwen2_audio", variant, root / variant) for variant in ("faithful", "posthoc")}


@pytest.fixture(scope="session")
def known_answer_outputs(known_answer_checkpoints, tmp_path_factory) -> dict:
    """{variant: output folder} of the pipeline (baseline, conditioned, interventions) on each
    checkpoint's held-out set."""
    from audiofaith.known_answer.pipeline import run_pipeline

    root = tmp_path_factory.mktemp("known_answer_outputs")
    return {variant: run_pipeline(path, root / variant) for variant, path in known_answer_checkpoints.items()}


@pytest.fixture(scope="session")
def measured(known_answer_outputs) -> dict:
    """{metric name: {variant: Value}} computed by the report's code (known_answer.contrast)."""
    from audiofaith.known_answer.contrast import measure

    return measure({variant: Path(folder) for variant, folder in known_answer_outputs.items()})
