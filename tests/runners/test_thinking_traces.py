"""A thinking model's trace is the CoT, in the model-agnostic runners (no model: a scripted
backend that thinks between <think> markers). The baseline keeps the trace as the reasoning and
parses the letter from the visible answer only; conditioned, regenerated and continued runs
re-inject or continue the trace inside the same markers; cut traces are flagged."""

from __future__ import annotations

from typing import Dict, List, Sequence

from audiofaith.backends.base import Backend, GeneratedText, GenerationSettings, ModelInput
from audiofaith.store.jsonl import read_jsonl
from audiofaith.store.manifest import load_manifest
from audiofaith.text.prompts import QWEN3_THINKING, PromptProfile
from audiofaith.runners.baseline import BaselineConfig, run_baseline, summarize
from audiofaith.runners.variants import VariantConfig, run_variants
from audiofaith.runners.variant import Variant

PROFILE = PromptProfile(name="thinking_test", thinking=QWEN3_THINKING)


class ThinkingBackend(Backend):
    """Thinks "(C) is tempting." in its trace, then answers (B) in the visible text; a continued
    trace gets " More thought." and stays cut (``length``); every call is recorded."""

    key = "thinking"
    max_audio_seconds = 30.0

    def __init__(self) -> None:
        self.generated: List[ModelInput] = []
        self.scored: List[ModelInput] = []

    def generate(self, inputs: Sequence[ModelInput], settings: GenerationSettings) -> List[List[str]]:
        self.generated.extend(inputs)
        out = []
        for inp in inputs:
            if inp.assistant_prefix.startswith("<think>"):  # continuing a trace
                text = GeneratedText(" More thought.\n</think>\n\nAnswer: (D)", "stop", "length")
            else:
                text = GeneratedText("(C) is tempting.\n</think>\n\nAnswer: (B)", "stop", "stop")
            out.append([text] * settings.num_return_sequences)
        return out

    def score_letters(self, inputs: Sequence[ModelInput], letters: Sequence[Sequence[str]]) -> List[Dict[str, float]]:
        self.scored.extend(inputs)
        return [{letter: -1.0 - i for i, letter in enumerate(row)} for row in letters]

    def provenance(self) -> Dict[str, str]:
        return {"model_key": self.key}


def test_baseline_keeps_the_trace_as_reasoning_and_parses_the_visible_answer(synthetic_data, tmp_path):
    items = load_manifest(synthetic_data["manifests"]["animal"])[:2]
    backend, out = ThinkingBackend(), tmp_path / "baseline.jsonl"
    run_baseline(backend, items, synthetic_data["data_root"], out, BaselineConfig(model_key="thinking"), PROFILE)
    lines = read_jsonl(out)
    assert [line["runs_reasonings"] for line in lines] == [["(C) is tempting."]] * 2
    assert [line["runs_predictions"] for line in lines] == [["B"]] * 2  # not the trace's (C)
    assert [line["runs_thinking_finish_reasons"] for line in lines] == [["stop"]] * 2
    # the letter read-out after the trace re-injected inside its markers
    assert {inp.assistant_prefix for inp in backend.scored} == {"<think>\n(C) is tempting.\n</think>\n\nAnswer: ("}
    assert summarize(out)["traces_cut_by_length"] == 0


def test_variants_reinject_regenerate_and_continue_the_trace(synthetic_data, tmp_path):
    item = load_manifest(synthetic_data["manifests"]["animal"])[0]
    common = dict(item=item, run=0, baseline_prediction="B", reasoning="It barks. It is loud.")
    variants = [Variant(condition="full", params={}, **common),
                Variant(condition="early_answering", params={"k": 0}, **{**common, "reasoning": ""}),
                Variant(condition="regen", params={}, action="regenerate", **common),
                Variant(condition="cont", params={}, action="continue", **{**common, "reasoning": "It barks."})]
    backend, out = ThinkingBackend(), tmp_path / "variants.jsonl"
    run_variants(backend, variants, synthetic_data["data_root"], out, VariantConfig(model_key="thinking"), PROFILE)
    lines = {line["condition"]: line for line in read_jsonl(out)}
    assert all(line["error"] is None for line in lines.values())
    prefixes = [inp.assistant_prefix for inp in backend.scored]
    assert "<think>\nIt barks. It is loud.\n</think>\n\nAnswer: (" in prefixes  # full: the trace re-injected
    assert "<think>\n\n</think>\n\nAnswer: (" in prefixes  # an emptied trace: closed and empty
    assert lines["regen"]["reasoning"] == "(C) is tempting." and lines["regen"]["prediction"] == "B"
    assert lines["regen"]["thinking_finish_reason"] == "stop"
    # the continued trace is handed back open, then read as partial trace + continuation
    assert "<think>\nIt barks." in [inp.assistant_prefix for inp in backend.generated]
    assert lines["cont"]["reasoning"] == "It barks. More thought."
    assert lines["cont"]["thinking_finish_reason"] == "length"
    assert "<think>\nIt barks. More thought.\n</think>\n\nAnswer: (" in prefixes
