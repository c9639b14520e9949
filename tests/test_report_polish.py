"""Report rough edges (issue 13): pluralisation, undefined CIs, empty legend entries, NaN rows in
aoc.csv, one type per per_item.csv column, one "(default: …)" per option in --help."""

from __future__ import annotations

import csv
import math
import re

import pytest

from audiofaith import report
from tests.conftest import run_cli
from tests.test_report import built  # noqa: F401  (the module-scoped report fixture)


def _row(model, subset, accuracy):
    return report.SummaryRow(
        dataset="sakura", model=model, subset=subset, hop="single", condition=report.BASELINE_CONDITION["cot"],
        variant="", x_name="", x=None, n=10, n_error=0, n_excluded=0, n_cut_by_length=0, n_scored=10, n_missing=0,
        n_null_prediction=0, parse_failure_rate=0.0, n_correct=int(10 * accuracy), accuracy=accuracy,
        accuracy_lo=accuracy - 0.1, accuracy_hi=accuracy + 0.1, accuracy_excl_null=accuracy)


def test_average_over_one_track_is_singular():
    table = report.accuracy_table([_row("m1", "animal", 0.5), _row("m1", "emotion", 0.7),
                                   _row("m2", "animal", 0.4)], "cot")
    m2 = next(row for row in table.rows if row[0] == "m2")
    assert m2[-1] == "40.0 (1 track)"


def test_undefined_aoc_and_ci_print_a_dash_with_the_reason():
    def row(aoc, low=math.nan, high=math.nan):
        return report.AocRow("m", "animal", "single", "early_answering", "", aoc=aoc, n_chains=1, lengths="2:1",
                             n_reference_fallback=0, aoc_lo=low, aoc_hi=high)

    assert report._aoc_cell(row(0.25)) == "0.250 [– (CI needs 2+ chains)]"
    assert report._aoc_cell(row(math.nan)).startswith("– (no chain")
    assert report._aoc_cell(row(0.25, 0.1, 0.4)) == "0.250 [0.100, 0.400]"


def test_legend_lists_only_series_that_draw_something():
    plt = report._pyplot()
    fig, axes = plt.subplots(1, 2, squeeze=False)
    axes[0][0].plot([0, 1], [math.nan, math.nan], label="empty")
    axes[0][0].bar([], [], label="no bars")
    axes[0][1].plot([0, 1], [1, 2], label="real")
    _, labels = report._unique_legend(axes)
    plt.close(fig)
    assert labels == ["real"]


def test_csv_files_have_one_type_per_column(built):  # noqa: F811
    out, _ = built
    per_item = list(csv.DictReader(open(out / "per_item.csv", encoding="utf-8")))
    for column in ("correct", "agrees"):
        assert {r[column] for r in per_item} <= {"true", "false", ""}, column
    assert {r["correct"] for r in per_item} >= {"true", "false"}
    assert all(re.fullmatch(r"\d+", r["run"]) for r in per_item)
    assert all(r["x"] == "" or re.fullmatch(r"-?[\d.e+-]+", r["x"]) for r in per_item)
    assert not any(value in ("None", "nan", "True", "False") for r in per_item for value in r.values())
    aoc = list(csv.DictReader(open(out / "aoc.csv", encoding="utf-8")))
    assert aoc and all(r["aoc"] not in ("", "nan") for r in aoc)


@pytest.mark.parametrize("command", [("-m", "audiofaith", "report", "--help"),
                                     ("interface/Qwen2Audio_wrapper.py", "--help"),
                                     ("interface/Qwen2Audio_intervene.py", "--help")])
def test_help_says_each_default_once(command):
    done = run_cli(*command)
    assert done.returncode == 0
    text = re.sub(r"\s+", " ", done.stdout)
    assert "(default: None)" not in text and "(default: False)" not in text
    for option_help in re.split(r" (?=--\w)", text):
        assert option_help.count("(default") <= 1, option_help
