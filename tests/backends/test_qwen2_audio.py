"""The Qwen2-Audio backend on a tiny random-weight checkpoint, loaded through from_pretrained."""

from __future__ import annotations

import pytest

from audiofaith.backends import GenerationSettings, ModelInput, ScoringError, load_backend
from tests.backends import hf_checks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend(tiny_qwen2_audio):
    return load_backend("qwen2_audio", str(tiny_qwen2_audio), device="cpu", dtype="fp32")


def _inputs():
    return hf_checks.sample_inputs()


def test_batched_generation_equals_one_at_a_time(backend):
    hf_checks.check_batched_generation_equals_one_at_a_time(backend, _inputs())


def test_batched_scores_equal_one_at_a_time(backend):
    hf_checks.check_batched_scores_equal_one_at_a_time(backend, _inputs())


def test_letter_scores_agree_with_greedy_generation(backend):
    hf_checks.check_scores_are_generate_first_step(backend, _inputs())


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
    """A text-only batch generates what the model generates for each prompt on its own, rendered
    here by the published template and the tokenizer (no audio placeholder), greedily."""
    import torch

    from tests.test_prompts import published_template

    prompts = ["Say something.", "Pick a letter.\n(A) x\n(B) y"]
    texts = backend.generate([ModelInput(prompt) for prompt in prompts], GenerationSettings(max_new_tokens=4))
    for prompt, [got] in zip(prompts, texts):
        messages = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
        rendered = backend.processor.apply_chat_template(messages, chat_template=published_template("qwen2_audio"),
                                                         add_generation_prompt=True, tokenize=False)
        assert rendered == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                            f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n")
        assert backend.render(ModelInput(prompt)) == rendered  # what the backend feeds the model
        ids = backend.tokenizer(rendered, return_tensors="pt").input_ids
        with torch.inference_mode():
            out = backend.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=4,
                                         do_sample=False)
        expected = backend.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        assert got == expected and got, (prompt, got, expected)


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
