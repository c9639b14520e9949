"""The prefix cache of ``HFAudioBackend.score_letters``: rows sharing user text and audio are
scored from one cached forward pass over their shared prompt, with the same numbers as the
plain batched pass."""

from __future__ import annotations

import numpy as np
import pytest

from audiofaith.backends import load_backend
from audiofaith.backends.base import ModelInput
from audiofaith.backends.hf import _shared_prefix_groups, _uses_multimodal_rope

pytestmark = pytest.mark.slow

QUESTION = "Which animal is it?\n(A) dog\n(B) crow\n(C) cow\n(D) rooster\nThink step by step."
COT = "The clip starts with a bark. It repeats twice. So the answer is (A)."


def _tone(seconds: float, hz: float) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def early_answering_rows(audio, question=QUESTION, audio_key="dog.wav"):
    cuts = ["", "The clip starts with a bark.", "The clip starts with a bark. It repeats twice.", COT]
    return [ModelInput(question, audio, (cut + "\n\n" if cut else "") + "Answer: (", audio_key=audio_key)
            for cut in cuts]


def _sharpened(key, path):
    """The tiny model with its output layer scaled up: random weights give near-uniform letter
    probabilities, in which a one-position error would hide below the tolerance."""
    import torch

    backend = load_backend(key, str(path), device="cpu", dtype="fp32")
    with torch.no_grad():
        backend.model.get_output_embeddings().weight.mul_(100)
    return backend


def _both(backend, rows, letters="ABCD"):
    calls = []
    shared = backend._score_shared_prefix
    backend._score_shared_prefix = lambda *a: (calls.append(len(a[0])), shared(*a))[1]
    try:
        backend.prefix_cache = True
        cached = backend.score_letters(rows, [letters] * len(rows))
        backend.prefix_cache = False
        plain = backend.score_letters(rows, [letters] * len(rows))
    finally:
        backend.prefix_cache = True
        del backend._score_shared_prefix
    return cached, plain, calls


def _assert_close(cached, plain):
    for a, b in zip(cached, plain):
        assert a.keys() == b.keys()
        for letter in a:
            assert a[letter] == pytest.approx(b[letter], abs=1e-4)


@pytest.fixture(scope="module")
def qwen2_audio(tiny_qwen2_audio):
    return _sharpened("qwen2_audio", tiny_qwen2_audio)


def test_early_answering_group_matches_the_plain_pass(qwen2_audio):
    audio = _tone(3.0, 440)
    rows = early_answering_rows(audio)
    cached, plain, calls = _both(qwen2_audio, rows)
    assert calls == [4]  # one shared prefix for the four rows
    _assert_close(cached, plain)
    assert len({round(r["A"], 3) for r in plain}) > 1  # the rows really differ


def test_mixed_batch(qwen2_audio):
    dog, crow = _tone(3.0, 440), _tone(5.0, 880)
    rows = (early_answering_rows(dog)[:3] + [ModelInput("Answer with the letter only.", dog, "Answer: (",
                                                        audio_key="dog.wav")]
            + early_answering_rows(crow, audio_key="crow.wav")[1:]
            + [ModelInput(QUESTION, _tone(3.0, 440), "Answer: (", audio_key="dog-copy.wav"),
               ModelInput(QUESTION, dog, "Answer: (")])
    cached, plain, calls = _both(qwen2_audio, rows)
    assert sorted(calls) == [3, 3]  # another key, or no key, is not shared
    _assert_close(cached, plain)


def test_a_group_that_does_not_tokenize_as_prefix_plus_rest_falls_back(qwen2_audio, monkeypatch):
    render = qwen2_audio.render
    # the shared prompt is no longer a prefix of the rows' prompts
    monkeypatch.setattr(qwen2_audio, "render", lambda inp: render(inp) + ("" if inp.assistant_prefix else "Q"))
    rows = early_answering_rows(_tone(3.0, 440))
    assert qwen2_audio._score_shared_prefix(rows, [qwen2_audio.render(r) for r in rows]) is None
    cached, plain, _ = _both(qwen2_audio, rows)
    _assert_close(cached, plain)


