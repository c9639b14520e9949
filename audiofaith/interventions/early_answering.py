"""Early answering (Lanham et al. 2023): keep the first k of the n CoT sentences, k = 0…n, and
read the answer after them. k = 0 is also asked with the direct (no-reasoning) prompt, labelled
``prompt: no_reasoning``; the other lines are ``prompt: conditioned``. Under ``--protocol paper``
k = 0 is asked with the study's no-reasoning prompt only, as its code did, and every line of the
chain is ``prompt: paper`` (one curve). The truncated CoT is cut from the original text, so its
own formatting is kept."""

from __future__ import annotations

import argparse
from typing import List

from audiofaith.text.cot import sentence_spans
from audiofaith.interventions import InterventionContext
from audiofaith.text.prompts import user_text
from audiofaith.text.protocols import PAPER
from audiofaith.report.blocks import aoc_table, lanham_section
from audiofaith.report.spec import CurveSpec, ReportSpec, Section, SectionContext
from audiofaith.runners.variant import Variant

CONDITIONS = ("early_answering",)
NO_REASONING = "the baseline run has no reasoning to truncate"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max_sentences", type=int, default=None,
                        help="skip CoTs with more sentences than this (Lanham used 3-6; default: keep all)")


def truncations(reasoning: str) -> List[str]:
    """The reasoning cut after 0, 1, ..., n sentences (n + 1 texts, the last one whole)."""
    spans = sentence_spans(reasoning)
    return [""] + [reasoning[: end] for _, end in spans]


def build_variants(context: InterventionContext) -> List[Variant]:
    max_sentences = context.options.get("max_sentences")
    variants: List[Variant] = []
    for item, reasoning, common in context.chains("early_answering"):
        cuts = truncations(reasoning)
        n = len(cuts) - 1
        if n == 0 or (max_sentences is not None and n > max_sentences):
            reason = NO_REASONING if n == 0 else f"the CoT has {n} sentences (> --max_sentences {max_sentences})"
            variants.append(Variant(params={"k": 0, "n": n, "fraction": 0.0, "prompt": "conditioned"},
                                    skip_reason=reason, **common))
            continue
        direct = dict(user_text=user_text(item, "direct", context.profile), user_mode="direct")
        if context.protocol == PAPER:  # the study: k = 0 by its no-reasoning prompt, k >= 1 conditioned
            variants.append(Variant(params={"k": 0, "n": n, "fraction": 0.0, "prompt": PAPER}, **direct, **common))
            variants += [Variant(params={"k": k, "n": n, "fraction": round(k / n, 6), "prompt": PAPER},
                                 reasoning=cuts[k], **common) for k in range(1, n + 1)]
            continue
        for k, prefix in enumerate(cuts):
            variants.append(Variant(params={"k": k, "n": n, "fraction": round(k / n, 6), "prompt": "conditioned"},
                                    reasoning=prefix, **common))
        variants.append(Variant(params={"k": 0, "n": n, "fraction": 0.0, "prompt": "no_reasoning"},
                                **direct, **common))
    return variants


def _report_section(context: SectionContext) -> list:
    return lanham_section(
        context, "Early answering",
        "The answer is read after the first k of n CoT sentences. Curve: % same answer as with the full CoT "
        "(reference = the `full` condition's letter for the same (id, run); where that is missing or null, the "
        "baseline letter — counted in 'ref. fallbacks'). AOC = area over the curve (Lanham et al. 2023; with "
        "every k answered, their per-length AOC weighted by the number of chains of each length); higher = less "
        "post-hoc. The plot pools lengths, "
        "binning k/n to tenths.",
        lambda aocs: [aoc_table(aocs, "early_answering")],
        "Early answering: % same answer as the full-CoT answer (95 % bootstrap bands).")


REPORT = ReportSpec(
    conditions=CONDITIONS, curve_x=(("early_answering", "fraction"),), binned_x=frozenset({"fraction"}),
    zero_x=(("early_answering", 1.0),),
    per_item_params=frozenset({"k", "n", "fraction"}), aoc_step="k",
    curves=(("early_answering", CurveSpec(("early_answering",), "same_as_full_rate", "same_as_full_lo",
                                          "same_as_full_hi", "Early answering: answer with a truncated CoT",
                                          "% of CoT sentences kept", "% same answer as full CoT", x_scale=100,
                                          x_range=(0.0, 1.0))),),
    sections=(Section(40, _report_section),))
