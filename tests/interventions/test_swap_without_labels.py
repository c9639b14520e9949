"""Swaps on benchmarks without class labels (MMAU, MMAR; issue 22, item 2): a lent clip's gold
text answers a different question, so its answer to the target's question is unknown, unless both
items ask the same question with the same options. Unknown swaps are refused by default (an error
line, as for SAKURA multi-hop) and, with ``--swap_multi_hop label``, written with
``swap_answer_known: false`` and reported in rows of their own."""

from __future__ import annotations

import argparse
import json

import pytest

from audiofaith.benchmarks import get_spec
from audiofaith.benchmarks.common import build_benchmark
from audiofaith.interventions import InterventionContext, audio as family
from audiofaith.text.prompts import DEFAULT_PROFILE
from audiofaith.store.records import BaselineRecord, InterventionRecord
from audiofaith.report.load import conditioned_line
from tests.runners.fake_backend import FakeBackend
from tests.test_benchmarks import mmau_question

SHARED = "Which instrument plays the melody?"


@pytest.fixture()
def mmau_items(tmp_path):
    questions = [mmau_question("u-sound-1", "sound", ["Man", "Woman", "Child", "Robot"], "Woman"),
                 mmau_question("u-sound-2", "sound", ["Lake", "Air", "A kitchen", "A race"], "A race"),
                 mmau_question("u-sound-3", "sound", ["Thunder", "Birds", "White noise", "Wind"], "Birds"),
                 mmau_question("u-sound-4", "sound", ["Dog", "Cat", "Cow", "Horse"], "Cow"),
                 # two clips asked the same question with the same options: each one's answer is known
                 {**mmau_question("u-sound-5", "sound", ["Piano", "Violin", "Flute"], "Piano"), "question": SHARED},
                 {**mmau_question("u-sound-6", "sound", ["Flute", "Piano", "Violin"], "Violin"), "question": SHARED}]
    metadata = tmp_path / "mmau-test-mini.json"
    metadata.write_text(json.dumps(questions), encoding="utf-8")
    built = build_benchmark(get_spec("mmau"), metadata, tmp_path / "audio", tmp_path, require_audio=False)
    return built["sound"]


def _options(*argv: str) -> dict:
    parser = argparse.ArgumentParser()
    family.add_arguments(parser)
    return vars(parser.parse_args(["--perturbations", "swap", "--modes", "regenerate", *argv]))


def _variants(items, *argv):
    results = [BaselineRecord(id=item.id, model="fake", prompt_mode="cot", answer=item.answer, subset=item.subset,
                              hop=item.hop, runs_reasonings=["It sounds like that."], runs_raw=["(A)"],
                              runs_predictions=["A"]) for item in items]
    context = InterventionContext(items=items, results=results, profile=DEFAULT_PROFILE, options=_options(*argv),
                                  backend=FakeBackend(), model_key="fake")
    return {v.item.id: v for v in family.build_variants(context)}


def test_mmau_items_have_no_class_and_no_known_answer_to_another_question(mmau_items):
    by_id = {item.id: item for item in mmau_items}
    assert all(family.class_label(item) is None and not family.asks_for_the_class(item) for item in mmau_items)
    table = family.answer_table(mmau_items)
    assert family.answer_to(by_id["u-sound-2"], by_id["u-sound-1"], table) == (False, None)
    assert family.answer_to(by_id["u-sound-6"], by_id["u-sound-5"], table) == (True, "Violin")


def test_by_default_only_known_swaps_run_and_the_rest_are_error_lines(mmau_items):
    variants = _variants(mmau_items)
    assert len(variants) == len(mmau_items)
    for item_id in ("u-sound-5", "u-sound-6"):
        v = variants[item_id]
        assert v.skip_reason is None and v.extra["swap_answer_known"] is True
        assert v.params["swap_source_id"] != item_id and v.extra["swap_source_answer_to_target"] in ("Piano", "Violin")
    for item_id in ("u-sound-1", "u-sound-2", "u-sound-3", "u-sound-4"):
        v = variants[item_id]
        assert v.params["swap_source_id"] is None and "without a class label" in v.skip_reason


def test_with_label_fallback_unknown_swaps_are_marked_and_kept_apart(mmau_items):
    variants = _variants(mmau_items, "--swap_multi_hop", "label")
    unknown = [v for v in variants.values() if v.extra.get("swap_answer_known") is False]
    assert len(unknown) == 4 and all(v.skip_reason is None for v in unknown)
    assert all(v.extra["swap_source_answer_to_target"] is None for v in unknown)
    # every line of a swap whose answer is not known is its own report row, never pooled with known swaps
    variants_in_report = set()
    for v in variants.values():
        record = InterventionRecord(id=v.item.id, model="fake", run=0, condition="swap", answer_mode="logits",
                                    answer=v.item.answer, subset="sound", hop=v.item.hop, dataset="mmau",
                                    params=dict(v.params), extra=dict(v.extra), prediction="A")
        line = conditioned_line(record, {}, v.item.id)
        variants_in_report.add((line.variant, v.extra["swap_answer_known"]))
    assert variants_in_report == {("mode=regenerate", True), ("mode=regenerate, swap_answer_known=False", False)}
