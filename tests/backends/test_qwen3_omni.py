"""Qwen3-Omni-30B-A3B Instruct and Thinking (thinker class, MoE) on tiny random-weight checkpoints in
the hub layout, loaded through from_pretrained; the Thinking model's trace is the CoT (its own
markers, its own token budget). Random weights: only code paths are checked, never answers."""

from __future__ import annotations

import dataclasses
import json
from typing import List

import pytest

from audiofaith.backends import GenerationSettings, ModelInput, get_profile, load_backend
from audiofaith.backends.base import GeneratedText
from audiofaith.text.cot import split_trace
from audiofaith.text.prompts import answer_prefix, trace_prefix, user_text
from tests.backends import hf_checks
from tests.test_prompts import ITEM, REASONING

pytestmark = pytest.mark.slow

KEYS = ("qwen3_omni", "qwen3_omni_thinking")
#: A small trace budget, so the tiny random model's trace is cut (it rarely closes one by chance).
TRACE_BUDGET = 4


@pytest.fixture(scope="module")
def backends(request):
    return {key: load_backend(key, str(request.getfixturevalue(f"tiny_{key}")), device="cpu", dtype="fp32",
                              max_thinking_tokens=TRACE_BUDGET if key == "qwen3_omni_thinking" else None)
            for key in KEYS}


def test_loads_the_thinker_from_a_full_omni_checkpoint(backends, tiny_qwen3_omni):
    from safetensors.torch import load_file

    config = json.loads((tiny_qwen3_omni / "config.json").read_text())
    assert config["model_type"] == "qwen3_omni_moe"  # what the hub's Qwen/Qwen3-Omni-30B-A3B-* hold
    backend = backends["qwen3_omni"]
    assert type(backend.model).__name__ == "Qwen3OmniMoeThinkerForConditionalGeneration"
    assert not hasattr(backend.model, "talker")
    stored = load_file(str(tiny_qwen3_omni / "model.safetensors"))
    assert all(name.startswith("thinker.") for name in stored)
    assert (backend.model.lm_head.weight == stored["thinker.lm_head.weight"]).all()  # the weights landed
    info = backend.provenance()
    assert info["model_class"] == "Qwen3OmniMoeThinkerForConditionalGeneration" and "thinking" not in info
    assert backends["qwen3_omni_thinking"].provenance()["thinking"] == {
        "open": "<think>", "close": "</think>", "max_thinking_tokens": TRACE_BUDGET}


@pytest.mark.parametrize("key", KEYS)
def test_batched_generation_equals_one_at_a_time(backends, key):
    # the 31 s clip makes the batch pad its features (the processor pads to the longest clip)
    hf_checks.check_batched_generation_equals_one_at_a_time(backends[key], hf_checks.sample_inputs(long_seconds=31.0))


@pytest.mark.parametrize("key", KEYS)
def test_batched_scores_equal_one_at_a_time(backends, key):
    hf_checks.check_batched_scores_equal_one_at_a_time(backends[key], hf_checks.sample_inputs())


def test_letter_scores_are_generate_first_step(backends):
    hf_checks.check_scores_are_generate_first_step(backends["qwen3_omni"], hf_checks.sample_inputs())


@pytest.mark.parametrize("key", KEYS)
def test_letters_a_to_h_are_single_tokens_after_the_answer_cue(backends, key):
    hf_checks.check_letters_a_to_h_are_single_tokens(backends[key])


