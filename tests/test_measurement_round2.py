"""Issue 22 (items 4, 6, 7, 8, 9): every number means what its row says, round 2. Each test here
failed on the code before its fix: the written letter against the read-out letter and `full` as a
noise floor (4), clip-level paired tests with adjusted p-values (6), the AOC as a mean of per-chain
AOCs (7), the hint's mention rate given a switch and its no-hint control (8), x bins rounded half
up and letter ties counted (9)."""

from __future__ import annotations

import pytest

from audiofaith import metrics, report
from audiofaith.records import letter_readout, letter_tie
from tests.test_measurement_correctness import SETTINGS, _baseline, _line, _load, _row


# -- item 9: bins and ties -----------------------------------------------------------------------

def test_x_bins_round_half_up(tmp_path):
    early = [_line(0, "early_answering", "A", {"k": k, "n": 4, "fraction": k / 4, "prompt": "conditioned"})
             for k in range(5)]
    dataset = _load(tmp_path, {"interventions/early_answering_animal.jsonl": early})
    # k/n = 0.25 and 0.75 go up to 0.3 and 0.8 (banker's rounding gave 0.2 and 0.8)
    assert sorted(line.x for line in dataset.lines) == [0.0, 0.3, 0.5, 0.8, 1.0]
    assert [report.bin_tenth(v) for v in (0.05, 0.15, 0.35, 0.45, 0.65, 0.95)] == [0.1, 0.2, 0.4, 0.5, 0.7, 1.0]


def test_letter_ties_are_flagged_counted_and_shown(tmp_path):
    tied = {"A": -1.0, "B": -1.0, "C": -3.0, "D": -4.0}
    assert letter_readout(tied) == "A" and letter_tie(tied) is True  # the pick is only the option order
    assert letter_tie({"A": -0.5, "B": -1.0}) is False and letter_tie({}) is None
    dataset = _load(tmp_path, {
        "baseline_animal.jsonl": [_baseline(0, "A", tied), _baseline(1, "B", {"A": -2.0, "B": -0.1}),
                                  _baseline(2, "A")],
        "conditioned_animal.jsonl": [_line(0, "full", "A", letter_logprobs=tied),
                                     _line(1, "full", "B", letter_logprobs={"A": -2.0, "B": -0.2}),
                                     _line(2, "full", "A")],
    })
    rows = report.summarize(dataset, SETTINGS)
    assert _row(rows, condition="baseline_cot", hop="single")["n_readout_ties"] == 1
    assert _row(rows, condition="full")["n_readout_ties"] == 1
    blocks = report.section_readout_ties(dataset)
    assert blocks[0].text == "Letter read-out ties"
    assert blocks[-1].rows == [["m", "baseline_cot", "2", "1", "50.0"], ["m", "full", "2", "1", "50.0"]]


# -- item 7: the AOC is the mean of per-chain AOCs -------------------------------------------------

def test_aoc_averages_per_chain_aocs_instead_of_pooling_chains_per_x():
    # Two chains of length 2. a: same 0, 0, 1 at x = 0, 1/2, 1 → mean height 0.25, AOC_a 0.75.
    # b: its x = 0 answer is missing (a failed rewrite): same 1, 1 at x = 1/2, 1 → AOC_b 0.
    # Mean of per-chain AOCs: 0.375. Pooling per x (y = 0, 0.5, 1) gave 0.5: chain a alone at x = 0.
    points = [("a", 2, 0, False), ("a", 2, 1, False), ("a", 2, 2, True), ("b", 2, 1, True), ("b", 2, 2, True)]
    result = metrics.lanham_aoc(points)
    assert result.aoc == pytest.approx(0.375)
    assert result.partial_chains == 1 and result.chains == {2: 2} and result.covered == {2: (0.0, 1.0)}
    # chains are weighted equally, not by how many of their answers exist: a third chain like b
    # moves the AOC to (0.75 + 0 + 0) / 3
    more = points + [("c", 2, 1, True), ("c", 2, 2, True)]
    assert metrics.lanham_aoc(more).aoc == pytest.approx(0.25)
    # complete chains: the same number as Lanham's length-weighted mean curves (tests/test_metrics.py)
    low, high = metrics.lanham_aoc_ci(more, ["clip_a"] * 3 + ["clip_b"] * 2 + ["clip_c"] * 2,
                                      n_resamples=500, seed=0)
    assert 0.0 <= low <= 0.25 <= high <= 0.75


def test_adding_mistakes_aoc_rows_average_chains_whose_rewrites_failed(tmp_path):
    mistakes = []
    for i, answers in [(0, [("B", False), ("B", False)]), (1, [("A", True), ("A", False)])]:
        for step, (prediction, unchanged) in enumerate(answers):
            params = {"i": step, "n": 2, "fraction": step / 2, "continued": True, "rewriter": "self"}
            mistakes.append(_line(i, "adding_mistakes", prediction, params, rewrite_unchanged=unchanged))
    dataset = _load(tmp_path, {"interventions/adding_mistakes_animal.jsonl": mistakes})
    [row] = report.aoc_rows(dataset, SETTINGS)
    # x0: same 0, 0 at x = 0, 1/2 and the untouched end 1 → AOC 0.75; x1: its i = 0 rewrite came back
    # unchanged, so same 1 at x = 1/2 and 1 → AOC 0; mean 0.375 (pooling per x said 0.5)
    assert (row.aoc, row.n_chains, row.n_partial_chains) == (pytest.approx(0.375), 2, 1)
    assert row.partial_lengths == ""  # the length's chains together cover [0, 1]
