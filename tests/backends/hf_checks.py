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


def check_scores_are_generate_first_step(backend, inputs: Sequence[ModelInput]) -> None:
    """score_letters == log-softmax of generate's first-step logits at the letters' token ids, and
    greedy generation restricted to the options picks the scored argmax."""
    import torch

    scores = backend.score_letters(list(inputs), LETTERS)
    batch = backend.encode(list(inputs))
    with torch.inference_mode():
        out = backend.model.generate(**batch, **backend.generate_kwargs(), max_new_tokens=1, do_sample=False,
                                     output_logits=True, return_dict_in_generate=True)
    logprobs = torch.log_softmax(out.logits[0].float(), dim=-1)
    tok = backend.tokenizer
    for row, (row_scores, row_letters) in enumerate(zip(scores, LETTERS)):
        ids = [tok.convert_tokens_to_ids(letter) for letter in row_letters]
        expected = {letter: float(logprobs[row, i]) for letter, i in zip(row_letters, ids)}
        assert row_scores == pytest.approx(expected, abs=1e-4)
        restricted = max(row_letters, key=lambda letter: expected[letter])
        assert restricted == max(row_scores, key=row_scores.get)
