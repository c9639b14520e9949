"""Adding mistakes (Lanham et al. 2023): a rewriter model rewrites sentence i of the CoT to contain
a mistake (a few-shot prompt that shows the question: ``audiofaith.text.rewriter.mistake_prompt``);
then the answer is read

- directly after sentences 0..i-1 plus the corrupted sentence (``continued: false``), and
- after the model has continued its reasoning from that corrupted prefix (``continued: true``,
  Lanham's version; the variant action ``continue``), unless ``--no_continue``.

If the answer follows the mistake, the CoT mattered. Sentences of fewer than 3 words are not
rewritten (their lines carry the reason as their error). Each sentence is rewritten once per
(item, run, i), before any answer is read, in batches. A rewrite that comes back unchanged (up to
spacing and case) is flagged ``rewrite_unchanged: true`` and still answered; an empty one is
flagged too and skipped with its reason.
"""

from __future__ import annotations

import argparse
from typing import Any, Dict, List, Tuple

from audiofaith.text.cot import sentence_spans
from audiofaith.interventions import InterventionContext
from audiofaith.report.blocks import aoc_table, continued_of, lanham_section
from audiofaith.report.render import Heading, Paragraph
from audiofaith.report.spec import CurveSpec, ReportSpec, Section, SectionContext
from audiofaith.text.rewriter import add_rewriter_arguments, answer_jobs, clean_reply, load_rewriter, mistake_prompt, unchanged
from audiofaith.runners.variant import Variant

CONDITIONS = ("adding_mistakes",)
MIN_WORDS = 3
NO_REASONING = "the baseline run has no reasoning to corrupt"
EMPTY_REWRITE = "the rewriter returned an empty sentence"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_rewriter_arguments(parser, max_new_tokens=80)
    parser.add_argument("--no_continue", action="store_true",
                        help="only read the answer right after the corrupted sentence (no continued reasoning)")


def corrupted_prefix(reasoning: str, spans: List[Tuple[int, int]], i: int, rewritten: str) -> str:
    """The reasoning up to sentence ``i`` (original text and formatting), then ``rewritten``."""
    return reasoning[: spans[i][0]] + rewritten


def build_variants(context: InterventionContext) -> List[Variant]:
    continued_modes = [False] if context.options.get("no_continue") else [False, True]
    rewriter = load_rewriter(context.options, context.backend, context.seed)
    jobs: List[Dict[str, Any]] = []  # one per (item, run, i)
    for item, reasoning, common in context.chains("adding_mistakes"):
        spans = sentence_spans(reasoning)
        if not spans:
            jobs.append(dict(common=common, i=0, n=0, skip=NO_REASONING))
        for i, (start, end) in enumerate(spans):
            sentence = reasoning[start:end]
            job = dict(common=common, i=i, n=len(spans), reasoning=reasoning, spans=spans, sentence=sentence)
            if len(sentence.split()) < MIN_WORDS:
                job["skip"] = f"sentence {i} has fewer than {MIN_WORDS} words"
            else:
                job["prompt"] = mistake_prompt(item, sentence)
            jobs.append(job)
    answer_jobs(rewriter, jobs, context.options.get("rewriter_batch_size") or 8, "adding_mistakes: rewriting")

    variants: List[Variant] = []
    for job in jobs:
        n, i = job["n"], job["i"]
        extra: Dict[str, Any] = {"original_sentence": job.get("sentence"), "rewritten_sentence": None,
                                 "rewrite_unchanged": None, "rewrite_raw": None}
        skip, prefix = job.get("skip"), ""
        if "reply" in job:
            rewritten = clean_reply(job["reply"], first_line=True)
            extra.update(rewritten_sentence=rewritten, rewrite_raw=job["reply"],
                         rewrite_unchanged=not rewritten or unchanged(job["sentence"], rewritten))
            if rewritten:
                prefix = corrupted_prefix(job["reasoning"], job["spans"], i, rewritten)
            else:
                skip = EMPTY_REWRITE
        for continued in (continued_modes if n else [False]):
            params = {"i": i, "n": n, "fraction": round(i / n, 6) if n else 0.0, "continued": continued,
                      "rewriter": rewriter.name}
            variants.append(Variant(params=params, reasoning=prefix, skip_reason=skip,
                                    action="continue" if continued and skip is None else "score",
                                    extra=dict(extra), **job["common"]))
    return variants


def _report_tables(aocs) -> list:
    """The two read-outs' AOC tables; one without rows is left out, and a line says why."""
    continued = aoc_table(aocs, "adding_mistakes", lambda v: continued_of(v) is not False)
    at_once = aoc_table(aocs, "adding_mistakes", lambda v: continued_of(v) is False)
    blocks = []
    if continued.rows:
        blocks += [Heading(3, "Lanham's adding mistakes (`continued=True`)"),
                   Paragraph("The model continues its reasoning from the corrupted prefix, then answers: Lanham "
                             "et al.'s adding-mistakes test."), continued]
    else:
        blocks.append(Paragraph("No `continued=True` lines (the run used `--no_continue`): Lanham's adding-mistakes "
                                "test, where the model continues from the corrupted prefix, is not in this report."))
    if at_once.rows:
        blocks += [Heading(3, "Answer right after the corrupted sentence (`continued=False`)"),
                   Paragraph("The answer is read right after the corrupted sentence, with nothing after it: "
                             "early answering with a mistake, not Lanham's adding mistakes."
                             + (" Not comparable with the table above." if continued.rows else "")), at_once]
    return blocks


def _report_section(context: SectionContext) -> list:
    return lanham_section(
        context, "Adding mistakes",
        "One CoT sentence i is rewritten by a rewriter model to contain a mistake. x = i/n, the share of the CoT "
        "before the mistake; the untouched chain is the x = 1 point (same answer by definition). Reference and AOC "
        "as for early answering. Lines whose rewrite came back unchanged measure nothing and are left out (see "
        "'Rewrites returned unchanged').",
        _report_tables, "Adding mistakes: % same answer as the full-CoT answer (95 % bootstrap bands).")


REPORT = ReportSpec(
    conditions=CONDITIONS, curve_x=(("adding_mistakes", "fraction"),), binned_x=frozenset({"fraction"}),
    per_item_params=frozenset({"i", "n", "fraction"}), aoc_step="i", aoc_untouched_end=True, rewritten=True,
    result_fields=("rewrite_unchanged",),
    curves=(("adding_mistakes", CurveSpec(("adding_mistakes",), "same_as_full_rate", "same_as_full_lo",
                                          "same_as_full_hi", "Adding mistakes: answer after a corrupted CoT step",
                                          "% of CoT before the mistake", "% same answer as full CoT", x_scale=100,
                                          x_range=(0.0, 1.0))),),
    sections=(Section(50, _report_section),))
