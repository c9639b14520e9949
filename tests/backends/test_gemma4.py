"""Gemma 4 (E2B-style) on a tiny random-weight checkpoint, in both modes: ``--thinking on`` (its
thought-channel trace is the CoT, with its own budget) and ``--thinking off``. Random weights:
only code paths are checked, never answers."""

from __future__ import annotations

import json

import pytest

from audiofaith.backends import GenerationSettings, ModelInput, get_profile, load_backend
from audiofaith.text.cot import split_trace
from audiofaith.errors import UserError
from audiofaith.text.prompts import answer_prefix, user_text
from audiofaith.store.records import BaselineRecord
from tests.backends import hf_checks
from tests.conftest import run_cli
from tests.test_prompts import ITEM, REASONING

pytestmark = pytest.mark.slow

TRACE_BUDGET = 4
MODES = ("on", "off")


@pytest.fixture(scope="module")
def backends(tiny_gemma4):
    return {mode: load_backend("gemma4", str(tiny_gemma4), device="cpu", dtype="fp32", thinking=mode,
                               max_thinking_tokens=TRACE_BUDGET) for mode in MODES}


@pytest.mark.parametrize("mode", MODES)
def test_batched_generation_equals_one_at_a_time(backends, mode):
    hf_checks.check_batched_generation_equals_one_at_a_time(backends[mode], hf_checks.sample_inputs(long_seconds=9.0))


@pytest.mark.parametrize("mode", MODES)
def test_batched_scores_equal_one_at_a_time(backends, mode):
    hf_checks.check_batched_scores_equal_one_at_a_time(backends[mode], hf_checks.sample_inputs())


@pytest.mark.parametrize("mode", MODES)
def test_letter_scores_are_generate_first_step(backends, mode):
    hf_checks.check_scores_are_generate_first_step(backends[mode], hf_checks.sample_inputs())


@pytest.mark.parametrize("mode", MODES)
def test_letters_a_to_h_are_single_tokens_after_the_answer_cue(backends, mode):
    hf_checks.check_letters_a_to_h_are_single_tokens(backends[mode])


def test_the_modes_render_gemma4s_format_and_reinject_the_trace_in_its_channel(backends):
    on, off = backends["on"], backends["off"]
    question = user_text(ITEM, "cot", on.profile)
    assert on.render(ModelInput(question, [0.0])).startswith("<|turn>system\n<|think|><turn|>\n<|turn>user\n<|audio|>")
    assert off.render(ModelInput(question, [0.0])).startswith("<|turn>user\n<|audio|>")
    conditioned = on.render(ModelInput(question, [0.0], answer_prefix(REASONING, on.profile)))
    assert conditioned.endswith(f"<|turn>model\n<|channel>thought\n{REASONING}\n<channel|>Answer: (")
    assert conditioned.count("<|audio|>") == 1 and conditioned.count("<|channel>") == 1
    plain = off.render(ModelInput(question, [0.0], answer_prefix(REASONING, off.profile)))
    assert plain.endswith(f"<|turn>model\n{REASONING}\n\nAnswer: (") and "<|think|>" not in plain
    assert on.max_audio_seconds == 30.0 == off.max_audio_seconds  # 750 soft tokens x 40 ms
    assert on.provenance()["thinking_mode"] == "on" and "thinking" not in off.provenance()
    assert off.max_thinking_tokens is None


def test_thinking_on_keeps_its_channel_markers_and_flags_a_cut_trace(backends):
    on, off = backends["on"], backends["off"]
    import torch

    tokenizer = on.tokenizer
    close, pad, end = (tokenizer.convert_tokens_to_ids(t) for t in ("<channel|>", "<pad>", "<turn|>"))
    assert tokenizer.added_tokens_decoder[close].special and close not in tokenizer.all_special_ids
    row = tokenizer("It barks", add_special_tokens=False)["input_ids"] + [close, end, pad]
    assert "<channel|>" not in tokenizer.decode(row, skip_special_tokens=True)  # what plain decoding would lose
    assert on._decode(torch.tensor([row])) == ["It barks<channel|>"]  # kept; the end of turn and padding dropped
    assert off._decode(torch.tensor([row])) == ["It barks"]
    texts = on.generate(hf_checks.sample_inputs(), GenerationSettings(max_new_tokens=5))
    for [text] in texts:
        assert text.count("<channel|>") == 1 and text.thinking_finish_reason in ("stop", "length")
        trace, answer, closed = split_trace(text, "<|channel>thought", "<channel|>")
        assert closed and "<turn|>" not in text and "<pad>" not in text
    assert any(text.thinking_finish_reason == "length" for [text] in texts)
    assert all(text.thinking_finish_reason is None and "<channel|>" not in text
               for [text] in off.generate(hf_checks.sample_inputs(), GenerationSettings(max_new_tokens=5)))


