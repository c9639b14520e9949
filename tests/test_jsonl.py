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


# ---- orjson reads every line with exactly json.loads's values ----------------------------------

def typed(value):
    """``value`` with every type and float bit pattern spelled out, and dict keys in order:
    ``1 == 1.0 == True`` and ``0.0 == -0.0`` but their typed forms differ; NaN equals NaN here."""
    if isinstance(value, dict):
        return ("dict", [(typed(key), typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [typed(item) for item in value])
    if isinstance(value, float):
        return ("float", value.hex() if value == value else "nan")
    return (type(value).__name__, value)


def lines_read(path, fast):
    """iter_jsonl's (line number, typed value) pairs, with orjson (``fast``) or json.loads alone."""
    from audiofaith.store import jsonl

    with pytest.MonkeyPatch.context() as patch:
        if not fast:
            patch.setattr(jsonl, "fast_json_loads", lambda: None)
        return [(number, typed(obj)) for number, obj in jsonl.iter_jsonl(path)]


def lines_by_json_loads(text):
    import json

    return [(number, typed(json.loads(line))) for number, line in enumerate(text.split("\n"), 1) if line.strip()]


json_numbers = st.from_regex(r"\A-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?\Z")
surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
json_strings = st.text(st.characters(codec=None) | surrogates, max_size=8)
json_scalars = (st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70) | st.floats()
                | st.sampled_from([0.0, -0.0, 1e400, -1e400, float("nan"), 2.0**64, 1e-320]) | json_strings)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(json_strings, inner, max_size=4), max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(values=st.lists(json_values, min_size=1, max_size=6), numbers=st.lists(json_numbers, max_size=6),
       keys=st.lists(st.sampled_from(["a", "b", "ü"]), min_size=2, max_size=5), ascii=st.booleans())
def test_lines_read_by_orjson_have_exactly_json_loads_values(tmp_path_factory, values, numbers, keys, ascii):
    """Every value iter_jsonl gives equals json.loads's, type and float sign included, for generated
    lines: nested values, floats (-0.0, 1e400, NaN, subnormals), integers beyond 64 bits, escapes,
    unicode, lone surrogates, numbers written in any JSON form, and duplicate keys (the last value
    wins, in the first key's place), with and without orjson."""
    import json

    lines = [json.dumps(value, ensure_ascii=ascii) for value in values]
    lines = [line if ascii or line.isascii() else json.dumps(json.loads(line)) for line in lines]
    lines += [f'{{"n": {number}, "list": [{number}]}}' for number in numbers]
    lines.append("{" + ", ".join(f'"{key}": {index}' for index, key in enumerate(keys)) + "}")  # duplicate keys
    lines.insert(len(lines) // 2, "  ")  # a blank line is skipped
    text = "\n".join(lines) + "\n"
    path = tmp_path_factory.mktemp("json") / "x.jsonl"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    expected = lines_by_json_loads(text)
    assert lines_read(path, fast=True) == expected
    assert lines_read(path, fast=False) == expected


#: Lines orjson rejects or reads differently, each read as json.loads reads it.
PLANTED = ['{"x": NaN, "y": Infinity, "z": -Infinity}', '{"x": 1e400, "y": -1e400}', '{"x": "\\ud800 alone"}',
           '{"\\udfff": 1}', '{"x": 18446744073709551616}', '{"x": -9223372036854775809}',
           '{"x": 123456789012345678901234567890}', '{"x": [1, 2, -123456789012345678901]}',
           '{"x": "1234567890123456789 is only text"}', '{"x": 1, "x": 2.5, "y": -0.0}']


def test_lines_orjson_rejects_or_reads_apart_are_read_as_json_loads_reads_them(tmp_path, monkeypatch):
    """NaN and Infinity, 1e400, lone surrogates (orjson rejects them) and integers beyond 64 bits
    (orjson reads them as floats; iter_jsonl never hands it a line with 19 digits in a row): the
    values of json.loads, with and without orjson; orjson reads the other lines."""
    from audiofaith.store import jsonl

    orjson = pytest.importorskip("orjson")
    assert jsonl.fast_json_loads() is orjson.loads  # the report extra's orjson is used when installed
    text = "\n".join(['{"ok": 1}'] + PLANTED + ['{"ok": 2}']) + "\n"
    path = tmp_path / "x.jsonl"
    path.write_text(text, encoding="utf-8")
    expected = lines_by_json_loads(text)
    assert expected[5][1] == ("dict", [(("str", "x"), ("int", 2**64))])
    assert lines_read(path, fast=True) == expected
    assert lines_read(path, fast=False) == expected
    calls = []
    monkeypatch.setattr(jsonl, "fast_json_loads", lambda: lambda raw: calls.append(raw) or json_loads_bytes(raw))
    list(jsonl.iter_jsonl(path))
    assert [raw.decode() for raw in calls if raw] == ['{"ok": 1}'] + PLANTED[:4] + [PLANTED[-1], '{"ok": 2}']


def json_loads_bytes(raw):
    import orjson

    return orjson.loads(raw)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("line, message", [('{"a": 2', "Expecting"), ("[1,]", "Expecting value"),
                                           ('\ufeff{"a": 1}', "BOM"), (b'{"a": "\xff"}', "utf-8")])
def test_a_malformed_line_is_named_by_file_and_line_with_or_without_orjson(tmp_path, monkeypatch, fast, line,
                                                                          message):
    from audiofaith.store import jsonl

    path = tmp_path / "x.jsonl"
    raw = line if isinstance(line, bytes) else line.encode("utf-8")
    path.write_bytes(b'{"a": 1}\n\n' + raw + b'\n{"a": 3}\n')
    if not fast:
        monkeypatch.setattr(jsonl, "fast_json_loads", lambda: None)
    with pytest.raises(JsonlError, match=rf"x\.jsonl:3: not valid JSON.*{message}"):
        read_jsonl(path)
    path.write_bytes(b'{"a": 1}\n' + raw)  # a torn last line is skipped where allowed
    assert [obj for _, obj in jsonl.iter_jsonl(path, allow_torn_tail=True)] == [{"a": 1}]


def batches_read(path, fast, size):
    """iter_jsonl_batches' (line number, typed value) pairs, batch after batch."""
    from audiofaith.store import jsonl

    with pytest.MonkeyPatch.context() as patch:
        if not fast:
            patch.setattr(jsonl, "fast_json_loads", lambda: None)
        pairs = []
        for objects, numbers in jsonl.iter_jsonl_batches(path, size):
            assert len(objects) == len(numbers) and len(numbers) <= size
            pairs += [(number, typed(obj)) for number, obj in zip(numbers, objects)]
        return pairs


@settings(max_examples=150, deadline=None)
@given(values=st.lists(json_values, min_size=0, max_size=8), planted=st.lists(st.sampled_from(PLANTED), max_size=3),
       blanks=st.lists(st.integers(0, 12), max_size=3), size=st.sampled_from([1, 2, 3, 512]),
       final_newline=st.booleans(), fast=st.booleans())
def test_lines_read_in_batches_are_iter_jsonls_lines(tmp_path_factory, values, planted, blanks, size, final_newline,
                                                     fast):
    """iter_jsonl_batches gives exactly iter_jsonl's (line number, value) pairs, in batches of at most
    ``size`` lines: blank lines (and the empty piece after the last newline) skipped, lines orjson
    rejects or reads apart read by json.loads, with and without orjson."""
    import json

    lines = [json.dumps(value) for value in values] + planted
    for blank in blanks:
        lines.insert(min(blank, len(lines)), "  " if blank % 2 else "")
    text = "\n".join(lines) + ("\n" if final_newline else "")
    path = tmp_path_factory.mktemp("json") / "x.jsonl"
    path.write_text(text, encoding="utf-8")
    assert batches_read(path, fast, size) == lines_read(path, fast)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("size", [1, 2, 512])
def test_a_malformed_line_read_in_batches_is_named_as_iter_jsonl_names_it(tmp_path, fast, size):
    """A malformed line (also a torn last line: batches are strict) raises iter_jsonl's error."""
    for data, number in ((b'{"a": 1}\n\n{"a": 2\n{"a": 3}\n', 3), (b'{"a": 1}\n{"a": 2}\n{"a"', 3)):
        path = tmp_path / "x.jsonl"
        path.write_bytes(data)
        with pytest.raises(JsonlError) as expected:
            lines_read(path, fast)
        with pytest.raises(JsonlError) as got:
            batches_read(path, fast, size)
        assert str(got.value) == str(expected.value) and f"x.jsonl:{number}:" in str(got.value)
