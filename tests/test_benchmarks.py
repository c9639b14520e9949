"""MMAU test-mini and MMAR: manifests from small metadata files in the benchmarks' real shapes
(2-, 5- and 8-option questions, repeated and empty options, MMAR's reference reasoning), the
prepare script as a user types it, and the committed MMAU manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audiofaith.benchmarks import BENCHMARKS, get_spec
from audiofaith.benchmarks.common import (
    NO_HOP, REFERENCE_COT_KEY, BenchmarkError, build_benchmark, diff_manifests, write_manifests,
)
from audiofaith.store.manifest import load_manifest
from audiofaith.audio.io import write_wav
from audiofaith.checkpoints.synthetic import synthetic_clip
from tests.conftest import REPO, requires, run_cli


def mmau_question(qid, task, choices, answer, difficulty="medium", category="Reasoning", sub="Acoustic Source Inference"):
    """One question as mmau-test-mini.json writes it."""
    return {"id": qid, "audio_id": f"./test-mini-audios/{qid}.wav", "question": f"Question {qid}?",
            "choices": choices, "answer": answer, "dataset": "AudioSet", "task": task, "split": "test-mini",
            "category": category, "sub-category": sub, "difficulty": difficulty}


MMAU_QUESTIONS = [
    mmau_question("u-sound-4", "sound", ["Man", "Woman", "Child", "Robot"], "Woman", "easy"),
    # MMAU writes 13 categories as a one-element list
    mmau_question("u-sound-8", "sound", ["Lake", "Air", "A cooking competition", "A motorsport racing event",
                                         "A live concert", "A political rally", "Forest", "Desert"],
                  "A motorsport racing event", "hard", category=["Reasoning"]),
    mmau_question("u-speech-2", "speech", ["wind", "wharf"], "wharf", "easy", "Information Extraction"),
    # five options, the gold one listed twice verbatim (27 such questions in the real file)
    mmau_question("u-speech-5", "speech", ["first is neutral.", "both are sad.", "first is happy.",
                                           "first is neutral.", "second is sad."], "first is neutral."),
    mmau_question("u-speech-5b", "speech", ["anger", "joy", "neutral", "sadness", "surprise"], "neutral", "hard"),
    mmau_question("u-music-4", "music", ["Thunder", "Birds chirping", "White noise", "Wind blowing"],
                  "White noise", "medium", "Information Extraction", "Musical Texture Interpretation"),
]


def mmar_question(qid, modality, choices, answer, thinking, category="Semantic Layer", sub="Content Analysis",
                  audio=None):
    """One line of MMAR-meta.jsonl (the audio file name need not be the id)."""
    return {"id": qid, "audio_path": f"./audio/{audio or qid}.wav", "question": f"Question {qid}?",
            "choices": choices, "answer": answer, "modality": modality, "category": category,
            "sub-category": sub, "language": "en", "source": "youtube", "url": f"https://example.org/{qid}",
            "timestamp": "00:00:00,00:00:30", "thinking": thinking, "cue": ["cue"],
            "rubric": "[{'name': 'x'}]"}


MMAR_QUESTIONS = [
    # "Satisfied" is a substring of "Not satisfied": the gold letter must be B, never A
    mmar_question("r-speech-2", "speech", ["Not satisfied", "Satisfied"], "Satisfied",
                  "The speaker thanks the staff warmly, so they are satisfied."),
    mmar_question("r-mix-4", "mix-sound-speech", ["Tennis", "Badminton", "Table Tennis", "Table Soccer"],
                  "Table Tennis", "The short, light bounces on a table are table tennis.", "Perception Layer",
                  "Environmental Perception and Reasoning", audio="r-mix-4_00-00-00_00-00-31"),
    # MMAR ends four option lists with an empty option
    mmar_question("r-music-5", "music", ["Entered", "Did not enter", "Stayed", "Left", ""], "Left",
                  "The music fades as the footsteps move away: the person left.", "Cultural Layer", "Imagination"),
]


def write_metadata(root: Path, audio=True, long_seconds=31.0) -> dict:
    """Both metadata files and (optionally) their audio under ``root/data``."""
    data = root / "data"
    (data / "MMAU" / "test-mini-audios").mkdir(parents=True)
    (data / "MMAR" / "audio").mkdir(parents=True)
    mmau = data / "MMAU" / "mmau-test-mini.json"
    mmau.write_text(json.dumps(MMAU_QUESTIONS, indent=2), encoding="utf-8")
    mmar = data / "MMAR" / "MMAR-meta.jsonl"
    mmar.write_text("".join(json.dumps(q) + "\n" for q in MMAR_QUESTIONS), encoding="utf-8")
    if audio:
        for index, q in enumerate(MMAU_QUESTIONS):
            write_wav(data / "MMAU" / "test-mini-audios" / f"{q['id']}.wav", synthetic_clip(1.5, index))
        for index, q in enumerate(MMAR_QUESTIONS):
            seconds = long_seconds if "00-00-31" in q["audio_path"] else 2.0
            write_wav(data / "MMAR" / Path(q["audio_path"]), synthetic_clip(seconds, 50 + index))
    return {"data_root": data, "mmau": mmau, "mmar": mmar, "mmau_audio": data / "MMAU" / "test-mini-audios",
            "mmar_audio": data / "MMAR" / "audio"}


@pytest.fixture()
def metadata(tmp_path) -> dict:
    return write_metadata(tmp_path)


def by_id(built):
    return {item.id: item for items in built.values() for item in items}


def test_mmau_manifest_items(metadata):
    built = build_benchmark(get_spec("mmau"), metadata["mmau"], metadata["mmau_audio"], metadata["data_root"])
    assert list(built) == ["sound", "music", "speech"]
    items = by_id(built)
    eight = items["u-sound-8"]
    assert (eight.dataset, eight.subset, eight.hop, eight.answer, eight.letters) == ("mmau", "sound", NO_HOP, "D",
                                                                                     "ABCDEFGH")
    assert eight.audio == "MMAU/test-mini-audios/u-sound-8.wav"
    assert eight.meta["category"] == "Reasoning" and eight.meta["difficulty"] == "hard"
    assert eight.meta["source"] == "AudioSet" and eight.meta["sub-category"] == "Acoustic Source Inference"
    assert items["u-speech-2"].answer == "B" and items["u-speech-2"].choices == ("wind", "wharf")
    merged = items["u-speech-5"]  # the repeated gold option merged: exactly one letter names it
    assert merged.choices == ("first is neutral.", "both are sad.", "first is happy.", "second is sad.")
    assert merged.answer == "A" and merged.meta["source_choices"][3] == "first is neutral."
    assert "source_choices" not in items["u-sound-4"].meta
    for item in items.values():
        assert item.choices[item.letters.index(item.answer)] == item.meta["answer_text"]


def test_mmar_manifest_items(metadata):
    built = build_benchmark(get_spec("mmar"), metadata["mmar"], metadata["mmar_audio"], metadata["data_root"])
    items = by_id(built)
    assert items["r-speech-2"].answer == "B"  # exact match, never "Not satisfied"
    assert items["r-mix-4"].answer == "C" and items["r-mix-4"].subset == "mix-sound-speech"
    assert items["r-mix-4"].audio == "MMAR/audio/r-mix-4_00-00-00_00-00-31.wav"
    music = items["r-music-5"]
    assert music.choices == ("Entered", "Did not enter", "Stayed", "Left") and music.answer == "D"
    assert music.meta["source_choices"][-1] == ""
    assert music.meta[REFERENCE_COT_KEY].startswith("The music fades")
    assert music.meta["category"] == "Cultural Layer" and "rubric" not in music.meta


@pytest.mark.parametrize("answer, message", [
    ("Satisfied!", r"'Satisfied!' is not exactly one of its choices .* resembles \(b\) 'Satisfied'"),
    ("satisfied", r"'satisfied' is not exactly one of its choices .* resembles .*\(b\) 'Satisfied'"),
    ("Happy", r"'Happy' is not exactly one of its choices \['Not satisfied', 'Satisfied'\]$"),
])
def test_an_answer_that_is_not_exactly_one_choice_is_an_error_naming_the_id(tmp_path, answer, message):
    meta = write_metadata(tmp_path, audio=False)
    bad = dict(MMAR_QUESTIONS[0], answer=answer)
    meta["mmar"].write_text(json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"MMAR-meta.jsonl:1 \(id 'r-speech-2'\): .*" + message):
        build_benchmark(get_spec("mmar"), meta["mmar"], meta["mmar_audio"], meta["data_root"], require_audio=False)


def test_more_than_eight_options_and_bad_rows_are_errors(tmp_path):
    meta = write_metadata(tmp_path, audio=False)
    nine = mmau_question("u-9", "sound", [f"option {i}" for i in range(9)], "option 0")
    meta["mmau"].write_text(json.dumps([nine]), encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"item 0 \(id 'u-9'\): 9 distinct options .* 2 to 8"):
        build_benchmark(get_spec("mmau"), meta["mmau"], meta["mmau_audio"], meta["data_root"], require_audio=False)
    missing = {k: v for k, v in MMAU_QUESTIONS[0].items() if k != "task"}
    meta["mmau"].write_text(json.dumps([MMAU_QUESTIONS[0], missing]), encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"item 1 \(id 'u-sound-4'\): missing key\(s\) task"):
        build_benchmark(get_spec("mmau"), meta["mmau"], meta["mmau_audio"], meta["data_root"], require_audio=False)
    meta["mmau"].write_text(json.dumps([MMAU_QUESTIONS[0], MMAU_QUESTIONS[0]]), encoding="utf-8")
    with pytest.raises(BenchmarkError, match="duplicate id 'u-sound-4'"):
        build_benchmark(get_spec("mmau"), meta["mmau"], meta["mmau_audio"], meta["data_root"], require_audio=False)


def test_audio_must_exist(tmp_path):
    meta = write_metadata(tmp_path, audio=False)
    with pytest.raises(BenchmarkError,
                       match=r"(?s)6 of 6 audio file\(s\) missing .*u-sound-4.wav.*huggingface.co/datasets/gamma-lab-umd"):
        build_benchmark(get_spec("mmau"), meta["mmau"], meta["mmau_audio"], meta["data_root"])
    # the files one folder down: the error names the --audio_dir to pass
    nested = meta["mmau_audio"] / "test-mini-audios"
    nested.mkdir()
    for q in MMAU_QUESTIONS:
        write_wav(nested / f"{q['id']}.wav", synthetic_clip(0.5, 0))
    with pytest.raises(BenchmarkError, match=f"pass --audio_dir {nested}"):
        build_benchmark(get_spec("mmau"), meta["mmau"], meta["mmau_audio"], meta["data_root"])
    with pytest.raises(BenchmarkError, match="not inside --data_root"):
        build_benchmark(get_spec("mmau"), meta["mmau"], nested, tmp_path / "elsewhere")


def prepare(bench, meta, *extra, output_dir):
    return run_cli("scripts/prepare_benchmark.py", bench, "--metadata", str(meta[bench]),
                   "--audio_dir", str(meta[f"{bench}_audio"]), "--data_root", str(meta["data_root"]),
                   "--output_dir", str(output_dir), *extra)


def test_prepare_script_writes_checks_and_refuses(tmp_path):
    meta = write_metadata(tmp_path)
    out = tmp_path / "processed_input" / "mmar"
    done = prepare("mmar", meta, output_dir=out)
    assert done.returncode == 0, done.stderr
    assert "speech" in done.stderr and "gold letters: B=1" in done.stderr
    manifests = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jsonl"))
    assert manifests == ["mix-sound-speech/mmar_manifest.jsonl", "music/mmar_manifest.jsonl",
                         "speech/mmar_manifest.jsonl"]
    assert load_manifest(out / "speech" / "mmar_manifest.jsonl")[0].answer == "B"
    assert prepare("mmar", meta, "--check", output_dir=out).returncode == 0
    # --check: exit 1 and a summary naming the changed item and field, nothing written
    changed = [dict(q, answer="Not satisfied") if q["id"] == "r-speech-2" else q for q in MMAR_QUESTIONS]
    meta["mmar"].write_text("".join(json.dumps(q) + "\n" for q in changed), encoding="utf-8")
    before = (out / "speech" / "mmar_manifest.jsonl").read_bytes()
    checked = prepare("mmar", meta, "--check", output_dir=out)
    assert checked.returncode == 1 and "1 changed item(s): r-speech-2 (answer, meta.answer_text)" in checked.stderr
    assert (out / "speech" / "mmar_manifest.jsonl").read_bytes() == before
    # missing audio: refused, unless --skip_audio_check, which says so loudly
    (meta["mmau_audio"] / "u-music-4.wav").unlink()
    refused = prepare("mmau", meta, output_dir=tmp_path / "mmau")
    assert refused.returncode == 1 and "1 of 6 audio file(s) missing" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "mmau").exists()
    skipped = prepare("mmau", meta, "--skip_audio_check", output_dir=tmp_path / "mmau")
    assert skipped.returncode == 0 and "were NOT checked" in skipped.stderr
    assert "1 question(s) list an option twice" in skipped.stderr
    assert len(load_manifest(tmp_path / "mmau" / "sound" / "mmau_manifest.jsonl")) == 2


def test_diff_manifests_reports_new_gone_and_extra_subsets(metadata, tmp_path):
    spec = get_spec("mmau")
    built = build_benchmark(spec, metadata["mmau"], metadata["mmau_audio"], metadata["data_root"])
    write_manifests(built, tmp_path / "m", spec.manifest_name)
    assert diff_manifests(built, tmp_path / "m", spec.manifest_name) == []
    fewer = {"sound": built["sound"][:1], "music": built["music"]}
    problems = diff_manifests(fewer, tmp_path / "m", spec.manifest_name)
    assert any("1 gone item(s): u-sound-8" in p for p in problems)
    assert any("speech/mmau_manifest.jsonl: on disk but not built" in p for p in problems)


def test_every_registered_benchmark_resolves():
    for name in BENCHMARKS:
        spec = get_spec(name)
        assert spec.name == name and spec.breakdowns and spec.export_name


COMMITTED_MMAU = REPO / "processed_input" / "mmau"


@requires(COMMITTED_MMAU.is_dir(), "no committed MMAU manifests")
def test_committed_mmau_manifests():
    """The committed manifests (from the real mmau-test-mini.json): 1000 items, gold letters = answers."""
    counts = {}
    ids = set()
    for task in ("sound", "music", "speech"):
        items = load_manifest(COMMITTED_MMAU / task / "mmau_manifest.jsonl")
        counts[task] = len(items)
        for item in items:
            assert item.dataset == "mmau" and item.subset == task and item.hop == NO_HOP
            assert item.choices[item.letters.index(item.answer)] == item.meta["answer_text"]
            assert item.audio == f"MMAU/test-mini-audios/{item.id}.wav"
            ids.add(item.id)
    assert counts == {"sound": 333, "music": 334, "speech": 333} and len(ids) == 1000


def test_prompt_lists_all_eight_options(metadata):
    from audiofaith.text.prompts import user_text

    built = build_benchmark(get_spec("mmau"), metadata["mmau"], metadata["mmau_audio"], metadata["data_root"])
    text = user_text(by_id(built)["u-sound-8"], "cot")
    assert text.splitlines()[1:9] == ["(A) Lake", "(B) Air", "(C) A cooking competition",
                                      "(D) A motorsport racing event", "(E) A live concert", "(F) A political rally",
                                      "(G) Forest", "(H) Desert"]


def test_a_subset_must_be_a_folder_name(tmp_path):
    meta = write_metadata(tmp_path, audio=False)
    meta["mmar"].write_text(json.dumps(dict(MMAR_QUESTIONS[0], modality="sound/speech")) + "\n", encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"'modality' must be a plain name .* 'sound/speech'"):
        build_benchmark(get_spec("mmar"), meta["mmar"], meta["mmar_audio"], meta["data_root"], require_audio=False)