def test_text_only_rows_share_too(qwen2_audio):
    rows = early_answering_rows(None)
    cached, plain, calls = _both(qwen2_audio, rows)
    assert calls == [4]
    _assert_close(cached, plain)


def test_af3_uses_it(tiny_af3):
    cached, plain, calls = _both(_sharpened("af3", tiny_af3), early_answering_rows(_tone(3.0, 440)))
    assert calls == [4]
    _assert_close(cached, plain)


def test_qwen_omni_falls_back_to_the_plain_pass(tiny_qwen_omni):
    backend = load_backend("qwen_omni", str(tiny_qwen_omni), device="cpu", dtype="fp32")
    assert "mrope" in backend._prefix_cache_unsupported()
    cached, plain, calls = _both(backend, early_answering_rows(_tone(3.0, 440)))
    assert calls == [] and cached == plain


def test_grouping_needs_the_same_audio_key_and_text():
    a, b = np.zeros(3), np.zeros(3)
    rows = [ModelInput("q", a, "1", audio_key="a"), ModelInput("q", b, "2", audio_key="b"),
            ModelInput("q", b, "3", audio_key="a"), ModelInput("r", a, "4", audio_key="a"),
            ModelInput("q", None, "5"), ModelInput("q", None, "6"), ModelInput("q", a, "7"), ModelInput("q", a, "8")]
    assert _shared_prefix_groups(rows) == [[0, 2], [4, 5]]  # rows 6, 7: audio without a key is never shared


def test_multimodal_rope_detection():
    class Config:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    assert _uses_multimodal_rope(Config(thinker_config=Config(text_config=Config(
        rope_parameters={"rope_type": "default", "mrope_section": [1, 1, 2]}))))
    assert not _uses_multimodal_rope(Config(text_config=Config(rope_parameters={"rope_type": "default"})))


@pytest.mark.parametrize("key", ["music_flamingo", "gemma4"])
def test_the_new_models_that_use_it_match_the_plain_pass(key, request):
    """Music Flamingo (AF3's architecture) and Gemma 4 (per-layer embeddings, sliding attention)
    continue from the cached prefix with the plain pass's numbers; Gemma 4 in thinking mode, with
    the rows' traces inside its thought channel."""
    from audiofaith.text.prompts import answer_prefix

    backend = _sharpened(key, request.getfixturevalue(f"tiny_{key}"))
    assert backend._prefix_cache_unsupported() is None
    cuts = ["", "The clip starts with a bark.", COT]
    rows = [ModelInput(QUESTION, _tone(3.0, 440), answer_prefix(cut, backend.profile), audio_key="dog.wav")
            for cut in cuts]
    cached, plain, calls = _both(backend, rows)
    assert calls == [3]
    _assert_close(cached, plain)
    assert len({round(r["A"], 3) for r in plain}) > 1


def test_qwen3_omni_falls_back_to_the_plain_pass(tiny_qwen3_omni_thinking):
    backend = _sharpened("qwen3_omni_thinking", tiny_qwen3_omni_thinking)
    assert "mrope" in backend._prefix_cache_unsupported()


def test_nemotron_omni_falls_back_to_the_plain_pass(tiny_nemotron_omni):
    """Its language model (Mamba-2 hybrid) sits in ``language_model``, not behind an inner
    ``model`` that takes a key/value cache: every row takes the plain batched pass."""
    backend = load_backend("nemotron_omni", str(tiny_nemotron_omni), device="cpu", dtype="fp32")
    assert "no inner multimodal model" in backend._prefix_cache_unsupported()
    cached, plain, calls = _both(backend, early_answering_rows(_tone(3.0, 440)))
    assert calls == [] and cached == plain