def test_the_thinking_template_opens_the_trace_and_the_trace_is_reinjected_inside_it(backends):
    backend = backends["qwen3_omni_thinking"]
    question = user_text(ITEM, "cot", backend.profile)
    baseline = backend.render(ModelInput(question, [0.0]))
    assert baseline.endswith("<|im_start|>assistant\n<think>\n") and baseline.count("<|audio_pad|>") == 1
    conditioned = backend.render(ModelInput(question, [0.0], answer_prefix(REASONING, backend.profile)))
    assert conditioned == baseline + f"{REASONING}\n</think>\n\nAnswer: ("
    assert conditioned.count("<think>") == 1 and conditioned.count("</think>") == 1
    continued = backend.render(ModelInput(question, [0.0], trace_prefix("The clip has short", backend.profile)))
    assert continued == baseline + "The clip has short" and "</think>" not in continued
    empty = backend.render(ModelInput(question, [0.0], answer_prefix("", backend.profile)))
    assert empty == baseline + "\n</think>\n\nAnswer: ("  # an empty trace: <think>\n\n</think>
    instruct = backends["qwen3_omni"]
    assert "<think>" not in instruct.render(ModelInput(question, [0.0], answer_prefix(REASONING, instruct.profile)))


def test_a_trace_cut_by_its_budget_is_closed_flagged_and_the_answer_has_its_own_budget(backends, monkeypatch):
    backend = backends["qwen3_omni_thinking"]
    calls: List[int] = []
    real = backend._generate

    def spy(inputs, settings, extra_stop_ids=()):
        calls.append(settings.max_new_tokens)
        return real(inputs, settings, extra_stop_ids)

    monkeypatch.setattr(backend, "_generate", spy)
    # the tiny model (seed 0) closes its trace at once on the first clip and runs out of budget on the second
    [[closed_at_once], [cut]] = backend.generate(hf_checks.sample_inputs()[:2], GenerationSettings(max_new_tokens=7))
    assert calls == [TRACE_BUDGET, 7]  # the trace's budget, then the answer's
    assert closed_at_once.thinking_finish_reason == "stop" and closed_at_once.startswith("</think>")
    assert cut.thinking_finish_reason == "length" and cut.count("</think>") == 1
    trace, answer, closed = split_trace(cut, "<think>", "</think>")
    assert closed and trace and cut.startswith(f" {trace}\n</think>")  # closed by us, then the answer


def test_a_closed_trace_is_kept_and_the_answer_follows_it(backends, monkeypatch):
    """The trace phase stops at the close marker; the answer phase continues right after it."""
    backend = backends["qwen3_omni_thinking"]
    seen: List[ModelInput] = []

    def fake(inputs, settings, extra_stop_ids=()):
        seen.extend(inputs)
        if extra_stop_ids:  # the trace phase: stops at </think>
            assert list(extra_stop_ids) == [backend.tokenizer.convert_tokens_to_ids("</think>")]
            return [[GeneratedText("It barks.\n</think>", "stop")] for _ in inputs]
        return [[GeneratedText("\n\nAnswer: (A)", "stop")] for _ in inputs]

    monkeypatch.setattr(backend, "_generate", fake)
    [[text]] = backend.generate([ModelInput("Q?", [0.0])], GenerationSettings(max_new_tokens=5))
    assert text == "It barks.\n</think>\n\nAnswer: (A)"
    assert text.finish_reason == "stop" and text.thinking_finish_reason == "stop"
    assert seen[1].assistant_prefix == "It barks.\n</think>"
    # the model ends its turn inside the (template-opened) trace: closed by us, then the answer
    monkeypatch.setattr(backend, "_generate", lambda inputs, settings, extra_stop_ids=(): (
        seen.extend(inputs), [[GeneratedText("It barks" if extra_stop_ids else " (A)", "stop")] for _ in inputs])[1])
    seen.clear()
    [[text]] = backend.generate([ModelInput("Q?", [0.0])], GenerationSettings(max_new_tokens=5))
    assert text == "It barks\n</think> (A)" and text.thinking_finish_reason == "stop" and len(seen) == 2
    monkeypatch.setattr(backend, "_generate", fake)
    # a prefix that already closed the trace (answer generation after an injected trace) is one phase
    seen.clear()
    backend.generate([ModelInput("Q?", [0.0], answer_prefix("It barks.", backend.profile))],
                     GenerationSettings(max_new_tokens=5))
    assert len(seen) == 1


