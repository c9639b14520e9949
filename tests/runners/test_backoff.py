"""Out-of-memory back-off with an injected failure: the failed batch is retried smaller, nothing lost."""

from __future__ import annotations

import pytest

from audiofaith.backends.base import GenerationSettings, ModelInput
from audiofaith.store.jsonl import read_jsonl
from audiofaith.text.prompts import DEFAULT_PROFILE
from audiofaith.runners.backoff import BackoffBackend, is_out_of_memory
from tests.runners.fake_backend import FakeBackend


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError."""


class SmallMemoryBackend(FakeBackend):
    """Fails any call with more than ``limit`` inputs."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.sizes = []
        self.released = 0

    def generate(self, inputs, settings):
        self.sizes.append(len(inputs))
        if len(inputs) > self.limit:
            raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().generate(inputs, settings)

    def score_letters(self, inputs, letters):
        self.sizes.append(len(inputs))
        if len(inputs) > self.limit:
            raise RuntimeError("CUDA error: out of memory")
        return super().score_letters(inputs, letters)

    def release_memory(self):
        self.released += 1


def test_oom_is_recognised_by_name_or_message():
    assert is_out_of_memory(OutOfMemoryError("x"))
    assert is_out_of_memory(RuntimeError("CUDA out of memory."))
    assert not is_out_of_memory(ValueError("bad shape"))


def test_failed_batch_is_retried_smaller_and_nothing_is_lost():
    inner = SmallMemoryBackend(limit=3)
    backend = BackoffBackend(inner, batch_size=16)
    inputs = [ModelInput(f"q{i}", None, f"({'ABCD'[i % 4]})") for i in range(10)]
    texts = backend.generate(inputs, GenerationSettings(max_new_tokens=4))
    assert len(texts) == 10
    assert inner.sizes[:3] == [10, 5, 2] and backend.batch_size == 2
    scores = backend.score_letters(inputs, [["A", "B", "C", "D"]] * 10)
    assert [max(s, key=s.get) for s in scores] == ["ABCD"[i % 4] for i in range(10)]
    assert inner.released == 2


def test_other_errors_and_single_item_oom_propagate():
    backend = BackoffBackend(SmallMemoryBackend(limit=0), batch_size=4)
    with pytest.raises(OutOfMemoryError):
        backend.generate([ModelInput("q")] * 2, GenerationSettings())


def test_baseline_runner_survives_oom(synthetic_data, tmp_path):
    from audiofaith.store.manifest import load_manifest
    from audiofaith.runners.baseline import BaselineConfig, run_baseline

    items = load_manifest(synthetic_data["manifests"]["emotion"])
    inner = SmallMemoryBackend(limit=2)
    counts = run_baseline(inner, items, synthetic_data["data_root"], tmp_path / "b.jsonl",
                          BaselineConfig(model_key="fake", batch_size=6), DEFAULT_PROFILE)
    assert counts["items"] == len(items) and counts["errors"] == 0
    assert sorted(r["id"] for r in read_jsonl(tmp_path / "b.jsonl")) == sorted(i.id for i in items)
    assert max(inner.sizes) == 6 and inner.sizes[-1] <= 2
