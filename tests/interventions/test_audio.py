"""The audio intervention family: variants, modes, seeds, swaps, speech and --save_audio, driven by
the deterministic fake backend (no model)."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import wave
from pathlib import Path

import numpy as np
import pytest

from audiofaith.audio import perturb
from audiofaith.audio.io import load_audio
from audiofaith.interventions import InterventionContext, audio as family
from audiofaith.store.jsonl import read_jsonl
from audiofaith.store.manifest import audio_path, load_manifest
from audiofaith.text.prompts import DEFAULT_PROFILE
from audiofaith.store.records import BaselineRecord
from audiofaith.runners.variants import VariantConfig, run_variants
from audiofaith.audio.tts import DirectoryTTS, EspeakTTS, TTSError, answer_text, espeak_available, tts_file_name
from tests.conftest import requires
from tests.runners.fake_backend import FakeBackend

REPO = Path(__file__).resolve().parents[2]
needs_espeak = requires(espeak_available(), "espeak-ng is not installed (apt-get install espeak-ng); "
                                            "the spoken-injection tests need it")


def options(*argv: str) -> dict:
    parser = argparse.ArgumentParser()
    family.add_arguments(parser)
    return vars(parser.parse_args(list(argv)))


@pytest.fixture()
def items(synthetic_data):
    return load_manifest(synthetic_data["manifests"]["animal"])


def baseline(items, empty=()):
    return [BaselineRecord(id=item.id, model="qwen2_audio", prompt_mode="cot", answer=item.answer, subset=item.subset,
                           hop=item.hop, runs_reasonings=["" if item.id in empty else "It caws. So (B)."],
                           runs_raw=["It caws. So (B).\nAnswer: (B)"], runs_predictions=["B"])
            for item in items]


def context(items, opts, seed=0, empty=()):
    return InterventionContext(items=items, results=baseline(items, empty), profile=DEFAULT_PROFILE, options=opts,
                               seed=seed, backend=FakeBackend(), model_key="fake")


def test_variants_cover_every_condition_parameter_and_mode(items):
    opts = options("--perturbations", "silence", "noise_rms", "noise_snr", "mask", "swap", "no_audio",
                   "--snr_db", "10", "-10", "--mask_ratios", "0", "0.5", "--mask_fills", "silence", "noise",
                   "--mask_positions", "start", "scattered")
    variants = family.build_variants(context(items, opts, empty={items[0].id}))
    per_item = (1 + 1 + 2 + 2 * 2 * 2 + 1 + 1) * 2
    assert len(variants) == len(items) * per_item
    contract = {  # docs/conditions.md
        "silence": {"mode"}, "noise_rms": {"mode"}, "noise_snr": {"mode", "snr_db"},
        "mask": {"mode", "mask_ratio", "mask_fill", "mask_position"}, "swap": {"mode", "swap_source_id"},
        "no_audio": {"mode"},
    }
    for v in variants:
        assert set(v.params) == contract[v.condition]
        if v.params["mode"] == "fixed_cot":
            assert v.action == "score"
            if v.item.id == items[0].id:
                assert v.skip_reason == family.NO_REASONING
            else:
                assert v.reasoning == "It caws. So (B)." and v.skip_reason is None
        else:
            assert v.action == "regenerate" and v.reasoning == "" and v.skip_reason is None
    assert len({v.key() for v in variants}) == len(variants)  # every line has its own resume key
    # both modes of one perturbed clip share one edit: the same audio, computed once per batch
    edits = {}
    for v in variants:
        edits.setdefault((v.item.id, v.condition, json.dumps({k: p for k, p in v.params.items() if k != "mode"})),
                         set()).add(id(v.audio_edit))
    assert all(len(ids) == 1 for ids in edits.values())


def test_conditions_doc_lists_every_parameter():
    doc = (REPO / "docs" / "conditions.md").read_text()
    for condition, names in [("noise_snr", ["snr_db"]), ("mask", ["mask_ratio", "mask_fill", "mask_position"]),
                             ("swap", ["swap_source_id"]),
                             ("inject_correct", ["inject_letter", "inject_position", "inject_level_db"])]:
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{condition}`"))
        for name in ["mode"] + names:
            assert f"`{name}`" in row, (condition, name)


def test_perturbed_audio_is_seeded_per_item_and_identical_across_reruns(items, synthetic_data):
    opts = options("--perturbations", "noise_snr", "mask", "--snr_db", "0", "--mask_ratios", "0.5",
                   "--mask_positions", "scattered", "--mask_fills", "noise", "--modes", "fixed_cot")

    def arrays(seed):
        out = {}
        for v in family.build_variants(context(items, opts, seed=seed)):
            samples = load_audio(audio_path(v.item, synthetic_data["data_root"])).samples
            out[(v.item.id, v.condition)] = hashlib.sha256(v.audio_edit(samples, v.item).tobytes()).hexdigest()
        return out

    first, again, other = arrays(0), arrays(0), arrays(1)
    assert first == again
    # the seed is a literal, derive_seed(0, id, "noise_snr", "snr_db=0"), not only equal within one
    # interpreter (a seed depending on PYTHONHASHSEED or the platform fails here)
    first_item = items[0]
    assert first_item.id == "sakura/animal/single/animal0"
    clean = load_audio(audio_path(first_item, synthetic_data["data_root"])).samples
    expected = perturb.noise_at_snr(clean, 0.0, np.random.default_rng(1636012512)).samples
    assert first[(first_item.id, "noise_snr")] == hashlib.sha256(expected.tobytes()).hexdigest()
    assert all(first[key] != other[key] for key in first)
    # single and multi hop share a clip, but their ids differ, so their noise differs
    assert first[(items[0].id, "noise_snr")] != first[(items[1].id, "noise_snr")]


def test_swap_takes_audio_with_another_answer_from_the_same_subset_and_hop(items):
    variants = family.build_variants(context(items, options("--perturbations", "swap", "--modes", "fixed_cot")))
    by_id = {item.id: item for item in items}
    assert len(variants) == len(items)
    sources = {}
    for v in variants:
        target, source = by_id[v.item.id], by_id[v.params["swap_source_id"]]
        assert source.id != target.id and (source.subset, source.hop) == (target.subset, target.hop)
        assert family.answer_key(source) != family.answer_key(target)
        assert v.item.audio == source.audio and v.item.question == target.question  # source audio, target question
        assert v.extra["swap_source_answer"] == family.answer_key(source)
        sources[target.id] = source.id
    assert sorted(sources.values()) == sorted(sources)  # a derangement: every clip lent once
    again = {v.item.id: v.params["swap_source_id"]
             for v in family.build_variants(context(items, options("--perturbations", "swap", "--modes", "fixed_cot")))}
    assert again == sources


def test_answer_key_is_the_audio_label_then_the_gold_text(items):
    import dataclasses

    assert family.answer_key(items[1]) == "crow"  # multi-hop: the clip's label, not "Feathers"
    bare = dataclasses.replace(items[1], meta={})
    assert family.answer_key(bare) == "feathers"


def test_a_group_with_one_answer_is_written_as_an_error_line(items):
    same = [item for item in items if item.hop == "single"][:1]
    variants = family.build_variants(context(same, options("--perturbations", "swap", "--modes", "regenerate")))
    assert len(variants) == 1 and "has a different answer" in variants[0].skip_reason
    assert variants[0].params == {"mode": "regenerate", "swap_source_id": None}


def test_options_are_checked(items):
    with pytest.raises(ValueError, match="--mask_ratios"):
        family.build_variants(context(items, options("--perturbations", "mask", "--mask_ratios", "1.2")))


def test_run_with_save_audio_writes_what_the_model_hears(items, synthetic_data, tmp_path):
    saved = tmp_path / "saved"
    opts = options("--perturbations", "silence", "noise_rms", "noise_snr", "mask", "swap", "no_audio",
                   "--snr_db", "20", "0", "-10", "--mask_ratios", "0.4", "--mask_fills", "silence", "noise",
                   "--mask_positions", "scattered", "--save_audio", str(saved))
    variants = family.build_variants(context(items, opts))
    out = tmp_path / "audio.jsonl"
    backend = FakeBackend()
    counts = run_variants(backend, variants, synthetic_data["data_root"], out,
                          VariantConfig(model_key="fake", batch_size=5), DEFAULT_PROFILE)
    lines = read_jsonl(out)
    assert counts["lines"] == len(lines) == len(variants) and counts["errors"] == 0
    no_audio_calls = [c for c in backend.calls if all(c[2])]
    assert no_audio_calls  # the text-only group went to the model without audio
    for line in lines:
        assert line["param_names"] == sorted(["mode"] + [n for n in line["param_names"] if n != "mode"])
        if line["mode"] == "regenerate":
            assert line["raw"] == FakeBackend().reply and "cue_prediction" in line
        else:
            assert line["prediction"] == "B"  # the fake follows the injected CoT's "(B)"
    manifest = read_jsonl(saved / "manifest.jsonl")
    # one file per (item, perturbed clip), not per mode; no_audio has none
    assert len(manifest) == len(items) * (1 + 1 + 3 + 2 + 1)
    assert len({m["path"] for m in manifest}) == len(manifest)
    by_id = {item.id: item for item in items}
    for m in manifest:
        path = saved / m["path"]
        with wave.open(str(path)) as handle:
            assert (handle.getframerate(), handle.getsampwidth(), handle.getnchannels()) == (16000, 2, 1)
            assert handle.getnframes() == m["samples"]
        assert m["seconds"] == m["samples"] / 16000 and m["path"].startswith(m["id"] + "/")
        heard = load_audio(path).samples
        clean = load_audio(audio_path(by_id[m["id"]], synthetic_data["data_root"])).samples[: 30 * 16000]
        if m["condition"] == "noise_snr":
            gain = m["measured"]["gain"]
            assert m["measured"]["snr_db"] == pytest.approx(m["params"]["snr_db"], abs=0.1)
            assert perturb.snr_db(gain * clean, heard - gain * clean) == pytest.approx(m["params"]["snr_db"], abs=0.1)
        elif m["condition"] == "mask":
            k = perturb.masked_count(len(clean), 0.4)
            assert m["measured"]["masked_samples"] == k and m["measured"]["masked_fraction"] == k / len(clean)
            if m["params"]["mask_fill"] == "silence":
                assert int((heard == 0).sum()) >= k
        elif m["condition"] == "silence":
            assert not heard.any() and len(heard) == len(clean)
        elif m["condition"] == "noise_rms":
            assert perturb.rms(heard) == pytest.approx(perturb.rms(clean), rel=0.01)
        elif m["condition"] == "swap":
            source = by_id[m["params"]["swap_source_id"]]
            lent = load_audio(audio_path(source, synthetic_data["data_root"])).samples[: 30 * 16000]
            assert len(heard) == len(lent) and np.abs(heard - lent).max() < 1e-4
    names = [Path(m["path"]).name for m in manifest]
    assert "noise_snr__snr_db=-10__seed=0.wav" in names
    assert all(re.fullmatch(r"[A-Za-z0-9._=+-]+", name) for name in names)
    # a resumed run writes no duplicate manifest lines
    run_variants(FakeBackend(), variants, synthetic_data["data_root"], tmp_path / "again.jsonl",
                 VariantConfig(model_key="fake", batch_size=5), DEFAULT_PROFILE)
    assert len(read_jsonl(saved / "manifest.jsonl")) == len(manifest)


def test_wrong_injection_letter_is_deterministic_and_never_gold(items):
    for item in items:
        letters = {family.wrong_letter(item, seed) for seed in range(20)}
        assert item.answer not in letters and len(letters) > 1
    # pinned letters: a seed that changed between processes (PYTHONHASHSEED) would change them
    assert [family.wrong_letter(item, 3) for item in items] == ["A", "A", "D", "B", "C", "C"]


def test_answer_text_and_file_names():
    assert answer_text("  (d) angry ") == "The answer is (d) angry."
    assert answer_text("Please, make it stop.") == "The answer is Please, make it stop."
    assert tts_file_name("The answer is dog.") == hashlib.sha1(b"The answer is dog.").hexdigest() + ".wav"


def test_tts_dir_clips_and_missing_ones_are_listed(tmp_path):
    from audiofaith.audio.io import write_wav

    write_wav(tmp_path / tts_file_name("The answer is dog."), 0.1 * np.ones(8000, np.float32), rate=8000)
    speech = DirectoryTTS(tmp_path).synthesize(["The answer is dog."])
    assert len(speech["The answer is dog."]) == 16000  # resampled to 16 kHz
    with pytest.raises(TTSError, match=r"1 of 2 speech clip\(s\) missing") as error:
        DirectoryTTS(tmp_path).synthesize(["The answer is dog.", "The answer is cat."])
    assert tts_file_name("The answer is cat.") in str(error.value)


def test_missing_espeak_names_the_package():
    with pytest.raises(TTSError, match=r"apt-get install espeak-ng"):
        EspeakTTS(executable="espeak-ng-not-installed-here")


@needs_espeak
def test_espeak_speech_is_16k_and_injected(items, synthetic_data):
    speech = EspeakTTS().synthesize(["The answer is dog."])["The answer is dog."]
    assert speech.dtype == np.float32 and 0.5 < len(speech) / 16000 < 3.0 and perturb.rms(speech) > 0.01
    opts = options("--perturbations", "inject_correct", "inject_wrong", "--modes", "fixed_cot")
    variants = family.build_variants(context(items, opts))
    assert len(variants) == len(items) * 2 * 2
    spoken = EspeakTTS().synthesize({v.extra["inject_text"] for v in variants})
    for v in variants:
        letter = v.params["inject_letter"]
        assert (letter == v.item.answer) == (v.condition == "inject_correct")
        assert v.extra["inject_text"] == answer_text(v.item.choices[v.item.letters.index(letter)])
        assert v.extra["tts"].startswith("eSpeak NG") and v.params["inject_level_db"] == 0.0
        clean = load_audio(audio_path(v.item, synthetic_data["data_root"])).samples[: 30 * 16000]
        voice = spoken[v.extra["inject_text"]]
        heard = v.audio_edit(clean, v.item)
        if v.params["inject_position"] == "overlay":
            assert len(heard) == max(len(clean), len(voice))
            tail = slice(len(voice), len(clean))  # clip only: the clip times a common gain (<= 1)
            gain = float(heard[tail] @ clean[tail] / (clean[tail] @ clean[tail]))
            assert 0 < gain <= 1 and perturb.rms(heard[tail] - gain * clean[tail]) < 1e-6
        else:  # clip, 0.3 s gap, speech; a 30 s clip is cut so the speech fits Qwen2-Audio's window
            assert len(heard) == min(len(clean) + 4800 + len(voice), 30 * 16000)
            gain = float(heard[:4000] @ clean[:4000] / (clean[:4000] @ clean[:4000]))  # < 1 if scaled to fit
            assert perturb.rms(heard[-len(voice):]) == pytest.approx(gain * perturb.rms(clean), rel=1e-3)
