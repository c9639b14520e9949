"""Validation: the pipeline recovers the faithfulness planted in the known-answer checkpoints.

Every planted metric (known_answer.contrast.METRICS: the curves point by point, the AOCs, the audio
conditions, the answer generated and parsed, two sampled runs) must fall in its two-sided planted
band, over exactly the planted number of answers (no error, no null dropped silently).
docs/validation.md lists the bugs each row catches (measured with scratch patches).
"""

from __future__ import annotations

import pytest

from audiofaith.store.jsonl import read_jsonl
from audiofaith.checkpoints.known_answer import contrast, task
from audiofaith.store.manifest import load_manifest

CASES = [(metric.name, variant) for metric in contrast.METRICS for variant in contrast.VARIANTS]


@pytest.mark.parametrize("name,variant", CASES, ids=[f"{v}: {n}" for n, v in CASES])
def test_planted_value_is_in_its_band_over_every_answer(measured, name, variant):
    metric = next(m for m in contrast.METRICS if m.name == name)
    value, band = measured[name][variant], metric.expected[variant]
    assert value.value in band, f"{variant}, {name}: {value} outside the planted {band}"
    assert value.n == metric.n, f"{variant}, {name}: over {value.n} answers, planted {metric.n}"
    assert value.lines in (-1, metric.n), f"{variant}, {name}: {value.lines} lines, planted {metric.n}"


def test_aocs_of_the_two_checkpoints_have_disjoint_cis(measured):
    for name in ("early answering AOC", "mistake, answer at once AOC"):
        faithful, posthoc = measured[name]["faithful"], measured[name]["posthoc"]
        assert faithful.low > posthoc.high, (name, str(faithful), str(posthoc))


def test_the_contrast_table_lists_every_metric_and_band(measured):
    table = contrast.markdown_table(measured)
    assert table.count("\n") == len(contrast.METRICS) + 2
    assert all(metric.name in table for metric in contrast.METRICS)
    assert contrast.failures(measured) == []


def test_swaps_lend_a_clip_of_another_class(known_answer_outputs, known_answer_checkpoints):
    """The swap condition's own bookkeeping: every source is a held-out clip of another class."""
    items = {item.id: item for item in load_manifest(known_answer_checkpoints["posthoc"] / "task" / "heldout_manifest.jsonl")}
    lines = [line for line in read_jsonl(known_answer_outputs["posthoc"] / "interventions" / "audio_heldout.jsonl")
             if line["condition"] == "swap"]
    assert len(lines) == 2 * contrast.CLIPS
    for line in lines:
        source = items[line["swap_source_id"]]
        assert source.meta["attribute_label"] != items[line["id"]].meta["attribute_label"]
        assert line["swap_source_answer"] == source.meta["attribute_label"]


def test_filler_replaces_the_cot_with_filler_of_its_length(known_answer_outputs):
    """The filler rows measure something only if the filler is there: each line records the length
    of the text it injected, counted in the model's own tokens (``filler_model_tokens``); at
    fraction 1 it is the CoT's length (to within one ' ...' copy), at 0.5 about half, at 0 none."""
    lines = list(read_jsonl(known_answer_outputs["faithful"] / "interventions" / "filler_heldout.jsonl"))
    by_fraction = {}
    for line in lines:
        by_fraction.setdefault(line["length_fraction"], []).append(line)
    assert {f: len(v) for f, v in by_fraction.items()} == {0.0: contrast.CLIPS, 0.5: contrast.CLIPS, 1.0: contrast.CLIPS}
    for line in by_fraction[1.0]:
        assert line["filler_tokens"] > 0 and abs(line["filler_model_tokens"] - line["cot_tokens"]) <= 3, line
    for line in by_fraction[0.5]:
        assert abs(line["filler_model_tokens"] - line["cot_tokens"] / 2) <= 3, line
    assert all(line["filler_model_tokens"] == 0 for line in by_fraction[0.0])


def test_held_out_clips_were_never_trained_on(known_answer_checkpoints, tmp_path):
    heldout_dir = known_answer_checkpoints["faithful"] / "task"
    heldout = load_manifest(heldout_dir / "heldout_manifest.jsonl")
    train = task.write_task(tmp_path, {"train": 384, "dev": 64})
    assert not {i.audio for i in train["train"] + train["dev"]} & {i.audio for i in heldout}
    seen = {(tmp_path / i.audio).read_bytes() for i in train["train"] + train["dev"]}
    assert not any((heldout_dir / i.audio).read_bytes() in seen for i in heldout)


def test_held_out_items_are_balanced_in_the_trained_option_orders(known_answer_checkpoints):
    """16 clips per class, each item's options in one of the orders the checkpoint was trained on
    (the shipped ones: the fixed order; docs/validation.md), its gold letter that class's letter."""
    import json

    info = json.loads((known_answer_checkpoints["faithful"] / "KNOWN_ANSWER.json").read_text(encoding="utf-8"))
    rotations = info["config"]["option_rotations"]
    heldout = load_manifest(known_answer_checkpoints["faithful"] / "task" / "heldout_manifest.jsonl")
    labels = [i.meta["attribute_label"] for i in heldout]
    assert len(heldout) == contrast.CLIPS and all(labels.count(label) == 16 for label in task.LABELS)
    assert {i.meta["rotation"] for i in heldout} == set(range(rotations))
    for item in heldout:
        assert item.choices == task.rotated_choices(item.meta["rotation"])
        assert item.answer == task.letter_of(item.meta["attribute_label"], item.choices)
