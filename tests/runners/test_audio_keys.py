"""The runners name each model input's audio (``ModelInput.audio_key``) by its source file and
audio edit, the explicit key on which a backend shares prompt prefixes."""

from __future__ import annotations

import numpy as np

from audiofaith.store.manifest import load_manifest
from audiofaith.text.prompts import DEFAULT_PROFILE
from audiofaith.runners.baseline import BaselineConfig, run_baseline
from audiofaith.runners.variants import Variant, VariantConfig, run_variants
from tests.runners.fake_backend import FakeBackend


class Recording(FakeBackend):
    """The fake backend, keeping every input it scored."""

    def __init__(self) -> None:
        super().__init__()
        self.scored = []

    def score_letters(self, inputs, letters):
        self.scored.extend(inputs)
        return super().score_letters(inputs, letters)


def test_variants_are_keyed_by_file_and_edit(synthetic_data, tmp_path):
    items = load_manifest(synthetic_data["manifests"]["animal"])
    item = items[0]
    other = next(i for i in items if i.audio != item.audio)
    silence = lambda samples, item: np.zeros_like(samples)  # noqa: E731
    louder = lambda samples, item: samples * 2  # noqa: E731

    def variant(target, condition, k, edit=None):
        return Variant(item=target, run=0, condition=condition, params={"k": k}, baseline_prediction="A",
                       reasoning="(A)", audio_edit=edit)

    variants = [variant(item, "plain", 1), variant(item, "plain", 2), variant(item, "silence", 1, silence),
                variant(item, "silence", 2, silence), variant(item, "louder", 1, louder), variant(other, "plain", 1)]
    backend = Recording()
    run_variants(backend, variants, synthetic_data["data_root"], tmp_path / "out.jsonl",
                 VariantConfig(model_key="fake", batch_size=8), DEFAULT_PROFILE)
    by_audio = {}
    for inp in backend.scored:
        by_audio.setdefault(inp.audio_key, []).append(inp)
    assert len(by_audio) == 4  # item's file, its two edits, the other item's file
    assert len(by_audio[item.audio]) == 2 and len(by_audio[other.audio]) == 1
    edited = [key for key in by_audio if key not in (item.audio, other.audio)]
    assert sorted(len(by_audio[key]) for key in edited) == [1, 2]
    assert all(key.startswith(item.audio) for key in edited)
    for rows in by_audio.values():  # one key: one array (what the prefix cache relies on)
        assert all(row.audio is rows[0].audio for row in rows)


def test_baseline_runs_of_one_item_share_their_file_key(synthetic_data, tmp_path):
    items = load_manifest(synthetic_data["manifests"]["animal"])[:3]
    backend = Recording()
    run_baseline(backend, items, synthetic_data["data_root"], tmp_path / "b.jsonl",
                 BaselineConfig(model_key="fake", num_runs=2, batch_size=3), DEFAULT_PROFILE)
    assert sorted(inp.audio_key for inp in backend.scored) == sorted(item.audio for item in items for _ in range(2))
