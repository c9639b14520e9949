"""Table cells and tables that several report sections share (the report's own and the families')."""

from __future__ import annotations

import math
from typing import Any, Callable, List, Optional, Sequence

from audiofaith.report.render import Block, Heading, Paragraph, Table, _finite, pct, pct_ci, pvalue
from audiofaith.report.spec import SectionContext
from audiofaith.report.stats import AocRow, SummaryRow


def select_rows(rows: Sequence[SummaryRow], **where: Any) -> List[SummaryRow]:
    return [r for r in rows if all(getattr(r, k) == v for k, v in where.items())]


def location(row: SummaryRow) -> List[str]:
    return [row.model, row.subset, row.hop]


def condition_label(row: SummaryRow) -> str:
    """The row's condition, marked "(noise floor)" where it re-reads its own reference (``noise_floor``)."""
    return f"{row.condition} (noise floor)" if row.noise_floor else row.condition


def count_cell(value: Any) -> str:
    return "–" if value is None else str(value)


def agreement_cells(row: SummaryRow) -> List[str]:
    return [str(row.n_scored), str(row.n_null_reference), str(row.n_null_prediction),
            pct_ci(row.agree_rate_excl_null, row.agree_excl_null_lo, row.agree_excl_null_hi),
            pct_ci(row.agree_rate_null_as_disagree, row.agree_null_as_disagree_lo,
                   row.agree_null_as_disagree_hi)]


AGREEMENT_HEADERS = ["n scored", "null ref.", "null pred.", "agree excl. nulls % [CI]", "agree, null = disagree % [CI]"]


def paired_p_cell(row: SummaryRow) -> str:
    """``0.012 (0.048)``: the clip-level paired test's p-value, then Holm-adjusted within its family."""
    if row.paired_p is None or not _finite(row.paired_p):
        return "–"
    return f"{pvalue(row.paired_p)} ({pvalue(row.paired_p_holm)})"


def flip_cells(row: SummaryRow) -> List[str]:
    flips = f"{row.flip_cc} / {row.flip_ci} / {row.flip_ic} / {row.flip_ii}"
    delta = pct_ci(row.delta_accuracy, row.delta_lo, row.delta_hi)
    return [pct(row.reference_accuracy), pct(row.accuracy), delta, flips, paired_p_cell(row)]


FLIP_HEADERS = ["acc. baseline %", "acc. here %", "Δ acc. pts [CI]", "flips cc / ci / ic / ii", "p, clips (Holm)"]


def aoc_cell(row: AocRow) -> str:
    """``0.312 [0.250, 0.380]``; a dash with the reason where the AOC or its CI is undefined."""
    if math.isnan(row.aoc):
        return "– (no chain with two or more answered prefixes)"
    if math.isnan(row.aoc_lo):
        return f"{row.aoc:.3f} [– (CI needs 2+ chains)]"
    return f"{row.aoc:.3f} [{row.aoc_lo:.3f}, {row.aoc_hi:.3f}]"


def aoc_table(aocs: Sequence[AocRow], condition: str, variant_filter=None) -> Table:
    return Table(["model", "track", "hop", "variant", "AOC [CI]", "chains", "lengths n:chains", "ref. fallbacks",
                  "chains dropped (why)", "chains with a partial x range (lengths' ranges)"],
                 [[a.model, a.subset, a.hop, a.variant or "–", aoc_cell(a),
                   str(a.n_chains), a.lengths or "–", str(a.n_reference_fallback),
                   f"{a.n_chains_dropped} ({a.dropped})" if a.n_chains_dropped else "0",
                   f"{a.n_partial_chains} ({a.partial_lengths})" if a.partial_lengths else str(a.n_partial_chains)]
                  for a in aocs if a.condition == condition and (variant_filter is None or variant_filter(a.variant))])


def continued_of(variant: str) -> Optional[bool]:
    for part in variant.split(", "):
        if part.startswith("continued="):
            return part == "continued=True"
    return None


def condition_table(rows: Sequence[SummaryRow], with_flips: bool = True) -> Table:
    headers = ["model", "track", "hop", "condition", "variant", "x", "reference"] + AGREEMENT_HEADERS + \
        ["accuracy % [CI]"]
    headers += FLIP_HEADERS[2:] if with_flips else []
    body = []
    for r in rows:
        cells = location(r) + [r.condition, r.variant or "–", "–" if r.x is None else f"{r.x:g}",
                                r.reference_readout or "–"]
        cells += agreement_cells(r) if r.paired else [str(r.n_scored), "–", str(r.n_null_prediction), "–", "–"]
        cells.append(pct_ci(r.accuracy, r.accuracy_lo, r.accuracy_hi))
        if with_flips:
            cells += flip_cells(r)[2:] if r.paired else ["–", "–", "–"]
        body.append(cells)
    return Table(headers, body)


def override_cell(row: SummaryRow) -> str:
    value = row.agree_rate_excl_null
    return pct_ci(1 - value, 1 - row.agree_excl_null_hi, 1 - row.agree_excl_null_lo) if _finite(value) else "–"


#: Said after the AOC tables' introduction of every AOC condition.
AOC_NOTE = (" The AOC is the mean of per-chain AOCs: each chain's own curve, integrated over the x range its "
            "answers cover (a chain with failed rewrites or errors is averaged over what was measured: 'chains "
            "with a partial x range'), every chain weighing the same; chains that cannot enter the AOC are "
            "counted with the reason.")


def lanham_section(context: SectionContext, title: str, text: str, tables: Callable[[Sequence[AocRow]], List[Block]],
                   caption: str) -> List[Block]:
    """An AOC condition's section: heading, introduction, its AOC tables, then its curve (file key:
    the condition), or nothing when the condition has no AOC row."""
    aocs = [a for a in context.aocs if a.condition in context.conditions]
    if not aocs:
        return []
    blocks: List[Block] = [Heading(2, title), Paragraph(text + AOC_NOTE)] + tables(aocs)
    for condition in context.conditions:
        blocks += context.curve(condition, caption)
    return blocks
