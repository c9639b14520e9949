"""The no_audio condition's text-only call works on every Hugging Face backend: the prompt carries no
audio placeholder, and generation and letter scoring run without audio (tiny checkpoints)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from audiofaith.backends import GenerationSettings, ModelInput, load_backend, model_keys


@pytest.mark.parametrize("key", model_keys("hf"))
def test_text_only_call(key, request):
    backend = load_backend(key, str(request.getfixturevalue(f"tiny_{key}")), device="cpu")
    question = "Which animal is it?\n(A) dog\n(B) cat"
    with_audio = backend.render(ModelInput(question, np.zeros(16000, np.float32)))
    text_only = backend.render(ModelInput(question, None))
    # Voxtral's markers are mistral-common's bracketed special tokens ([BEGIN_AUDIO], [AUDIO])
    audio_markers = set(re.findall(r"<[^<>\s]*(?:audio|AUDIO|sound|so_embedding)[^<>\s]*>|\[(?:BEGIN_)?AUDIO\]",
                                   with_audio))
    assert audio_markers, with_audio  # the audio placeholder the processor expands
    assert not audio_markers & set(re.findall(r"<[^<>\s]*>|\[[A-Z_/]+\]", text_only)), text_only
    cue = "It barks.\n\n" + backend.profile.answer_cue
    inputs = [ModelInput(question), ModelInput(question + "\n(C) cow", None, cue)]
    texts = backend.generate(inputs, GenerationSettings(max_new_tokens=3))
    assert len(texts) == 2 and all(len(t) == 1 for t in texts)
    scores = backend.score_letters(inputs, [["A", "B"], ["A", "B", "C"]])
    assert [sorted(s) for s in scores] == [["A", "B"], ["A", "B", "C"]]
    assert all(v < 0 for s in scores for v in s.values())
