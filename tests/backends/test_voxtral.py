"""The Voxtral backend on a tiny random-weight checkpoint (a toy tekken tokenizer read by
mistral-common), loaded through from_pretrained. Random weights: code paths only, never quality."""

from __future__ import annotations

import numpy as np
import pytest

from audiofaith.backends import ModelInput, load_backend
from audiofaith.errors import UserError
from tests.backends import hf_checks

pytestmark = pytest.mark.slow

#: Voxtral's audio tokens: 12.5 per second, audio padded to whole 30 s chunks.
AUDIO_TOKENS_PER_CHUNK = 375


@pytest.fixture(scope="module")
def backend(tiny_voxtral):
    return load_backend("voxtral", str(tiny_voxtral), device="cpu", dtype="fp32")


def test_batched_generation_equals_one_at_a_time(backend):
    # the 31 s clip spans two 30 s chunks, so the batch mixes 1- and 2-chunk items
    hf_checks.check_batched_generation_equals_one_at_a_time(backend, hf_checks.sample_inputs(long_seconds=31.0))


def test_batched_scores_equal_one_at_a_time(backend):
    hf_checks.check_batched_scores_equal_one_at_a_time(backend, hf_checks.sample_inputs(long_seconds=31.0))


def _processor_batch(backend, inp: ModelInput):
    """One input through the processor's own apply_chat_template (mistral-common's request
    encoding and the processor's features), the assistant prefix as a final assistant message that
    mistral-common continues; the backend's conversation/encode are not used."""
    import base64
    import io

    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.asarray(inp.audio, dtype=np.float32), 16000, format="WAV", subtype="FLOAT")
    messages = [{"role": "user", "content": [{"type": "audio", "base64": base64.b64encode(buffer.getvalue()).decode()},
                                             {"type": "text", "text": inp.user_text}]}]
    continued = bool(inp.assistant_prefix)
    if continued:
        messages.append({"role": "assistant", "content": inp.assistant_prefix})
    return backend.processor.apply_chat_template(messages, tokenize=True, return_dict=True,
                                                 continue_final_message=continued)


def test_prompt_ids_and_features_are_the_processors_own(backend):
    """The backend's batch of one input equals the processor's apply_chat_template output: the same
    token ids (with the assistant prefix continued by mistral-common) and the same log-mel chunks."""
    for inp in hf_checks.sample_inputs(long_seconds=31.0):
        ours, published = backend.encode([inp]), _processor_batch(backend, inp)
        assert ours["input_ids"].tolist() == published["input_ids"].tolist()
        assert ours["input_features"].shape == published["input_features"].shape
        assert np.allclose(ours["input_features"].numpy(), published["input_features"].numpy(), atol=1e-6)


def test_letter_scores_are_generate_first_step(backend):
    """score_letters (one left-padded batch) == the model's next-token log-softmax after the
    processor's own encoding of each input, at the letters' ids."""
    import torch

    inputs = hf_checks.sample_inputs()
    scores = backend.score_letters(inputs, hf_checks.LETTERS)
    for inp, row_scores, letters in zip(inputs, scores, hf_checks.LETTERS):
        batch = _processor_batch(backend, inp)
        with torch.inference_mode():
            out = backend.model.generate(**batch, max_new_tokens=1, do_sample=False, output_logits=True,
                                         return_dict_in_generate=True)
        logprobs = torch.log_softmax(out.logits[0][0].float(), dim=-1)
        ids = backend.tokenizer.convert_tokens_to_ids(letters)
        assert row_scores == pytest.approx({letter: float(logprobs[i]) for letter, i in zip(letters, ids)}, abs=1e-4)


def test_letters_a_to_h_are_single_tokens_after_the_answer_cue(backend):
    hf_checks.check_letters_a_to_h_are_single_tokens(backend)


def test_one_audio_span_of_375_tokens_per_30_s_chunk_before_the_text(backend):
    for seconds, chunks in ((1.5, 1), (30.0, 1), (31.0, 2)):
        text = backend.render(ModelInput("Question?", np.zeros(int(16000 * seconds), np.float32)))
        assert text == ("<s>[INST][BEGIN_AUDIO]" + "[AUDIO]" * (AUDIO_TOKENS_PER_CHUNK * chunks)
                        + "Question?[/INST]")
    batch = backend.encode([ModelInput("Q?", np.zeros(16000 * 31, np.float32)), ModelInput("Q?", [0.0])])
    assert tuple(batch["input_features"].shape) == (3, 128, 3000)  # the chunks of both rows, in order
    audio_id = backend.model.config.audio_token_id
    assert backend.tokenizer.convert_ids_to_tokens(audio_id) == "[AUDIO]" == backend.processor.audio_token
    assert (batch["input_ids"] == audio_id).sum().item() == 3 * AUDIO_TOKENS_PER_CHUNK
    assert backend.max_audio_seconds == 2400.0


def test_a_system_turn_beside_audio_is_refused(backend):
    with pytest.raises(UserError, match="system turn beside audio"):
        backend.render(ModelInput("Q?", [0.0], system_prompt="You are a helpful assistant."))


def test_provenance_names_the_tokenizer_and_mistral_common(backend):
    info = backend.provenance()
    assert info["model_class"] == "VoxtralForConditionalGeneration"
    assert info["template"] == "mistral-common request encoding, tokenizer v7"
    assert info["libraries"]["mistral_common"] and len(info["chat_template_sha256"]) == 16


@hf_checks.needs_mixed
def test_baseline_conditioned_and_early_answering_through_the_interface_scripts(tiny_voxtral, tmp_path):
    outputs = hf_checks.run_pipeline_through_interface_scripts("Voxtral", tiny_voxtral, tmp_path)
    assert all(r["model"] == "voxtral" for r in outputs["baseline"])
    assert all("runs_thinking_finish_reasons" not in r for r in outputs["baseline"])  # Voxtral does not think


def test_protocol_paper_is_refused_cleanly(tmp_path):
    hf_checks.check_protocol_paper_is_refused("Voxtral", tmp_path)
