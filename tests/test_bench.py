"""The benchmark script runs and prints its JSON line (no speed is asserted: speed claims come from
`make bench`, never from a timed unit test)."""

import json

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow


def test_bench_prints_its_ratios_as_one_json_line():
    done = run_cli("scripts/bench.py", "--items", "4", "--batch_size", "2", "--new_tokens", "3")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("batched_speedup", "scoring_speedup", "prefix_cache_speedup", "runner_efficiency"):
        assert isinstance(result[key], float) and result[key] > 0
    assert result["mode"] == "cpu-tiny" and result["items"] == 4
