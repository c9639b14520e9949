"""Sampled runs are seeded per (seed, item id, run), so they do not depend on the batch (issue 11,
item 8); every generated run records why it stopped (item 7). Tiny random-weight Qwen2-Audio."""

from __future__ import annotations

import numpy as np
import pytest

from audiofaith.backends import GenerationSettings, ModelInput, load_backend
from audiofaith.store.jsonl import read_jsonl
from audiofaith.store.manifest import load_manifest
from audiofaith.text.prompts import DEFAULT_PROFILE
from audiofaith.runners.backoff import BackoffBackend
from audiofaith.runners.baseline import BaselineConfig, run_baseline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend(tiny_qwen2_audio):
    return load_backend("qwen2_audio", str(tiny_qwen2_audio), device="cpu", dtype="fp32")


def _baseline(backend, items, data_root, path, batch_size, num_runs=2, limit=None):
    config = BaselineConfig(model_key="qwen2_audio", num_runs=num_runs, batch_size=batch_size, max_new_tokens=10,
                            temperature=1.0, top_p=0.95, seed=3, letter_logprobs=False)
    run_baseline(backend, items[:limit] if limit else items, data_root, path, config, DEFAULT_PROFILE)
    return {line["id"]: line for line in read_jsonl(path)}


def test_sampled_runs_are_equal_at_batch_1_and_4_and_after_resume(backend, synthetic_data, tmp_path):
    items = load_manifest(synthetic_data["manifests"]["animal"])
    one = _baseline(backend, items, synthetic_data["data_root"], tmp_path / "b1.jsonl", 1)
    four = _baseline(backend, items, synthetic_data["data_root"], tmp_path / "b4.jsonl", 4)
    assert set(one) == set(four) == {item.id for item in items}
    for item_id in one:
        assert one[item_id]["runs_raw"] == four[item_id]["runs_raw"], item_id
    # the two runs of an item are different samples (else the test proves nothing)
    assert any(line["runs_raw"][0] != line["runs_raw"][1] for line in one.values())
    # a resumed file (first 2 items, then the rest at another batch size) gives the same runs
    resumed = tmp_path / "resumed.jsonl"
    _baseline(backend, items, synthetic_data["data_root"], resumed, 2, limit=2)
    again = _baseline(backend, items, synthetic_data["data_root"], resumed, 3)
    assert {i: l["runs_raw"] for i, l in again.items()} == {i: l["runs_raw"] for i, l in one.items()}


def test_sampling_survives_an_out_of_memory_backoff(backend):
    rng = np.random.default_rng(0)
    inputs = [ModelInput(f"Question {i}?\n(A) dog\n(B) cat", (0.1 * rng.standard_normal(16000)).astype(np.float32),
                         run_seeds=(100 + i, 200 + i)) for i in range(4)]
    settings = GenerationSettings(max_new_tokens=8, do_sample=True, temperature=1.0, num_return_sequences=2)
    whole = backend.generate(inputs, settings)
    halves = backend.generate(inputs[:2], settings) + backend.generate(inputs[2:], settings)
    reversed_order = backend.generate(inputs[::-1], settings)[::-1]
    assert whole == halves == reversed_order

    class FailsOnce:  # an inner backend that runs out of memory on its first call of more than one input
        key, max_audio_seconds, failed = "tiny", 30.0, False

        def generate(self, batch, settings):
            if len(batch) > 1 and not self.failed:
                self.failed = True
                raise RuntimeError("CUDA out of memory")
            return backend.generate(batch, settings)

    assert BackoffBackend(FailsOnce(), 4).generate(inputs, settings) == whole


def test_greedy_generation_is_unchanged_by_run_seeds(backend):
    clip = (0.1 * np.random.default_rng(1).standard_normal(16000)).astype(np.float32)
    plain = backend.generate([ModelInput("Which animal?\n(A) dog\n(B) cat", clip)], GenerationSettings(max_new_tokens=8))
    seeded = backend.generate([ModelInput("Which animal?\n(A) dog\n(B) cat", clip, run_seeds=(5,))],
                              GenerationSettings(max_new_tokens=8))
    assert plain == seeded


def test_finish_reasons(backend, synthetic_data, tmp_path):
    from audiofaith.backends.base import GeneratedText, finish_reason_from_tokens, finish_reason_of

    assert finish_reason_from_tokens([5, 7, 2, 0, 0], [2]) == "stop"
    assert finish_reason_from_tokens([5, 7, 9], [2]) == "length"
    assert finish_reason_of("plain") is None and finish_reason_of(GeneratedText("x", "stop")) == "stop"
    with pytest.raises(ValueError):
        GeneratedText("x", "eos")
    clip = (0.1 * np.random.default_rng(2).standard_normal(16000)).astype(np.float32)
    inp = ModelInput("Which animal?\n(A) dog\n(B) cat", clip)
    [[cut]] = backend.generate([inp], GenerationSettings(max_new_tokens=6))
    assert cut.finish_reason == "length"
    # make the model's own first token the end-of-turn token: generation stops there
    batch = backend.encode([inp])
    first = int(backend.model.generate(**batch, max_new_tokens=1, do_sample=False)[0, -1])
    saved = backend._generation_defaults.eos_token_id
    backend._generation_defaults.eos_token_id = [first]
    try:
        [[stopped]] = backend.generate([inp], GenerationSettings(max_new_tokens=6))
    finally:
        backend._generation_defaults.eos_token_id = saved
    assert stopped.finish_reason == "stop"
    # the baseline records one reason per run
    items = load_manifest(synthetic_data["manifests"]["animal"])
    lines = _baseline(backend, items, synthetic_data["data_root"], tmp_path / "reasons.jsonl", 4, limit=2)
    for line in lines.values():
        assert line["runs_finish_reasons"] == ["length", "length"]  # 10 tokens of a random model

