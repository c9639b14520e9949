"""The noise floor of every agreement curve: how often the answer stays the same when nothing is
changed, only asked again. A curve's drop means something only below it.

A curve's floor is its own point where nothing is changed (``ReportSpec.zero_x``: 0 % of the words
replaced, 100 % of the CoT provided), else the ``full`` condition of the same model, track and hop
(the model's own CoT injected unchanged). Curves with neither (the published study's audio masking
has no unmasked rerun) show none, and the table says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from audiofaith.report.render import Block, Heading, Paragraph, Table, _finite, pct
from audiofaith.report.spec import CurveSpec, SectionContext, spec_index
from audiofaith.report.stats import SummaryRow, _hop_rank, _subset_rank

#: Curve metrics that are an agreement with the baseline's letter; a floor is drawn on these.
AGREEMENT_METRICS = ("agree_rate_excl_null", "agree_rate_null_as_disagree")
NOT_MEASURED = "not measured (no point without the intervention, no `full` run)"


@dataclass(frozen=True)
class NoiseFloor:
    """One curve (a series of summary rows) beside its agreement with nothing changed."""

    dataset: str
    model: str
    subset: str
    hop: str
    condition: str
    variant: str
    metric: str  # the agreement column both numbers are read from
    source: str  # where the floor comes from ("x = 0", "`full`") or NOT_MEASURED
    floor: Optional[float]
    n_floor: Optional[int]
    strongest_x: Optional[float]  # the curve's point farthest from no intervention
    strongest: Optional[float]

    @property
    def key(self) -> Tuple[str, str, str, str, str, str]:
        return (self.dataset, self.model, self.subset, self.hop, self.condition, self.variant)


def floor_metric(curve: CurveSpec) -> Optional[str]:
    """The agreement column of a curve's floor: its own metric when that is an agreement with the
    baseline, the excl.-nulls agreement for Lanham's same-as-full curves, none for accuracy curves."""
    if curve.metric in AGREEMENT_METRICS:
        return curve.metric
    return "agree_rate_excl_null" if curve.metric == "same_as_full_rate" else None


def noise_floors(rows: Sequence[SummaryRow], curve: CurveSpec) -> List[NoiseFloor]:
    """The floor of every series of ``curve`` among ``rows`` (empty for accuracy curves)."""
    metric = floor_metric(curve)
    if metric is None:
        return []
    index = spec_index()
    series: Dict[Tuple[str, ...], List[SummaryRow]] = {}
    for row in rows:
        if row.condition in curve.conditions and row.x is not None:
            series.setdefault((row.dataset, row.model, row.subset, row.hop, row.condition, row.variant), []).append(row)
    # the conditioned step's rows (the spec whose answer is the full-CoT reference), own CoT only
    full = {(r.dataset, r.model, r.subset, r.hop): r for r in rows
            if index.spec(r.condition).aoc_reference and not r.variant}
    floors = []
    for key in sorted(series, key=lambda k: (k[0], k[1], _subset_rank(k[2]), _hop_rank(k[3]), k[4], k[5])):
        points = sorted(series[key], key=lambda r: r.x)
        zero = index.zero_x.get(key[4])
        at_zero = [r for r in points if zero is not None and r.x == zero]
        if at_zero:
            source, reference = f"x = {zero:g} (nothing changed)", at_zero[0]
        elif key[:4] in full:
            source, reference = "`full` (own CoT, unchanged)", full[key[:4]]
        else:
            source, reference = NOT_MEASURED, None
        if zero is not None:
            strongest = max(points, key=lambda r: abs(r.x - zero))
        else:
            strongest = points[0] if curve.invert_x else points[-1]
        value = reference.get(metric) if reference is not None else None
        floors.append(NoiseFloor(*key, metric=metric, source=source,
                                 floor=value if value is not None and _finite(value) else None,
                                 n_floor=reference.n_scored if reference is not None else None,
                                 strongest_x=strongest.x, strongest=strongest.get(metric)))
    return floors


def all_noise_floors(rows: Sequence[SummaryRow]) -> List[Tuple[str, CurveSpec, NoiseFloor]]:
    """(curve key, curve, floor) for every series of every registered agreement curve."""
    return [(key, curve, floor) for key, curve in spec_index().curves.items() for floor in noise_floors(rows, curve)]


#: noise_floor.csv: one row per curve series; x in the curve's own unit (summary.csv's x).
NOISE_FLOOR_COLUMNS = ["dataset", "model", "subset", "hop", "condition", "variant", "curve", "metric", "source",
                       "floor", "n_floor", "strongest_x", "strongest"]


def noise_floor_rows(rows: Sequence[SummaryRow]) -> List[Dict[str, object]]:
    """noise_floor.csv's rows."""
    return [{"dataset": f.dataset, "model": f.model, "subset": f.subset, "hop": f.hop, "condition": f.condition,
             "variant": f.variant, "curve": key, "metric": f.metric, "source": f.source, "floor": f.floor,
             "n_floor": f.n_floor, "strongest_x": f.strongest_x, "strongest": f.strongest}
            for key, _, f in all_noise_floors(rows)]


def _x_cell(x: Optional[float], curve: CurveSpec) -> str:
    return "–" if x is None else f"{curve.x_scale * x:g}"


def section_noise_floor(context: SectionContext) -> List[Block]:
    """Every agreement curve of the benchmark beside its noise floor."""
    body = []
    for _, curve, floor in all_noise_floors(context.rows):
        change = floor.strongest - floor.floor if floor.floor is not None and _finite(floor.strongest) else None
        body.append([floor.model, floor.subset, floor.hop, floor.condition, floor.variant or "–", floor.metric,
                     floor.source, pct(floor.floor) if floor.floor is not None else "–",
                     "–" if floor.n_floor is None else str(floor.n_floor), _x_cell(floor.strongest_x, curve),
                     pct(floor.strongest), "–" if change is None else f"{100 * change:+.1f}"])
    if not body:
        return []
    return [Heading(2, "Noise floor: the same answer with nothing changed"),
            Paragraph("Asking again changes some answers even when nothing is edited. Per curve: its agreement with "
                      "the baseline letter where nothing is changed (the curve's own point at 0 % replaced or 100 % "
                      "of the CoT provided; else the `full` condition, the model's own CoT injected unchanged), "
                      "then the agreement at the curve's strongest intervention and the change between them. Only "
                      "the change beyond the floor is the intervention's effect. The plots draw the floor as a "
                      "dotted line. x in the curve's plotted unit (percent)."),
            Table(["model", "track", "hop", "condition", "variant", "statistic", "no intervention", "floor %", "n",
                   "strongest x", "at strongest x %", "change (pts)"], body)]
