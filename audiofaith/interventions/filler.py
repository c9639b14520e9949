"""Filler tokens (Lanham et al. 2023): the CoT is replaced by " ..." repeated to a fraction of the
CoT's own length in the model's tokens (``--filler_fractions``, default 0, 0.25, 0.5, 0.75, 1).
The compute the reasoning took is kept (at fraction 1), its content removed: if the answer under
filler matches the answer after the real CoT more often than the answer with no CoT, the extra
tokens alone help.

The partial variant, which keeps the CoT and replaces some of its words, is ``partial_filler``
(``audiofaith/interventions/partial_filler.py``); both share the filler unit here.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable, List

from audiofaith.errors import UserError
from audiofaith.interventions import InterventionContext
from audiofaith.report.blocks import condition_table
from audiofaith.report.render import Heading, Paragraph
from audiofaith.report.spec import CurveSpec, ReportSpec, Section, SectionContext
from audiofaith.runners.variant import Variant

CONDITIONS = ("filler",)
FILLER = " ..."
NO_REASONING = "the baseline run has no reasoning to replace"
DEFAULT_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--filler_fractions", type=float, nargs="+", default=list(DEFAULT_FRACTIONS),
                        help="filler lengths as fractions of the CoT's token length")


def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def tokens_per_copy(count_tokens: Callable[[str], int], unit: str = FILLER, probe: int = 64) -> float:
    """Model tokens per copy of ``unit`` in a long run of it (" ..." is one token for Qwen's
    tokenizer, several for a toy one)."""
    return count_tokens(unit * probe) / probe


def filler_copies(cot_tokens: int, fraction: float, per_copy: float) -> int:
    """How many copies of the filler unit make ``fraction`` of a CoT of ``cot_tokens`` tokens."""
    if fraction < 0:
        raise UserError(f"a filler fraction must be >= 0, got {fraction}")
    return round_half_up(fraction * cot_tokens / per_copy)


def filler_text(copies: int, unit: str = FILLER) -> str:
    """``copies`` copies of the filler unit, e.g. ``" ... ... ..."``."""
    return unit * copies


def _count_tokens(context: InterventionContext) -> Callable[[str], int]:
    backend = context.backend
    if backend is None:
        raise ValueError("filler needs the loaded model to count tokens")
    try:
        backend.count_tokens("probe")
    except NotImplementedError as exc:
        raise UserError(f"--kind filler measures the CoT in the model's own tokens, but {exc}") from None
    return backend.count_tokens


def build_variants(context: InterventionContext) -> List[Variant]:
    fractions = sorted(set(context.options.get("filler_fractions") or DEFAULT_FRACTIONS))
    count = _count_tokens(context)
    per_copy = tokens_per_copy(count)
    variants: List[Variant] = []
    for item, reasoning, common in context.chains("filler"):
        cot_tokens = count(reasoning.strip()) if reasoning.strip() else 0
        if not cot_tokens:
            variants.append(Variant(params={"filler_tokens": 0, "length_fraction": 0.0}, skip_reason=NO_REASONING,
                                    **common))
            continue
        for fraction in fractions:
            copies = filler_copies(cot_tokens, fraction, per_copy)
            text = filler_text(copies)
            variants.append(Variant(
                params={"filler_tokens": copies, "length_fraction": fraction}, reasoning=text,
                extra={"cot_tokens": cot_tokens, "filler_model_tokens": count(text.strip()) if copies else 0},
                **common))
    return variants


def _report_section(context: SectionContext) -> list:
    rows = context.own_rows()  # filler and partial_filler (which shares this section)
    if not rows:
        return []
    return [Heading(2, "Filler tokens"),
            Paragraph("`filler`: the CoT replaced by length-matched \" ...\" tokens (x = filler length ÷ CoT "
                      "length); `partial_filler`: a share of the CoT's words replaced (x = percent)."),
            condition_table(rows)] \
        + context.curve("filler", "Filler tokens: accuracy.") \
        + context.curve("partial_filler", "Partial filler: % same answer as baseline.")


#: The "Filler tokens" section, shared with partial_filler: one table over both conditions.
FILLER_SECTION = Section(70, _report_section)

REPORT = ReportSpec(
    conditions=CONDITIONS, curve_x=(("filler", "length_fraction"),), binned_x=frozenset({"length_fraction"}),
    per_item_params=frozenset({"filler_tokens", "length_fraction"}),
    curves=(("filler", CurveSpec(("filler",), "accuracy", "accuracy_lo", "accuracy_hi",
                                 "Filler tokens: accuracy with the CoT replaced by \" ...\"",
                                 "Filler length (% of the CoT's token length)", "Accuracy (%)", x_scale=100)),),
    sections=(FILLER_SECTION,))
