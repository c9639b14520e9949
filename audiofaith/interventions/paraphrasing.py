"""Paraphrasing (Lanham et al. 2023): the first k of the n CoT sentences (k = 0…n) are
paraphrased by a rewriter model that does NOT see the question
(``audiofaith.text.rewriter.paraphrase_prompt``), and the answer is read

- after the paraphrased prefix followed by the rest of the original CoT, verbatim
  (``continued: false``; the anchor repository's version), and, with ``--regenerate_rest``,
- after the model has written the rest of its reasoning itself from the paraphrased prefix
  (``continued: true``; Lanham's version, the variant action ``continue``).

If the answer changes, the exact wording (not just the content) of the CoT carried information.
k = 0 needs no rewrite: with ``continued: false`` it is the whole original CoT (the ``full``
condition again, as the curve's anchor), with ``continued: true`` a fresh CoT (how much
regeneration alone changes the answer). Each prefix is paraphrased once per (item, run, k),
before any answer is read, in batches; an unchanged paraphrase is flagged
(``rewrite_unchanged``), an empty one flagged and skipped.
"""

from __future__ import annotations

import argparse
from typing import Any, Dict, List

from audiofaith.text.cot import sentence_spans
from audiofaith.interventions import InterventionContext
from audiofaith.report.blocks import condition_table
from audiofaith.report.render import Heading, Paragraph
from audiofaith.report.spec import CurveSpec, ReportSpec, Section, SectionContext
from audiofaith.text.rewriter import add_rewriter_arguments, answer_jobs, clean_reply, load_rewriter, paraphrase_prompt, unchanged
from audiofaith.runners.variant import Variant

CONDITIONS = ("paraphrasing",)
NO_REASONING = "the baseline run has no reasoning to paraphrase"
EMPTY_REWRITE = "the rewriter returned an empty paraphrase"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_rewriter_arguments(parser, max_new_tokens=512)
    parser.add_argument("--regenerate_rest", action="store_true",
                        help="also let the model write the rest of its reasoning from the paraphrased prefix "
                             "(continued: true)")


def build_variants(context: InterventionContext) -> List[Variant]:
    continued_modes = [False, True] if context.options.get("regenerate_rest") else [False]
    rewriter = load_rewriter(context.options, context.backend, context.seed)
    jobs: List[Dict[str, Any]] = []  # one per (item, run, k)
    for item, reasoning, common in context.chains("paraphrasing"):
        spans = sentence_spans(reasoning)
        if not spans:
            jobs.append(dict(common=common, k=0, n=0, skip=NO_REASONING))
            continue
        for k in range(len(spans) + 1):
            cut = spans[k - 1][1] if k else 0
            job = dict(common=common, k=k, n=len(spans), prefix=reasoning[:cut], rest=reasoning[cut:])
            if k:
                job["prompt"] = paraphrase_prompt(job["prefix"])
            jobs.append(job)
    answer_jobs(rewriter, jobs, context.options.get("rewriter_batch_size") or 8, "paraphrasing: rewriting")

    variants: List[Variant] = []
    for job in jobs:
        n, k = job["n"], job["k"]
        extra: Dict[str, Any] = {"paraphrased_text": None, "rewrite_unchanged": None, "rewrite_raw": None}
        skip, paraphrased = job.get("skip"), job.get("prefix", "")
        if "reply" in job:
            paraphrased = clean_reply(job["reply"])
            extra.update(paraphrased_text=paraphrased, rewrite_raw=job["reply"],
                         rewrite_unchanged=not paraphrased or unchanged(job["prefix"], paraphrased))
            if not paraphrased:
                skip = EMPTY_REWRITE
        for continued in (continued_modes if n else [False]):
            params = {"k": k, "n": n, "fraction": round(k / n, 6) if n else 0.0, "continued": continued,
                      "rewriter": rewriter.name}
            reasoning = paraphrased if continued else _join(paraphrased, job.get("rest", ""))
            variants.append(Variant(params=params, reasoning=reasoning if skip is None else "", skip_reason=skip,
                                    action="continue" if continued and skip is None else "score",
                                    extra=dict(extra), **job["common"]))
    return variants


def _join(prefix: str, rest: str) -> str:
    """The paraphrased prefix followed by the untouched rest, which starts with its own whitespace
    (one space is put in when the paraphrase ends where the rest begins without any)."""
    if prefix and rest and not rest[:1].isspace() and not prefix[-1:].isspace():
        return f"{prefix} {rest}"
    return prefix + rest


def _report_section(context: SectionContext) -> list:
    rows = context.own_rows()
    if not rows:
        return []
    return [Heading(2, "Paraphrasing"),
            Paragraph("The first k sentences are paraphrased (the paraphraser does not see the question). "
                      "Agreement with the baseline letter and accuracy, against the paraphrased share."),
            condition_table(rows)] \
        + context.curve("paraphrasing", "Paraphrasing: % same answer as baseline.") \
        + context.curve("paraphrasing_accuracy", "Paraphrasing: accuracy.")


REPORT = ReportSpec(
    conditions=CONDITIONS, curve_x=(("paraphrasing", "fraction"),), binned_x=frozenset({"fraction"}),
    per_item_params=frozenset({"k", "n", "fraction"}), rewritten=True, result_fields=("rewrite_unchanged",),
    curves=(("paraphrasing", CurveSpec(("paraphrasing",), "agree_rate_excl_null", "agree_excl_null_lo",
                                       "agree_excl_null_hi", "Paraphrasing: answer after a paraphrased CoT prefix",
                                       "% of CoT paraphrased", "% same answer as baseline", x_scale=100)),
            ("paraphrasing_accuracy", CurveSpec(("paraphrasing",), "accuracy", "accuracy_lo", "accuracy_hi",
                                                "Paraphrasing: accuracy", "% of CoT paraphrased", "Accuracy (%)",
                                                x_scale=100))),
    sections=(Section(60, _report_section),))
