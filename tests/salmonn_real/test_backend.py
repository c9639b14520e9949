"""The SALMONN backend on SALMONN's real code (``models.salmonn.SALMONN.from_config``, its Whisper,
BEATs, window-level Q-Former, peft LoRA and LLaMA) with tiny random weights, in process: module
isolation, the embedding layout, left-padded batching, letter scoring, the checkpoint check.
The weights are random, so texts are gibberish: these tests compare paths, never quality."""

from __future__ import annotations

import importlib
import json
import sys
import types

import numpy as np
import pytest

from audiofaith.backends import GenerationSettings, ModelInput, ScoringError, load_backend
from audiofaith.backends.salmonn import SPEECH_SLOT, SalmonnSetupError, checkout_scope, split_prompt
from tests.backends import hf_checks

LETTERS = hf_checks.LETTERS


def _inputs():
    rng = np.random.default_rng(0)

    def clip(seconds):
        return (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)

    return [
        ModelInput("Which animal is it?\n(A) dog\n(B) cat", clip(3.0)),
        ModelInput("Which animal is it?\n(A) dog\n(B) cat\n(C) cow\n(D) crow", clip(0.5), "It barks.\n\nAnswer: ("),
        ModelInput("Is the speaker male or female?\n(A) Male\n(B) Female", clip(2.0), "Answer: ("),
    ]


def test_checkout_modules_are_isolated(checkout, tmp_path, monkeypatch):
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "utils.py").write_text("WHO = 'ours'\n")
    monkeypatch.syspath_prepend(str(ours))
    other_config = types.ModuleType("config")
    monkeypatch.setitem(sys.modules, "config", other_config)
    monkeypatch.delitem(sys.modules, "utils", raising=False)
    path_before = list(sys.path)
    with checkout_scope(checkout):
        their_utils = importlib.import_module("utils")  # theirs inside, even with ours on sys.path
        assert hasattr(their_utils, "prepare_one_sample") and not hasattr(their_utils, "WHO")
        assert hasattr(importlib.import_module("config"), "Config")
        assert "dist_utils" in sys.modules  # their utils imports it
    assert sys.path == path_before
    assert sys.modules["config"] is other_config
    assert not any(name.split(".")[0] in ("models", "dist_utils") for name in sys.modules)
    assert "utils" not in sys.modules
    try:
        assert importlib.import_module("utils").WHO == "ours"
    finally:
        sys.modules.pop("utils", None)


def test_loading_leaves_no_checkout_modules_behind(backend, checkout):
    leaked = [name for name, module in list(sys.modules.items())
              if str(getattr(module, "__file__", None) or "").startswith(str(checkout))]
    assert not leaked and str(checkout) not in sys.path
    assert type(backend.model).__module__ == "models.salmonn" and backend.max_audio_seconds == 30.0


def test_missing_weights_are_each_named(checkout, weights, tmp_path):
    with pytest.raises(SalmonnSetupError) as error:  # the checkout's decode config has placeholders
        load_backend("salmonn", None, device="cpu", salmonn_repo=str(checkout))
    message = str(error.value)
    for key in ("llama_path", "whisper_path", "beats_path", "ckpt"):
        assert f"  {key}: " in message
    assert "path to llama model" in message and "decode_config.yaml: model.llama_path" in message
    partial = dict(weights, beats_path=str(tmp_path / "gone.pt"), whisper_path=str(tmp_path / "no" / "dir"))
    with pytest.raises(SalmonnSetupError) as error:
        load_backend("salmonn", None, device="cpu", salmonn_repo=str(checkout), **partial)
    message = str(error.value)
    assert f"beats_path: file not found: {tmp_path / 'gone.pt'} (from --beats_path)" in message
    assert f"whisper_path: directory not found: {tmp_path / 'no' / 'dir'}" in message
    assert "llama_path" not in message and "ckpt" not in message


def test_checkpoint_without_trained_weights_is_refused(checkout, weights, tmp_path):
    import torch

    state = torch.load(weights["ckpt"])["model"]
    dropped = sorted(k for k in state if ".lora_" in k)[0]
    del state[dropped]
    del state["speech_Qformer.bert.embeddings.position_ids"]  # a buffer: the code rebuilds it, no refusal
    partial = tmp_path / "partial.pth"
    torch.save({"model": state}, partial)
    with pytest.raises(SalmonnSetupError, match="lacks 1 trained SALMONN weight") as error:
        load_backend("salmonn", None, device="cpu", salmonn_repo=str(checkout), **dict(weights, ckpt=str(partial)))
    assert dropped in str(error.value)
    assert "models" not in sys.modules


