"""The Qwen2-Audio backend on a tiny random-weight checkpoint, loaded through from_pretrained."""

from __future__ import annotations

import numpy as np
import pytest

from audiofaith.backends import GenerationSettings, ModelInput, ScoringError, load_backend

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend(tiny_qwen2_audio):
    return load_backend("qwen2_audio", str(tiny_qwen2_audio), device="cpu", dtype="fp32")


def _inputs():
    rng = np.random.default_rng(0)
    clip = lambda seconds: (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)
    return [
        ModelInput("Which animal is it?\n(A) dog\n(B) cat", clip(3.0)),
        ModelInput("Which animal is it?\n(A) dog\n(B) cat\n(C) cow\n(D) crow", clip(5.5), "It barks.\n\nAnswer: ("),
        ModelInput("Is the speaker male or female?\n(A) Male\n(B) Female", clip(1.2), "Answer: ("),
    ]


def test_batched_generation_equals_one_at_a_time(backend):
    settings = GenerationSettings(max_new_tokens=10)
    batched = backend.generate(_inputs(), settings)
    single = [backend.generate([inp], settings)[0] for inp in _inputs()]
    assert batched == single
    assert all(len(texts) == 1 and texts[0] for texts in batched)


def test_batched_scores_equal_one_at_a_time(backend):
    letters = [["A", "B"], ["A", "B", "C", "D"], ["A", "B"]]
    batched = backend.score_letters(_inputs(), letters)
    single = [backend.score_letters([inp], [row])[0] for inp, row in zip(_inputs(), letters)]
    for b, s, row in zip(batched, single, letters):
        assert list(b) == row
        for letter in row:
            assert b[letter] == pytest.approx(s[letter], abs=1e-4)
            assert b[letter] < 0


def test_letter_scores_agree_with_greedy_generation(backend):
    """The scored log-probabilities are those of generate's first step, and the letter generation
    ranks highest among the options is the scored argmax."""
    import torch

    inputs = _inputs()
    letters = [["A", "B"], ["A", "B", "C", "D"], ["A", "B"]]
    scores = backend.score_letters(inputs, letters)
    batch = backend.encode(inputs)
    with torch.inference_mode():
        out = backend.model.generate(**batch, max_new_tokens=1, do_sample=False, output_logits=True,
                                     return_dict_in_generate=True)
    logprobs = torch.log_softmax(out.logits[0].float(), dim=-1)
    tok = backend.tokenizer
    for row, (row_scores, row_letters) in enumerate(zip(scores, letters)):
        ids = [tok.convert_tokens_to_ids(letter) for letter in row_letters]
        expected = {letter: float(logprobs[row, i]) for letter, i in zip(row_letters, ids)}
        assert row_scores == pytest.approx(expected, abs=1e-4)
        # restricted to the option letters, greedy generation picks the scored argmax
        restricted = max(row_letters, key=lambda letter: float(logprobs[row, tok.convert_tokens_to_ids(letter)]))
        assert restricted == max(row_scores, key=row_scores.get)


def test_scoring_rejects_a_cue_that_merges_with_the_letter(backend):
    # A cue ending in a space: the tokenizer merges " A" into one token, so "A" is not the next
    # token after the cue's own tokens. This must be refused, not scored approximately.
    assert backend.tokenizer.tokenize("is A")[-1] == "\u0120A"
    with pytest.raises(ScoringError, match="does not end on a token boundary"):
        backend.letter_token_ids("The answer is ", ["A", "B"])


def test_sampling_is_seeded(backend):
    settings = GenerationSettings(max_new_tokens=8, do_sample=True, temperature=1.0, num_return_sequences=2, seed=7)
    first = backend.generate(_inputs()[:2], settings)
    second = backend.generate(_inputs()[:2], settings)
    assert first == second
    assert all(len(texts) == 2 for texts in first)


def test_text_only_input(backend):
    texts = backend.generate([ModelInput("Say something."), ModelInput("Pick a letter.\n(A) x\n(B) y")],
                             GenerationSettings(max_new_tokens=4))
    assert len(texts) == 2


def test_provenance(backend, tiny_qwen2_audio):
    info = backend.provenance()
    assert info["model_key"] == "qwen2_audio"
    assert info["checkpoint"] == str(tiny_qwen2_audio)
    assert info["model_class"] == "Qwen2AudioForConditionalGeneration"
    assert info["dtype"] == "float32" and info["device"] == "cpu"
    assert info["max_audio_seconds"] == 30.0
    assert len(info["chat_template_sha256"]) == 16


def test_features_are_computed_on_the_model_gpu(backend):
    """On a GPU the feature extractor's torch path runs there (the processor accepts `device`);
    on the CPU nothing changes. (The CUDA path itself needs a GPU to run.)"""
    assert "device" not in backend.processor_kwargs()
    backend.device = "cuda:1"
    try:
        assert backend.processor_kwargs()["device"] == "cuda:1"
        backend.features_on_device = False
        assert "device" not in backend.processor_kwargs()
    finally:
        backend.device = "cpu"
        backend.features_on_device = True
