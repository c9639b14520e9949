"""Nemotron 3 Nano Omni Reasoning (transformers' native class, no remote code) on a tiny
random-weight checkpoint (Mamba-2 / attention / MoE blocks, Parakeet sound encoder), in both modes:
``--thinking on`` (the <think> trace is the CoT, with its own budget) and ``--thinking off``.
Random weights: only code paths are checked, never answers."""

from __future__ import annotations

import pytest

from audiofaith.backends import GenerationSettings, ModelInput, load_backend
from audiofaith.text.cot import split_trace
from audiofaith.text.prompts import answer_prefix, user_text
from tests.backends import hf_checks
from tests.conftest import run_cli
from tests.test_prompts import ITEM, REASONING

pytestmark = pytest.mark.slow

TRACE_BUDGET = 4
MODES = ("on", "off")


@pytest.fixture(scope="module")
def backends(tiny_nemotron_omni):
    return {mode: load_backend("nemotron_omni", str(tiny_nemotron_omni), device="cpu", dtype="fp32", thinking=mode,
                               max_thinking_tokens=TRACE_BUDGET) for mode in MODES}


@pytest.mark.parametrize("mode", MODES)
def test_batched_generation_equals_one_at_a_time(backends, mode):
    # left padding before Mamba-2 blocks: the padded positions must not leak into the state
    hf_checks.check_batched_generation_equals_one_at_a_time(backends[mode], hf_checks.sample_inputs(long_seconds=9.0))


@pytest.mark.parametrize("mode", MODES)
def test_batched_scores_equal_one_at_a_time(backends, mode):
    hf_checks.check_batched_scores_equal_one_at_a_time(backends[mode], hf_checks.sample_inputs())


def test_letter_scores_are_generate_first_step(backends):
    hf_checks.check_scores_are_generate_first_step(backends["off"], hf_checks.sample_inputs())


@pytest.mark.parametrize("mode", MODES)
def test_letters_a_to_h_are_single_tokens_after_the_answer_cue(backends, mode):
    hf_checks.check_letters_a_to_h_are_single_tokens(backends[mode])


def test_the_template_opens_or_closes_the_trace_by_mode_and_the_trace_is_reinjected(backends):
    on, off = backends["on"], backends["off"]
    question = user_text(ITEM, "cot", on.profile)
    baseline = on.render(ModelInput(question, [0.0]))
    assert baseline.endswith("<|im_start|>assistant\n<think>\n") and baseline.count("<so_embedding>") == 1
    assert on.render(ModelInput(question, [0.0], answer_prefix(REASONING, on.profile))) == \
        baseline + f"{REASONING}\n</think>\n\nAnswer: ("
    plain = off.render(ModelInput(question, [0.0], answer_prefix(REASONING, off.profile)))
    assert plain.endswith(f"<|im_start|>assistant\n<think></think>{REASONING}\n\nAnswer: (")
    assert on.max_audio_seconds == 400.0  # 5000 encoder positions x 8 x 10 ms
    assert type(on.model).__name__ == "NemotronH_Omni_Reasoning_V3"
    assert on.provenance()["thinking_mode"] == "on" and off.max_thinking_tokens is None


def test_thinking_on_generates_the_trace_then_the_answer(backends):
    texts = backends["on"].generate(hf_checks.sample_inputs(), GenerationSettings(max_new_tokens=5))
    for [text] in texts:
        assert text.count("</think>") == 1 and text.thinking_finish_reason in ("stop", "length")
        assert split_trace(text, "<think>", "</think>")[2]
    assert all(text.thinking_finish_reason is None
               for [text] in backends["off"].generate(hf_checks.sample_inputs(), GenerationSettings(max_new_tokens=5)))


@hf_checks.needs_mixed
@pytest.mark.parametrize("mode", MODES)
def test_baseline_conditioned_and_early_answering_through_the_interface_scripts(mode, tiny_nemotron_omni, tmp_path):
    outputs = hf_checks.run_pipeline_through_interface_scripts(
        "NemotronOmni", tiny_nemotron_omni, tmp_path, ["--thinking", mode, "--max_thinking_tokens", str(TRACE_BUDGET)])
    records = outputs["baseline"]
    assert all(r["model"] == "nemotron_omni" and r["thinking"] == mode for r in records)
    assert all(line["thinking"] == mode for line in outputs["conditioned"] + outputs["early_answering"])
    if mode == "on":
        for record in records:
            trace, _, _ = split_trace(record["runs_raw"][0], "<think>", "</think>")
            assert record["runs_reasonings"] == [trace] and record["runs_thinking_finish_reasons"][0] in ("stop", "length")
    other = {"on": "off", "off": "on"}[mode]
    done = run_cli("interface/NemotronOmni_conditioned.py", "--manifest_file", str(tmp_path / "animal.jsonl"),
                   "--input_results_file", str(tmp_path / "out" / "baseline.jsonl"), "--output_conditioned_file",
                   str(tmp_path / "out" / "other.jsonl"), "--data_root", str(hf_checks.MIXED.parent),
                   "--model_path", str(tiny_nemotron_omni), "--device", "cpu", "--thinking", other)
    assert done.returncode == 2 and f"was run with --thinking {mode}" in done.stderr, done.stderr


def test_protocol_paper_is_refused_cleanly(tmp_path):
    hf_checks.check_protocol_paper_is_refused("NemotronOmni", tmp_path)
