"""Issue 22 (items 4, 6, 7, 8, 9): every number means what its row says, round 2. Each test here
failed on the code before its fix: the written letter against the read-out letter and `full` as a
noise floor (4), clip-level paired tests with adjusted p-values (6), the AOC as a mean of per-chain
AOCs (7), the hint's mention rate given a switch and its no-hint control (8), x bins rounded half
up and letter ties counted (9)."""

from __future__ import annotations

from audiofaith import report
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
