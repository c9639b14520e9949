"""The SALMONN backend against a stand-in checkout (tests/backends/salmonn_standin.py): module
isolation, the prompt layout, left-padded batching, letter scoring, clear errors, and the
interface scripts end to end. What only the real checkout and weights can show is listed in
docs/salmonn.md."""

from __future__ import annotations

import importlib
import json
import sys
import types

import numpy as np
import pytest

from audiofaith.backends import GenerationSettings, ModelInput, ScoringError, load_backend
from audiofaith.backends.salmonn import (SPEECH_SLOT, SalmonnSetupError, checkout_scope, salmonn_prompt,
                                         split_prompt)
from audiofaith.jsonl import read_jsonl
from audiofaith.prompts import answer_prefix, user_text
from tests.backends import salmonn_standin
from tests.conftest import run_cli
from tests.test_prompts import ITEM, REASONING, check_golden

LETTERS = [["A", "B"], ["A", "B", "C", "D"], ["A", "B"]]


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    root = tmp_path_factory.mktemp("salmonn")
    repo = salmonn_standin.write_checkout(root / "SALMONN")
    weights = salmonn_standin.write_weights(root / "weights", repo)
    return {"root": root, "repo": repo, "weights": {k: str(v) for k, v in weights.items()}}


@pytest.fixture(scope="module")
def backend(standin):
    return load_backend("salmonn", None, device="cpu", salmonn_repo=str(standin["repo"]), **standin["weights"])


def _inputs():
    rng = np.random.default_rng(0)

    def clip(seconds):
        return (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)

    return [
        ModelInput("Which animal is it?\n(A) dog\n(B) cat", clip(3.0)),
        ModelInput("Which animal is it?\n(A) dog\n(B) cat\n(C) cow\n(D) crow", clip(0.5), "It barks.\n\nAnswer: ("),
        ModelInput("Is the speaker male or female?\n(A) Male\n(B) Female", clip(2.0), "Answer: ("),
    ]


# -- torch-free parts ---------------------------------------------------------------------------

def test_prompt_is_the_official_template_with_our_text():
    text = salmonn_prompt(user_text(ITEM, "cot"), answer_prefix(REASONING))
    check_golden("salmonn_conditioned.txt", text)
    assert text.startswith("USER: <Speech><SpeechHere></Speech> From the options provided")
    assert "\nASSISTANT: " + REASONING + "\n\nAnswer: (" in text
    before, after = split_prompt(text)
    assert before == "USER: <Speech>" and after.startswith("</Speech> From the options")
    assert salmonn_prompt("Q?") == "USER: " + SPEECH_SLOT + "Q?\nASSISTANT:"  # baseline: generation starts here
    assert split_prompt(salmonn_prompt("Q?", with_audio=False)) == ("", "USER: Q?\nASSISTANT:")


def test_checkout_modules_are_isolated(tmp_path, monkeypatch):
    repo = salmonn_standin.write_checkout(tmp_path / "SALMONN")
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "utils.py").write_text("WHO = 'ours'\n")
    monkeypatch.syspath_prepend(str(ours))
    other_config = types.ModuleType("config")
    monkeypatch.setitem(sys.modules, "config", other_config)
    monkeypatch.delitem(sys.modules, "utils", raising=False)
    path_before = list(sys.path)
    with checkout_scope(repo):
        standin_utils = importlib.import_module("utils")
        assert standin_utils.STANDIN == "salmonn utils"  # theirs inside, even with ours on sys.path
        assert importlib.import_module("config").STANDIN == "salmonn config"
        assert "dist_utils" in sys.modules
    assert sys.path == path_before
    assert sys.modules["config"] is other_config
    assert not any(name.split(".")[0] in ("models", "dist_utils") for name in sys.modules)
    assert "utils" not in sys.modules
    try:
        assert importlib.import_module("utils").WHO == "ours"
    finally:
        sys.modules.pop("utils", None)


def test_missing_checkout_and_wrong_branch_are_explained(tmp_path):
    with pytest.raises(SalmonnSetupError, match="pass --salmonn_repo"):
        load_backend("salmonn", None, device="cpu")
    with pytest.raises(SalmonnSetupError, match="directory not found"):
        load_backend("salmonn", None, device="cpu", salmonn_repo=str(tmp_path / "nowhere"))
    main_branch = salmonn_standin.write_checkout(tmp_path / "main", "main_branch")
    with pytest.raises(SalmonnSetupError, match="no models/salmonn.py: is it the `salmonn` branch"):
        load_backend("salmonn", None, device="cpu", salmonn_repo=str(main_branch))


