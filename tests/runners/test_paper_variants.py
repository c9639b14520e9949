"""The variant loop under the paper protocol, with a scripted backend: which prompt each action
sends, with which length, and how the answers are read."""

from __future__ import annotations

import dataclasses
from typing import List, Optional

import numpy as np

from audiofaith.backends.base import Backend, GenerationSettings, ModelInput
from audiofaith.text.protocols import GIVEN_THE_REASONING, paper_protocol
from audiofaith.runners.variants import CotSampler, Variant, VariantConfig, _answer_group_paper, _new_record
from audiofaith.seeds import derive_seed
from tests.test_prompts import ITEM


class ScriptedBackend(Backend):
    """Answers every call with the next scripted text; records (input, max_new_tokens)."""

    key = "scripted"

    def __init__(self, replies: List[str]) -> None:
        self.replies = list(replies)
        self.calls: List[tuple] = []
        self.settings: List[GenerationSettings] = []

    def generate(self, inputs, settings: GenerationSettings):
        out = []
        for inp in inputs:
            self.calls.append((inp, settings.max_new_tokens))
            self.settings.append(settings)
            out.append([self.replies.pop(0)])
        return out

    def score_letters(self, inputs, letters):
        raise AssertionError("the paper protocol never scores letters")

    def provenance(self):
        return {}


def _run(key: str, variants: List[Variant], replies: List[str], sampler: CotSampler = CotSampler(),
         backend: Optional[ScriptedBackend] = None):
    backend = backend or ScriptedBackend(replies)
    config = VariantConfig(model_key=key, answer_mode="generate", answer_max_new_tokens=7, cot_max_new_tokens=9,
                           cot_sampler=sampler)
    records = [_new_record(v, config, "paper") for v in variants]
    audio = np.zeros(160, dtype=np.float32)
    _answer_group_paper(backend, variants, [ModelInput("ignored", audio) for _ in variants], records, config,
                        None, paper=paper_protocol(key))
    return backend.calls, records


def _variant(**kwargs) -> Variant:
    return Variant(item=ITEM, run=0, condition="c", params={}, baseline_prediction="A", **kwargs)


def test_score_puts_the_reasoning_in_the_user_turn_for_af3():
    calls, records = _run("af3", [_variant(reasoning="It barks.")], ["(A) dog"])
    (inp, length), = calls
    assert inp.user_text.endswith("respond.\n\nIt barks.\n\nTherefore, the answer is:") and length == 7
    assert records[0].prediction == "A" and records[0].raw == "(A) dog" and records[0].protocol == "paper"


def test_continue_then_score_cuts_the_continued_reasoning_again():
    calls, records = _run("af3", [_variant(reasoning="It barks.", action="continue")],
                          ["Dogs bark. So the answer is (A).", "(B)"])
    (cont, cont_length), (answer, answer_length) = calls
    # the study's continuation length (continue_max_new_tokens, 512), not our --cot_max_new_tokens
    assert cont.user_text.endswith("respond.\n\nIt barks.") and cont_length == 512
    assert records[0].reasoning == "It barks. Dogs bark."  # the answer-stating last sentence cut
    assert "\n\nIt barks. Dogs bark.\n\nTherefore" in answer.user_text and answer_length == 7
    assert records[0].prediction == "B" and records[0].extra["answer_raw"] == "(B)"


def test_regenerate_uses_the_baseline_prompt_and_its_length_and_keeps_its_own_answer():
    calls, records = _run("qwen_omni", [_variant(action="regenerate")],
                          ["<Reasoning>It barks.</Reasoning><Conclusion>C</Conclusion>", "D"])
    (cot, cot_length), (answer, _) = calls
    assert "using the XML template" in cot.user_text and cot_length == 1024 and cot.audio_after_text
    assert "<Reasoning>\nIt barks.\n</Reasoning>\n<Conclusion>\n" in answer.user_text
    assert records[0].prediction == "C" and records[0].extra["cue_prediction"] == "D"


def test_direct_variant_gets_the_study_direct_prompt_and_new_turn_gets_its_question():
    calls, records = _run("qwen2_audio", [_variant(user_text="ours", user_mode="direct"),
                                          _variant(reasoning="It barks.")], ["(B)", "(C)"])
    by_length = {length: inp for inp, length in calls}
    assert by_length[7].turns == ("It barks.", GIVEN_THE_REASONING)
    assert by_length[50].turns == () and by_length[50].user_text.startswith("audio\n\nQuestion: ")
    assert {r.prediction for r in records} == {"B", "C"}


def test_qwen2_audio_regenerate_is_read_from_its_answer_turn_like_the_baseline():
    """The baseline's letter (qwen2_audio, paper) comes from the answer turn; a regenerated run is
    compared by the same read-out, not by the letter its step-by-step text states (issue 22, item 1)."""
    calls, records = _run("qwen2_audio", [_variant(action="regenerate")],
                          ["It barks, so the answer is (C). That is all.", "(D)"])
    (cot, cot_length), (answer, answer_length) = calls
    assert cot.turns == ("Let's think step by step:",) and cot_length == 768
    assert answer.turns == ("It barks, so the answer is (C).", GIVEN_THE_REASONING)
    assert answer_length == paper_protocol("qwen2_audio").baseline_answer_max_new_tokens == 50
    record = records[0]
    assert record.prediction == "D" and record.reference_field == "baseline_prediction"
    assert record.extra["response_prediction"] == "C" and "cue_prediction" not in record.extra


def test_qwen2_audio_continuation_samples_as_the_study_did_seeded_per_run():
    """The parent framework's continue_reasoning sampled (T = 0.7, top-p 0.9, 512 tokens) (issue 22, item 10)."""
    backend = ScriptedBackend(["Dogs bark. So (A).", "(A)"])
    _run("qwen2_audio", [_variant(reasoning="It barks.", action="continue")], [], backend=backend)
    (cont, cont_length), _ = backend.calls
    settings = backend.settings[0]
    assert (settings.do_sample, settings.temperature, settings.top_p, cont_length) == (True, 0.7, 0.9, 512)
    assert cont.run_seeds == (derive_seed(0, ITEM.id, 0),)
    assert not backend.settings[1].do_sample  # the answer turn stays greedy


def test_regenerate_under_paper_decodes_as_a_sampled_baseline_did():
    """A sampled baseline (--num_runs > 1): the regenerated CoT uses its sampler and its run's seed (item 5)."""
    backend = ScriptedBackend(["It barks. So (A).", "(A)"])
    sampler = CotSampler(do_sample=True, temperature=0.7, top_p=0.9, seed=3)
    _run("af3", [dataclasses.replace(_variant(action="regenerate"), run=2)], [], sampler=sampler, backend=backend)
    (cot, _), _ = backend.calls
    assert (backend.settings[0].do_sample, backend.settings[0].temperature, backend.settings[0].top_p) == \
        (True, 0.7, 0.9)
    assert cot.run_seeds == (derive_seed(3, ITEM.id, 2),)
