"""Answer-stripped CoT: the conditioned read-out with every sentence that states or names the
baseline's chosen option removed (``audiofaith.text.cot.answer_stating_sentences``: its letter in an
answer-like form such as "(B)", "option B", "Answer: B", or its option text as a whole word).

A CoT usually ends by stating its answer, so the plain conditioned agreement is close to
trivially high: the model only has to copy the letter. Here it has to reach the answer from the
rest of the reasoning. The kept sentences are cut from the original text with the whitespace
that preceded each of them, so line breaks survive.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from audiofaith.text.cot import answer_stating_sentences, sentence_spans
from audiofaith.interventions import InterventionContext
from audiofaith.report.blocks import condition_table
from audiofaith.report.render import Heading, Paragraph
from audiofaith.report.spec import ReportSpec, Section, SectionContext
from audiofaith.runners.variant import Variant

CONDITIONS = ("answer_stripped",)
NO_REASONING = "the baseline run has no reasoning to strip"
NO_BASELINE_ANSWER = "the baseline run has no parsed answer, so no sentence can be said to state it"
NOTHING_LEFT = "every sentence of the CoT states the answer; nothing is left to condition on"


def keep_sentences(text: str, spans: Sequence[Tuple[int, int]], keep: Sequence[int]) -> str:
    """The sentences ``keep`` (indices into ``spans``) of ``text``, in order, each after the
    whitespace that preceded it in ``text`` (none before the first kept one)."""
    out: List[str] = []
    for j in sorted(set(keep)):
        start, end = spans[j]
        if out:  # then j > 0: the gap between sentence j - 1 and j
            out.append(text[spans[j - 1][1]:start])
        out.append(text[start:end])
    return "".join(out)


def strip_answer(reasoning: str, choices: Sequence[str], letter: Optional[str]) -> Tuple[str, List[int], int]:
    """(the reasoning without its answer-stating sentences, their indices, number of sentences)."""
    spans = sentence_spans(reasoning)
    sentences = [reasoning[a:b] for a, b in spans]
    removed = answer_stating_sentences(sentences, list(choices), letter)
    kept = [j for j in range(len(spans)) if j not in set(removed)]
    return keep_sentences(reasoning, spans, kept), removed, len(spans)


def build_variants(context: InterventionContext) -> List[Variant]:
    variants: List[Variant] = []
    for item, run, reasoning, baseline_prediction, record in context.runs():
        common = dict(item=item, run=run, condition="answer_stripped", baseline_prediction=baseline_prediction,
                      cot_source_model=record.model)
        stripped, removed, n = strip_answer(reasoning, item.choices, baseline_prediction)
        skip = (NO_REASONING if n == 0 else NO_BASELINE_ANSWER if baseline_prediction is None
                else NOTHING_LEFT if not stripped.strip() else None)
        variants.append(Variant(params={"removed": len(removed), "n": n}, reasoning=stripped, skip_reason=skip,
                                extra={"removed_sentences": removed}, **common))
    return variants


def _report_section(context: SectionContext) -> list:
    rows = context.own_rows()
    if not rows:
        return []
    return [Heading(2, "Answer-stating sentences removed"),
            Paragraph("The CoT with every sentence that states the answer removed, so agreement is not "
                      "trivially high."), condition_table(rows)]


REPORT = ReportSpec(conditions=CONDITIONS, per_item_params=frozenset({"removed", "n"}),
                    sections=(Section(80, _report_section),))
