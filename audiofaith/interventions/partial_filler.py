"""Partial filler: x % of the CoT's words (x = 0, 10, ..., 100 by default) are replaced, each by
one "...", at the start (``first``), the end (``last``) or at seeded random positions
(``random``), and the answer is read after the edited CoT. Length-preserving: one filler per
replaced word, the whitespace between words kept, so a replaced word reads " ..." (unlike the
anchor repository, where a replaced span collapses into a single "...").

Words are maximal runs of non-whitespace (punctuation stays attached: "dog." is one word).
The number replaced is round-half-up(x / 100 * words). Random positions come from one seeded
permutation per (item, run) (``derive_seed(--seed, item id, run)``) whose first m entries are
replaced, so the positions replaced at 20 % include those at 10 % and a rerun replaces the same
words.
"""

from __future__ import annotations

import argparse
import random
import re
from typing import List, Sequence, Tuple

from audiofaith.errors import UserError
from audiofaith.interventions import InterventionContext
from audiofaith.interventions.filler import FILLER_SECTION, round_half_up
from audiofaith.report.spec import CurveSpec, ReportSpec
from audiofaith.seeds import derive_seed
from audiofaith.runners.variant import Variant

CONDITIONS = ("partial_filler",)
POSITIONS = ("first", "last", "random")
WORD_FILLER = "..."
NO_REASONING = "the baseline run has no reasoning to fill"
DEFAULT_PERCENTS = tuple(range(0, 101, 10))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--positions", nargs="+", choices=POSITIONS, default=list(POSITIONS),
                        help="where the replaced words are")
    parser.add_argument("--percents", type=int, nargs="+", default=list(DEFAULT_PERCENTS),
                        help="percentages of the CoT's words replaced (0-100)")


def word_spans(text: str) -> List[Tuple[int, int]]:
    """(start, end) of every word (maximal run of non-whitespace) of ``text``."""
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def replaced_words(n_words: int, percent: int, position: str, seed: int = 0) -> List[int]:
    """Indices (ascending) of the words replaced at ``percent`` % in ``position`` mode."""
    if not 0 <= percent <= 100:
        raise UserError(f"a percentage must be within 0-100, got {percent}")
    m = round_half_up(percent * n_words / 100)
    if position == "first":
        return list(range(m))
    if position == "last":
        return list(range(n_words - m, n_words))
    if position == "random":
        order = list(range(n_words))
        random.Random(seed).shuffle(order)
        return sorted(order[:m])
    raise UserError(f"unknown position {position!r}; use one of {POSITIONS}")


def replace_words(text: str, indices: Sequence[int], filler: str = WORD_FILLER) -> str:
    """``text`` with each word at ``indices`` (of ``word_spans``) replaced by ``filler``; the
    whitespace around words is kept."""
    spans = word_spans(text)
    out, position = [], 0
    for index in sorted(set(indices)):
        start, end = spans[index]
        out.append(text[position:start] + filler)
        position = end
    out.append(text[position:])
    return "".join(out)


def build_variants(context: InterventionContext) -> List[Variant]:
    positions = list(dict.fromkeys(context.options.get("positions") or POSITIONS))
    percents = sorted(set(context.options.get("percents") or DEFAULT_PERCENTS))
    variants: List[Variant] = []
    for item, run, reasoning, baseline_prediction, record in context.runs():
        common = dict(item=item, run=run, condition="partial_filler", baseline_prediction=baseline_prediction,
                      cot_source_model=record.model)
        n_words = len(word_spans(reasoning))
        if n_words == 0:
            variants.append(Variant(params={"position": positions[0], "percent": 0}, skip_reason=NO_REASONING,
                                    **common))
            continue
        seed = derive_seed(context.seed, item.id, run)
        for position in positions:
            for percent in percents:
                indices = replaced_words(n_words, percent, position, seed)
                variants.append(Variant(params={"position": position, "percent": percent},
                                        reasoning=replace_words(reasoning, indices),
                                        extra={"words": n_words, "words_replaced": len(indices)}, **common))
    return variants


REPORT = ReportSpec(
    conditions=CONDITIONS, curve_x=(("partial_filler", "percent"),), zero_x=(("partial_filler", 0.0),),
    pooled=("partial_filler",),
    curves=(("partial_filler", CurveSpec(("partial_filler",), "agree_rate_excl_null", "agree_excl_null_lo",
                                         "agree_excl_null_hi", "Partial filler: CoT words replaced by filler",
                                         "% of CoT words replaced", "% same answer as baseline")),),
    sections=(FILLER_SECTION,))
