"""Golden prompt texts: a changed prompt must show up as a diff in tests/golden/prompts/.
Regenerate deliberately with UPDATE_GOLDEN=1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from audiofaith.prompts import DEFAULT_PROFILE, PROMPT_VERSION, answer_prefix, format_options, user_text
from audiofaith.records import ManifestItem

GOLDEN = Path(__file__).parent / "golden" / "prompts"

ITEM = ManifestItem(
    id="sakura/animal/single/dog28", dataset="sakura", subset="animal", hop="single",
    audio="SAKURA/data/Animal/audio/dog28.wav",
    question="From the options provided, which animal do you believe is the source of the sound in the recording?",
    choices=("dog", "crow", "cow", "rooster"), answer="A",
)
REASONING = "The clip has short, loud barks. Dogs bark; crows caw, cows moo and roosters crow."


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 once"
    assert text == path.read_text(encoding="utf-8"), f"prompt changed: diff against {path}"


def test_user_turns_are_golden():
    check_golden("user_cot.txt", user_text(ITEM, "cot"))
    check_golden("user_direct.txt", user_text(ITEM, "direct"))
    check_golden("assistant_conditioned.txt", answer_prefix(REASONING))


def test_options_use_uppercase_letters_one_per_line():
    assert format_options(["Male", "Female"]) == "(A) Male\n(B) Female"


def test_empty_reasoning_leaves_only_the_cue():
    assert answer_prefix("   ") == DEFAULT_PROFILE.answer_cue


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError):
        user_text(ITEM, "chain")


def test_profile_hash_tracks_every_text():
    import dataclasses

    changed = dataclasses.replace(DEFAULT_PROFILE, answer_cue="Final answer: (")
    assert changed.hash() != DEFAULT_PROFILE.hash()
    assert len(DEFAULT_PROFILE.hash()) == 16 and PROMPT_VERSION


@pytest.mark.slow
def test_full_qwen2_audio_prompt_is_golden(tiny_qwen2_audio):
    from audiofaith.backends import ModelInput, load_backend

    backend = load_backend("qwen2_audio", str(tiny_qwen2_audio), device="cpu")
    check_golden("qwen2_audio_conditioned.txt",
                 backend.render(ModelInput(user_text(ITEM, "cot"), audio=[0.0], assistant_prefix=answer_prefix(REASONING))))