def test_the_checkpoint_supplies_every_trained_weight(backend, weights):
    """The built checkpoint has the key names SALMONN's runner saves (peft 0.3.0's ``.default``
    adapter names, the Q-Former, projector, layer norms), and every one of them is loaded."""
    import torch

    saved = torch.load(weights["ckpt"])["model"]
    params = dict(backend.model.named_parameters())
    trained = {name for name in params if name in saved}
    assert any(".lora_A.default." in name for name in trained) and "speech_query_tokens" in trained
    assert {name.split(".")[0] for name in trained} == {"llama_model", "speech_Qformer", "speech_query_tokens",
                                                       "speech_llama_proj", "ln_speech", "ln_audio"}
    for name in trained:
        assert torch.equal(params[name].detach().cpu().float(), saved[name].float()), name
    assert backend.ckpt_check["trained_keys_loaded"] == len(trained)


def test_speech_embeddings_have_the_real_layout(backend):
    """Whisper pads every clip to 30 s: 1500 frames, windows of 17 frames (0.333333 s), so 88
    speech embeddings of the LLaMA's width, whatever the clip's length."""
    embeds = backend.speech_embeddings([np.zeros(16000 * 3, np.float32), np.zeros(16000 * 30, np.float32)])
    hidden = backend.llama.config.hidden_size
    assert [tuple(e.shape) for e in embeds] == [(88, hidden), (88, hidden)]
    embeds, mask, positions = backend.build_batch(_inputs()[:1])
    before, after = split_prompt(backend.prompt_text(_inputs()[0]))
    n_text = 1 + len(backend._token_ids(before)) + len(backend._token_ids(after))
    assert embeds.shape[1] == n_text + 88 and int(mask.sum()) == embeds.shape[1]


def test_batched_generation_equals_one_at_a_time(backend):
    hf_checks.check_batched_generation_equals_one_at_a_time(backend, _inputs())


def test_generation_matches_the_official_single_item_path(backend, checkout, tmp_path, monkeypatch):
    """Our embeddings and decoding equal what SALMONN's own ``generate`` does for one item fed by
    its ``prepare_one_sample``, as its cli_inference.py runs it (at num_beams=1)."""
    import soundfile
    import torch

    from audiofaith.audio.io import load_audio

    wav = tmp_path / "clip.wav"
    rng = np.random.default_rng(3)
    soundfile.write(wav, (0.2 * rng.standard_normal(8000)).astype(np.float32), 16000, subtype="FLOAT")  # 0.5 s
    question = "Which animal is it?\n(A) dog\n(B) cat"
    with checkout_scope(checkout):
        from utils import prepare_one_sample

        samples = prepare_one_sample(str(wav), backend.feature_extractor, cuda_enabled=False)
    # Their generate moves its stop-word tensor to CUDA unconditionally; on CPU it stays put.
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *args, **kwargs: self)
    with torch.inference_mode():
        official = backend.model.generate(samples, {"max_new_tokens": 12, "num_beams": 1},
                                          prompts=["USER: {}\nASSISTANT:".format(SPEECH_SLOT + question)])[0]
    ours = backend.generate([ModelInput(question, load_audio(wav).samples)], GenerationSettings(max_new_tokens=12))
    expected = backend.tokenizer.decode(backend.tokenizer(official, add_special_tokens=False)["input_ids"],
                                        skip_special_tokens=True)
    assert ours[0][0] == expected


def test_batched_scores_equal_one_at_a_time(backend):
    hf_checks.check_batched_scores_equal_one_at_a_time(backend, _inputs())


