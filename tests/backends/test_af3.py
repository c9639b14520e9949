"""The Audio Flamingo 3 backend on a tiny random-weight checkpoint, loaded through from_pretrained."""

from __future__ import annotations

import pytest

from audiofaith.backends import ModelInput, load_backend
from audiofaith.text.prompts import answer_prefix, user_text
from tests.backends import hf_checks
from tests.test_prompts import ITEM, REASONING, check_published_golden

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend(tiny_af3):
    return load_backend("af3", str(tiny_af3), device="cpu", dtype="fp32")


def test_batched_generation_equals_one_at_a_time(backend):
    # the 31 s clip spans two 30 s windows, so the batch mixes 1- and 2-window items
    hf_checks.check_batched_generation_equals_one_at_a_time(backend, hf_checks.sample_inputs(long_seconds=31.0))


def test_batched_scores_equal_one_at_a_time(backend):
    hf_checks.check_batched_scores_equal_one_at_a_time(backend, hf_checks.sample_inputs())


def test_letter_scores_are_generate_first_step(backend):
    hf_checks.check_scores_are_generate_first_step(backend, hf_checks.sample_inputs())


def test_mask_key_windows_and_audio_limit(backend):
    batch = backend.encode(hf_checks.sample_inputs(long_seconds=31.0))
    assert "input_features_mask" in batch and "feature_attention_mask" not in batch
    assert tuple(batch["input_features"].shape) == (4, 128, 3000)  # 1 + 2 + 1 windows of 30 s, never shorter
    assert backend.max_audio_seconds == 600.0 == backend.processor.max_audio_len
    info = backend.provenance()
    assert info["model_class"] == "AudioFlamingo3ForConditionalGeneration" and info["max_audio_seconds"] == 600.0


def test_default_system_prompt_and_sound_token_first(backend):
    text = backend.render(ModelInput("Question?", audio=[0.0]))
    assert text == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                    "<|im_start|>user\n<sound>Question?<|im_end|>\n<|im_start|>assistant\n")


def test_full_prompt_is_golden(backend):
    check_published_golden("af3_conditioned.txt", backend, "af3",
                           ModelInput(user_text(ITEM, "cot", backend.profile), audio=[0.0],
                                      assistant_prefix=answer_prefix(REASONING, backend.profile)))
