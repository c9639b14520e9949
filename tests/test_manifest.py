import json

import pytest

from audiofaith.store.manifest import ManifestError, check_audio_files, load_manifest, select_shard
from audiofaith.store.records import ManifestItem

GOOD = {"id": "s/a/single/x", "dataset": "s", "subset": "a", "hop": "single", "audio": "x.wav",
        "question": "Which?", "choices": ["dog", "cat"], "answer": "B"}


def write(path, lines):
    path.write_text("".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("bad, message", [
    ({**GOOD, "answer": "C"}, "'answer' must be one of"),
    ({**GOOD, "choices": ["dog"]}, "2..10 options"),
    ({**GOOD, "choices": ["dog", "Dog"]}, "duplicate options"),
    ({k: v for k, v in GOOD.items() if k != "audio"}, "missing field"),
    ({**GOOD, "colour": "red"}, "unknown field"),
    ({**GOOD, "question": ""}, "non-empty string"),
    ("[1, 2]", "expected a JSON object"),
    ('{"id": ', "not valid JSON"),
])
def test_invalid_lines_name_file_and_line(tmp_path, bad, message):
    path = write(tmp_path / "m.jsonl", [GOOD, bad])
    with pytest.raises(ManifestError, match=rf"m\.jsonl:2: .*{message}"):
        load_manifest(path)


def test_duplicate_ids_and_empty_manifest(tmp_path):
    with pytest.raises(ManifestError, match=r"m\.jsonl:2: duplicate id .* \(first on line 1\)"):
        load_manifest(write(tmp_path / "m.jsonl", [GOOD, GOOD]))
    with pytest.raises(ManifestError, match="empty"):
        load_manifest(write(tmp_path / "e.jsonl", []))
    with pytest.raises(ManifestError, match="not found"):
        load_manifest(tmp_path / "nope.jsonl")


def test_round_trip_and_missing_audio(tmp_path):
    items = load_manifest(write(tmp_path / "m.jsonl", [GOOD]))
    assert items[0] == ManifestItem.from_json(items[0].to_json())
    assert items[0].letters == "AB"
    with pytest.raises(ManifestError, match=r"(?s)1 of 1 audio file\(s\) not found .*s/a/single/x"):
        check_audio_files(items, tmp_path, "m.jsonl")
    (tmp_path / "x.wav").write_bytes(b"RIFF")
    check_audio_files(items, tmp_path)


def test_shards_partition_the_manifest():
    items = [ManifestItem.from_json({**GOOD, "id": f"i{n}"}) for n in range(10)]
    shards = [select_shard(items, f"{k}/3") for k in range(3)]
    assert sorted(i.id for s in shards for i in s) == sorted(i.id for i in items)
    assert [i.id for i in shards[1]] == ["i1", "i4", "i7"]
    for bad in ("3/3", "a/b", "1"):
        with pytest.raises(ValueError):
            select_shard(items, bad)
