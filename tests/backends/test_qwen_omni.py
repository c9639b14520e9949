"""The Qwen2.5-Omni backend (thinker class) on a tiny random-weight checkpoint in the hub layout,
loaded through from_pretrained."""

from __future__ import annotations

import json

import pytest

from audiofaith.backends import GenerationSettings, ModelInput, load_backend
from audiofaith.text.prompts import QWEN_OMNI_SYSTEM_PROMPT, answer_prefix, user_text
from tests.backends import hf_checks
from tests.test_prompts import ITEM, REASONING, check_published_golden

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend(tiny_qwen_omni):
    return load_backend("qwen_omni", str(tiny_qwen_omni), device="cpu", dtype="fp32")


def test_loads_the_thinker_from_a_full_omni_checkpoint(backend, tiny_qwen_omni):
    config = json.loads((tiny_qwen_omni / "config.json").read_text())
    assert config["model_type"] == "qwen2_5_omni"  # what the hub's Qwen/Qwen2.5-Omni-7B holds
    assert type(backend.model).__name__ == "Qwen2_5OmniThinkerForConditionalGeneration"
    assert not hasattr(backend.model, "talker")
    assert backend.provenance()["model_class"] == "Qwen2_5OmniThinkerForConditionalGeneration"


def test_batched_generation_equals_one_at_a_time(backend):
    hf_checks.check_batched_generation_equals_one_at_a_time(backend, hf_checks.sample_inputs())


def test_batched_scores_equal_one_at_a_time(backend):
    hf_checks.check_batched_scores_equal_one_at_a_time(backend, hf_checks.sample_inputs())


def test_letter_scores_are_generate_first_step(backend):
    hf_checks.check_scores_are_generate_first_step(backend, hf_checks.sample_inputs())


def test_generation_length_is_honoured(backend, monkeypatch):
    """The full Omni class ignores a plain max_new_tokens (its thinker default of 1024 wins); the
    thinker class behind this backend generates exactly max_new_tokens when no end-of-turn token
    stops it, through the backend's own generate path."""
    lengths = []
    generate = backend.model.generate

    def spy(**kwargs):
        out = generate(**kwargs)
        lengths.append(out.shape[1] - kwargs["input_ids"].shape[1])
        return out

    monkeypatch.setattr(backend.model, "generate", spy)
    monkeypatch.setattr(backend._generation_defaults, "eos_token_id", None)  # nothing stops it early
    inputs = hf_checks.sample_inputs()[:2]
    for wanted in (7, 40):
        texts = backend.generate(inputs, GenerationSettings(max_new_tokens=wanted))
        assert lengths[-1] == wanted and len(texts) == 2


def test_audio_in_video_is_off_and_audio_window_comes_from_the_processor(backend):
    assert backend.generate_kwargs() == {"use_audio_in_video": False}
    extractor = backend.processor.feature_extractor
    assert backend.max_audio_seconds == extractor.n_samples / extractor.sampling_rate == 30.0  # tiny: 30 s
    assert backend.provenance()["max_audio_seconds"] == 30.0
    keys = set(backend.encode(hf_checks.sample_inputs()[:1]))
    assert {"input_features", "feature_attention_mask"} <= keys and not any("video" in k for k in keys)


def test_system_prompt_is_qwens_and_the_same_in_every_condition(backend):
    cot = backend.render(ModelInput(user_text(ITEM, "cot", backend.profile), audio=[0.0]))
    direct = backend.render(ModelInput(user_text(ITEM, "direct", backend.profile), audio=[0.0],
                                       assistant_prefix=answer_prefix("", backend.profile)))
    system = f"<|im_start|>system\n{QWEN_OMNI_SYSTEM_PROMPT}<|im_end|>\n"
    assert cot.startswith(system) and direct.startswith(system)
    assert backend.conversation(ModelInput("x"))[0]["content"] == [{"type": "text", "text": QWEN_OMNI_SYSTEM_PROMPT}]


def test_full_prompt_is_golden(backend):
    check_published_golden("qwen_omni_conditioned.txt", backend, "qwen_omni",
                           ModelInput(user_text(ITEM, "cot", backend.profile), audio=[0.0],
                                      assistant_prefix=answer_prefix(REASONING, backend.profile)))