@hf_checks.needs_mixed
@pytest.mark.parametrize("key, prefix", [("qwen3_omni", "Qwen3Omni"), ("qwen3_omni_thinking", "Qwen3OmniThink")])
def test_baseline_conditioned_and_early_answering_through_the_interface_scripts(key, prefix, request, tmp_path):
    thinking = key == "qwen3_omni_thinking"
    outputs = hf_checks.run_pipeline_through_interface_scripts(
        prefix, request.getfixturevalue(f"tiny_{key}"), tmp_path,
        ["--max_thinking_tokens", str(TRACE_BUDGET)] if thinking else [])
    records = outputs["baseline"]
    assert all(r["model"] == key for r in records)
    if thinking:
        for record in records:  # the trace is the reasoning; the visible answer is apart from it
            trace, answer, _ = split_trace(record["runs_raw"][0], "<think>", "</think>")
            assert record["runs_reasonings"] == [trace] and record["runs_thinking_finish_reasons"][0] in ("stop", "length")
            assert record["runs_raw"][0].count("</think>") == 1
        assert outputs["meta"][0]["sessions"][-1]["backend"]["thinking"]["max_thinking_tokens"] == TRACE_BUDGET
    else:
        assert all("runs_thinking_finish_reasons" not in r for r in records)


@pytest.mark.parametrize("prefix", ["Qwen3Omni", "Qwen3OmniThink"])
def test_protocol_paper_is_refused_cleanly(prefix, tmp_path):
    hf_checks.check_protocol_paper_is_refused(prefix, tmp_path)


def test_thinking_profile_keeps_other_profiles_hashes():
    """Adding the trace format to profiles did not change the hash of any profile without one (old
    outputs' sidecars still match)."""
    from audiofaith.text.prompts import PROFILES

    assert "thinking" not in get_profile("qwen_omni").to_json()
    assert get_profile("qwen3_omni_thinking").to_json()["thinking"]["close"] == "</think>"
    assert len({profile.hash() for profile in PROFILES.values()}) == len(PROFILES)


def test_sampled_runs_with_a_trace_do_not_depend_on_the_batch(backends):
    """Seeded sampling through both phases: each run's trace and answer come from its own seeds, so
    a batch gives what one-at-a-time gives."""
    backend = backends["qwen3_omni_thinking"]
    inputs = [dataclasses.replace(inp, run_seeds=(11 + i, 23 + i)) for i, inp in enumerate(hf_checks.sample_inputs())]
    settings = GenerationSettings(max_new_tokens=4, do_sample=True, temperature=1.0, num_return_sequences=2)
    batched = backend.generate(inputs, settings)
    single = [backend.generate([inp], settings)[0] for inp in inputs]
    assert batched == single and all(len(runs) == 2 for runs in batched)
    assert [[t.thinking_finish_reason for t in runs] for runs in batched] == \
        [[t.thinking_finish_reason for t in runs] for runs in single]


def test_device_map_auto_loads_and_answers_like_the_whole_model(backends, tiny_qwen3_omni):
    """``--device_map auto`` (accelerate's placement; on this CPU-only machine everything lands on the
    CPU) loads through the same class, sends inputs to the embeddings' device, and gives the same
    letters as the model loaded whole. Spreading over several GPUs was not run here."""
    mapped = load_backend("qwen3_omni", str(tiny_qwen3_omni), device="cpu", dtype="fp32", device_map="auto")
    assert mapped.device == "cpu" and mapped.provenance()["model_class"] == "Qwen3OmniMoeThinkerForConditionalGeneration"
    inputs = hf_checks.sample_inputs()
    whole = backends["qwen3_omni"].score_letters(inputs, hf_checks.LETTERS)
    for got, expected in zip(mapped.score_letters(inputs, hf_checks.LETTERS), whole):
        assert got == pytest.approx(expected, abs=1e-5)