def test_letter_scores_match_salmonns_own_embedding_path(backend, checkout, tmp_path):
    """Letter scores (one left-padded batch) equal the next-token log-probs of SALMONN's own path
    for each input on its own, without our build_batch(): the clip as a wav through its
    prepare_one_sample, its encode_speech and prompt_wrap (the official template, the assistant
    prefix after one space, written out here), BOS first as its generate puts it, then the LLaMA."""
    import soundfile
    import torch

    scores = backend.score_letters(_inputs(), LETTERS)
    model = backend.model
    for index, (inp, row_scores, row_letters) in enumerate(zip(_inputs(), scores, LETTERS)):
        wav = tmp_path / f"clip{index}.wav"
        soundfile.write(wav, inp.audio, 16000, subtype="FLOAT")
        with checkout_scope(checkout):
            from utils import prepare_one_sample

            samples = prepare_one_sample(str(wav), backend.feature_extractor, cuda_enabled=False)
        prompt = "USER: " + SPEECH_SLOT + inp.user_text + "\nASSISTANT:" + (" " + inp.assistant_prefix
                                                                           if inp.assistant_prefix else "")
        with torch.inference_mode():
            speech, speech_mask = model.encode_speech(samples["spectrogram"], raw_wav=samples["raw_wav"],
                                                      audio_padding_mask=samples["padding_mask"])
            wrapped, wrapped_mask = model.prompt_wrap(speech, speech_mask, [prompt], multi_prompt=True)
            bos = torch.tensor([[backend.tokenizer.bos_token_id]])
            embeds = torch.cat([backend.llama.get_input_embeddings()(bos), wrapped], dim=1)
            mask = torch.cat([wrapped_mask[:, :1], wrapped_mask], dim=1)
            logits = backend.llama(inputs_embeds=embeds, attention_mask=mask).logits[0, -1]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        ids = [backend.tokenizer.convert_tokens_to_ids(letter) for letter in row_letters]
        expected = {letter: float(logprobs[i]) for letter, i in zip(row_letters, ids)}
        assert row_scores == pytest.approx(expected, abs=1e-4), index


def test_letter_tokens_are_checked_exactly(backend):
    after = split_prompt(backend.prompt_text(_inputs()[1]))[1]
    assert backend.tokenizer.tokenize("Answer: (A") == ["▁Answer", ":", "▁(", "A"]  # as with LLaMA's vocabulary
    ids = backend.letter_token_ids(after, ["A", "B", "C", "D"])
    assert ids == [backend.tokenizer.convert_tokens_to_ids(letter) for letter in "ABCD"]
    with pytest.raises(ScoringError, match="token boundary"):
        backend.letter_token_ids("The answer is th", ["e"])  # "th" + "e" merges into "▁the"
    # filler length matching counts the CoT in the same tokens
    assert backend.count_tokens("Answer: (A") == 4 and backend.count_tokens("") == 0


def test_sampling_beams_and_text_only(backend):
    sampled = GenerationSettings(max_new_tokens=6, do_sample=True, temperature=1.0, num_return_sequences=2, seed=7)
    first = backend.generate(_inputs()[:2], sampled)
    assert first == backend.generate(_inputs()[:2], sampled) and all(len(texts) == 2 for texts in first)
    text_only = ModelInput("Say something.")
    assert len(backend.generate([text_only], GenerationSettings(max_new_tokens=4))) == 1
    assert set(backend.score_letters([text_only], [["A", "B"]])[0]) == {"A", "B"}
    backend.num_beams = 4
    try:
        beams = backend.generate(_inputs(), GenerationSettings(max_new_tokens=6))
        assert beams == [backend.generate([inp], GenerationSettings(max_new_tokens=6))[0] for inp in _inputs()]
        with pytest.raises(ValueError, match="cannot be combined with sampling"):
            backend.generate(_inputs()[:1], sampled)
    finally:
        backend.num_beams = 1


def test_provenance(backend, weights, checkout):
    info = backend.provenance()
    assert info["model_key"] == "salmonn" and info["checkpoint"] == "tsinghua-ee/SALMONN-7B"
    assert info["weights"] == weights and info["weights_from"]["ckpt"] == "--ckpt"
    assert info["salmonn_repo"] == str(checkout)
    assert info["libraries"]["transformers"] == "4.28.0" and info["libraries"]["peft"] == "0.3.0"
    assert info["tiny_random_weights"] is True
    assert info["decoding"]["num_beams"] == 1 and info["decoding"]["official_num_beams"] == 4
    assert info["prompt_template"] == "USER: {}\nASSISTANT:" and len(info["chat_template_sha256"]) == 16
    assert info["dtype"] == "float32" and info["device"] == "cpu" and info["llama_layers"] == 2
    json.dumps(info)
