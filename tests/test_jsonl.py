"""Append-only JSON Lines: file:line errors, torn tails, and no loss / no duplicates on resume."""

from __future__ import annotations


import pytest
from hypothesis import given, settings, strategies as st

from audiofaith.store.jsonl import AppendWriter, JsonlError, iter_jsonl, read_jsonl, repair_torn_tail


def test_errors_name_file_and_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2\n{"a": 3}\n', encoding="utf-8")
    with pytest.raises(JsonlError, match=r"x\.jsonl:3: not valid JSON"):
        read_jsonl(path)


def test_torn_tail_is_skipped_when_allowed_and_cut_before_appending(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "runs', encoding="utf-8")
    with pytest.raises(JsonlError):
        read_jsonl(path)
    assert [obj["id"] for _, obj in iter_jsonl(path, allow_torn_tail=True)] == ["a", "b"]
    with AppendWriter(path) as writer:
        writer.write_many([{"id": "c"}])
    assert [obj["id"] for obj in read_jsonl(path)] == ["a", "b", "c"]


def test_a_complete_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}', encoding="utf-8")
    assert repair_torn_tail(path) is False
    assert path.read_text(encoding="utf-8") == '{"id": "a"}\n{"id": "b"}\n'


ids = st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=4), min_size=1, max_size=30, unique=True)


@settings(max_examples=60, deadline=None)
@given(ids=ids, batch=st.integers(1, 7), kill_fraction=st.floats(0, 1))
def test_kill_anywhere_then_resume_loses_nothing_and_duplicates_nothing(tmp_path_factory, ids, batch, kill_fraction):
    """Write in batches, cut the file at an arbitrary byte (a kill mid-write), resume by id."""
    path = tmp_path_factory.mktemp("resume") / "out.jsonl"
    with AppendWriter(path) as writer:
        for start in range(0, len(ids), batch):
            writer.write_many({"id": i, "text": "é" * len(i)} for i in ids[start:start + batch])
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * kill_fraction)])
    done = {obj["id"] for _, obj in iter_jsonl(path, allow_torn_tail=True)}
    with AppendWriter(path) as writer:
        writer.write_many({"id": i, "text": "é" * len(i)} for i in ids if i not in done)
    final = [obj["id"] for obj in read_jsonl(path)]
    assert sorted(final) == sorted(ids)
    assert len(final) == len(set(final))


def test_the_test_only_stop_hook_stops_the_writer_at_exactly_n_lines(tmp_path):
    """AUDIOFAITH_TEST_STOP_AFTER_LINES=N: the writing process stops itself once N lines are on
    disk (tests that kill or race a run use it instead of a guessed delay)."""
    import signal

    from tests.conftest import start_and_stop_after

    out = tmp_path / "o.jsonl"
    script = tmp_path / "write.py"
    script.write_text("import sys\nfrom audiofaith.store.jsonl import AppendWriter\n"
                      "with AppendWriter(sys.argv[1]) as writer:\n"
                      "    for i in range(5):\n        writer.write_many([{'i': i}])\n")
    process = start_and_stop_after([str(script), str(out)], lines=3)
    try:
        assert [line["i"] for line in read_jsonl(out)] == [0, 1, 2]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
