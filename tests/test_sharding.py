"""Scale-out: --shard K/N + merge, and 2 processes under torchrun, match a single-process run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from audiofaith.store.jsonl import read_jsonl, write_jsonl
from audiofaith.store.provenance import sidecar_path
from audiofaith.store.sharding import MergeError, merge_shards, shard_output_path
from tests.conftest import REPO, run_cli

WRAPPER = "interface/Qwen2Audio_wrapper.py"
#: Log-probabilities from different batch compositions may differ in the last float bits
#: (docs/performance.md); ids, texts and every other field must be identical.
LOGPROB_TOLERANCE = 1e-4


def assert_same_output(got_path, expected_path) -> None:
    """Line by line in the same order: every field equal, floats within LOGPROB_TOLERANCE."""
    got, expected = read_jsonl(got_path), read_jsonl(expected_path)
    assert [line["id"] for line in got] == [line["id"] for line in expected]

    def same(a, b, where: str) -> None:
        if isinstance(b, float) or isinstance(a, float):
            assert isinstance(a, (int, float)) and isinstance(b, (int, float)), where
            assert a == pytest.approx(b, abs=LOGPROB_TOLERANCE), where
        elif isinstance(b, dict):
            assert isinstance(a, dict) and list(a) == list(b), where
            for key in b:
                same(a[key], b[key], f"{where}.{key}")
        elif isinstance(b, list):
            assert isinstance(a, list) and len(a) == len(b), where
            for index, (x, y) in enumerate(zip(a, b)):
                same(x, y, f"{where}[{index}]")
        else:
            assert a == b, (where, a, b)

    for line, reference in zip(got, expected):
        same(line, reference, line["id"])


def test_output_comparison_is_exact_except_float_noise(tmp_path):
    reference = {"id": "a", "runs_raw": ["It barks. (A)"], "runs_letter_logprobs": [{"A": -0.5, "B": -1.25}]}
    write_jsonl(tmp_path / "r.jsonl", [reference])
    write_jsonl(tmp_path / "noise.jsonl", [dict(reference, runs_letter_logprobs=[{"A": -0.50003, "B": -1.25}])])
    assert_same_output(tmp_path / "noise.jsonl", tmp_path / "r.jsonl")
    for changed in (dict(reference, runs_raw=["It barks. (B)"]), dict(reference, id="b"),
                    dict(reference, runs_letter_logprobs=[{"A": -0.51, "B": -1.25}])):
        write_jsonl(tmp_path / "changed.jsonl", [changed])
        with pytest.raises(AssertionError):
            assert_same_output(tmp_path / "changed.jsonl", tmp_path / "r.jsonl")


def fake_shard(output, k, n, ids, status="completed", fingerprint=None):
    path = shard_output_path(output, k, n)
    write_jsonl(path, [{"id": i, "runs_predictions": ["A"], "runs_reasonings": [""]} for i in ids])
    sidecar_path(path).write_text(json.dumps({"fingerprint": fingerprint or {"model_key": "m"},
                                              "sessions": [{"status": status}]}))
    return path


def test_merge_orders_canonically_and_refuses_bad_shards(tmp_path):
    out = tmp_path / "baseline_x.jsonl"
    order = ["a", "b", "c", "d", "e"]
    fake_shard(out, 0, 2, ["e", "a", "c"])
    with pytest.raises(MergeError, match=r"shard\(s\) \[1\] of 2 are missing"):
        merge_shards(out, order)
    fake_shard(out, 1, 2, ["d", "b"], status="running")
    with pytest.raises(MergeError, match="not finished"):
        merge_shards(out, order)
    fake_shard(out, 1, 2, ["d", "b"], fingerprint={"model_key": "other"})
    with pytest.raises(MergeError, match="other settings"):
        merge_shards(out, order)
    fake_shard(out, 1, 2, ["d", "b", "a"])
    with pytest.raises(MergeError, match="overlap"):
        merge_shards(out, order)
    fake_shard(out, 1, 2, ["d", "b"])
    assert merge_shards(out, order) == {"lines": 5, "shards": 2}
    assert [r["id"] for r in read_jsonl(out)] == order
    assert json.loads(sidecar_path(out).read_text())["counts"]["shards"] == 2
    with pytest.raises(MergeError, match="no shard files"):
        merge_shards(tmp_path / "nothing.jsonl", order)


@pytest.mark.slow
def test_shards_and_ranks_reproduce_the_single_process_output(synthetic_data, tiny_qwen2_audio, tmp_path):
    manifest = synthetic_data["manifests"]["gender"]
    common = ["--input", str(manifest), "--data_root", str(synthetic_data["data_root"]),
              "--model_path", str(tiny_qwen2_audio), "--max_new_tokens", "12", "--batch_size", "2"]
    single = tmp_path / "single" / "baseline_gender.jsonl"
    assert run_cli(WRAPPER, "--output", str(single), *common).returncode == 0
    assert [r["id"] for r in read_jsonl(single)] == [m["id"] for m in read_jsonl(manifest)]  # canonical order

    # job-array style: two shards, then merge
    sharded = tmp_path / "sharded" / "baseline_gender.jsonl"
    for k in range(2):
        done = run_cli(WRAPPER, "--output", str(sharded), "--shard", f"{k}/2", *common)
        assert done.returncode == 0, done.stderr
        if k == 0:
            assert "when all 2 shards are done" in done.stderr
    assert not sharded.exists()
    merged = run_cli("-m", "audiofaith", "merge", "--output", str(sharded), "--manifest_file", str(manifest))
    assert merged.returncode == 0, merged.stderr
    assert_same_output(sharded, single)

    # launcher style: torchrun with 2 CPU processes; the last rank to finish merges. --standalone:
    # a local rendezvous on a free port, never a fixed one that another job on the host may hold
    launched = tmp_path / "launched" / "baseline_gender.jsonl"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           WRAPPER, "--output", str(launched), *common],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_output(launched, single)
    assert sorted(p.name for p in launched.parent.glob("*.jsonl")) == [
        "baseline_gender.jsonl", "baseline_gender.shard-0-of-2.jsonl", "baseline_gender.shard-1-of-2.jsonl"]
