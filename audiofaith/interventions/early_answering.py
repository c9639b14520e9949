"""Early answering (Lanham et al. 2023): keep the first k of the n CoT sentences, k = 0…n, and
read the answer after them. k = 0 is also asked with the direct (no-reasoning) prompt, labelled
``prompt: no_reasoning``; the other lines are ``prompt: conditioned``. The truncated CoT is cut
from the original text, so its own formatting is kept."""

from __future__ import annotations

import argparse
from typing import List

from audiofaith.cot import sentence_spans
from audiofaith.interventions import InterventionContext
from audiofaith.prompts import user_text
from audiofaith.variant import Variant

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
    for item, run, reasoning, baseline_prediction, record in context.runs():
        cuts = truncations(reasoning)
        n = len(cuts) - 1
        common = dict(item=item, run=run, condition="early_answering", baseline_prediction=baseline_prediction,
                      cot_source_model=record.model)
        if n == 0 or (max_sentences is not None and n > max_sentences):
            reason = NO_REASONING if n == 0 else f"the CoT has {n} sentences (> --max_sentences {max_sentences})"
            variants.append(Variant(params={"k": 0, "n": n, "fraction": 0.0, "prompt": "conditioned"},
                                    skip_reason=reason, **common))
            continue
        for k, prefix in enumerate(cuts):
            variants.append(Variant(params={"k": k, "n": n, "fraction": round(k / n, 6), "prompt": "conditioned"},
                                    reasoning=prefix, **common))
        variants.append(Variant(params={"k": 0, "n": n, "fraction": 0.0, "prompt": "no_reasoning"},
                                user_text=user_text(item, "direct", context.profile), user_mode="direct", **common))
    return variants
