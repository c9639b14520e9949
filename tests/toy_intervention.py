"""A throwaway intervention family for the "new intervention" recipe test (tests/test_report_recipe.py):
keep only the last share of the CoT's words. It is one module, registered by one line in
``audiofaith.interventions.KINDS`` (the test adds that line with monkeypatch), and it declares its
whole report here: condition, curve x-axis, a summary column, a curve and a section."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

from audiofaith.interventions import InterventionContext
from audiofaith.report.blocks import condition_table
from audiofaith.report.render import Heading, Paragraph
from audiofaith.report.spec import CurveSpec, ReportSpec, Section, SectionContext
from audiofaith.runners.variant import Variant

CONDITIONS = ("toy_keep_last",)
SHARES = (0.0, 0.5, 1.0)


def keep_last(reasoning: str, share: float) -> str:
    """The last ``share`` of the reasoning's words."""
    words = reasoning.split()
    return " ".join(words[len(words) - round(share * len(words)):]) if share else ""


def build_variants(context: InterventionContext) -> List[Variant]:
    return [Variant(item=item, run=run, condition="toy_keep_last", params={"share": share},
                    baseline_prediction=prediction, cot_source_model=record.model,
                    reasoning=keep_last(reasoning, share), extra={"words_kept": len(keep_last(reasoning, share).split())})
            for item, run, reasoning, prediction, record in context.runs() for share in SHARES]


def _summary_stats(scored: Sequence[Any]) -> Dict[str, Any]:
    return {"toy_lines_scored": len(scored)}


def _report_section(context: SectionContext) -> list:
    rows = context.own_rows()
    if not rows:
        return []
    return [Heading(2, "Toy: only the last words of the CoT"), Paragraph("A recipe test's family."),
            condition_table(rows)] + context.curve("toy_keep_last", "Toy: % same answer as baseline.")


REPORT = ReportSpec(
    conditions=CONDITIONS, curve_x=(("toy_keep_last", "share"),), summary_stats=_summary_stats,
    summary_columns=("toy_lines_scored",),
    curves=(("toy_keep_last", CurveSpec(CONDITIONS, "agree_rate_excl_null", "agree_excl_null_lo", "agree_excl_null_hi",
                                        "Toy: answer after the last words of the CoT", "% of words kept",
                                        "% same answer as baseline", x_scale=100)),),
    sections=(Section(75, _report_section),))