def test_missing_weights_are_each_named(standin, tmp_path):
    repo = str(standin["repo"])
    with pytest.raises(SalmonnSetupError) as error:  # the checkout's config still has its placeholders
        load_backend("salmonn", None, device="cpu", salmonn_repo=repo)
    message = str(error.value)
    for key in ("llama_path", "whisper_path", "beats_path", "ckpt"):
        assert f"  {key}: " in message
    assert "path to llama model" in message and "decode_config.yaml: model.llama_path" in message
    weights = dict(standin["weights"], beats_path=str(tmp_path / "gone.pt"), whisper_path=str(tmp_path / "no" / "dir"))
    with pytest.raises(SalmonnSetupError) as error:
        load_backend("salmonn", None, device="cpu", salmonn_repo=repo, **weights)
    message = str(error.value)
    assert f"beats_path: file not found: {tmp_path / 'gone.pt'} (from --beats_path)" in message
    assert f"whisper_path: directory not found: {tmp_path / 'no' / 'dir'}" in message
    assert "llama_path" not in message and "ckpt" not in message


def test_config_file_and_model_path_supply_the_weights(standin, tmp_path):
    from audiofaith.backends.salmonn import resolve_model_config

    config = tmp_path / "decode.yaml"
    weights = standin["weights"]
    config.write_text("model:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in weights.items() if k != "ckpt"))
    resolved, origin, source = resolve_model_config(standin["repo"], str(config), {}, weights["ckpt"])
    assert {k: resolved[k] for k in weights} == weights
    assert origin["ckpt"] == "--model_path" and origin["llama_path"] == "decode.yaml: model.llama_path"
    assert resolved["prompt_path"] == "" and source == str(config)


# -- the backend on the stand-in (tiny models) -----------------------------------------------------

@pytest.mark.slow
def test_incompatible_transformers_is_explained(standin, tmp_path):
    repo = salmonn_standin.write_checkout(tmp_path / "SALMONN", "new_transformers")
    with pytest.raises(SalmonnSetupError) as error:
        load_backend("salmonn", None, device="cpu", salmonn_repo=str(repo), **standin["weights"])
    message = str(error.value)
    assert "apply_chunking_to_forward" in message and "transformers <= 4.55" in message
    assert "4.28.0" in message and "requirements/salmonn.txt" in message
    assert "models" not in sys.modules  # a failed import leaves nothing behind


@pytest.mark.slow
def test_other_code_versions_are_refused(standin, tmp_path):
    repo = salmonn_standin.write_checkout(tmp_path / "SALMONN", "no_from_config")
    with pytest.raises(SalmonnSetupError, match="has no SALMONN.from_config"):
        load_backend("salmonn", None, device="cpu", salmonn_repo=str(repo), **standin["weights"])


@pytest.mark.slow
def test_checkpoint_without_trained_weights_is_refused(standin, tmp_path):
    import torch

    state = torch.load(standin["weights"]["ckpt"])["model"]
    dropped = sorted(k for k in state if ".lora_" in k)[0]
    del state[dropped]
    partial = tmp_path / "partial.pth"
    torch.save({"model": state}, partial)
    weights = dict(standin["weights"], ckpt=str(partial))
    with pytest.raises(SalmonnSetupError, match="lacks 1 trained SALMONN weight") as error:
        load_backend("salmonn", None, device="cpu", salmonn_repo=str(standin["repo"]), **weights)
    assert dropped in str(error.value)


@pytest.mark.slow
def test_loading_leaves_no_checkout_modules_behind(backend, standin):
    repo = str(standin["repo"].resolve())
    leaked = [name for name, module in list(sys.modules.items())
              if str(getattr(module, "__file__", None) or "").startswith(repo)]
    assert not leaked and repo not in sys.path
    assert backend.max_audio_seconds == 30.0


@pytest.mark.slow
def test_batched_generation_equals_one_at_a_time(backend):
    settings = GenerationSettings(max_new_tokens=10)
    batched = backend.generate(_inputs(), settings)
    single = [backend.generate([inp], settings)[0] for inp in _inputs()]
    assert batched == single
    assert all(len(texts) == 1 and texts[0] for texts in batched)


@pytest.mark.slow
def test_generation_matches_the_official_single_item_path(backend, standin, tmp_path):
    """Our embedding layout equals the one SALMONN's own generate builds for one item (BOS, text
    before <SpeechHere>, speech, text after), with audio read by its prepare_one_sample."""
    import soundfile

    from audiofaith.audio import load_audio

    wav = tmp_path / "clip.wav"
    rng = np.random.default_rng(3)
    soundfile.write(wav, (0.2 * rng.standard_normal(8000)).astype(np.float32), 16000, subtype="FLOAT")  # 0.5 s
    question = "Which animal is it?\n(A) dog\n(B) cat"
    with checkout_scope(standin["repo"]):
        from utils import prepare_one_sample

        samples = prepare_one_sample(str(wav), backend.feature_extractor, cuda_enabled=False)
    official = backend.model.generate(samples, {"max_new_tokens": 12, "num_beams": 1},
                                      prompts=["USER: {}\nASSISTANT:".format(SPEECH_SLOT + question)])[0]
    ours = backend.generate([ModelInput(question, load_audio(wav).samples)], GenerationSettings(max_new_tokens=12))
    assert ours[0][0] == official.replace("</s>", "").replace("[PAD]", "")


@pytest.mark.slow
def test_batched_scores_equal_one_at_a_time(backend):
    batched = backend.score_letters(_inputs(), LETTERS)
    single = [backend.score_letters([inp], [row])[0] for inp, row in zip(_inputs(), LETTERS)]
    for b, s, row in zip(batched, single, LETTERS):
        assert list(b) == row
        assert b == pytest.approx(s, abs=1e-4)
        assert all(value < 0 for value in b.values())


@pytest.mark.slow
def test_letter_scores_are_greedy_generations_first_step(backend):
    import torch

    scores = backend.score_letters(_inputs(), LETTERS)
    with torch.inference_mode():
        embeds, mask, _ = backend.build_batch(_inputs())
        out = backend.llama.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=1, do_sample=False,
                                     output_logits=True, return_dict_in_generate=True,
                                     pad_token_id=backend.tokenizer.pad_token_id)
    logprobs = torch.log_softmax(out.logits[0].float(), dim=-1)
    for row, (row_scores, row_letters) in enumerate(zip(scores, LETTERS)):
        ids = [backend.tokenizer.convert_tokens_to_ids(letter) for letter in row_letters]
        assert row_scores == pytest.approx({l: float(logprobs[row, i]) for l, i in zip(row_letters, ids)}, abs=1e-4)


