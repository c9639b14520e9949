import json

import pytest

from audiofaith.provenance import Provenance, ProvenanceMismatch, sidecar_path


def test_sidecar_records_sessions_and_counts(tmp_path):
    out = tmp_path / "baseline.jsonl"
    first = Provenance(out, {"model_key": "m", "seed": 0}, {"batch_size": 4})
    first.update(backend={"dtype": "bfloat16"})
    first.finish("completed", {"items": 3})
    second = Provenance(out, {"model_key": "m", "seed": 0}, {"batch_size": 8})
    second.finish("completed", {"items": 5})
    data = json.loads(sidecar_path(out).read_text())
    assert sidecar_path(out).name == "baseline.jsonl.meta.json"
    assert [s["batch_size"] for s in data["sessions"]] == [4, 8]
    assert data["sessions"][0]["backend"] == {"dtype": "bfloat16"}
    assert data["counts"] == {"items": 5}
    assert all(s["status"] == "completed" and s["ended"] for s in data["sessions"])


def test_resuming_with_other_settings_is_refused(tmp_path):
    out = tmp_path / "baseline.jsonl"
    Provenance(out, {"model_key": "m", "prompt_hash": "abc"}, {}).write()
    out.write_text('{"id": "x"}\n')
    with pytest.raises(ProvenanceMismatch, match="prompt_hash: was 'abc', now 'xyz'"):
        Provenance(out, {"model_key": "m", "prompt_hash": "xyz"}, {})


def test_a_sidecar_without_lines_does_not_block_other_settings(tmp_path):
    out = tmp_path / "baseline.jsonl"
    Provenance(out, {"model_key": "m", "checkpoint": "/wrong/path"}, {}).finish("failed", {}, error="OSError: x")
    fresh = Provenance(out, {"model_key": "m", "checkpoint": "/right/path"}, {})
    fresh.write()
    data = json.loads(sidecar_path(out).read_text())
    assert data["fingerprint"]["checkpoint"] == "/right/path" and len(data["sessions"]) == 1


def test_sessions_left_running_are_marked_interrupted(tmp_path):
    out = tmp_path / "baseline.jsonl"
    Provenance(out, {"model_key": "m"}, {}).write()  # a run killed before it finished
    resumed = Provenance(out, {"model_key": "m"}, {})
    resumed.finish("completed", {"items": 1})
    statuses = [s["status"] for s in json.loads(sidecar_path(out).read_text())["sessions"]]
    assert statuses == ["interrupted", "completed"]
