"""The Music Flamingo backend on a tiny random-weight checkpoint, loaded through from_pretrained."""

from __future__ import annotations

import pytest

from audiofaith.backends import ModelInput, load_backend
from tests.backends import hf_checks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend(tiny_music_flamingo):
    return load_backend("music_flamingo", str(tiny_music_flamingo), device="cpu", dtype="fp32")


def test_batched_generation_equals_one_at_a_time(backend):
    # the 31 s clip spans two 30 s windows, so the batch mixes 1- and 2-window items
    hf_checks.check_batched_generation_equals_one_at_a_time(backend, hf_checks.sample_inputs(long_seconds=31.0))


def test_batched_scores_equal_one_at_a_time(backend):
    hf_checks.check_batched_scores_equal_one_at_a_time(backend, hf_checks.sample_inputs(long_seconds=31.0))


def test_letter_scores_are_generate_first_step(backend):
    hf_checks.check_scores_are_generate_first_step(backend, hf_checks.sample_inputs())


def test_letters_a_to_h_are_single_tokens_after_the_answer_cue(backend):
    hf_checks.check_letters_a_to_h_are_single_tokens(backend)


def test_sound_boundaries_windows_and_audio_limit(backend):
    batch = backend.encode(hf_checks.sample_inputs(long_seconds=31.0))
    assert "input_features_mask" in batch and tuple(batch["input_features"].shape) == (4, 128, 3000)
    ids = batch["input_ids"].tolist()
    bos, eos = (backend.tokenizer.convert_tokens_to_ids(t) for t in ("<|sound_bos|>", "<|sound_eos|>"))
    assert all(row.count(bos) == 1 and row.count(eos) == 1 for row in ids)  # one audio span per row
    assert backend.max_audio_seconds == 1200.0 == backend.processor.max_audio_len
    info = backend.provenance()
    assert info["model_class"] == "MusicFlamingoForConditionalGeneration" and info["max_audio_seconds"] == 1200.0


def test_one_sound_placeholder_at_the_start_of_the_user_turn_after_the_checkpoints_system_prompt(backend):
    """The published template (tests/fixtures/chat_templates/music_flamingo.jinja) writes its own
    default system turn, not AF3's "You are a helpful assistant.": the tiny template does too."""
    from tests.test_prompts import under_published_template

    expected = ("<|im_start|>system\nYou are Music Flamingo, a multimodal assistant for language and music. "
                "On each turn you receive an audio clip which contains music and optional text, you will receive "
                "at least one or both; use your world knowledge and reasoning to help the user with any task. "
                "Interpret the entirety of the content any input music--regardlenss of whether the user calls it "
                "audio, music, or sound.<|im_end|>\n"
                "<|im_start|>user\n<sound>Question?<|im_end|>\n<|im_start|>assistant\n")
    assert backend.render(ModelInput("Question?", audio=[0.0])) == expected
    with under_published_template(backend, "music_flamingo"):
        assert backend.render(ModelInput("Question?", audio=[0.0])) == expected


@hf_checks.needs_mixed
def test_baseline_conditioned_and_early_answering_through_the_interface_scripts(tiny_music_flamingo, tmp_path):
    outputs = hf_checks.run_pipeline_through_interface_scripts("MusicFlamingo", tiny_music_flamingo, tmp_path)
    assert all(r["model"] == "music_flamingo" for r in outputs["baseline"])


def test_protocol_paper_is_refused_cleanly(tmp_path):
    hf_checks.check_protocol_paper_is_refused("MusicFlamingo", tmp_path)


def test_the_fixture_renders_what_transformers_pins_for_the_hub_checkpoint():
    """transformers' tests/models/musicflamingo/test_processing_musicflamingo.py::test_chat_template
    loads nvidia/music-flamingo-2601-hf and expects this text for this conversation (a text part,
    then an audio part by path): the committed fixture reproduces it."""
    from transformers.utils.chat_template_utils import render_jinja_template

    from tests.test_prompts import published_template

    question = "What is surprising about the relationship between the barking and the music?"
    conversation = [{"role": "user", "content": [{"type": "text", "text": question},
                                                 {"type": "audio", "path": "dogs_barking_in_sync_with_the_music.wav"}]}]
    rendered, _ = render_jinja_template(conversations=[conversation], chat_template=published_template("music_flamingo"),
                                        add_generation_prompt=True)
    assert rendered == [
        "<|im_start|>system\nYou are Music Flamingo, a multimodal assistant for language and music. "
        "On each turn you receive an audio clip which contains music and optional text, "
        "you will receive at least one or both; use your world knowledge and reasoning "
        "to help the user with any task. Interpret the entirety of the content any input music"
        "--regardlenss of whether the user calls it audio, music, or sound.<|im_end|>\n"
        f"<|im_start|>user\n<sound>{question}<|im_end|>\n<|im_start|>assistant\n"]
