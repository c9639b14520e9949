"""Checks every Hugging Face backend must pass on its tiny checkpoint, written once and called
from each model's test file."""

from __future__ import annotations

from typing import List, Sequence

import numpy as np
import pytest

from audiofaith.backends import GenerationSettings, ModelInput

LETTERS = [["A", "B"], ["A", "B", "C", "D"], ["A", "B"]]


def sample_inputs(long_seconds: float = 5.5) -> List[ModelInput]:
    """Three clips of different lengths (so left padding matters), two with an assistant prefix."""
    rng = np.random.default_rng(0)
    clip = lambda seconds: (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)  # noqa: E731
    return [
        ModelInput("Which animal is it?\n(A) dog\n(B) cat", clip(3.0)),
        ModelInput("Which animal is it?\n(A) dog\n(B) cat\n(C) cow\n(D) crow", clip(long_seconds), "It barks.\n\nAnswer: ("),
        ModelInput("Is the speaker male or female?\n(A) Male\n(B) Female", clip(1.2), "Answer: ("),
    ]


def check_batched_generation_equals_one_at_a_time(backend, inputs: Sequence[ModelInput]) -> None:
    settings = GenerationSettings(max_new_tokens=10)
    batched = backend.generate(list(inputs), settings)
    single = [backend.generate([inp], settings)[0] for inp in inputs]
    assert batched == single
    assert all(len(texts) == 1 and texts[0] for texts in batched)


def check_batched_scores_equal_one_at_a_time(backend, inputs: Sequence[ModelInput]) -> None:
    batched = backend.score_letters(list(inputs), LETTERS)
    single = [backend.score_letters([inp], [row])[0] for inp, row in zip(inputs, LETTERS)]
    for b, s, row in zip(batched, single, LETTERS):
        assert list(b) == row
        for letter in row:
            assert b[letter] == pytest.approx(s[letter], abs=1e-4)
            assert b[letter] < 0


def reference_batch(backend, inp: ModelInput):
    """One input's processor output built without the backend's conversation/render/encode: the
    messages written out here, rendered by the chat template published with the checkpoint
    (tests/fixtures/chat_templates), the assistant prefix appended, then the processor itself."""
    from tests.test_prompts import published_template

    messages = []
    if backend.profile.system_prompt is not None:
        messages.append({"role": "system", "content": [{"type": "text", "text": backend.profile.system_prompt}]})
    clip = np.asarray(inp.audio, dtype=np.float32)
    messages.append({"role": "user", "content": [{"type": "audio", "audio": clip},
                                                 {"type": "text", "text": inp.user_text}]})
    text = backend.processor.apply_chat_template(messages, chat_template=published_template(backend.key),
                                                 add_generation_prompt=True, tokenize=False) + inp.assistant_prefix
    batch = backend.processor(text=[text], audio=[clip], sampling_rate=16000, return_tensors="pt")
    return {name: value.to(backend.model.dtype) if value.is_floating_point() else value
            for name, value in batch.items()}


def check_scores_are_generate_first_step(backend, inputs: Sequence[ModelInput]) -> None:
    """score_letters (one batch, left-padded) == the log-softmax of the model's next-token logits
    at the letters' token ids, for each input on its own through reference_batch (the backend's
    encode() is not used); greedy one-token generation restricted to the options picks the scored
    argmax."""
    import torch

    scores = backend.score_letters(list(inputs), LETTERS)
    for inp, row_scores, row_letters in zip(inputs, scores, LETTERS):
        batch = reference_batch(backend, inp)
        with torch.inference_mode():
            out = backend.model.generate(**batch, max_new_tokens=1, do_sample=False, output_logits=True,
                                         return_dict_in_generate=True)
        logprobs = torch.log_softmax(out.logits[0][0].float(), dim=-1)
        ids = [backend.tokenizer.convert_tokens_to_ids(letter) for letter in row_letters]
        expected = {letter: float(logprobs[i]) for letter, i in zip(row_letters, ids)}
        assert row_scores == pytest.approx(expected, abs=1e-4)
        restricted = max(row_letters, key=lambda letter: expected[letter])
        assert restricted == max(row_scores, key=row_scores.get)
