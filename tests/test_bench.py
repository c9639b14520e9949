"""The benchmark script runs and prints its JSON line (no speed is asserted: speed claims come from
`make bench`, never from a timed unit test). What is checked is that each ratio is the quotient of
the two timings it names, so a ratio computed from the wrong arms (or upside down) fails."""

import json

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

#: ratio -> (numerator, denominator) among the reported seconds: a ratio > 1 means "faster"
RATIOS = {
    "batched_speedup": ("runner_batch1", "runner_batched"),
    "runner_efficiency": ("raw_generate", "runner_batched"),
    "scoring_speedup": ("generate_answer", "score"),
    "seed_style_speedup": ("generate_answer_batch1", "score"),
    "prefix_cache_speedup": ("early_uncached", "early_cached"),
}


def test_bench_ratios_are_the_quotients_of_their_timings():
    done = run_cli("scripts/bench.py", "--items", "4", "--batch_size", "2", "--new_tokens", "3")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["mode"] == "cpu-tiny" and result["items"] == 4 and result["batch_size"] == 2
    seconds = result["seconds"]
    assert set(seconds) == {arm for pair in RATIOS.values() for arm in pair}
    assert all(value > 0 for value in seconds.values()), seconds
    for ratio, (numerator, denominator) in RATIOS.items():
        # seconds are rounded to 1 ms in the JSON, so allow that much error in the quotient
        low = max(seconds[numerator] - 5e-4, 0) / (seconds[denominator] + 5e-4)
        high = (seconds[numerator] + 5e-4) / max(seconds[denominator] - 5e-4, 1e-9)
        assert low * 0.999 <= result[ratio] <= high * 1.001, (ratio, result[ratio], seconds)


def test_report_bench_ratio_is_the_quotient_of_its_timings():
    done = run_cli("scripts/bench.py", "--report_lines", "3000")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["mode"] == "report" and result["lines"] >= 3000
    seconds = result["seconds"]
    assert set(seconds) == {"report", "json_parse"} and all(value > 0 for value in seconds.values())
    low = max(seconds["report"] - 5e-4, 0) / (seconds["json_parse"] + 5e-4)
    high = (seconds["report"] + 5e-4) / max(seconds["json_parse"] - 5e-4, 1e-9)
    assert low * 0.99 <= result["report_json_ratio"] <= high * 1.01, result
    assert abs(result["report_lines_per_s"] - result["lines"] / seconds["report"]) <= 0.01 * result["report_lines_per_s"] + 1
    assert 20 < result["report_peak_mb"] < 4000  # the report process's own peak, in MB
    assert 20 < result["report_children_peak_mb"] < 4000  # the plot worker's
    assert abs(result["report_peak_sum_mb"] - result["report_peak_mb"] - result["report_children_peak_mb"]) <= 1
    cpu = result["cpu_seconds"]
    assert cpu["report_main"] > 0 and cpu["report_children"] > 0 and cpu["json_parse"] > 0
    assert abs(cpu["report"] - cpu["report_main"] - cpu["report_children"]) <= 0.002  # both processes' CPU
    assert abs(result["report_cpu_json_ratio"] - cpu["report"] / cpu["json_parse"]) <= 0.02 * result["report_cpu_json_ratio"] + 0.01
