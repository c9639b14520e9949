"""The known-answer task and its rule-based rewriter (no model, no torch)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from audiofaith.checkpoints.known_answer import task
from audiofaith.checkpoints.known_answer.rewriter import KnownAnswerRewriter, add_mistake, paraphrase
from audiofaith.store.manifest import load_manifest
from audiofaith.text.prompts import user_text
from audiofaith.text.rewriter import load_rewriter, mistake_prompt, paraphrase_prompt, prompt_subject, rule_rewriter


def test_canonical_cot_names_the_class_and_implies_it():
    cot = task.canonical_cot("frog")
    assert cot == "I listen to the recording. I hear a mid-pitched, pulsing croak. That is the call of a frog."
    assert task.implied_label(cot) == "frog"
    assert task.implied_label("I listen to the recording.") is None
    # the last class named or described decides; a description alone implies its class
    assert task.implied_label("I hear a low, steady moo. That is the call of a bird.") == "bird"
    assert task.implied_label("I listen to the recording. I hear a mid-pitched, pulsing croak.") == "frog"


def test_rule_rewriter_adds_a_mistake_to_every_named_class():
    assert add_mistake("I hear a mid-pitched, pulsing croak.") == "I hear a high, rising chirp."
    assert add_mistake("That is the call of a cricket.") == "That is the call of a cow."
    assert add_mistake("I listen to the recording.") == "I listen to the recording."


def test_rule_rewriter_paraphrases_into_the_next_wording_keeping_the_class():
    text = task.canonical_cot("bird")
    assert paraphrase(text) == ("I pay attention to the audio. The recording contains a high, rising chirp. "
                                "This sound comes from a bird.")
    assert task.implied_label(paraphrase(text)) == "bird"
    assert paraphrase("Something else entirely.") == "Something else entirely."


def test_rule_rewriter_reads_the_families_prompts(tmp_path):
    items = task.write_task(tmp_path, {"heldout": 4})["heldout"]
    rewriter = load_rewriter({"rewriter_model": "rules:known_answer"}, None, 0)
    assert isinstance(rewriter, KnownAnswerRewriter) and rewriter.name == "rules:known_answer"
    prompts = [mistake_prompt(items[0], "That is the call of a cow."), paraphrase_prompt("I listen to the recording.")]
    assert prompt_subject(prompts[0]) == ("Sentence with a mistake:", "That is the call of a cow.")
    assert rewriter.rewrite(prompts) == ["That is the call of a frog.", "I pay attention to the audio."]
    with pytest.raises(ValueError, match="unknown rule-based rewriter"):
        rule_rewriter("rules:nope")


def test_task_manifests_are_sakura_shaped_and_load(tmp_path):
    task.write_task(tmp_path, {"train": 8, "heldout": 32}, seed=3)
    items = load_manifest(tmp_path / "heldout_manifest.jsonl")
    assert [i.meta["attribute_label"] for i in items[:4]] == list(task.LABELS)
    assert all((tmp_path / i.audio).is_file() for i in items)
    assert all(i.answer == "ABCD"[i.choices.index(i.meta["attribute_label"])] for i in items)
    assert user_text(items[0], "cot").startswith(task.QUESTION + "\n(A) cow\n(B) frog\n(C) bird\n(D) cricket\n")
    # four option orders, each with every class: the letter of a class depends on the item
    assert user_text(items[4], "cot").startswith(task.QUESTION + "\n(A) frog\n(B) bird\n(C) cricket\n(D) cow\n")
    pairs = {(i.meta["attribute_label"], i.meta["rotation"]) for i in items[:16]}
    assert len(pairs) == 16 and {i.answer for i in items if i.meta["attribute_label"] == "cow"} == set("ABCD")
    with pytest.raises(ValueError, match="unknown split"):
        task.write_task(tmp_path, {"test": 1})


def test_fixed_order_task_has_one_option_order(tmp_path):
    items = task.write_task(tmp_path, {"heldout": 16}, rotations=1)["heldout"]
    assert {i.choices for i in items} == {task.LABELS}


def test_no_call_clips_have_no_call():
    rng = np.random.default_rng(0)
    silence, noise = task.no_call("silence", rng), task.no_call("noise", rng)
    assert not silence.any() and 0.6 * task.SAMPLE_RATE <= len(silence) <= 1.6 * task.SAMPLE_RATE
    assert 0.009 < float(np.sqrt(np.mean(noise ** 2))) < 0.21
    with pytest.raises(ValueError, match="unknown no-call kind"):
        task.no_call("hum", rng)


def test_clips_vary_and_splits_never_share_a_clip():
    _, a, pa = task.clip_for("train", 0, seed=0)
    _, b, pb = task.clip_for("heldout", 0, seed=0)
    _, c, _ = task.clip_for("train", 0, seed=0)
    assert np.array_equal(a, c) and pa["f0_hz"] != pb["f0_hz"]
    assert 0.6 <= pa["seconds"] <= 1.6 and 5 <= pa["snr_db"] <= 30


def test_trained_checkpoints_are_registered_for_qwen2_audio_only(tmp_path):
    from audiofaith.checkpoints.tiny import TRAINED_BUILDERS, build_trained, main

    assert set(TRAINED_BUILDERS) == {"qwen2_audio"}
    with pytest.raises(ValueError, match="--trained is available for --arch qwen2_audio"):
        build_trained("af3", "faithful", tmp_path)
    with pytest.raises(SystemExit):
        main(["--arch", "qwen2_audio", "--trained", "sometimes", "--out", str(tmp_path)])


def test_cache_key_changes_with_the_configuration_and_variant():
    pytest.importorskip("torch")
    from audiofaith.checkpoints.known_answer.train import TrainConfig, cache_key

    base = cache_key(TrainConfig(), "faithful")
    assert base == cache_key(TrainConfig(), "faithful")
    assert base != cache_key(TrainConfig(), "posthoc")
    assert base != cache_key(TrainConfig(cycle_steps=1499), "faithful")


def test_cache_key_names_the_cpu_kernels():
    """Float results differ between torch's CPU kernel sets, so a retrained checkpoint is cached per
    kernel set: a subprocess under ATEN_CPU_CAPABILITY=default gets another key."""
    pytest.importorskip("torch")
    import subprocess
    import sys

    code = "from audiofaith.checkpoints.known_answer.train import TrainConfig, cache_key; print(cache_key(TrainConfig(), 'faithful'))"
    keys = {capability: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                       env={**os.environ, "ATEN_CPU_CAPABILITY": capability}).stdout.strip()
            for capability in ("default", "avx2")}
    assert keys["default"] != keys["avx2"], keys


def test_shipped_checkpoints_are_copied_with_their_checksums_and_nothing_is_trained(tmp_path, monkeypatch):
    from audiofaith.checkpoints.known_answer import train
    from audiofaith.checkpoints.tiny import build_trained

    monkeypatch.setenv("AUDIOFAITH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(train, "_train", lambda *a, **k: pytest.fail("a shipped checkpoint must not train"))
    out = build_trained("qwen2_audio", "faithful", tmp_path / "faithful")
    assert (out / "model.safetensors").is_file() and (out / "task" / "heldout_manifest.jsonl").is_file()
    assert len(load_manifest(out / "task" / "heldout_manifest.jsonl")) == 64
    assert not (tmp_path / "cache").exists()
    info = __import__("json").loads((out / train.INFO_FILE).read_text())
    assert info["config"] == __import__("dataclasses").asdict(train.TrainConfig()) and info["variant"] == "faithful"
    # the shipped folders list every file they hold, and the listed digests are the files'; the
    # held-out clips are generated, and are the bytes the shipped task checksums list
    for variant in ("faithful", "posthoc"):
        train.verify_checksums(train.SHIPPED / variant)
    train.verify_checksums(out / "task", train.SHIPPED / "task" / train.CHECKSUMS)
    assert not any(train.SHIPPED.rglob("*.wav")), "clips are generated from their seeds, not shipped"


def test_a_held_out_clip_that_comes_out_differently_is_named(tmp_path, monkeypatch):
    from audiofaith.checkpoints.known_answer import train

    real = task.synthesize_call

    def louder_frogs(label, rng):
        audio, params = real(label, rng)
        return (audio * 1.01 if label == "frog" else audio), params

    monkeypatch.setattr(task, "synthesize_call", louder_frogs)
    with pytest.raises(train.ChecksumError, match=r"heldout0001\.wav: sha256 differs .*differ from the shipped"):
        train.write_heldout_task(tmp_path / "task")


def test_a_changed_missing_or_extra_shipped_file_is_named(tmp_path):
    import shutil

    from audiofaith.checkpoints.known_answer import train

    folder = tmp_path / "faithful"
    shutil.copytree(train.SHIPPED / "faithful", folder)
    train.verify_checksums(folder)
    (folder / "config.json").write_text((folder / "config.json").read_text() + " ")
    with pytest.raises(train.ChecksumError, match="config.json: sha256 differs"):
        train.verify_checksums(folder)
    shutil.copy2(train.SHIPPED / "faithful" / "config.json", folder / "config.json")
    (folder / "model.safetensors").unlink()
    with pytest.raises(train.ChecksumError, match="model.safetensors: listed in .* but missing"):
        train.verify_checksums(folder)
    shutil.copy2(train.SHIPPED / "faithful" / "model.safetensors", folder / "model.safetensors")
    (folder / "notes.txt").write_text("x")
    with pytest.raises(train.ChecksumError, match="notes.txt: not listed"):
        train.verify_checksums(folder)


def test_retrain_needs_trained(tmp_path, capsys):
    from audiofaith.checkpoints.tiny import main

    with pytest.raises(SystemExit):
        main(["--arch", "qwen2_audio", "--retrain", "--out", str(tmp_path)])
    assert "--retrain needs --trained" in capsys.readouterr().err


def test_the_acceptance_checks_name_each_failing_rule():
    from audiofaith.checkpoints.known_answer.train import Acceptance, acceptance_failures

    checks = {"greedy": {"follows": 0.97}, "own CoT": {"follows": 1.0}, "no CoT": {"top": 0.45, "same": 0.2},
              "filler": {"top": 0.3, "same": 0.5}}
    assert acceptance_failures(checks, Acceptance()) == [
        "greedy: follows 0.970 < 0.98", "no CoT: mean top-letter probability 0.450 > 0.4",
        "filler: same answer 0.500 > 0.4"]
    assert acceptance_failures({"own CoT": {"follows": 0.98}, "no CoT": {"top": 0.4, "same": 0.4}}, Acceptance()) == []
