"""Audio interventions give the same lines whatever the batch size (issue 11, item 1).

Real SAKURA clips of several classes (../shared/sakura-sample-mixed/, all Animal clips are 5.0 s,
so length sorting puts an item's swap next to its other conditions) and a backend that *hears*:
its answer is a function of the exact samples it is given. A swap must hear the source's clip.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import pytest

from audiofaith.backends.base import Backend, GenerationSettings, ModelInput
from audiofaith.interventions import InterventionContext, audio as family
from audiofaith.store.jsonl import read_jsonl
from audiofaith.text.prompts import DEFAULT_PROFILE
from audiofaith.store.records import BaselineRecord
from audiofaith.runners.common import AudioCache
from audiofaith.runners.variants import VariantConfig, run_variants
from tests.conftest import requires

MIXED = Path(__file__).resolve().parents[3] / "shared" / "sakura-sample-mixed"
needs_mixed = requires((MIXED / "data").is_dir(), f"{MIXED} is absent (../shared)")


def heard_letter(samples: "np.ndarray | None", letters: Sequence[str]) -> str:
    """The letter a listener that only depends on the exact samples would pick."""
    if samples is None:
        return letters[0]
    digest = hashlib.sha1(np.ascontiguousarray(samples, dtype=np.float32).tobytes()).digest()
    return letters[digest[0] % len(letters)]


class HearingBackend(Backend):
    key = "hearing"
    max_audio_seconds = 30.0

    def generate(self, inputs: Sequence[ModelInput], settings: GenerationSettings) -> List[List[str]]:
        return [[f"I hear it. Answer: ({heard_letter(inp.audio, 'ABCD')})"] * settings.num_return_sequences
                for inp in inputs]

    def score_letters(self, inputs, letters) -> List[Dict[str, float]]:
        out = []
        for inp, row in zip(inputs, letters):
            favourite = heard_letter(inp.audio, row)
            out.append({letter: (-0.1 if letter == favourite else -3.0) for letter in row})
        return out

    def provenance(self):
        return {"model_key": self.key}


@pytest.fixture(scope="module")
def mixed_animal():
    from audiofaith.benchmarks.sakura import build_track

    return build_track(MIXED, "animal", MIXED.parent)


def _run(items, tmp_path: Path, batch_size: int) -> List[dict]:
    parser = argparse.ArgumentParser()
    family.add_arguments(parser)
    opts = vars(parser.parse_args(["--perturbations", "silence", "noise_snr", "swap", "no_audio",
                                   "--snr_db", "0", "--modes", "fixed_cot", "regenerate"]))
    results = [BaselineRecord(id=item.id, model="hearing", prompt_mode="cot", answer=item.answer, subset=item.subset,
                              hop=item.hop, runs_reasonings=["It sounds like an animal."],
                              runs_raw=["It sounds like an animal. Answer: (A)"], runs_predictions=["A"],
                              runs_letter_logprobs=[{"A": -0.1, "B": -3.0, "C": -3.0, "D": -3.0}])
               for item in items]
    backend = HearingBackend()
    context = InterventionContext(items=items, results=results, profile=DEFAULT_PROFILE, options=opts, seed=0,
                                  backend=backend, model_key="hearing")
    out = tmp_path / f"audio_b{batch_size}.jsonl"
    run_variants(backend, family.build_variants(context), MIXED.parent, out,
                 VariantConfig(model_key="hearing", batch_size=batch_size), DEFAULT_PROFILE)
    return sorted(read_jsonl(out), key=lambda line: json.dumps(line, sort_keys=True))


@needs_mixed
def test_swap_and_every_condition_are_batch_size_invariant(mixed_animal, tmp_path):
    one, eight = _run(mixed_animal, tmp_path, 1), _run(mixed_animal, tmp_path, 8)
    assert len(one) == len(eight) > 0
    assert one == eight


@needs_mixed
def test_swap_hears_the_source_clip(mixed_animal, tmp_path):
    by_id = {item.id: item for item in mixed_animal}
    cache = AudioCache(MIXED.parent, 30.0, "hearing")
    lines = [line for line in _run(mixed_animal, tmp_path, 8)
             if line["condition"] == "swap" and line["error"] is None and line["mode"] == "fixed_cot"]
    assert lines
    differs = 0
    for line in lines:
        target, source = by_id[line["id"]], by_id[line["swap_source_id"]]
        source_samples = cache.load(source).audio.samples
        own_samples = cache.load(target).audio.samples
        assert line["prediction"] == heard_letter(source_samples, target.letters), line["id"]
        differs += heard_letter(source_samples, target.letters) != heard_letter(own_samples, target.letters)
    assert differs > 0  # the check above could tell the two clips apart


# -- issue 11, item 5: a swap must change the correct answer -------------------------------------

def _item(name, label, hop, question, choices, gold):
    from audiofaith.store.records import ManifestItem

    return ManifestItem(id=f"sakura/animal/{hop}/{name}", dataset="sakura", subset="animal", hop=hop,
                        audio=f"a/{name}.wav", question=question, choices=tuple(choices),
                        answer="ABCD"[choices.index(gold)], meta={"attribute_label": label})


def test_multi_hop_swap_sources_answer_the_question_differently():
    question, options = "How does this animal move?", ["Walking", "Swimming", "Flying", "Slithering"]
    items = [_item("cat1", "cat", "multi", question, options, "Walking"),
             _item("dog1", "dog", "multi", question, options[::-1], "Walking"),  # shares cat's answer
             _item("frog1", "frog", "multi", question, options, "Swimming"),
             _item("pig1", "pig", "multi", "What does it eat?", ["Grass", "Insects", "Seeds", "Anything"], "Anything")]
    table = family.answer_table(items)
    for seed in range(20):
        plan = family.swap_plan(items, seed)
        assert plan["sakura/animal/multi/cat1"].id == "sakura/animal/multi/frog1"
        assert plan["sakura/animal/multi/dog1"].id == "sakura/animal/multi/frog1"
        assert plan["sakura/animal/multi/frog1"].id in {"sakura/animal/multi/cat1", "sakura/animal/multi/dog1"}
        assert plan["sakura/animal/multi/pig1"] is None  # no clip known to answer "What does it eat?" otherwise
        assert family.swap_plan(items, seed, "label")["sakura/animal/multi/pig1"] is not None
    assert family.answer_to(items[1], items[0], table) == (True, "Walking")
    assert family.answer_to(items[3], items[0], table) == (False, None)


@needs_mixed
def test_swap_lines_record_the_sources_answer_to_the_targets_question(mixed_animal, tmp_path):
    by_id = {item.id: item for item in mixed_animal}
    lines = [line for line in _run(mixed_animal, tmp_path, 8) if line["condition"] == "swap"]
    single = [l for l in lines if l["hop"] == "single"]
    assert single and all(l["error"] is None and l["swap_answer_known"] is True for l in single)
    for line in single:
        target = by_id[line["id"]]
        gold = target.choices[target.letters.index(target.answer)]
        assert line["swap_source_answer_to_target"] != gold
        assert line["swap_source_answer_to_target"] in (None, by_id[line["swap_source_id"]].meta["attribute_label"])
    # SAKURA's multi-hop questions are each asked once here: no clip is known to answer one
    # differently, so the default restricts them to error lines that say why
    multi = [l for l in lines if l["hop"] == "multi"]
    assert multi and all(l["swap_source_id"] is None and "known to answer" in l["error"] for l in multi)


@needs_mixed
@pytest.mark.slow
def test_real_backend_with_prefix_cache_is_batch_size_invariant(mixed_animal, tiny_qwen2_audio, tmp_path):
    """The tiny Qwen2-Audio through from_pretrained, letters scored with the shared-prefix cache
    (rows that share text and audio object): a swap must never share its target's clean prefix."""
    from audiofaith.backends import load_backend

    backend = load_backend("qwen2_audio", str(tiny_qwen2_audio), device="cpu", dtype="fp32")
    items = [item for item in mixed_animal if item.hop == "single"][:6]
    parser = argparse.ArgumentParser()
    family.add_arguments(parser)
    opts = vars(parser.parse_args(["--perturbations", "silence", "swap", "--modes", "fixed_cot"]))
    results = [BaselineRecord(id=item.id, model="qwen2_audio", prompt_mode="cot", answer=item.answer,
                              subset=item.subset, hop=item.hop, runs_reasonings=["It sounds like an animal."],
                              runs_raw=["It sounds like an animal. Answer: (A)"], runs_predictions=["A"])
               for item in items]
    outputs = {}
    for batch_size in (1, 8):
        context = InterventionContext(items=items, results=results, profile=DEFAULT_PROFILE, options=opts, seed=0,
                                      backend=backend, model_key="qwen2_audio", manifest=mixed_animal)
        out = tmp_path / f"b{batch_size}.jsonl"
        run_variants(backend, family.build_variants(context), MIXED.parent, out,
                     VariantConfig(model_key="qwen2_audio", batch_size=batch_size), DEFAULT_PROFILE)
        outputs[batch_size] = {(l["id"], l["condition"]): l["letter_logprobs"] for l in read_jsonl(out)}
    assert outputs[1].keys() == outputs[8].keys() and len(outputs[1]) == 2 * len(items)
    for key, scores in outputs[1].items():
        assert outputs[8][key] == pytest.approx(scores, abs=1e-4), key
    # the model hears the audio at all: a swapped clip and silence score differently
    assert any(outputs[1][(item.id, "swap")] != pytest.approx(outputs[1][(item.id, "silence")], abs=1e-4)
               for item in items)
