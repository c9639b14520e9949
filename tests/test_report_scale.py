"""The report's numbers at scale do not change: the report of synthetic study-like outputs
(``audiofaith.checkpoints.synthetic_outputs``: every line kind, several runs, two models, clips shared by both
hops) is byte-identical to what the line-by-line report wrote before the statistics were vectorised
and the writing columnar. ``tests/golden/report_scale/`` holds that report's CSV files (summary.csv,
aoc.csv, noise_floor.csv, audio_cuts.csv in full; per_item.csv, with the temporary folder replaced by
``<root>``, as its SHA-256), written by the code of commit a18083a. Regenerate only for a deliberate
change of a number: ``python tests/test_report_scale.py``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    sys.path.insert(0, str(REPO))

from audiofaith.report import metrics  # noqa: E402
from audiofaith import report  # noqa: E402
from audiofaith.checkpoints.synthetic_outputs import write_synthetic_outputs  # noqa: E402

GOLDEN = REPO / "tests" / "golden" / "report_scale"
IN_FULL = ("summary.csv", "aoc.csv", "noise_floor.csv", "audio_cuts.csv")
HASHED = ("per_item.csv",)
#: (name, Settings keyword arguments) of each golden report
CASES = {"default": {}, "exclude_cut_cots": {"exclude_cut_cots": True}}


def build_report(tmp: Path, case: str) -> Dict[str, bytes]:
    """The case's CSV files, the temporary folder in per_item.csv's sources replaced by ``<root>``."""
    outputs, manifests, out = tmp / "output", tmp / "manifests", tmp / "report"
    write_synthetic_outputs(outputs, n_clips=8, runs=2, seed=3, manifest_dir=manifests)
    report.write_report(outputs, out, manifests, report.Settings(n_resamples=300, seed=7, **CASES[case]))
    files = {}
    for name in IN_FULL + HASHED:
        data = (out / name).read_bytes()
        files[name] = data.replace(str(outputs).encode("utf-8"), b"<root>")
    return files


@pytest.mark.parametrize("case", sorted(CASES))
def test_report_is_byte_identical_to_the_line_by_line_report(tmp_path, case):
    files = build_report(tmp_path, case)
    hashes = json.loads((GOLDEN / case / "sha256.json").read_text(encoding="utf-8"))
    for name in IN_FULL:
        assert files[name].decode("utf-8") == (GOLDEN / case / name).read_bytes().decode("utf-8"), name
    for name in HASHED:
        assert hashlib.sha256(files[name]).hexdigest() == hashes[name], name


def line_by_line_bootstrap_ci(values, n_resamples, seed, clusters=None):
    """``metrics.bootstrap_ci`` as it was before the draws were shared (commit a18083a), kept as the reference."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    labels = None
    if clusters is not None:
        _, labels = np.unique(np.asarray([str(c) for c in clusters]), return_inverse=True)
    if labels is None or labels.max() + 1 == array.size:
        means = array[rng.integers(0, array.size, size=(n_resamples, array.size))].mean(axis=1)
    else:
        sums, counts = np.bincount(labels, weights=array), np.bincount(labels)
        picks = rng.integers(0, sums.size, size=(n_resamples, sums.size))
        means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    tail = (1.0 - 0.95) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


