"""The shipped known-answer checkpoints and the whole pipeline on their held-out set, run once per
test session. Nothing is trained here: the checkpoints are the ones committed under
audiofaith/checkpoints/known_answer/checkpoints (checksums verified), so every machine measures the same models."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def known_answer_checkpoints(tmp_path_factory) -> dict:
    """{variant: checkpoint directory} for ``faithful`` and ``posthoc``."""
    from audiofaith.checkpoints.tiny import build_trained

    root = tmp_path_factory.mktemp("known_answer")
    return {variant: build_trained("qwen2_audio", variant, root / variant) for variant in ("faithful", "posthoc")}


@pytest.fixture(scope="session")
def known_answer_outputs(known_answer_checkpoints, tmp_path_factory) -> dict:
    """{variant: main output folder} of the pipeline (baseline, conditioned, interventions and the
    extra sets beside it) on each checkpoint's held-out set."""
    from audiofaith.checkpoints.known_answer.pipeline import run_pipeline

    root = tmp_path_factory.mktemp("known_answer_outputs")
    return {variant: run_pipeline(path, root / variant) for variant, path in known_answer_checkpoints.items()}


@pytest.fixture(scope="session")
def measured(known_answer_outputs, known_answer_checkpoints) -> dict:
    """{metric name: {variant: Value}} computed by the report's code (known_answer.contrast)."""
    from audiofaith.checkpoints.known_answer.contrast import measure

    return measure({variant: Path(folder) for variant, folder in known_answer_outputs.items()},
                   manifest_dir=known_answer_checkpoints["faithful"] / "task")
