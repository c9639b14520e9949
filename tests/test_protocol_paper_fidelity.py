"""``--protocol paper`` against the published study's code (commit e4cee03; issue 22, item 10):
options on one line where its manifests wrote them so, early answering at k = 0 by its
no-reasoning prompt only, the baseline's letter as the AOC reference, AF3's answer from the last
sentence, its continuation length, and the provenance recording what the code uses."""

from __future__ import annotations

from audiofaith.interventions import InterventionContext, early_answering
from audiofaith.text.prompts import DEFAULT_PROFILE
from audiofaith.text.protocols import paper_protocol
from audiofaith.store.records import BaselineRecord, InterventionRecord
from audiofaith.report.load import conditioned_line, join
from tests.test_prompts import ITEM

ONE_LINE = "(A) dog (B) crow (C) cow (D) rooster"


def test_af3_and_omni_prompts_show_the_options_on_one_line():
    for key in ("af3", "af3_think", "qwen_omni"):
        paper = paper_protocol(key)
        for inp in (paper.baseline_input(ITEM, "cot", None), paper.baseline_input(ITEM, "direct", None),
                    paper.answer_input(ITEM, "It barks.", None)):
            assert f"Select one option from the provided choices.\n{ONE_LINE}." in inp.user_text, key
    # the parent framework's prompts (Qwen2-Audio, the continuations) keep one option per line
    assert "Choices:\n(A) dog\n(B) crow" in paper_protocol("qwen2_audio").baseline_input(ITEM, "cot", None).user_text
    assert "\n(A) dog\n(B) crow" in paper_protocol("af3").continue_input(ITEM, "It barks.", None).user_text
    texts = paper_protocol("af3").texts()
    assert texts["baseline_cot"]["user"].startswith(
        "{question} Select one option from the provided choices.\n{options_on_one_line}. Please think")
    assert "\n{options}. Please think" in texts["continue"]["user"]


def test_af3_reads_a_cot_response_from_its_last_sentence():
    af3, omni = paper_protocol("af3_think"), paper_protocol("qwen_omni")
    response = "It caws, so the answer is (B). I hope this helps."
    assert af3.response_answer(response, ITEM) is None  # the study parsed "I hope this helps." only
    assert af3.response_answer("It caws. So the answer is (B).", ITEM) == "B"
    assert af3.response_answer(response, ITEM, mode="direct") == "B"  # no reasoning: the whole text
    assert omni.response_answer(response, ITEM) == "B"


def test_provenance_records_the_continuation_the_code_uses():
    qwen, af3 = paper_protocol("qwen2_audio").texts(), paper_protocol("af3").texts()
    assert qwen["max_new_tokens"]["continue"] == 512 and qwen["continue_sampling"] == {"temperature": 0.7, "top_p": 0.9}
    assert af3["continue_sampling"] is None


def _context(protocol: str) -> InterventionContext:
    record = BaselineRecord(id=ITEM.id, model="af3", prompt_mode="cot", answer=ITEM.answer, subset=ITEM.subset,
                            hop=ITEM.hop, runs_reasonings=["It caws. Crows caw."], runs_raw=["x"],
                            runs_predictions=["B"], protocol=protocol)
    return InterventionContext(items=[ITEM], results=[record], profile=DEFAULT_PROFILE, options={"max_sentences": None},
                               model_key="af3", protocol=protocol)


def test_early_answering_under_paper_asks_k0_by_the_no_reasoning_prompt_only():
    variants = early_answering.build_variants(_context("paper"))
    assert [(v.params["k"], v.params["prompt"], v.user_mode) for v in variants] == \
        [(0, "paper", "direct"), (1, "paper", None), (2, "paper", None)]
    ours = early_answering.build_variants(_context("ours"))
    assert [(v.params["k"], v.params["prompt"]) for v in ours] == \
        [(0, "conditioned"), (1, "conditioned"), (2, "conditioned"), (0, "no_reasoning")]


def test_paper_lanham_reference_is_the_baseline_letter_not_full():
    def line(condition, prediction, protocol, **params):
        record = InterventionRecord(id=ITEM.id, model="af3", run=0, condition=condition, answer_mode="generate",
                                    answer="A", subset="animal", hop="single", dataset="sakura", params=params,
                                    baseline_prediction="B", prediction=prediction, protocol=protocol)
        return conditioned_line(record, {}, f"{condition}:{protocol}")

    early = {"k": 1, "n": 2, "fraction": 0.5, "prompt": "paper"}
    lines = [line("full", "C", "paper"), line("early_answering", "B", "paper", **early),
             line("full", "C", "ours"), line("early_answering", "B", "ours", **early)]
    join(lines)
    paper_line, ours_line = lines[1], lines[3]
    assert (paper_line.lanham_reference, paper_line.lanham_fallback) == ("B", False)  # the baseline's letter
    assert ours_line.lanham_reference == "C"  # ours: the `full` letter read the same way