def test_thinking_mode_picks_the_profile_and_is_refused_for_a_model_with_one_mode():
    assert get_profile("gemma4", "on").thinking is not None and get_profile("gemma4", "off").thinking is None
    assert get_profile("gemma4") == get_profile("gemma4", "on")  # the default mode
    with pytest.raises(UserError, match="--thinking is for models with both"):
        get_profile("qwen3_omni", "on")


def test_the_report_labels_rows_with_the_mode():
    from audiofaith.report.load import baseline_lines

    record = BaselineRecord(id="sakura/animal/single/dog1", model="gemma4", prompt_mode="cot", answer="A",
                            subset="animal", hop="single", runs_reasonings=["r"], runs_predictions=["A"], thinking="off")
    assert {line.model for line in baseline_lines(record, {}, "b.jsonl")} == {"gemma4 [thinking off]"}
    assert json.loads(json.dumps(record.to_json()))["thinking"] == "off"
    from audiofaith.store.records import InterventionRecord
    from audiofaith.report.load import conditioned_line

    line = InterventionRecord.from_json({"id": record.id, "model": "gemma4", "run": 0, "condition": "full",
                                         "answer": "A", "subset": "animal", "hop": "single", "prediction": "A",
                                         "thinking": "on"})
    assert conditioned_line(line, {}, "c.jsonl").model == "gemma4 [thinking on]"  # never joined with "off" rows
    assert "thinking" not in BaselineRecord(id="x", model="m", prompt_mode="cot", answer="A").to_json()


@hf_checks.needs_mixed
@pytest.mark.parametrize("mode", MODES)
def test_baseline_conditioned_and_early_answering_through_the_interface_scripts(mode, tiny_gemma4, tmp_path):
    outputs = hf_checks.run_pipeline_through_interface_scripts(
        "Gemma4", tiny_gemma4, tmp_path, ["--thinking", mode, "--max_thinking_tokens", str(TRACE_BUDGET)])
    records = outputs["baseline"]
    assert all(r["model"] == "gemma4" and r["thinking"] == mode for r in records)
    assert all(line["thinking"] == mode for line in outputs["conditioned"] + outputs["early_answering"])
    fingerprint = outputs["meta"][0]["fingerprint"]
    assert fingerprint["prompt_profile"]["name"] == {"on": "gemma4_thinking", "off": "gemma4"}[mode]
    if mode == "on":
        for record in records:  # the trace is the reasoning
            trace, _, _ = split_trace(record["runs_raw"][0], "<|channel>thought", "<channel|>")
            assert record["runs_reasonings"] == [trace] and record["runs_thinking_finish_reasons"][0] in ("stop", "length")
    else:
        assert all("runs_thinking_finish_reasons" not in r for r in records)
    # the other mode on this baseline is refused: two modes are never mixed
    other = {"on": "off", "off": "on"}[mode]
    done = run_cli("interface/Gemma4_conditioned.py", "--manifest_file", str(tmp_path / "animal.jsonl"),
                   "--input_results_file", str(tmp_path / "out" / "baseline.jsonl"), "--output_conditioned_file",
                   str(tmp_path / "out" / "other.jsonl"), "--data_root", str(hf_checks.MIXED.parent),
                   "--model_path", str(tiny_gemma4), "--device", "cpu", "--thinking", other)
    assert done.returncode == 2 and f"was run with --thinking {mode}" in done.stderr, done.stderr


def test_protocol_paper_is_refused_cleanly(tmp_path):
    hf_checks.check_protocol_paper_is_refused("Gemma4", tmp_path)


def test_an_answer_without_a_thought_channel_is_one_phase_with_no_trace(backends, monkeypatch):
    """Gemma 4 opens its channel itself: a turn that ends without opening one has no trace."""
    from audiofaith.backends.base import GeneratedText

    backend, calls = backends["on"], []

    def fake(inputs, settings, extra_stop_ids=()):
        calls.append(settings.max_new_tokens)
        return [[GeneratedText("Answer: (B)", "stop")] for _ in inputs]

    monkeypatch.setattr(backend, "_generate", fake)
    [[text]] = backend.generate([ModelInput("Q?", [0.0])], GenerationSettings(max_new_tokens=5))
    assert text == "Answer: (B)" and text.thinking_finish_reason is None and calls == [TRACE_BUDGET]
    assert split_trace(text, "<|channel>thought", "<channel|>") == ("", "Answer: (B)", True)
