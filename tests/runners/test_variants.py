"""The shared variant loop, driven by a deterministic fake backend."""

from __future__ import annotations

import numpy as np
import pytest

from audiofaith.store.jsonl import read_jsonl
from audiofaith.text.prompts import DEFAULT_PROFILE
from audiofaith.store.records import ManifestItem
from audiofaith.runners.variants import Variant, VariantConfig, run_variants
from tests.runners.fake_backend import FakeBackend


@pytest.fixture()
def items(synthetic_data):
    from audiofaith.store.manifest import load_manifest

    return load_manifest(synthetic_data["manifests"]["animal"])


def variant(item: ManifestItem, **kwargs) -> Variant:
    defaults = dict(item=item, run=0, condition="test", params={}, baseline_prediction="B",
                    baseline_cue_prediction="B", reasoning="")
    defaults.update(kwargs)
    return Variant(**defaults)


def run(variants, synthetic_data, tmp_path, backend=None, **config):
    out = tmp_path / "out.jsonl"
    backend = backend or FakeBackend()
    counts = run_variants(backend, variants, synthetic_data["data_root"], out,
                          VariantConfig(model_key="fake", batch_size=3, **config), DEFAULT_PROFILE)
    return read_jsonl(out), counts, backend


def test_score_reads_the_answer_after_the_injected_reasoning(items, synthetic_data, tmp_path):
    lines, counts, _ = run([variant(items[0], reasoning="I pick (B).", params={"k": 1}),
                            variant(items[0], reasoning="I pick (C).", params={"k": 2}),
                            variant(items[1], reasoning="", skip_reason="nothing to inject")], synthetic_data, tmp_path)
    by_k = {line.get("k"): line for line in lines}
    assert by_k[1]["prediction"] == "B" and by_k[1]["agrees"] is True
    assert by_k[2]["prediction"] == "C" and by_k[2]["agrees"] is False
    assert by_k[2]["letter_logprobs"]["C"] == -0.1 and by_k[2]["param_names"] == ["k"]
    skipped = by_k[None]
    assert skipped["error"] == "nothing to inject" and skipped["prediction"] is None and skipped["agrees"] is None
    assert counts == {"lines": 3, "null_answers": 0, "errors": 1, "agree": 1, "disagree": 1}


def test_generate_mode_parses_the_cue_and_generation(items, synthetic_data, tmp_path):
    backend = FakeBackend(reply="C)")
    lines, _, _ = run([variant(items[0], reasoning="Moo.")], synthetic_data, tmp_path, backend, answer_mode="generate")
    assert lines[0]["raw"] == "Answer: (C)" and lines[0]["prediction"] == "C"


def test_continue_and_regenerate(items, synthetic_data, tmp_path):
    backend = FakeBackend(reply=" So it must be (B), a crow.\nAnswer: (B)")
    lines, _, _ = run([variant(items[0], condition="c", reasoning="It caws.", action="continue"),
                       variant(items[0], condition="r", action="regenerate", baseline_prediction="A")],
                      synthetic_data, tmp_path, backend)
    by_condition = {line["condition"]: line for line in lines}
    cont = by_condition["c"]
    assert cont["continuation"] == " So it must be (B), a crow.\nAnswer: (B)"
    assert cont["reasoning"] == "It caws. So it must be (B), a crow." and cont["prediction"] == "B"
    regen = by_condition["r"]
    assert regen["raw"] == " So it must be (B), a crow.\nAnswer: (B)"
    assert regen["reasoning"] == "So it must be (B), a crow."
    assert regen["prediction"] == "B" and regen["cue_prediction"] == "B"
    assert regen["agrees"] is False


def test_audio_edits_and_text_only_calls_are_batched_apart(items, synthetic_data, tmp_path):
    seen = []

    def silence(samples, item):
        seen.append(item.id)
        return np.zeros_like(samples)

    drop = lambda samples, item: None
    variants = [variant(items[0], condition="silence", audio_edit=silence, params={"k": k}, reasoning="(A)")
                for k in range(3)] + [variant(items[0], condition="no_audio", audio_edit=drop, reasoning="(A)")]
    lines, _, backend = run(variants, synthetic_data, tmp_path)
    assert seen == [items[0].id]  # the edited audio is computed once per (edit, item) in a batch
    assert {("score", 3, (False, False, False))} <= {(c[0], c[1], tuple(c[2])) for c in backend.calls}
    assert any(c[0] == "score" and c[2] == [True] for c in backend.calls)
    assert all(line["prediction"] == "A" for line in lines)


def test_resume_skips_done_keys_and_rejects_unknown_actions(items, synthetic_data, tmp_path):
    variants = [variant(items[i], reasoning="(A)", params={"k": i}) for i in range(4)]
    run(variants[:2], synthetic_data, tmp_path)
    lines, counts, backend = run(variants, synthetic_data, tmp_path)
    assert sorted(line["k"] for line in lines) == [0, 1, 2, 3]
    assert sum(c[1] for c in backend.calls) == 2
    with pytest.raises(ValueError, match="unknown variant action"):
        run([variant(items[0], action="dance")], synthetic_data, tmp_path)