@pytest.mark.slow
def test_letter_tokens_are_checked_exactly(backend):
    after = split_prompt(backend.prompt_text(_inputs()[1]))[1]
    ids = backend.letter_token_ids(after, ["A", "B", "C", "D"])
    assert ids == [backend.tokenizer.convert_tokens_to_ids(letter) for letter in "ABCD"]
    with pytest.raises(ScoringError, match="token boundary"):
        backend.letter_token_ids("The answer is th", ["e"])  # "th" + "e" merges into "▁the"


@pytest.mark.slow
def test_sampling_beams_and_text_only(backend):
    sampled = GenerationSettings(max_new_tokens=6, do_sample=True, temperature=1.0, num_return_sequences=2, seed=7)
    first = backend.generate(_inputs()[:2], sampled)
    assert first == backend.generate(_inputs()[:2], sampled) and all(len(texts) == 2 for texts in first)
    assert len(backend.generate([ModelInput("Say something.")], GenerationSettings(max_new_tokens=4))) == 1
    backend.num_beams = 2
    try:
        assert len(backend.generate(_inputs()[:1], GenerationSettings(max_new_tokens=4))[0]) == 1
        with pytest.raises(ValueError, match="cannot be combined with sampling"):
            backend.generate(_inputs()[:1], sampled)
    finally:
        backend.num_beams = 1


