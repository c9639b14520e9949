import json

import pytest

from audiofaith.store.provenance import Provenance, ProvenanceMismatch, sidecar_path


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


def _started(out, manifest):
    """An output started on ``manifest`` with one line written."""
    from audiofaith.store.provenance import content_fingerprint

    Provenance(out, {"model_key": "m", "manifest": content_fingerprint(manifest)}, {},
               inputs={"manifest": manifest}).finish("completed", {})
    out.write_text('{"id": "x"}\n')


def test_input_files_are_fingerprinted_by_content_not_path(tmp_path):
    from audiofaith.store.provenance import content_fingerprint

    out, manifest = tmp_path / "baseline.jsonl", tmp_path / "m.jsonl"
    manifest.write_text('{"id": "x"}\n')
    _started(out, manifest)
    moved = tmp_path / "elsewhere" / "m.jsonl"
    moved.parent.mkdir()
    manifest.rename(moved)
    Provenance(out, {"model_key": "m", "manifest": content_fingerprint(moved)}, {}, inputs={"manifest": moved})
    moved.write_text('{"id": "x"}\n{"id": "y"}\n')  # edited
    with pytest.raises(ProvenanceMismatch, match=r"manifest: the content of .*m\.jsonl differs from the file this "
                                                 r"output was started with \(sha256 [0-9a-f]{12}…, now [0-9a-f]{12}…\)"):
        Provenance(out, {"model_key": "m", "manifest": content_fingerprint(moved)}, {}, inputs={"manifest": moved})


def test_old_sidecars_that_name_inputs_by_path(tmp_path):
    """Sidecars written before content fingerprints hold the manifest's path: the same path resumes
    (and the sidecar records the content from then on); another path is refused, saying why."""
    from audiofaith.store.provenance import content_fingerprint

    out, manifest = tmp_path / "baseline.jsonl", tmp_path / "m.jsonl"
    manifest.write_text('{"id": "x"}\n')
    Provenance(out, {"model_key": "m", "manifest": str(manifest)}, {}).finish("completed", {})  # the old format
    out.write_text('{"id": "x"}\n')
    moved = tmp_path / "moved.jsonl"
    moved.write_bytes(manifest.read_bytes())
    with pytest.raises(ProvenanceMismatch, match=r"manifest: the sidecar \(written before input files were "
                                                 r"fingerprinted by content\) names .*m\.jsonl'.*give it under its old "
                                                 r"path to resume"):
        Provenance(out, {"model_key": "m", "manifest": content_fingerprint(moved)}, {}, inputs={"manifest": moved})
    resumed = Provenance(out, {"model_key": "m", "manifest": content_fingerprint(manifest)}, {},
                         inputs={"manifest": manifest})
    resumed.finish("completed", {})
    data = json.loads(sidecar_path(out).read_text())
    assert data["fingerprint"]["manifest"] == content_fingerprint(manifest) and len(data["sessions"]) == 2
    Provenance(out, {"model_key": "m", "manifest": content_fingerprint(moved)}, {}, inputs={"manifest": moved})
