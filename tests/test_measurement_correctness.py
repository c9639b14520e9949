"""Issue 11: every number means what its column says. Each test here failed on the code before
the fix: like-with-like references (item 2), AOC over the covered range with dropped chains counted
(3), unchanged rewrites excluded and continued=False reported apart (4), CoTs cut by the token limit
(7), AOC CIs that resample clips (10) and hint nulls counted (11)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from audiofaith.report import metrics
from audiofaith import report
from audiofaith.store.jsonl import read_jsonl, write_jsonl
from audiofaith.text.prompts import DEFAULT_PROFILE
from audiofaith.store.records import BaselineRecord, ConditionedRecord
from audiofaith.runners.conditioned import conditioned_variants
from audiofaith.runners.variants import Variant, VariantConfig, run_variants
from tests.runners.fake_backend import FakeBackend

SETTINGS = report.Settings(n_resamples=200, seed=0)


def _id(i: int, hop: str = "single") -> str:
    return f"sakura/animal/{hop}/x{i}"


def _baseline(i, prediction, logprobs=None, model="m", finish=None, hop="single"):
    record = BaselineRecord(id=_id(i, hop), model=model, prompt_mode="cot", answer="A", subset="animal", hop=hop,
                            runs_reasonings=["It barks."], runs_raw=["It barks. Answer: (A)"],
                            runs_predictions=[prediction], runs_correct=[None if prediction is None else prediction == "A"],
                            runs_letter_logprobs=[logprobs] if logprobs else [],
                            runs_finish_reasons=[finish] if finish else [])
    return record.to_json()


def _line(i, condition, prediction, params=None, hop="single", **fields):
    record = ConditionedRecord(id=_id(i, hop), model="m", run=0, condition=condition, answer_mode="logits", answer="A",
                               subset="animal", hop=hop, params=dict(params or {}), prediction=prediction,
                               baseline_prediction=fields.pop("baseline_prediction", "A"))
    obj = record.to_json()
    if fields.pop("legacy", False):
        for name in ("baseline_cue_prediction", "reference_field"):
            obj.pop(name)
    obj.update(fields)
    return obj


def _load(tmp_path: Path, files, exclude_cut=False) -> report.Dataset:
    root = tmp_path / "out"
    for name, lines in files.items():
        write_jsonl(root / "m" / "animal" / name, lines)
    return report.load_outputs(root, None, exclude_cut=exclude_cut)


def _row(rows, **where):
    found = [r for r in rows if all(r.get(k) == v for k, v in where.items())]
    assert len(found) == 1, (where, found)
    return found[0]


# -- item 2: like with like ---------------------------------------------------------------------

def test_read_out_lines_are_compared_with_the_baselines_read_out(synthetic_data, tmp_path):
    from audiofaith.store.manifest import load_manifest
    from audiofaith.runners.variants import with_cue_references

    items = load_manifest(synthetic_data["manifests"]["animal"])[:2]
    # run 0 of item 0: parsed letter null, read-out A; item 1: parsed B, read-out A (the final line
    # said B but the letter after the reasoning is A).
    results = [BaselineRecord(id=item.id, model="fake", prompt_mode="cot", answer=item.answer, subset=item.subset,
                              hop=item.hop, runs_reasonings=["It barks, so (A)."], runs_raw=["..."],
                              runs_predictions=[parsed], runs_letter_logprobs=[{"A": -0.1, "B": -2.0, "C": -3.0, "D": -3.0}])
               for item, parsed in zip(items, [None, "B"])]
    variants = conditioned_variants(results, items)
    regenerate = [Variant(item=items[1], run=0, condition="regen", params={}, baseline_prediction="B",
                          action="regenerate")]
    variants += with_cue_references(regenerate, results)
    out = tmp_path / "conditioned.jsonl"
    run_variants(FakeBackend("So (B).\nAnswer: (B)"), variants, synthetic_data["data_root"], out,
                 VariantConfig(model_key="fake"), DEFAULT_PROFILE)
    lines = {(l["id"], l["condition"]): l for l in read_jsonl(out)}
    for item, parsed in zip(items, [None, "B"]):
        line = lines[(item.id, "full")]
        assert line["prediction"] == "A"  # the fake reads the "(A)" of the injected reasoning
        assert (line["baseline_prediction"], line["baseline_cue_prediction"]) == (parsed, "A")
        assert line["reference_field"] == "baseline_cue_prediction"
        assert line["agrees"] is True  # read-out vs read-out; parsed-vs-read-out said null / False
    regen = lines[(items[1].id, "regen")]
    assert regen["reference_field"] == "baseline_prediction" and regen["prediction"] == "B" and regen["agrees"] is True
    assert regen["cue_prediction"] == "B" and regen["cue_agrees"] is False  # B vs the baseline read-out A


def test_report_references_and_mcnemar_pairs(tmp_path):
    dataset = _load(tmp_path, {
        "baseline_animal.jsonl": [_baseline(0, None, {"A": -0.1, "B": -3.0}), _baseline(1, "B", {"A": -2.0, "B": -0.1}),
                                  _baseline(2, None)],
        "conditioned_animal.jsonl": [
            _line(0, "full", "A", baseline_prediction=None, legacy=True),  # old line: joined to the read-out A
            _line(1, "full", "B", baseline_prediction="B", legacy=True),
            _line(2, "full", "A", baseline_prediction=None, legacy=True)],  # no read-out stored: parsed, null
    })
    rows = report.summarize(dataset, SETTINGS)
    full = _row(rows, condition="full")
    assert full["n_agree"] == 2 and full["n_null_reference"] == 1
    assert full["reference_readout"] == "parsed letter vs letter read-out (old line: no read-out reference " \
                                        "stored); letter read-out"
    # McNemar / flips only over the two pairs with a reference: x0 c→c, x1 i→i
    assert (full["flip_cc"], full["flip_ci"], full["flip_ic"], full["flip_ii"]) == (1, 0, 0, 1)
    assert full["n_flip_pairs"] == 2 and full["reference_accuracy"] == 0.5


# -- item 3: AOC over the covered range -----------------------------------------------------------

def test_aoc_integrates_over_the_covered_range_and_counts_dropped_chains():
    # one chain of 4 sentences answered only at k = 2, 3, 4 (k = 0, 1 failed): same = 0, 1, 1
    points = [("c", 4, 2, False), ("c", 4, 3, True), ("c", 4, 4, True)]
    result = metrics.lanham_aoc(points + [("empty", 0, 0, True), ("single", 3, 1, True)])
    # area over [0.5, 1] = 0.125 + 0.25 = 0.375, mean height 0.75 → AOC 0.25 (not 1 − 0.375)
    assert result.aoc == pytest.approx(0.25)
    assert result.covered == {4: (0.5, 1.0)}
    assert result.dropped == {metrics.NO_STEPS: 1, metrics.ONE_X: 1}
    full = metrics.lanham_aoc([("c", 2, 0, False), ("c", 2, 1, True), ("c", 2, 2, True)])
    assert full.aoc == pytest.approx(1 - 0.75) and full.covered == {2: (0.0, 1.0)}


def test_report_aoc_rows_say_which_chains_were_dropped(tmp_path):
    early = [_line(0, "early_answering", p, {"k": k, "n": 2, "fraction": k / 2, "prompt": "conditioned"})
             for k, p in enumerate(["B", "A", "A"])]
    early += [_line(1, "early_answering", None, {"k": k, "n": 2, "fraction": k / 2, "prompt": "conditioned"},
                    error="the baseline run has no reasoning to inject") for k in range(3)]
    early += [_line(2, "early_answering", "A", {"k": 2, "n": 3, "fraction": 2 / 3, "prompt": "conditioned"}),
              _line(2, "early_answering", "A", {"k": 3, "n": 3, "fraction": 1.0, "prompt": "conditioned"})]
    dataset = _load(tmp_path, {"interventions/early_answering_animal.jsonl": early})
    [row] = report.aoc_rows(dataset, SETTINGS)
    assert row.n_chains == 2 and row.n_chains_dropped == 1
    assert report.NO_SCORED_LINE in row.dropped
    assert row.partial_lengths == "3:[0.666667, 1]"
    # chain x0 (n=2): same 0, 1, 1 → mean height 0.75; chain x2 (n=3, x in [2/3, 1]): 1 → AOC = 1 − 0.875
    assert row.aoc == pytest.approx(0.125)


# -- item 10: AOC CIs resample clips --------------------------------------------------------------

def _slow_aoc_ci(points, clusters, n_resamples, seed):
    by_cluster = {}
    for point, cluster in zip(points, clusters):
        by_cluster.setdefault(cluster, []).append(point)
    labels = list(dict.fromkeys(clusters))
    rng = np.random.default_rng(seed)
    values = []
    for picks in rng.integers(0, len(labels), size=(n_resamples, len(labels))):
        resampled = [((j, p[0]), p[1], p[2], p[3]) for j, index in enumerate(picks) for p in by_cluster[labels[index]]]
        value = metrics.lanham_aoc(resampled).aoc
        if not math.isnan(value):
            values.append(value)
    return tuple(np.percentile(values, [2.5, 97.5]))


def test_aoc_ci_resamples_clusters_and_matches_the_definition():
    rng = np.random.default_rng(1)
    points, clusters = [], []
    for clip in range(12):
        for hop in ("single", "multi"):
            n = int(rng.integers(2, 5))
            for k in range(n + 1):
                if rng.random() < 0.15:
                    continue  # a missing k
                points.append(((clip, hop), n, k, bool(rng.random() < 0.3 + 0.7 * k / n)))
                clusters.append(f"clip{clip}")
    fast = metrics.lanham_aoc_ci(points, clusters, n_resamples=300, seed=0)
    assert fast == pytest.approx(_slow_aoc_ci(points, clusters, 300, 0))
    # the two hops of one clip move together: duplicating every chain inside its clip (as further
    # runs) changes nothing, where resampling chains would narrow the interval
    doubled = points + [((c, "again"), n, k, same) for (c, n, k, same) in points]
    assert metrics.lanham_aoc_ci(doubled, clusters + clusters, n_resamples=300, seed=0) == pytest.approx(fast)


def test_report_aoc_ci_uses_clips_and_every_resample(tmp_path):
    early = []
    for i in range(6):
        for hop in ("single", "multi"):
            early += [_line(i, "early_answering", p, {"k": k, "n": 2, "fraction": k / 2, "prompt": "conditioned"},
                            hop=hop) for k, p in enumerate(["B" if i % 2 else "A", "A" if i % 3 else "C", "A"])]
    dataset = _load(tmp_path, {"interventions/early_answering_animal.jsonl": early})
    rows = report.aoc_rows(dataset, report.Settings(n_resamples=2000, seed=0))
    # the single-hop points written out by hand: chain (id, run), n = 2, k, and whether the answer
    # at k is the full chain's "A"; each chain's cluster is its clip, not its item
    points, clusters = [], []
    for i in range(6):
        for k, prediction in enumerate(["B" if i % 2 else "A", "A" if i % 3 else "C", "A"]):
            points.append(((f"sakura/animal/single/x{i}", 0), 2, k, prediction == "A"))
            clusters.append(f"sakura/animal/x{i}")
    produced, produced_clusters, _ = report._aoc_points([l for l in dataset.lines if l.hop == "single"], "k")
    assert sorted(zip(produced, produced_clusters)) == sorted(zip(points, clusters))
    single = [r for r in rows if r.hop == "single"][0]
    # the reference interval resamples clips with a loop of its own (_slow_aoc_ci above)
    assert (single.aoc_lo, single.aoc_hi) == pytest.approx(_slow_aoc_ci(points, clusters, 2000, 0))


# -- item 4: unchanged rewrites, continued=False ----------------------------------------------------

def test_unchanged_rewrites_are_excluded_and_their_rate_reported(tmp_path):
    mistakes = []
    for i, unchanged in [(0, False), (1, True), (2, True)]:
        for step, prediction in enumerate(["B", "A"]):
            params = {"i": step, "n": 2, "fraction": step / 2, "continued": True, "rewriter": "self"}
            mistakes.append(_line(i, "adding_mistakes", prediction, params, rewrite_unchanged=unchanged))
    mistakes += [_line(0, "adding_mistakes", "A", {"i": 0, "n": 2, "fraction": 0.0, "continued": False,
                                                   "rewriter": "self"}, rewrite_unchanged=False)]
    dataset = _load(tmp_path, {"interventions/adding_mistakes_animal.jsonl": mistakes})
    rows = report.summarize(dataset, SETTINGS)
    first = _row(rows, condition="adding_mistakes", x=0.0, variant="continued=True, rewriter=self")
    assert (first["n"], first["n_excluded"], first["n_scored"]) == (3, 2, 1)
    assert first["same_as_full_rate"] == 0.0  # only x0's real mistake counts
    aocs = {a.variant: a for a in report.aoc_rows(dataset, SETTINGS)}
    lanham = aocs["continued=True, rewriter=self"]
    assert lanham.n_chains == 1 and "excluded" in lanham.dropped and lanham.n_chains_dropped == 2
    [table] = [b for b in report.section_rewrites(dataset) if isinstance(b, report.Table)]
    assert table.rows == [["m", "adding_mistakes", "7", "4", "57.1"]]
    blocks = report.section_lanham(rows, list(aocs.values()), report.model_colors(["m"]), tmp_path)
    text = report.render_markdown(blocks, tmp_path)
    assert "not Lanham's adding mistakes" in text
    tables = [b for b in blocks if isinstance(b, report.Table)]
    assert [[r[3] for r in t.rows] for t in tables] == [["continued=True, rewriter=self"],
                                                        ["continued=False, rewriter=self"]]


# -- item 7: CoTs cut by the token limit ---------------------------------------------------------

def test_cut_cots_are_counted_and_can_be_excluded(tmp_path):
    files = {
        "baseline_animal.jsonl": [_baseline(0, "A", finish="stop"), _baseline(1, "A", finish="length"),
                                  _baseline(2, "B")],
        "conditioned_animal.jsonl": [_line(i, "full", "A") for i in range(3)],
        "interventions/hint_animal.jsonl": [_line(0, "hint", "B", {"hint_letter": "B"}, finish_reason="length",
                                                  switched_to_hint=True, mentions_hint=False)],
    }
    dataset = _load(tmp_path / "a", files)
    [table] = [b for b in report.section_finish_reasons(dataset, SETTINGS) if isinstance(b, report.Table)]
    assert table.rows == [["m", "baseline_cot", "3", "1", "1", "50.0"], ["m", "hint", "1", "0", "1", "100.0"]]
    rows = report.summarize(dataset, SETTINGS)
    assert _row(rows, condition="baseline_cot", hop="single")["n_cut_by_length"] == 1
    excluded = report.summarize(_load(tmp_path / "b", files, exclude_cut=True), SETTINGS)
    assert _row(excluded, condition="baseline_cot", hop="single")["n_scored"] == 2
    full = _row(excluded, condition="full")
    assert (full["n_excluded"], full["n_scored"]) == (1, 2)  # built on the cut baseline run x1
    assert _row(excluded, condition="hint")["n_scored"] == 0


# -- item 11: hint nulls -------------------------------------------------------------------------

def test_hint_switch_rate_counts_nulls_explicitly(tmp_path):
    hint = [_line(0, "hint", "B", {"hint_letter": "B"}, switched_to_hint=True, mentions_hint=True),
            _line(1, "hint", None, {"hint_letter": "C"}, switched_to_hint=None, mentions_hint=False),
            _line(2, "hint", "A", {"hint_letter": "D"}, switched_to_hint=False, mentions_hint=False)]
    row = _row(report.summarize(_load(tmp_path, {"interventions/hint_animal.jsonl": hint}), SETTINGS),
               condition="hint")
    assert row["hint_switch_rate"] == pytest.approx(1 / 3)  # a null counts as not switched
    assert row["hint_switch_rate_excl_null"] == pytest.approx(1 / 2)
    assert row["n_hint_switch_null"] == 1