@pytest.mark.slow
def test_provenance(backend, standin):
    info = backend.provenance()
    assert info["model_key"] == "salmonn" and info["checkpoint"] == "tsinghua-ee/SALMONN-7B"
    assert info["weights"] == standin["weights"] and info["weights_from"]["ckpt"] == "--ckpt"
    assert info["salmonn_repo"] == str(standin["repo"].resolve())
    assert info["decoding"]["num_beams"] == 1 and info["decoding"]["official_num_beams"] == 4
    assert info["prompt_template"] == "USER: {}\nASSISTANT:" and len(info["chat_template_sha256"]) == 16
    assert info["checkpoint_check"]["trained_keys_loaded"] > 0 and info["max_audio_seconds"] == 30.0
    assert info["dtype"] == "float32" and info["device"] == "cpu"
    json.dumps(info)
    with pytest.raises(ValueError, match="--dtype auto, or fp32"):
        load_backend("salmonn", None, device="cpu", dtype="bf16", salmonn_repo=str(standin["repo"]),
                     **standin["weights"])


# -- the interface scripts, as a user runs them --------------------------------------------------

def _flags(standin):
    flags = ["--salmonn_repo", str(standin["repo"])]
    for key, value in standin["weights"].items():
        flags += [f"--{key}", value]
    return flags


@pytest.mark.slow
def test_interface_scripts_end_to_end(standin, synthetic_data, tmp_path):
    manifest = str(synthetic_data["manifests"]["animal"])
    data_root = str(synthetic_data["data_root"])
    baseline = tmp_path / "salmonn" / "animal" / "baseline_animal.jsonl"
    args = ["interface/SALMONN_wrapper.py", "--input", manifest, "--output", str(baseline), "--data_root", data_root,
            "--max_new_tokens", "12", "--batch_size", "4", *_flags(standin)]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    assert "truncated to salmonn's 30 s window" in done.stderr
    records = read_jsonl(baseline)
    assert len(records) == len(read_jsonl(manifest)) == 6
    for record in records:
        assert record["model"] == "salmonn" and record["error"] is None
        assert set(record["runs_letter_logprobs"][0]) == set("ABCD"[: len(record["runs_letter_logprobs"][0])])
    assert any(r["audio_seconds"] == 30.0 and r["warnings"] for r in records)
    meta = json.loads((baseline.parent / "baseline_animal.jsonl.meta.json").read_text())
    assert meta["fingerprint"]["backend_options"]["num_beams"] == 1
    assert meta["fingerprint"]["backend_options"]["ckpt"] == standin["weights"]["ckpt"]
    session = meta["sessions"][-1]
    assert session["status"] == "completed" and session["backend"]["decoding"]["num_beams"] == 1

    again = run_cli(*args)  # resume: nothing left to do, nothing duplicated
    assert again.returncode == 0, again.stderr
    assert [r["id"] for r in read_jsonl(baseline)] == [r["id"] for r in records]
    refused = run_cli(*args, "--num_beams", "4")
    assert refused.returncode == 2 and "num_beams" in refused.stderr and "Traceback" not in refused.stderr

    conditioned = tmp_path / "salmonn" / "animal" / "conditioned_animal.jsonl"
    done = run_cli("interface/SALMONN_conditioned.py", "--manifest_file", manifest, "--input_results_file",
                   str(baseline), "--output_conditioned_file", str(conditioned), "--data_root", data_root,
                   *_flags(standin))
    assert done.returncode == 0, done.stderr
    by_id = {r["id"]: r for r in records}
    lines = read_jsonl(conditioned)
    assert sorted(line["id"] for line in lines) == sorted(by_id)
    for line in lines:
        base = by_id[line["id"]]
        if not base["runs_reasonings"][0].strip():
            assert line["error"]
            continue
        # the same reasoning + cue was scored in the baseline run: the same numbers
        assert line["letter_logprobs"] == pytest.approx(base["runs_letter_logprobs"][0], abs=1e-3)
        assert line["prediction"] == max(line["letter_logprobs"], key=line["letter_logprobs"].get)


@pytest.mark.slow
def test_scripts_explain_setup_errors_without_a_traceback(synthetic_data, tmp_path):
    for script in ("SALMONN_wrapper.py", "SALMONN13B_wrapper.py"):
        done = run_cli(f"interface/{script}", "--input", str(synthetic_data["manifests"]["gender"]), "--output",
                       str(tmp_path / f"{script}.jsonl"), "--data_root", str(synthetic_data["data_root"]),
                       "--salmonn_repo", str(tmp_path / "missing"))
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "--salmonn_repo" in done.stderr and "git clone -b salmonn" in done.stderr
    help_text = run_cli("-m", "audiofaith", "baseline", "--model", "salmonn_13b", "--help").stdout
    assert "--salmonn_repo" in help_text and "--num_beams" in help_text
