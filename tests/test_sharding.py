"""Scale-out: --shard K/N + merge, and 2 processes under torchrun, match a single-process run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from audiofaith.jsonl import read_jsonl, write_jsonl
from audiofaith.provenance import sidecar_path
from audiofaith.sharding import MergeError, merge_shards, shard_output_path
from tests.conftest import REPO, run_cli

WRAPPER = "interface/Qwen2Audio_wrapper.py"


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
    reference = single.read_text()
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
    assert sharded.read_text() == reference

    # launcher style: torchrun with 2 CPU processes; the last rank to finish merges
    launched = tmp_path / "launched" / "baseline_gender.jsonl"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_port", "29533", WRAPPER, "--output", str(launched), *common],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert launched.read_text() == reference
    assert sorted(p.name for p in launched.parent.glob("*.jsonl")) == [
        "baseline_gender.jsonl", "baseline_gender.shard-0-of-2.jsonl", "baseline_gender.shard-1-of-2.jsonl"]
