"""Tests of the SAKURA manifest builder (audiofaith.benchmarks.sakura, scripts/prepare_sakura.py).

Most tests write a small synthetic SAKURA tree with every quirk of the real metadata; the
integration tests use the real sample at ../shared/sakura-sample/ and the committed manifests,
and skip when those are absent (fail under AUDIOFAITH_CI=1).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import wave
from collections import Counter
from pathlib import Path

import pytest

from audiofaith.store.manifest import load_manifest
from audiofaith.benchmarks.sakura import (
    SakuraError, build_track, parse_gold_answer, parse_instruction, prepare_sakura, read_metadata,
)
from tests.conftest import requires

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_ROOT = Path(__file__).resolve().parents[2] / "shared" / "sakura-sample"
TRACK_FOLDERS = {"animal": "Animal", "emotion": "Emotion", "gender": "Gender", "language": "Language"}

CURLY = "\u2019"
SPACED_OPTION = "Reassure them and offer a way to move past the uncomfortable    situation."

# Rows per track: (file, attribute_label, single_instruction, single_answer, multi_instruction,
# multi_answer, extra JSON fields). Quirks: commas (quoted CSV fields), a leading space in an
# Emotion single answer, curly apostrophes, a run of spaces inside an option, Male within
# Female, 2-option Gender, Language's `gender`, a file name shared by Gender and Language.
ROWS = {
    "animal": [
        ("dog28.wav", "dog",
         "From the options provided, which animal do you believe is the source of the sound? "
         "(a) dog (b) crow (c) cow (d) rooster", "(a) dog",
         f"What{CURLY}s a physical feature of the animal in the audio? (a) Feathers (b) Scales (c) Claws (d) Horns",
         "(c) Claws", {}),
        ("cat3.wav", "cat",
         "Identify the animal most likely responsible for the sound. (a) pig (b) hen (c) sheep (d) cat",
         "(d) cat",
         "Where does this animal usually sleep? (a) In a nest (b) On a sofa (c) Underwater (d) In a burrow",
         "(b) On a sofa", {}),
    ],
    "emotion": [
        ("1078_IEO_ANG_HI.wav", "angry",
         "What is the emotional tone of the speaker in the audio? (a) disgust (b) fear (c) sad (d) angry",
         " (d) angry",
         "Which response suits the speaker? (a) Suggest an activity. "
         f"(b) {SPACED_OPTION} (c) I can{CURLY}t stop smiling, everything feels so right. (d) Say nothing.",
         f"(b) {SPACED_OPTION}", {}),
        ("dia85_utt3.wav", "happy",
         "What emotion is the speaker expressing in the audio? (a) happy (b) sad (c) angry (d) fear",
         "(a) happy",
         f"Which sentence matches the emotion? (a) I{CURLY}m so furious! (b) This is gross. "
         f"(c) I{CURLY}m scared. (d) I{CURLY}m thrilled, what a day!",
         f"(d) I{CURLY}m thrilled, what a day!", {}),
    ],
    "gender": [
        ("en_test_0_common_voice_en_1.wav", "female",
         "Please identify the gender of the speaker. (a) Female (b) Male", "(a) Female",
         "Which term of address fits people of the same gender as this speaker? (a) Ms. (b) Mr.",
         "(a) Ms.", {}),
        ("en_test_0_common_voice_en_2.wav", "male",
         f"What{CURLY}s the speaker{CURLY}s gender? (a) Female (b) Male", "(b) Male",
         "Taking into account the gender of the speaker, which label fits? (a) Sir (b) Madam",
         "(a) Sir", {}),
    ],
    "language": [
        ("en_test_0_common_voice_en_1.wav", "English",
         "From the audio provided, which language is spoken? (a) Korean (b) German (c) Spanish (d) English",
         "(d) English",
         "Which country has this language as an official language? (a) South Korea (b) Germany "
         "(c) Chile (d) New Zealand", "(d) New Zealand", {"gender": "female"}),
        ("de_test_0_common_voice_de_7.wav", "German",
         "Determine the language of the provided speech. (a) French (b) German (c) Spanish (d) English",
         "(b) German",
         "Which is the translation of 'courage' in this language? (a) \uc6a9\uae30 (b) Mut (c) valent\u00eda (d) courage",
         "(b) Mut", {"gender": "male"}),
    ],
}


# ---------------------------------------------------------------------------------------------
# Synthetic tree
# ---------------------------------------------------------------------------------------------

def write_wav(path: Path, seconds: float = 0.05) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes(b"\x00\x00" * int(16000 * seconds))


def write_csv(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:  # csv writes CRLF, like SAKURA
        writer = csv.writer(handle)
        writer.writerow(["file", "attribute_label", "single_instruction", "single_answer",
                         "multi_instruction", "multi_answer"])
        for row in rows:
            writer.writerow(row[:6])


def write_json(path: Path, folder: str, rows, old_layout: bool = False) -> None:
    data = {}
    for file_name, label, s_ins, s_ans, m_ins, m_ans, extra in rows:
        value = {}
        if old_layout:
            value["file"] = file_name
        value["attribute_label"] = label
        value.update(extra)
        if old_layout:
            value["multi_type"] = "physical"
        value.update(single_instruction=s_ins, single_answer=s_ans, multi_instruction=m_ins,
                     multi_answer=m_ans)
        key = f"data/{folder}/{file_name}" if old_layout else f"data/{folder}/audio/{file_name}"
        data[key] = value
    path.write_text(json.dumps(data, ensure_ascii=False, indent=4), encoding="utf-8")


def make_tree(base: Path, rows=None, csv_files: bool = True, json_files: bool = True,
              old_layout: bool = False) -> Path:
    """``base/data/SAKURA`` laid out like the SAKURA repository; returns the SAKURA root."""
    rows = rows or ROWS
    root = base / "data" / "SAKURA"
    for track, track_rows in rows.items():
        folder = TRACK_FOLDERS[track]
        track_dir = root / "data" / folder
        for row in track_rows:
            write_wav(track_dir / "audio" / row[0])
        if csv_files:
            write_csv(track_dir / "metadata.csv", track_rows)
        if json_files:
            write_json(track_dir / "metadata.json", folder, track_rows, old_layout)
    return root


def manifest_lines(path: Path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture()
def tree(tmp_path):
    return make_tree(tmp_path)


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------

def test_parse_instruction_keeps_text_verbatim():
    instruction = ROWS["emotion"][0][4]
    question, choices = parse_instruction(instruction, 4)
    assert question == "Which response suits the speaker?"
    assert choices[1] == SPACED_OPTION  # the run of spaces stays
    assert choices[2] == f"I can{CURLY}t stop smiling, everything feels so right."  # curly stays
    assert parse_instruction("Please identify the gender of the speaker. (a) Female (b) Male", 2) == (
        "Please identify the gender of the speaker.", ["Female", "Male"])


@pytest.mark.parametrize("instruction, n, message", [
    ("Who? (a) X (b) Y", 4, "expected 4 options"),
    ("Who? (a) X (c) Y", None, "expected (a)(b)"),
    ("Who? no options here", None, "no options"),
    ("(a) X (b) Y", 2, "no question"),
])
def test_parse_instruction_errors(instruction, n, message):
    with pytest.raises(SakuraError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_instruction(instruction, n, "metadata.csv row 7")


def test_parse_gold_answer_quirks():
    assert parse_gold_answer(" (d) angry", ["disgust", "fear", "sad", "angry"]) == ("D", "angry")
    # Male is a substring of Female: the letter decides, not a substring search
    assert parse_gold_answer("(b) Male", ["Female", "Male"]) == ("B", "Male")
    assert parse_gold_answer("(a) Female", ["Female", "Male"]) == ("A", "Female")
    # whitespace-normalised comparison; the option text is returned as in the instruction
    letter, text = parse_gold_answer("(b) Reassure them and offer a way to move past the uncomfortable situation.",
                                     ["x", SPACED_OPTION])
    assert (letter, text) == ("B", SPACED_OPTION)


def test_parse_gold_answer_errors():
    with pytest.raises(SakuraError, match=r"where: .*not among the options"):
        parse_gold_answer("(c) Wings", ["Feathers", "Scales", "Claws", "Horns"], "where")
    with pytest.raises(SakuraError, match=r"that text is option \(a\)"):
        parse_gold_answer("(b) Feathers", ["Feathers", "Scales", "Claws", "Horns"], "where")
    with pytest.raises(SakuraError, match="only 2 options"):
        parse_gold_answer("(c) Male", ["Female", "Male"], "where")
    with pytest.raises(SakuraError, match="does not look like"):
        parse_gold_answer("Claws", ["Claws", "Horns"], "where")


# ---------------------------------------------------------------------------------------------
# Building manifests from a synthetic tree
# ---------------------------------------------------------------------------------------------

def test_items_from_json(tree, tmp_path):
    data_root = tmp_path / "data"
    items = build_track(tree, "language", data_root, metadata="json")
    assert [item.id for item in items] == [
        "sakura/language/single/en_test_0_common_voice_en_1",
        "sakura/language/multi/en_test_0_common_voice_en_1",
        "sakura/language/single/de_test_0_common_voice_de_7",
        "sakura/language/multi/de_test_0_common_voice_de_7",
    ]
    first = items[0]
    assert first.dataset == "sakura" and first.subset == "language" and first.hop == "single"
    assert first.audio == "SAKURA/data/Language/audio/en_test_0_common_voice_en_1.wav"
    assert (data_root / first.audio).is_file()
    assert first.question == "From the audio provided, which language is spoken?"
    assert first.choices == ("Korean", "German", "Spanish", "English")
    assert first.answer == "D"
    assert first.instruction == ROWS["language"][0][2]
    assert first.meta == {"attribute_label": "English", "row": 0, "file": "en_test_0_common_voice_en_1.wav",
                          "answer_text": "English", "gender": "female"}
    assert items[3].meta["row"] == 1 and items[3].meta["gender"] == "male"
    assert items[3].choices[2] == "valent\u00eda" and items[3].answer == "B"


def test_quirky_tracks(tree, tmp_path):
    emotion = build_track(tree, "emotion", tmp_path / "data")
    assert emotion[0].answer == "D" and emotion[0].meta["answer_text"] == "angry"  # " (d) angry"
    assert emotion[1].answer == "B" and emotion[1].choices[1] == SPACED_OPTION
    assert emotion[1].instruction == ROWS["emotion"][0][4]
    gender = build_track(tree, "gender", tmp_path / "data")
    assert [(item.hop, len(item.choices), item.answer) for item in gender] == [
        ("single", 2, "A"), ("multi", 2, "A"), ("single", 2, "B"), ("multi", 2, "A")]
    assert gender[2].question == f"What{CURLY}s the speaker{CURLY}s gender?"
    assert "gender" not in gender[0].meta
    # the same audio file in Gender and Language gets distinct ids
    language = build_track(tree, "language", tmp_path / "data")
    assert gender[0].meta["file"] == language[0].meta["file"]
    assert gender[0].id != language[0].id


def test_csv_and_json_give_identical_manifests(tree, tmp_path):
    for track in ROWS:
        csv_path = tree / "data" / TRACK_FOLDERS[track] / "metadata.csv"
        assert b"\r\n" in csv_path.read_bytes()
        from_csv = [item.to_json() for item in build_track(tree, track, tmp_path / "data", metadata="csv")]
        from_json = [item.to_json() for item in build_track(tree, track, tmp_path / "data", metadata="json")]
        if track == "language":  # the CSV has no gender column; otherwise identical
            assert all("gender" in line["meta"] for line in from_json)
            for line in from_json:
                del line["meta"]["gender"]
        assert from_csv == from_json, track


def test_auto_prefers_json_and_falls_back_to_csv(tmp_path):
    both = make_tree(tmp_path / "both")
    _, chosen = read_metadata(both, "language", "auto")
    assert chosen.name == "metadata.json"
    only_csv = make_tree(tmp_path / "csv", json_files=False)
    rows, chosen = read_metadata(only_csv, "language", "auto")
    assert chosen.name == "metadata.csv" and len(rows) == 2
    with pytest.raises(SakuraError, match="metadata.json: metadata file not found"):
        read_metadata(only_csv, "language", "json")


def test_old_layout_json(tmp_path):
    old = make_tree(tmp_path / "old", old_layout=True)
    new = make_tree(tmp_path / "new")
    for track in ROWS:
        old_items = build_track(old, track, tmp_path / "old" / "data", metadata="json")
        new_items = build_track(new, track, tmp_path / "new" / "data", metadata="json")
        assert all(item.meta.pop("multi_type") == "physical" for item in old_items)
        assert [i.to_json() for i in old_items] == [i.to_json() for i in new_items]


def test_csv_json_disagreement_is_reported(tree, tmp_path):
    rows = [list(r) for r in ROWS["animal"]]
    rows[1][5] = "(c) Underwater"
    write_csv(tree / "data" / "Animal" / "metadata.csv", rows)
    with pytest.raises(SakuraError, match=r"metadata.csv row 1 .*multi_answer.*differs"):
        build_track(tree, "animal", tmp_path / "data")
    # without the cross-check each file is read on its own
    items = build_track(tree, "animal", tmp_path / "data", metadata="csv", cross_check=False)
    assert items[3].answer == "C"


def test_missing_and_empty_audio_name_the_files(tree, tmp_path):
    audio_dir = tree / "data" / "Animal" / "audio"
    (audio_dir / "cat3.wav").unlink()
    with pytest.raises(SakuraError) as info:
        build_track(tree, "animal", tmp_path / "data")
    message = str(info.value)
    assert "cat3.wav" in message and "metadata.json" in message and "dog28" not in message
    (audio_dir / "dog28.wav").write_bytes(b"")
    with pytest.raises(SakuraError, match=r"(?s)2 of 2 audio.*dog28.wav \(row 0\): empty file"):
        build_track(tree, "animal", tmp_path / "data")


@pytest.mark.parametrize("source, where", [("csv", r"metadata.csv row 1 \(line 3\)"),
                                           ("json", r"metadata.json row 1 \(key 'data/Animal/audio/cat3.wav'\)")])
def test_answer_not_among_options_names_file_and_row(tmp_path, source, where):
    rows = dict(ROWS)
    rows["animal"] = [ROWS["animal"][0], ROWS["animal"][1][:5] + ("(b) On a roof", {})]
    root = make_tree(tmp_path, rows)
    with pytest.raises(SakuraError, match=where + r" multi-hop \(cat3.wav\): .*On a roof"):
        build_track(root, "animal", tmp_path / "data", metadata=source, cross_check=False)


def test_bad_metadata_structure(tmp_path):
    root = make_tree(tmp_path)
    csv_path = root / "data" / "Animal" / "metadata.csv"
    csv_path.write_text("file,label\r\ndog28.wav,dog\r\n", encoding="utf-8")
    with pytest.raises(SakuraError, match="metadata.csv: line 1: missing column"):
        read_metadata(root, "animal", "csv")
    json_path = root / "data" / "Animal" / "metadata.json"
    json_path.write_text(json.dumps({"Animal/dog28.wav": {}}), encoding="utf-8")
    with pytest.raises(SakuraError, match="metadata.json row 0 .*expected a key like"):
        read_metadata(root, "animal", "json")


def test_data_root_must_contain_sakura_root(tree, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(SakuraError, match="not inside --data_root"):
        build_track(tree, "animal", elsewhere)


def test_prepare_writes_loadable_manifests(tree, tmp_path):
    out = tmp_path / "processed"
    written = prepare_sakura(tree, out, tmp_path / "data")
    assert sorted(written) == sorted(ROWS)
    for track, path in written.items():
        assert path == out / track / "sakura_manifest.jsonl"
        items = load_manifest(path)
        assert len(items) == 2 * len(ROWS[track])
        assert all((tmp_path / "data" / item.audio).is_file() for item in items)


def test_prepare_writes_nothing_when_a_track_is_bad(tree, tmp_path):
    (tree / "data" / "Language" / "audio" / "de_test_0_common_voice_de_7.wav").unlink()
    with pytest.raises(SakuraError, match="de_test_0_common_voice_de_7.wav"):
        prepare_sakura(tree, tmp_path / "out", tmp_path / "data")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# The script, run as a user types it
# ---------------------------------------------------------------------------------------------

def run_script(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "scripts/prepare_sakura.py", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_script_end_to_end(tree, tmp_path):
    out = tmp_path / "processed_input" / "sakura"
    result = run_script("--sakura_root", str(tree), "--output_dir", str(out), "--data_root", str(tmp_path / "data"))
    assert result.returncode == 0, result.stderr
    log = result.stdout + result.stderr
    assert "gender   single    2 items" in log and "A=1 B=1" in log
    for track in ROWS:
        path = out / track / "sakura_manifest.jsonl"
        assert str(path) in log
        items = load_manifest(path)
        assert [item.hop for item in items] == ["single", "multi"] * len(ROWS[track])


def test_script_help():
    result = run_script("--help")
    assert result.returncode == 0
    for flag in ("--sakura_root", "--output_dir", "--data_root", "--tracks", "--metadata"):
        assert flag in result.stdout


def test_script_missing_root_tells_how_to_clone(tmp_path):
    result = run_script("--sakura_root", str(tmp_path / "nope"), "--output_dir", str(tmp_path / "out"),
                        "--data_root", str(tmp_path))
    assert result.returncode != 0
    assert "git clone https://github.com/ckyang1124/SAKURA data/SAKURA" in result.stderr
    assert "Traceback" not in result.stderr


def test_script_bad_tree_fails_cleanly(tree, tmp_path):
    (tree / "data" / "Gender" / "audio" / "en_test_0_common_voice_en_2.wav").unlink()
    result = run_script("--sakura_root", str(tree), "--output_dir", str(tmp_path / "out"),
                        "--data_root", str(tmp_path / "data"), "--tracks", "gender")
    assert result.returncode != 0
    assert "en_test_0_common_voice_en_2.wav" in result.stderr and "Gender/metadata.json" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------------
# Real data: the shared sample and the committed manifests
# ---------------------------------------------------------------------------------------------

needs_sample = requires(SAMPLE_ROOT.is_dir(), f"SAKURA sample not found at {SAMPLE_ROOT} (../shared)")


@needs_sample
@pytest.mark.parametrize("track", list(TRACK_FOLDERS))
def test_real_sample(track):
    data_root = SAMPLE_ROOT.parent
    items = build_track(SAMPLE_ROOT, track, data_root)  # JSON, cross-checked against the CSV
    from_csv = build_track(SAMPLE_ROOT, track, data_root, metadata="csv")
    n_rows = len(read_metadata(SAMPLE_ROOT, track, "csv")[0])
    assert len(items) == 2 * n_rows and n_rows > 0
    for item, csv_item in zip(items, from_csv):
        expected = item.to_json()
        expected["meta"].pop("gender", None)
        assert csv_item.to_json() == expected
    expected_options = 2 if track == "gender" else 4
    for item in items:
        assert item.id.startswith(f"sakura/{track}/{item.hop}/")
        assert item.audio.startswith(f"sakura-sample/data/{TRACK_FOLDERS[track]}/audio/")
        assert (data_root / item.audio).stat().st_size > 0
        assert len(item.choices) == expected_options
        assert item.choices["ABCD".index(item.answer)] == item.meta["answer_text"]
        assert item.instruction.startswith(item.question)
    if track == "language":
        assert {item.meta["gender"] for item in items} <= {"female", "male"}


@needs_sample
def test_real_sample_script(tmp_path):
    out = tmp_path / "out"
    result = run_script("--sakura_root", str(SAMPLE_ROOT), "--output_dir", str(out),
                        "--data_root", str(SAMPLE_ROOT.parent))
    assert result.returncode == 0, result.stderr
    for track in TRACK_FOLDERS:
        items = load_manifest(out / track / "sakura_manifest.jsonl")
        assert all((SAMPLE_ROOT.parent / item.audio).is_file() for item in items)


COMMITTED = REPO_ROOT / "processed_input" / "sakura"


def test_committed_manifests():
    all_ids = set()
    for track in TRACK_FOLDERS:
        items = load_manifest(COMMITTED / track / "sakura_manifest.jsonl")
        assert len(items) == 1000
        for hop in ("single", "multi"):
            letters = Counter(item.answer for item in items if item.hop == hop)
            assert letters == ({"A": 250, "B": 250} if track == "gender" else dict.fromkeys("ABCD", 125))
        assert [item.hop for item in items] == ["single", "multi"] * 500
        assert all(item.audio.startswith(f"SAKURA/data/{TRACK_FOLDERS[track]}/audio/") for item in items)
        all_ids.update(item.id for item in items)
    assert len(all_ids) == 4000


@needs_sample
def test_committed_manifests_match_the_shared_sample():
    """Every item of the shared sample, built afresh, is the committed manifest's line of the same
    id (audio under SAKURA/ instead of sakura-sample/), except ``meta.row``: the sample's metadata
    holds only its own rows."""
    for track in TRACK_FOLDERS:
        committed = {line["id"]: line for line in manifest_lines(COMMITTED / track / "sakura_manifest.jsonl")}
        built = [item.to_json() for item in build_track(SAMPLE_ROOT, track, SAMPLE_ROOT.parent)]
        assert built, track
        for line in built:
            assert line["audio"].startswith("sakura-sample/"), line["audio"]
            line["audio"] = "SAKURA/" + line["audio"][len("sakura-sample/"):]
            expected = committed[line["id"]]
            assert {**line, "meta": {**line["meta"], "row": None}} == \
                {**expected, "meta": {**expected["meta"], "row": None}}, line["id"]


# The whole clone is not in CI; this runs on a machine where data/SAKURA is cloned (the sample test
# above covers its items in CI; `scripts/prepare_sakura.py --check` compares a clone by hand).
@pytest.mark.skipif(not (REPO_ROOT / "data" / "SAKURA" / "data").is_dir(),
                    reason="runs only where SAKURA is cloned at data/SAKURA")
def test_committed_manifests_match_the_clone():
    for track in TRACK_FOLDERS:
        built = [item.to_json() for item in build_track(REPO_ROOT / "data" / "SAKURA", track, REPO_ROOT / "data")]
        assert built == manifest_lines(COMMITTED / track / "sakura_manifest.jsonl"), track
