"""Typed, frozen, versioned result records: round trips, the one migration from version 0 (today's
golden lines), and the runners writing exactly the old lines plus ``schema_version``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audiofaith.store.jsonl import read_jsonl
from audiofaith.store.records import (
    SCHEMA_VERSION,
    BaselineRecord,
    ConditionedRecord,
    InterventionRecord,
    ManifestItem,
    RecordError,
    migrate,
    read_result_line,
)
from tests.records_scenario import FILES, scenario_lines, write_scenario

GOLDEN = Path(__file__).parent / "golden" / "records"


def golden_lines(name: str):
    return read_jsonl(GOLDEN / f"{name}.jsonl")


@pytest.mark.parametrize("name", FILES)
def test_version_0_lines_load_and_migrate_adding_only_the_version(name):
    for line in golden_lines(name):
        assert "schema_version" not in line
        migrated = migrate(line)
        assert migrated == {**line, "schema_version": SCHEMA_VERSION} and "schema_version" not in line
        record = read_result_line(line, f"{name}.jsonl")
        assert record.to_json() == migrated  # every field kept, none invented
        assert list(record.to_json()) == ["schema_version"] + list(line)  # and in the same order


def test_the_runners_write_the_old_lines_plus_the_version(tmp_path):
    """Behaviour unchanged: the scenario's lines equal the golden version-0 lines + schema_version."""
    for name, path in write_scenario(tmp_path).items():
        lines = [json.loads(text) for text in scenario_lines(path, tmp_path).splitlines()]
        old = golden_lines(name)
        assert [line["schema_version"] for line in lines] == [SCHEMA_VERSION] * len(old), name
        assert [{k: v for k, v in line.items() if k != "schema_version"} for line in lines] == old, name
        assert all(list(line)[0] == "schema_version" for line in lines)


def test_older_version_0_lines_get_the_documented_defaults():
    line = golden_lines("baseline")[1]
    older = {k: v for k, v in line.items() if k not in ("dataset", "protocol", "runs_finish_reasons",
                                                         "runs_answer_raw")}
    migrated = migrate(older)
    assert (migrated["dataset"], migrated["protocol"], migrated["runs_finish_reasons"],
            migrated["runs_answer_raw"]) == ("", "ours", [], [])
    line = golden_lines("conditioned")[0]
    record = InterventionRecord.from_json({k: v for k, v in line.items() if k not in ("dataset", "protocol")})
    assert (record.dataset, record.protocol, record.params) == ("", "ours", {})
    assert record.extra == {"audio_warnings": line["audio_warnings"]}


def test_intervention_lines_split_parameters_from_results():
    lines = golden_lines("interventions_logits")
    record = next(InterventionRecord.from_json(line) for line in lines if line["condition"] == "adding_mistakes")
    assert record.params == {"i": 0, "continued": True}
    assert record.extra["mentions_b"] is True and record.extra["continuation"].startswith(" It caws")
    assert record.key() == ("sakura/animal/single/dog1", 0, "adding_mistakes", '{"continued": true, "i": 0}')
    skipped = next(InterventionRecord.from_json(line) for line in lines if (line["error"] or "").startswith("the "))
    assert skipped.prediction is None and "audio_warnings" not in skipped.extra


def test_records_are_frozen_and_the_old_name_still_works():
    record = BaselineRecord.from_json(golden_lines("baseline")[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.error = "x"  # type: ignore[misc]
    assert isinstance(record.runs_predictions, tuple)
    changed = dataclasses.replace(record, runs_predictions=["B", None])
    assert changed.runs_predictions == ("B", None) and record.runs_predictions == ("A", "A")
    assert ConditionedRecord is InterventionRecord
    with pytest.raises(dataclasses.FrozenInstanceError):
        InterventionRecord.from_json(golden_lines("conditioned")[0]).prediction = "B"  # type: ignore[misc]


def test_a_newer_or_bad_version_is_refused_naming_the_line():
    line = golden_lines("conditioned")[0]
    with pytest.raises(RecordError, match=r"out\.jsonl:3: schema_version 99 is newer"):
        read_result_line({**line, "schema_version": 99}, "out.jsonl:3")
    with pytest.raises(RecordError, match="non-negative integer"):
        migrate({**line, "schema_version": "1"}, "x")
    with pytest.raises(RecordError, match="not a conditioned / intervention record, missing run"):
        InterventionRecord.from_json({"id": "a", "condition": "full"}, "x")
    with pytest.raises(RecordError, match="param_names"):
        InterventionRecord.from_json({**line, "param_names": ["k"]}, "x")


def test_parameters_or_results_may_not_shadow_fields():
    record = InterventionRecord(id="a", model="m", run=0, condition="c", answer_mode="logits", answer="A",
                                extra={"schema_version": 3})
    with pytest.raises(ValueError, match="shadow"):
        record.to_json()


def test_manifest_items_round_trip_with_a_version():
    item = ManifestItem(id="sakura/animal/single/dog1", dataset="sakura", subset="animal", hop="single",
                        audio="a.wav", question="Which?", choices=("dog", "cat"), answer="A", meta={"row": 1})
    line = item.to_json()
    assert list(line)[0] == "schema_version" and line["schema_version"] == SCHEMA_VERSION
    assert ManifestItem.from_json(line) == item
    assert ManifestItem.from_json({k: v for k, v in line.items() if k != "schema_version"}) == item
    with pytest.raises(RecordError, match="newer"):
        ManifestItem.from_json({**line, "schema_version": SCHEMA_VERSION + 1})


values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5))
names = st.sampled_from(["k", "n", "mode", "snr_db", "hint_letter", "switched_to_hint", "continuation", "tts"])
letters = st.sampled_from("ABCD")


@given(params=st.dictionaries(names, values, max_size=3), extra=st.dictionaries(names, values, max_size=3),
       prediction=st.one_of(st.none(), letters), run=st.integers(0, 9),
       logprobs=st.dictionaries(letters, st.floats(-20, 0), max_size=4))
def test_intervention_records_round_trip(params, extra, prediction, run, logprobs):
    extra = {k: v for k, v in extra.items() if k not in params}
    record = InterventionRecord(id="x/y", model="m", run=run, condition="c", answer_mode="logits", answer="A",
                                params=params, extra=extra, prediction=prediction, letter_logprobs=logprobs)
    line = json.loads(json.dumps(record.to_json()))
    again = InterventionRecord.from_json(line)
    assert again == record and again.key() == record.key() and again.to_json() == line


@given(runs=st.lists(st.tuples(st.text(max_size=8), st.one_of(st.none(), letters)), max_size=3),
       error=st.one_of(st.none(), st.text(min_size=1, max_size=8)), seconds=st.one_of(st.none(), st.floats(0, 60)))
def test_baseline_records_round_trip(runs, error, seconds):
    record = BaselineRecord(id="x/y", model="m", prompt_mode="cot", answer="A", runs_raw=[r for r, _ in runs],
                            runs_reasonings=[r for r, _ in runs], runs_predictions=[p for _, p in runs],
                            runs_correct=[None if p is None else p == "A" for _, p in runs],
                            runs_letter_logprobs=[{"A": -0.5, "B": -1.0} for _ in runs], audio_seconds=seconds,
                            error=error, warnings=["w"])
    line = json.loads(json.dumps(record.to_json()))
    again = BaselineRecord.from_json(line)
    assert again == record and again.to_json() == line