@pytest.mark.parametrize("kind", ["binary", "difference", "fractional"])
@pytest.mark.parametrize("clustered", [False, True, "one_each"])
def test_shared_draws_give_the_reference_bootstrap_exactly(kind, clustered):
    """Every CI of the report (0/1 outcomes, their paired differences) and any other sample: the
    same floats as the reference, for samples of many sizes sharing the kept draws."""
    rng = np.random.default_rng(11)
    for size in [1, 2, 7, 40, 40, 300, 41, 7]:
        values = {"binary": rng.integers(0, 2, size), "difference": rng.integers(-1, 2, size),
                  "fractional": rng.random(size)}[kind]
        clusters = None
        if clustered == "one_each":
            clusters = [f"clip{i}" for i in rng.permutation(size)]
        elif clustered:
            clusters = [f"clip{c}" for c in rng.integers(0, max(1, size // 3), size)]
        for seed in (0, 5):
            got = metrics.bootstrap_ci(values, n_resamples=250, seed=seed, clusters=clusters)
            assert got == line_by_line_bootstrap_ci(values, 250, seed, clusters), (size, seed)


def test_cluster_codes_of_a_larger_set_give_the_same_bootstrap():
    labels = [f"c{i % 13}" for i in range(60)]
    values = [i % 2 for i in range(60)]
    everything = sorted({*labels, "a", "zz"})
    codes = np.array([everything.index(label) for label in labels])
    assert metrics.bootstrap_ci_coded(values, codes, n_resamples=200, seed=1) == \
        line_by_line_bootstrap_ci(values, 200, 1, labels)



def test_cis_of_one_size_share_one_product_with_the_reference_numbers(monkeypatch):
    """DeferredCIs computes the CIs of one number of clips together (one product with that size's
    draw counts): the same floats as the reference bootstrap, for 0/1 outcomes, differences,
    fractional and empty samples, clustered or not, with the draws looked up once per size."""
    from audiofaith.report.rows import Settings
    from audiofaith.report.stats import DeferredCIs

    rng = np.random.default_rng(4)
    settings = Settings(n_resamples=300, seed=9)
    later, expected, bounds, integer_sizes, n_fractional = DeferredCIs(), [], [], set(), 0
    for size in [12, 30, 12, 30, 12, 5, 30, 1]:
        for kind in ("binary", "difference", "fractional"):
            values = {"binary": rng.integers(0, 2, size), "difference": rng.integers(-1, 2, size),
                      "fractional": rng.random(size)}[kind]
            for clusters in ([f"c{c}" for c in rng.integers(0, max(1, size // 3), size)],
                             [f"c{i}" for i in rng.permutation(size)]):
                expected.append(line_by_line_bootstrap_ci(values, 300, 9, clusters))
                bounds.append(later.ask(values, metrics.cluster_codes(clusters), settings))
                if kind == "fractional":
                    n_fractional += 1
                else:
                    integer_sizes.add(len(set(clusters)))
    looked_up = []
    draws = metrics.resample_draws
    monkeypatch.setattr(metrics, "resample_draws", lambda m, *args: looked_up.append(m) or draws(m, *args))
    got = later.resolve({f"ci{i}_{side}": bound for i, pair in enumerate(bounds) for side, bound in enumerate(pair)})
    assert [(got[f"ci{i}_0"], got[f"ci{i}_1"]) for i in range(len(bounds))] == expected
    assert len(looked_up) == len(integer_sizes) + n_fractional  # one look-up per size, not per CI
    empty, some = metrics.bootstrap_cis_coded([([], None), ([1, 0, 1, 1], None)], n_resamples=50, seed=2)
    assert all(math.isnan(bound) for bound in empty)
    assert some == metrics.bootstrap_ci_coded([1, 0, 1, 1], None, n_resamples=50, seed=2)


def test_the_binomial_weights_are_the_exact_ones_made_fast():
    """The sign-flip test's Binomial(m, ½) weights equal math.comb(m, k) / 2 ** m for every k,
    underflowing terms included, and thousands of clips take milliseconds (it took seconds)."""
    import time

    for m in (0, 1, 2, 7, 64, 1075, 1500):
        reference = np.array([math.comb(m, k) / 2 ** m for k in range(m + 1)])
        assert metrics.binomial_half_weights(m).tobytes() == reference.tobytes(), m
    start = time.process_time()
    metrics.binomial_half_weights(4000)
    assert time.process_time() - start < 0.3


def test_the_summary_draws_each_size_once_with_the_same_numbers(tmp_path, monkeypatch):
    """summarize asks for every CI first and computes them in the order of their number of clips:
    even when only the last size's draws are kept, each size is drawn once (not again whenever
    another size came in between), and the rows are those of a report that kept every size."""
    from collections import OrderedDict

    write_synthetic_outputs(tmp_path / "output", n_clips=8, runs=2, seed=3, manifest_dir=tmp_path / "manifests")
    dataset = report.load_outputs(tmp_path / "output", tmp_path / "manifests")
    settings = report.Settings(n_resamples=300, seed=7)
    kept_every_size = repr(report.summarize(dataset, settings))
    monkeypatch.setattr(metrics, "KEPT_DRAW_CELLS", 1)  # only the most recent size is kept
    monkeypatch.setattr(metrics, "_DRAWS", OrderedDict())
    made = []
    make = metrics.ResampleDraws.__init__

    def counted(self, m, n_resamples, seed):
        made.append(m)
        make(self, m, n_resamples, seed)

    monkeypatch.setattr(metrics.ResampleDraws, "__init__", counted)
    assert repr(report.summarize(dataset, settings)) == kept_every_size
    assert len(made) > 3 and sorted(made) == sorted(set(made)), made


def test_the_collector_pause_ends_with_the_report_or_its_error(tmp_path):
    import gc

    from audiofaith.report.load import cycle_collection_paused

    assert gc.isenabled()
    with pytest.raises(report.ReportError):
        with cycle_collection_paused():
            assert not gc.isenabled()
            raise report.ReportError("a malformed line")
    assert gc.isenabled()
    gc.disable()  # a caller that had paused it itself keeps it paused
    try:
        with cycle_collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "baseline_x.jsonl").write_text("{not json\n", encoding="utf-8")
    with pytest.raises(Exception, match="baseline_x.jsonl:1"):
        report.write_report(tmp_path / "output", tmp_path / "report", None)
    assert gc.isenabled()


def test_a_file_reads_each_line_as_its_record_would(tmp_path):
    """load_file splits conditioned / intervention lines without building their records: every
    Line equals the one built from ``InterventionRecord.from_json``, for every line kind of the
    synthetic outputs and for a version-0 line, a line without optional fields, a parameter that
    shadows a record field and a swap line kept apart by its family's variant suffix."""
    from audiofaith.store.jsonl import iter_jsonl
    from audiofaith.store.records import BaselineRecord, InterventionRecord, is_baseline_line
    from audiofaith.report.load import baseline_lines, conditioned_line, load_file

    write_synthetic_outputs(tmp_path / "output", n_clips=3, runs=2, seed=5)
    extra_lines = [
        {"id": "sakura/animal/single/c0", "model": "m1", "run": 0, "condition": "full", "answer": "A",
         "prediction": "B", "baseline_prediction": "B"},  # version 0: no schema_version, dataset, protocol
        {"schema_version": 1, "id": "sakura/emotion/multi/c1", "run": 1, "condition": "early_answering",
         "model": "m2", "n": 4, "k": 1, "fraction": 0.25, "model_note": "x", "param_names": ["fraction", "k", "n"]},
        {"schema_version": 1, "id": "sakura/animal/multi/c2", "model": "m1", "run": 0, "condition": "noise_snr",
         "answer": "C", "prediction": "C", "letter_logprobs": {"A": -1.0, "C": -1.0}, "error": None,
         "hop": "shadowed", "param_names": ["hop"]},
        {"schema_version": 1, "id": "mmau/sound/single/u1", "model": "m1", "run": 0, "condition": "swap",
         "answer": "A", "prediction": "A", "dataset": "mmau", "subset": "sound", "hop": "single", "mode": "regenerate",
         "swap_source_id": "mmau/sound/single/u2", "swap_answer_known": False, "thinking": "on",
         "audio_warnings": ["cut to 30 s"], "param_names": ["mode", "swap_source_id"]},
    ]
    extra_file = tmp_path / "output" / "m1" / "interventions" / "extra_sakura.jsonl"
    extra_file.write_text("".join(json.dumps(line) + "\n" for line in extra_lines), encoding="utf-8")
    files = sorted((tmp_path / "output").rglob("*.jsonl"))
    assert extra_file in files and len(files) > 5
    for path in files:
        expected = []
        for number, obj in iter_jsonl(path):
            where = f"{path}:{number}"
            if is_baseline_line(obj):
                expected += baseline_lines(BaselineRecord.from_json(obj, where), {}, where)
            else:
                expected.append(conditioned_line(InterventionRecord.from_json(obj, where), {}, where))
        got = load_file(path, {})
        assert got == expected, path
    _, _, shadowed, swap = load_file(extra_file, {})
    assert shadowed.params == {"hop": "shadowed"} and shadowed.hop == "multi"  # the field keeps its default
    assert swap.variant == "mode=regenerate, swap_answer_known=False" and swap.model == "m1 [thinking on]"
    assert swap.audio_cut is not None



def test_lines_of_one_shape_are_split_once_and_each_still_checked(monkeypatch):
    """intervention_fields works out which fields are parameters and results once per line shape
    (its field names and ``param_names``), not per line; a line of a known shape whose
    ``param_names`` name a field it lacks, or a shape of its own, is still checked and split."""
    from audiofaith.store import records

    monkeypatch.setattr(records, "_SPLITS", {})
    split_names = records._split_names
    calls = []
    monkeypatch.setattr(records, "_split_names", lambda obj, names: calls.append(1) or split_names(obj, names))
    line = {"schema_version": 1, "id": "a", "model": "m", "run": 0, "condition": "filler", "fraction": 0.5,
            "hop": "p", "prediction": "A", "switched": True, "param_names": ["fraction", "hop"]}
    for run in range(50):
        fields, params, extra = records.intervention_fields({**line, "run": run, "fraction": run / 50})
        assert params == {"fraction": run / 50, "hop": "p"} and extra == {"switched": True}
        assert fields["run"] == run and "hop" not in fields and fields["reference_field"] == ""
    assert len(calls) == 1
    reordered = {"param_names": ["hop"], **{k: v for k, v in line.items() if k != "param_names"}}
    fields, params, extra = records.intervention_fields(reordered)
    assert params == {"hop": "p"} and extra == {"fraction": 0.5, "switched": True} and len(calls) == 2
    with pytest.raises(records.RecordError, match="param_names"):
        records.intervention_fields({**line, "param_names": ["fraction", "k"]}, "x")
    with pytest.raises(records.RecordError, match="param_names"):
        records.intervention_fields({**line, "param_names": "fraction"}, "x")


def test_a_setting_is_worked_out_once_and_values_that_print_apart_stay_apart(tmp_path, monkeypatch):
    """load_file works out each setting's variant, x value and model label once per load (not per
    line), and keeps apart parameter values that are equal in Python but print differently
    (1, 1.0 and True; 0.0 and -0.0); list parameters are worked out line by line."""
    from audiofaith.report import load

    made = []
    variant = load._variant
    monkeypatch.setattr(load, "_variant", lambda *args: made.append(1) or variant(*args))
    values = [1, 1.0, True, 0.0, -0.0, [1, 2]]
    lines = [{"schema_version": 1, "id": f"sakura/animal/single/c{i}", "model": "m1", "run": run,
              "condition": "noise_snr", "answer": "A", "prediction": "A", "snr_db": 20, "level": value,
              "param_names": ["level", "snr_db"]}
             for i in range(20) for run in range(2) for value in values]
    path = tmp_path / "interventions" / "noise_snr_sakura.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    got = load.load_file(path, {})
    assert [line.variant for line in got[:len(values)]] == [
        "level=1", "level=1.0", "level=True", "level=0.0", "level=-0.0", "level=[1, 2]"]
    assert [line.variant for line in got] == [line.variant for line in got[:len(values)]] * 40
    assert len(made) == len(values) - 1 + 40  # each setting once; the list value on every line
    assert len({id(line.variant) for line in got if line.variant == "level=1"}) == 1



def _typed_line(line) -> Dict[str, str]:
    """A Line's attributes as reprs: ``1``, ``1.0`` and ``True``, ``0.0`` and ``-0.0`` differ (results
    as a dict: loaded lines share read-only ones)."""
    return {field.name: repr(dict(line.result) if field.name == "result" else getattr(line, field.name))
            for field in dataclasses.fields(line)}


_CONDITIONS = ("full", "hint", "early_answering", "adding_mistakes", "paraphrasing", "filler", "mask", "noise_snr",
               "swap", "another_tool's_condition")
_OPTIONAL = {  # a field: the values a generated line may hold (absent when not drawn)
    "answer_mode": ["logits", "generate", ""], "answer": ["A", "B", ""], "dataset": ["sakura", "mmau", ""],
    "reference_field": ["baseline_prediction", "baseline_cue_prediction", ""],
    "baseline_prediction": ["A", "C", None], "baseline_cue_prediction": ["B", None], "prediction": ["A", "B", None],
    "letter_logprobs": [{}, {"A": -1.0, "B": -1.0}, {"A": -0.5, "B": -2.0}], "raw": ["text", None],
    "cot_source_model": ["", "m1", "m9", "reference"], "protocol": ["ours", "paper"], "error": [None, "boom"],
    "thinking": ["on", "off"], "finish_reason": ["stop", "length", None], "rewrite_unchanged": [True, False, 1],
    "audio_warnings": [[], ["audio cut to 30 s"], ["quiet"]], "cue_prediction": ["A"], "reasoning": ["r", None],
    "switched_to_hint": [True, False], "mentions_hint": [False], "swap_answer_known": [False, True]}
_PARAMETERS = {"mode": ["fixed_cot", "regenerate"], "fraction": [0.0, -0.0, 0.25, 0.35, 1, 1.0, True],
               "k": [0, 1, 2], "n": [4], "snr_db": [20, 20.0, -0.0], "hint_letter": ["A", "B"],
               "swap_source_id": ["x/y/single/z"], "mask_ratio": [0.5, 0.25], "cot_source": ["reference", None],
               "level": [[1, 2], 3, "3", {"a": 1}],
               "hop": ["shadowed"]}


@st.composite
def _intervention_lines(draw):
    """Conditioned / intervention lines of several shapes and versions, each field drawn or left out."""
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        line = {"schema_version": draw(st.sampled_from([1, 0, None])),
                "id": draw(st.sampled_from(["sakura/animal/single/c0", "sakura/emotion/multi/c1", "mmau/sound/single/u1"])),
                "model": draw(st.sampled_from(["m1", "m2"])), "run": 0, "condition": draw(st.sampled_from(_CONDITIONS))}
        if line["schema_version"] is None:
            del line["schema_version"]
        for name in draw(st.lists(st.sampled_from(sorted(_OPTIONAL)), unique=True)):
            line[name] = draw(st.sampled_from(_OPTIONAL[name]))
        params = {name: draw(st.sampled_from(_PARAMETERS[name]))
                  for name in draw(st.lists(st.sampled_from(sorted(_PARAMETERS)), unique=True, max_size=4))}
        line.update(params)
        if params or draw(st.booleans()):
            line["param_names"] = sorted(params)
        for run in range(draw(st.integers(1, 3))):  # the same setting again: its group is reused
            lines.append({**line, "run": run})
    return lines


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=_intervention_lines())
def test_every_generated_line_is_read_as_its_record_would_be(tmp_path_factory, lines):
    """load_file's shape readers (one params dict per setting, values read by position, a view
    of the record for a family's variant suffix) give exactly the Line of
    ``conditioned_line(InterventionRecord.from_json(...))`` for lines of every field combination:
    versions, absent fields, both references and legacy lines, protocols, foreign CoTs, thinking
    modes, rewrite and swap results, audio warnings, ties, and parameters that are equal in Python
    but print apart (1, 1.0, True; 0.0, -0.0), lists, or shadow a record field. A manifest item
    gives its answer and clip."""
    from audiofaith.report.load import conditioned_line, load_file
    from audiofaith.store.jsonl import iter_jsonl
    from audiofaith.store.records import InterventionRecord, ManifestItem

    manifest = {"mmau/sound/single/u1": ManifestItem("mmau/sound/single/u1", "mmau", "sound", "single",
                                                     "clips/u1.wav", "q?", ("a", "b"), "B")}
    path = tmp_path_factory.mktemp("lines") / "interventions" / "x.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    expected = [conditioned_line(InterventionRecord.from_json(obj, f"{path}:{number}"), manifest,
                                 f"{path}:{number}") for number, obj in iter_jsonl(path)]
    got = load_file(path, manifest)
    assert [_typed_line(line) for line in got] == [_typed_line(line) for line in expected]


def test_lines_of_one_setting_share_one_parameters_dict_and_its_key(tmp_path):
    """The lines of one setting hold one parameters dict (not one each: less memory, and
    ``params_key`` finds its JSON by the dict's identity); equal values of other types or signs,
    and list values, get their own. Equal letters are one string."""
    from audiofaith.report import load

    lines = [{"schema_version": 1, "id": f"sakura/animal/single/c{i}", "model": "m1", "run": run,
              "condition": "noise_snr", "answer": "A", "prediction": "A", "level": value, "mode": "fixed_cot",
              "param_names": ["level", "mode"]} for i in range(5) for run in range(2) for value in (10, 10.0, -0.0, 0.0, [1])]
    path = tmp_path / "interventions" / "noise_snr_sakura.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    got = load.load_file(path, {})
    for value in range(5):
        same = got[value::5]
        assert all(line.params == same[0].params for line in same)
        assert len({id(line.params) for line in same}) == (1 if value < 4 else len(same))
    assert [load.params_key(line.params) for line in got[:5]] == [
        '{"level": 10, "mode": "fixed_cot"}', '{"level": 10.0, "mode": "fixed_cot"}',
        '{"level": -0.0, "mode": "fixed_cot"}', '{"level": 0.0, "mode": "fixed_cot"}',
        '{"level": [1], "mode": "fixed_cot"}']
    assert load.params_key(got[5].params) is load.params_key(got[0].params)
    # one object per equal letter, as json.loads gives them (orjson makes a new string per value)
    assert len({id(line.answer) for line in got}) == len({id(line.prediction) for line in got}) == 1


def test_lines_with_equal_results_share_one_read_only_mapping(tmp_path):
    """Loaded lines with equal results (a study has a few dozen among millions of lines) hold one
    read-only mapping, lines without results one empty one: equal values of another type (1 and
    True), floats and lists get a dict of their own, and so does every line of a family whose
    cross_reference adds results to them (hint)."""
    from audiofaith.report import load

    values = (True, False, None, 1, 0.0, [1])
    lines = [{"schema_version": 1, "id": f"sakura/animal/single/c{i}", "model": "m1", "run": 0,
              "condition": "adding_mistakes", "answer": "A", "prediction": "A", "fraction": 0.5, "rewrite_unchanged": value,
              "param_names": ["fraction"]} for i in range(3) for value in values]
    lines += [{"schema_version": 1, "id": f"sakura/animal/single/c{i}", "model": "m1", "run": 0, "condition": condition,
               "answer": "A", "prediction": "B", "fraction": 0.5, "hint_letter": "B", "switched_to_hint": True,
               "param_names": ["fraction", "hint_letter"]} for i in range(3) for condition in ("hint", "filler")]
    path = tmp_path / "interventions" / "mixed_sakura.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    got = load.load_file(path, {})
    rewrites, others = got[:3 * len(values)], got[3 * len(values):]
    for index, value in enumerate(values):
        same = rewrites[index::len(values)]
        assert all(line.result == {"rewrite_unchanged": value} for line in same)
        assert all(type(line.result["rewrite_unchanged"]) is type(value) for line in same)
        assert len({id(line.result) for line in same}) == (1 if index < 3 else len(same)), value
    assert rewrites[0].result is not rewrites[3].result  # True and 1: equal, but apart
    with pytest.raises(TypeError):
        rewrites[0].result["rewrite_unchanged"] = False  # shared: read-only
    hints, fillers = others[0::2], others[1::2]
    assert all(line.result is load.NO_RESULTS for line in fillers)  # filler keeps no result fields
    assert len({id(line.result) for line in hints}) == len(hints)
    hints[0].result["no_hint_prediction"] = "A"  # the hint family's cross_reference adds to each line's own
    assert "no_hint_prediction" not in hints[1].result


def test_baseline_lines_share_their_letters_and_places(tmp_path):
    """Baseline Lines hold one string per equal letter, finish reason and place (as json.loads
    gives letters; orjson makes a new string per value), the places worked out once per load."""
    from audiofaith.report import load

    record = {"schema_version": 1, "id": "sakura/animal/single/c0", "model": "m1", "prompt_mode": "cot",
              "answer": "A", "runs_reasonings": ["r", "r"], "runs_predictions": ["B", "B"],
              "runs_finish_reasons": ["stop", "stop"], "runs_letter_logprobs": [{"A": -1.0, "B": -0.5}] * 2}
    path = tmp_path / "baseline_sakura.jsonl"
    path.write_text("".join(json.dumps({**record, "model": f"m{i % 2}"}) + "\n" for i in range(6)), encoding="utf-8")
    memo = load._Memo()
    got = load.load_file(path, {}, memo)
    assert len(got) == 12 and len(memo.places) == 1
    for name in ("answer", "prediction", "finish_reason", "id", "subset", "cluster"):
        assert len({id(getattr(line, name)) for line in got}) == 1, name


_BAD = [({"schema_version": "1"}, "schema_version"), ({"schema_version": True}, "schema_version"),
        ({"schema_version": 2}, "newer"), ({"run": "0"}, "'run' must be an integer"),
        ({"run": True}, "'run' must be an integer"), ({"run": 1.0}, "'run' must be an integer"),
        ({"param_names": "mode"}, "param_names"), ({"param_names": ["mode", "lost"]}, "param_names"),
        ({"model": ""}, "without a 'model'"), ({"reference_field": "x"}, "reference_field must be"),
        ({"id": "elsewhere/u1", "subset": ""}, "no subset/hop"), ({"id": ["a"]}, "unhashable|no subset/hop")]


@pytest.mark.parametrize("change, message", _BAD)
def test_a_bad_line_after_good_ones_of_its_shape_is_named_as_before(tmp_path, change, message):
    """A line of a known shape is still checked value by value: after good lines of its shape, a
    bad one fails with the error ``InterventionRecord.from_json`` and ``conditioned_line`` give,
    naming its file and line."""
    from audiofaith.report.load import ReportError, conditioned_line, load_file
    from audiofaith.store.records import InterventionRecord, RecordError

    good = {"schema_version": 1, "id": "sakura/animal/single/c0", "model": "m1", "run": 0, "condition": "mask",
            "answer": "A", "subset": "animal", "reference_field": "baseline_prediction", "prediction": "A",
            "mode": "fixed_cot", "mask_ratio": 0.5, "param_names": ["mask_ratio", "mode"]}
    bad = {**good, **change}
    path = tmp_path / "interventions" / "mask_sakura.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(line) + "\n" for line in (good, {**good, "run": 1}, bad)), encoding="utf-8")
    where = f"{path}:3"
    with pytest.raises(Exception) as reference:
        conditioned_line(InterventionRecord.from_json(bad, where), {}, where)
    assert isinstance(reference.value, (RecordError, ReportError, TypeError))
    with pytest.raises(Exception, match=message) as got:
        load_file(path, {})
    assert type(got.value) is (ReportError if isinstance(reference.value, RecordError) else type(reference.value))
    assert str(got.value) == str(reference.value)
    if not isinstance(got.value, TypeError):
        assert str(got.value).startswith(where + ":")


def test_the_positional_line_order_is_lines_field_order():
    """_ShapeReader.line builds a Line positionally (twice as fast as by keyword), in _LINE_ORDER."""
    import dataclasses

    from audiofaith.report.load import _LINE_ORDER, Line

    assert _LINE_ORDER == tuple(f.name for f in dataclasses.fields(Line))


def test_a_record_view_reads_as_the_record():
    """RecordView (what a family's variant_suffix gets) reads every attribute as the record
    ``from_json`` builds has it, methods included, and its fields cannot be set."""
    from audiofaith.store.records import InterventionRecord, RecordView, intervention_shape

    for line in ({"schema_version": 1, "id": "a", "run": 0, "condition": "swap", "mode": "x", "swap_answer_known": False,
                  "prediction": "B", "param_names": ["mode"]}, {"id": "a", "run": 2, "condition": "full", "raw": "t"}):
        record = InterventionRecord.from_json(line)
        obj, shape = intervention_shape(line)
        view = RecordView(obj, shape, record.params)
        import dataclasses

        for spec in dataclasses.fields(InterventionRecord):
            assert repr(getattr(view, spec.name)) == repr(getattr(record, spec.name)), spec.name
        assert RecordView(obj, shape, record.params).extra == record.extra  # read first: no record built for it
        fresh = RecordView(obj, shape, record.params)
        assert fresh.extra == record.extra and fresh._record is None
        assert view.key() == record.key() and view.to_json() == record.to_json()
        assert shape.record(obj) == record
        with pytest.raises(AttributeError):
            view.condition = "other"


def test_columns_of_bools_or_floats_are_formatted_as_cell_by_cell():
    from audiofaith.report import tables

    nan = float("nan")
    for values in ([True, None, False], [0.25, None, float("nan"), -0.0, 1e-7, 123456789.0], [1, None, "a", 2.5],
                   [0.0, 0.5, -0.0, 0.5, nan, nan, None], [-0.0, 0.25, -0.0], [0.0, 0.1, 0.0, None]):
        assert list(tables._csv_column(values)) == [tables._csv_value(value) for value in values]


@pytest.mark.skipif(sys.implementation.name != "cpython" or sys.version_info < (3, 10),
                    reason="dataclasses make slots from Python 3.10")
def test_a_line_keeps_its_fields_in_slots(tmp_path):
    """A loaded Line holds its fields in slots, without a dict of its own: 8 bytes a field (in
    CPython's key table shared by the instances of a class, ~56 bytes a line more, and a 30th
    field gave every Line a dict of its own: the report's peak at 320k lines grew from ~0.4 to ~0.8 GB)."""
    from audiofaith.report.load import load_file

    write_synthetic_outputs(tmp_path / "output", n_clips=2, runs=1, seed=5)
    path = sorted((tmp_path / "output").rglob("early_answering_*.jsonl"))[0]
    line = load_file(path, {})[0]
    assert not hasattr(line, "__dict__")
    assert sys.getsizeof(line) <= 64 + 8 * len(dataclasses.fields(line)), sys.getsizeof(line)



def test_the_per_line_condition_look_ups_agree_with_each_spec():
    """join, aoc_rows and the rewrites section test a line's condition against one set each
    (``SpecIndex.aoc_steps`` / ``flagged``) instead of looking its spec up per line: the same answer
    for every declared condition and for one nobody declares."""
    from audiofaith.report.spec import spec_index

    index = spec_index()
    conditions = sorted(index.by_condition) + ["another_tool's_condition"]
    assert {c: index.aoc_step(c) for c in conditions if index.aoc_step(c) is not None} == index.aoc_steps()
    for name in ("aoc_reference", "rewritten"):
        assert {c for c in conditions if getattr(index.spec(c), name)} == index.flagged(name)
    assert index.aoc_steps() and index.flagged("aoc_reference") and index.flagged("rewritten")



def test_the_summary_groups_each_setting_once(tmp_path, monkeypatch):
    """summarize works out a line's group keys once per distinct (dataset, model, subset, hop,
    condition, variant, x), not per line, with the same rows."""
    from audiofaith.report import stats

    write_synthetic_outputs(tmp_path / "output", n_clips=8, runs=2, seed=3)
    dataset = report.load_outputs(tmp_path / "output")
    settings = report.Settings(n_resamples=100, seed=7)
    calls = []
    group_key = stats._group_key
    monkeypatch.setattr(stats, "_group_key", lambda line: calls.append(1) or group_key(line))
    rows = stats.summarize(dataset, settings)
    distinct = {(l.dataset, l.model, l.subset, l.hop, l.condition, l.variant, l.x) for l in dataset.lines}
    assert len(calls) == len(distinct) < len(dataset.lines) / 4
    assert len(rows) > 50


def regenerate() -> None:
    import tempfile

    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            files = build_report(Path(tmp), case)
        folder = GOLDEN / case
        folder.mkdir(parents=True, exist_ok=True)
        for name in IN_FULL:
            (folder / name).write_bytes(files[name])
        hashes = {name: hashlib.sha256(files[name]).hexdigest() for name in HASHED}
        (folder / "sha256.json").write_text(json.dumps(hashes, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    regenerate()


def test_columns_are_written_as_the_csv_module_writes_their_rows(tmp_path, monkeypatch):
    """write_columns joins each row itself, quoting each distinct cell once, and writes the rows a few
    at a time: the bytes of ``csv.writer`` for cells that need quoting (commas, quotes, line breaks),
    cells that print apart although they are equal (1, 1.0, True, 0.0, -0.0), unhashable cells, a
    one-column table and no rows."""
    import csv
    from audiofaith.report import tables

    monkeypatch.setattr(tables, "_ROWS_PER_WRITE", 3)  # 8 rows: writes of 3, 3 and 2

    columns = {
        "text": ["plain", "a,b", 'say "x"', "two\nlines", "cr\rhere", "", "plain", "a,b"],
        "maybe": [None, "x", None, "y,z", None, "x", "", None],
        "quote_only": ["plain", 'say "x"', "p", "q", "", "r", "s", "t"],
        "break_only": ["plain", "p", "two\nlines", "q", "", "r", "s", "t"],
        "ints": [1, 2, None, 3, 1, "a", 2, "b,c"],
        "mixed": [1, 1.0, True, 0.0, -0.0, None, [1, 2], "1"],
        "flags": [True, None, False, True, False, None, None, True],
        "floats": [0.25, None, float("nan"), -0.0, 1e-7, 123456789.0, 0.0, 2.5],
    }
    for names, n_rows in ((list(columns), 8), (["text"], 8), (["maybe"], 8), (list(columns), 0)):
        data = {name: columns[name][:n_rows] for name in names if name != "maybe" or n_rows}
        tables.write_columns(tmp_path / "columns.csv", names + ["absent"], data)
        with open(tmp_path / "rows.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(names + ["absent"])
            for index in range(n_rows):
                writer.writerow([tables._csv_value(data[name][index]) for name in names] + [""])
        assert (tmp_path / "columns.csv").read_bytes() == (tmp_path / "rows.csv").read_bytes(), names
    tables.write_columns(tmp_path / "one.csv", ["maybe"], {"maybe": columns["maybe"]})
    assert (tmp_path / "one.csv").read_text(encoding="utf-8").splitlines()[1] == '""'


def test_columns_are_formatted_one_write_at_a_time(tmp_path, monkeypatch):
    """write_columns formats the cells of one write's rows at a time (the text of every row is never
    held beside the values: 320k lines, 39 MB less at its peak), and quotes each distinct cell of a
    column once, however many writes it appears in."""
    import csv
    from audiofaith.report import tables

    monkeypatch.setattr(tables, "_ROWS_PER_WRITE", 3)
    formatted, quoted = [], []
    column_fields, csv_field = tables._column_fields, tables._csv_field
    monkeypatch.setattr(tables, "_column_fields", lambda values, *rest: formatted.append(len(values)) or
                        column_fields(values, *rest))
    monkeypatch.setattr(tables, "_csv_field", lambda cell: quoted.append(cell) or csv_field(cell))
    data = {"text": ["a,b", "plain", "a,b", 'q"', "a,b", "plain", "a,b", 'q"'], "n": list(range(8))}
    tables.write_columns(tmp_path / "chunked.csv", ["text", "n"], data)
    assert max(formatted) == 3 and sum(formatted) == 2 * 8
    assert sorted(quoted, key=str) == [0, 1, 2, 3, 4, 5, 6, 7, "a,b", "plain", 'q"']
    with open(tmp_path / "rows.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "n"])
        writer.writerows(zip(data["text"], data["n"]))
    assert (tmp_path / "chunked.csv").read_bytes() == (tmp_path / "rows.csv").read_bytes()


def test_per_item_rows_are_ordered_as_a_sort_of_their_key_tuples():
    """per_item_order (ranks per column, one stable lexsort) gives the order of Python's stable sort
    of the key tuples, equal keys in row order."""
    from audiofaith.report.tables import per_item_order

    rng = np.random.default_rng(4)
    n = 500
    keys = [[f"m{v}" for v in rng.integers(0, 3, n)], [f"c{v}" for v in rng.integers(0, 40, n)],
            [int(v) for v in rng.integers(-2, 12, n)], [["", "k=1", "k=10", "k=2"][v] for v in rng.integers(0, 4, n)]]
    expected = sorted(range(n), key=lambda i: tuple(column[i] for column in keys))
    assert per_item_order(keys) == expected
    assert per_item_order([["b", "a", "b", "a"], [1, 1, 1, 1]]) == [1, 3, 0, 2]


def test_the_coded_sign_flip_test_is_the_line_by_line_one():
    """cluster_sign_flip_p_coded (clusters' sums by np.bincount) gives cluster_sign_flip_p's p-values."""
    rng = np.random.default_rng(11)
    for n, n_clusters in ((1, 1), (7, 3), (60, 20), (400, 150)):
        before, after = rng.random(n) < 0.6, rng.random(n) < 0.4
        clusters = [f"clip{c}" for c in rng.integers(0, n_clusters, n)]
        codes = metrics.cluster_codes(clusters) * 3 + 5  # any order-preserving numbering
        assert metrics.cluster_sign_flip_p_coded(after.astype(int) - before, codes) == \
            metrics.cluster_sign_flip_p(list(before), list(after), clusters)
    assert math.isnan(metrics.cluster_sign_flip_p_coded(np.zeros(0, dtype=int), np.zeros(0, dtype=int)))


def test_the_summary_columns_code_every_letter_field_alike():
    """LineColumns gives equal letters of any two fields equal codes, None the code NO_LETTER, and
    each cluster its string's rank; summarize_group over them counts as a line-by-line pass does."""
    from audiofaith.report.rows import Line
    from audiofaith.report.stats import NO_LETTER, LineColumns, summarize_group, Settings

    rng = np.random.default_rng(2)
    letters = ["A", "B", "C", None]
    lines = [Line(model="m", subset="animal", hop="single", id=f"c{i % 9}", run=i % 3, condition="full", variant="",
                  x=None, answer=letters[rng.integers(0, 3)], prediction=letters[rng.integers(0, 4)],
                  reference=letters[rng.integers(0, 4)], paired=bool(rng.integers(0, 4)),
                  error=None if rng.random() < 0.9 else "boom", source=f"f:{i}", cluster=f"clip{i % 5}",
                  reference_kind=["parsed", "readout", ""][rng.integers(0, 3)],
                  readout_tie=[None, True, False][rng.integers(0, 3)]) for i in range(200)]
    columns = LineColumns.of(lines)
    for name in ("prediction", "answer", "reference"):
        for other in ("prediction", "answer", "reference"):
            for index, line in enumerate(lines):
                assert (getattr(columns, name)[index] == getattr(columns, other)[index]) == \
                    (getattr(line, name) == getattr(line, other))
        assert all((code == NO_LETTER) == (getattr(line, name) is None)
                   for code, line in zip(getattr(columns, name), lines))
    assert columns.cluster.tolist() == [int(line.cluster[4:]) for line in lines]
    row = summarize_group(lines, Settings(n_resamples=50), n_missing=None)
    scored = [line for line in lines if line.error is None]
    paired = [line for line in scored if line.paired]
    with_reference = [line for line in paired if line.reference is not None]
    assert (row.n, row.n_error, row.n_scored) == (200, 200 - len(scored), len(scored))
    assert row.n_correct == sum(line.correct for line in scored)
    assert row.n_agree == sum(l.prediction is not None and l.prediction == l.reference for l in paired)
    assert row.n_both_null == sum(l.prediction is None and l.reference is None for l in paired)
    assert (row.flip_cc, row.flip_ci, row.flip_ic, row.flip_ii) == tuple(
        sum(l.reference_correct == was and l.correct == now for l in with_reference)
        for was, now in ((True, True), (True, False), (False, True), (False, False)))
    assert row.n_readout_ties == sum(bool(l.readout_tie) for l in scored)
    assert row.reference_readout == "parsed letter; letter read-out"  # the kinds sorted by key
    assert row.paired_p == metrics.cluster_sign_flip_p([l.reference_correct for l in with_reference],
                                                       [l.correct for l in with_reference],
                                                       [l.cluster for l in with_reference])


def _chain_heights_one_at_a_time(points):
    """The per-chain AUCs as lanham_aoc computed them before it took all chains at once."""
    from collections import defaultdict

    by_chain, length = defaultdict(lambda: defaultdict(list)), {}
    for chain, n, k, same in points:
        if n > 0:
            by_chain[chain][k].append(bool(same))
            length[chain] = n
    heights = {}
    for chain, by_k in by_chain.items():
        ks = sorted(by_k)
        if len(ks) >= 2:
            x = np.array([k / length[chain] for k in ks])
            y = np.array([sum(by_k[k]) / len(by_k[k]) for k in ks])
            heights[chain] = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0) / (x[-1] - x[0]))
    return heights


def test_the_chains_taken_at_once_have_the_heights_of_one_at_a_time():
    """metrics._chain_heights (every chain's trapezoids as one array per number of x values, summed
    in numpy's pairwise order by _row_sums) gives each chain's AUC bit for bit, chains of 1 to 140
    steps, repeated and missing k, chains of length 0 and of one x value; the AOC and its CI too."""
    rng = np.random.default_rng(9)
    points, clusters = [], []
    for chain in range(600):
        n = int(rng.choice([0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 40, 127, 128, 129, 140]))
        ks = [k for k in range(n + 1) if rng.random() < 0.9] + [int(k) for k in rng.integers(0, n + 1, 2)]
        ks = ks[:1] * 3 if chain % 50 == 1 else ks  # one x value only
        for k in ks:
            points.append((("item", chain), n, k, bool(rng.random() < 0.7)))
            clusters.append(f"clip{chain // 3}")
    order = rng.permutation(len(points))
    points, clusters = [points[i] for i in order], [clusters[i] for i in order]
    reference = _chain_heights_one_at_a_time(points)
    found = metrics._chain_heights(points)
    assert list(found.heights) == list(reference)
    assert all(found.heights[chain] == reference[chain] for chain in reference)
    result = metrics.lanham_aoc(points)
    assert result.aoc == 1.0 - float(np.mean(list(reference.values())))
    lengths = {chain: n for chain, n, _, _ in points}
    steps_of = {}
    for chain, n, k, _ in points:
        steps_of.setdefault(chain, set()).add(k)
    dropped = {metrics.NO_STEPS: sum(n == 0 for n in lengths.values()),
               metrics.ONE_X: sum(n > 0 and len(steps_of[c]) == 1 for c, n in lengths.items())}
    assert result.dropped == {reason: count for reason, count in dropped.items() if count}
    for size in range(1, 140):
        terms = rng.random((5, size)) * 10.0 ** rng.uniform(-4, 4, (5, size))
        assert metrics._row_sums(terms).tolist() == [float(np.sum(row)) for row in terms]
    cluster_of, cluster_ids = dict(zip((p[0] for p in points), clusters)), {}
    for point, cluster in zip(points, clusters):
        if point[1] > 0:
            cluster_ids.setdefault(cluster, len(cluster_ids))
    area_sums, chain_counts = np.zeros(len(cluster_ids)), np.zeros(len(cluster_ids))
    for chain, height in reference.items():
        area_sums[cluster_ids[cluster_of[chain]]] += height
        chain_counts[cluster_ids[cluster_of[chain]]] += 1
    picks = np.random.default_rng(3).integers(0, len(cluster_ids), size=(200, len(cluster_ids)))
    drawn = chain_counts[picks].sum(axis=1)
    values = 1.0 - area_sums[picks].sum(axis=1)[drawn > 0] / drawn[drawn > 0]
    assert metrics.lanham_aoc_ci(points, clusters, n_resamples=200, seed=3) == \
        tuple(float(v) for v in np.percentile(values, [2.5, 97.5]))
    with pytest.raises(ValueError, match="two clusters"):
        metrics.lanham_aoc_ci(points, clusters[:-1] + ["elsewhere"], n_resamples=200, seed=3)


def test_line_columns_read_every_field_of_every_line_across_chunks(monkeypatch):
    """rows.line_columns (one attrgetter per line, in chunks) gives each field's values in line order."""
    from audiofaith.report import rows

    monkeypatch.setattr(rows, "COLUMN_CHUNK", 4)
    lines = [rows.Line(model=f"m{i % 3}", subset="s", hop="h", id=f"c{i}", run=i % 2, condition="full", variant="",
                       x=None if i % 5 else i / 7, answer="A", prediction=None, reference="B", paired=True,
                       error=None, source=f"f:{i}") for i in range(11)]
    names = ("model", "id", "run", "x")
    assert rows.line_columns(lines, names) == [[getattr(line, name) for line in lines] for name in names]
    assert rows.line_columns(lines, ["source"]) == [[line.source for line in lines]]
    assert rows.line_columns([], names) == [[], [], [], []]


def test_dataset_columns_read_a_loaded_datasets_columns_else_the_lines():
    """rows.dataset_columns: a dataset's own columns (the lists themselves) where it has them for
    all of its lines; read from the lines where it has none, or columns of other lines."""
    from audiofaith.report import rows

    lines = [rows.Line(model="m", subset="s", hop="h", id=f"c{i}", run=i, condition="full", variant="", x=None,
                       answer="A", prediction="B", reference="B", paired=True, error=None, source=f"f:{i}")
             for i in range(3)]
    from_lines = rows.dataset_columns(rows.Dataset(lines, [], {}), ["id", "run"])
    assert from_lines == [["c0", "c1", "c2"], [0, 1, 2]]
    own = {"id": ["x0", "x1", "x2"], "run": [7, 8, 9]}  # not the lines' values: shows which were read
    read = rows.dataset_columns(rows.Dataset(lines, [], {}, own), ["run", "id"])
    assert read[0] is own["run"] and read[1] is own["id"]
    stale = {"id": ["x0"], "run": [7]}  # columns of other lines: the lines are read
    assert rows.dataset_columns(rows.Dataset(lines, [], {}, stale), ["id", "run"]) == from_lines
