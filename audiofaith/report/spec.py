"""What the report knows about each condition, declared by the code that writes it.

Every intervention family (``audiofaith/interventions/<family>.py``) and the conditioned step
(``audiofaith/runners/conditioned.py``, condition ``full``) has a ``REPORT = ReportSpec(...)``:
its conditions, the parameter on a curve's x-axis, the parameters that describe one item rather
than a setting, the AOC step, its plots and its report sections. The report reads them through
``spec_index()`` (the registry in ``audiofaith.interventions``) and names no family itself.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from audiofaith.report.rows import AocRow, Dataset, Line, Settings, SummaryRow


@dataclass(frozen=True)
class CurveSpec:
    """What one curve figure shows: which summary rows, which statistic, and the labels."""

    conditions: Tuple[str, ...]
    metric: str  # a summary column; its CI columns are given below
    low: str
    high: str
    title: str
    xlabel: str
    ylabel: str
    x_scale: float = 1.0  # 100 turns a 0–1 fraction into percent
    invert_x: bool = False
    #: the x range (before x_scale) every panel shows, e.g. (0, 1): all of what an AOC integrates over
    x_range: Optional[Tuple[float, float]] = None


@dataclass(frozen=True)
class SectionContext:
    """What a section builder gets: one benchmark's summary and AOC rows, its lines, and where plots go."""

    rows: Sequence["SummaryRow"]  # every summary row of the benchmark
    aocs: Sequence["AocRow"]
    dataset: "Dataset"  # the benchmark's lines only
    colors: Dict[str, Any]
    plot_dir: Path
    settings: "Settings"
    conditions: Tuple[str, ...] = ()  # the conditions of the specs that share the section being built

    def own_rows(self) -> List["SummaryRow"]:
        """The summary rows of this section's conditions, in summary order."""
        return [row for row in self.rows if row.condition in self.conditions]

    def curve(self, key: str, caption: str) -> list:
        """The figure of curve ``key`` (declared in some spec's ``curves``) as an Image block, or
        nothing when no row has data for it; written to ``<plot_dir>/<key>.png`` by the current
        plotter (``plots.submit_plot``: at once, or by the plot worker)."""
        from audiofaith.report.plots import curve_job, submit_plot
        from audiofaith.report.render import Image

        path = self.plot_dir / f"{key}.png"
        job = curve_job(self.rows, spec_index().curves[key], self.colors, path)
        if job is None:
            return []
        submit_plot(job)
        return [Image(path, caption)]


@dataclass(frozen=True)
class Section:
    """One part of a benchmark's report. ``order`` places it among the others (the report's own:
    accuracy 0, CoT vs direct 10, finish reasons 30, read-out ties 35, rewrites 55, paired tests
    1000); specs that share a Section object get one section over all their conditions."""

    order: int
    build: Callable[[SectionContext], list]


@dataclass(frozen=True)
class ReportSpec:
    """How the report treats the conditions one module writes (docs/conditions.md)."""

    conditions: Tuple[str, ...]
    #: (condition, parameter) pairs: the parameter on the condition's curve x-axis.
    curve_x: Tuple[Tuple[str, str], ...] = ()
    #: x parameters that vary per chain (k/n): binned to tenths in summary rows, no n_missing there.
    binned_x: FrozenSet[str] = frozenset()
    #: Parameters and results that describe one item or chain rather than a setting: never a variant.
    per_item_params: FrozenSet[str] = frozenset()
    #: Lanham's AOC over the chain: the parameter that counts the sentences kept / before the edit.
    aoc_step: Optional[str] = None
    #: The untouched chain is the AOC's x = 1 point (same answer by definition; adding mistakes).
    aoc_untouched_end: bool = False
    #: Its answer is the reference of the AOC (Lanham's full-CoT answer for the same id and run).
    aoc_reference: bool = False
    #: A rewriter model edited the CoT: lines whose rewrite came back unchanged are excluded.
    rewritten: bool = False
    #: Result fields of a line that the report's statistics read (``Line.result``).
    result_fields: Tuple[str, ...] = ()
    #: Extra text for a line's variant from its record (e.g. kept-apart swap labels), or "".
    variant_suffix: Optional[Callable[[Any], str]] = None
    #: Extra summary columns computed from a group's scored lines (e.g. the hint's switch rates).
    summary_stats: Optional[Callable[[Sequence["Line"]], Dict[str, Any]]] = None
    #: Columns the family adds to summary.csv (after the common ones), filled by ``summary_stats``.
    summary_columns: Tuple[str, ...] = ()
    #: Called with the loaded lines' columns after the joins (every ``Line`` field by name, one list
    #: each, index-aligned): fills in the ``result`` dicts of the family's lines from other lines
    #: (e.g. the hint's no-hint control answer), for ``summary_stats`` to read.
    cross_reference: Optional[Callable[[Mapping[str, Sequence[Any]]], None]] = None
    #: (condition, x) pairs: the curve point where nothing is changed (0 % replaced, 100 % of the CoT
    #: kept). Its agreement with the baseline is the curve's noise floor (docs/report.md); a curve
    #: without one takes the ``full`` condition's.
    zero_x: Tuple[Tuple[str, float], ...] = ()
    #: Conditions that also get pooled summary rows: hop ``all`` (both hops), and subset ``all``
    #: (every subset) in benchmarks without hops, as the published study's curves pool them.
    pooled: Tuple[str, ...] = ()
    #: (file key, curve) pairs: each a figure ``<key>.png`` that a section draws with ``ctx.curve``.
    curves: Tuple[Tuple[str, CurveSpec], ...] = ()
    sections: Tuple[Section, ...] = ()


@dataclass(frozen=True)
class SpecIndex:
    """Every registered ReportSpec, looked up by condition."""

    specs: Tuple[ReportSpec, ...]
    by_condition: Dict[str, ReportSpec] = field(default_factory=dict)
    curve_x: Dict[str, str] = field(default_factory=dict)
    binned_x: FrozenSet[str] = frozenset()
    per_item_params: FrozenSet[str] = frozenset()
    curves: Dict[str, CurveSpec] = field(default_factory=dict)
    zero_x: Dict[str, float] = field(default_factory=dict)
    pooled: FrozenSet[str] = frozenset()

    @classmethod
    def of(cls, specs: Sequence[ReportSpec]) -> "SpecIndex":
        by_condition: Dict[str, ReportSpec] = {}
        curves: Dict[str, CurveSpec] = {}
        for spec in specs:
            for condition in spec.conditions:
                if condition in by_condition:
                    raise ValueError(f"condition {condition!r} is declared by two report specs")
                by_condition[condition] = spec
            for key, curve in spec.curves:
                if key in curves:
                    raise ValueError(f"curve {key!r} is declared by two report specs")
                curves[key] = curve
        return cls(tuple(specs), by_condition,
                   {condition: name for spec in specs for condition, name in spec.curve_x},
                   frozenset().union(*(spec.binned_x for spec in specs)),
                   frozenset().union(*(spec.per_item_params for spec in specs)), curves,
                   {condition: x for spec in specs for condition, x in spec.zero_x},
                   frozenset(condition for spec in specs for condition in spec.pooled))

    def spec(self, condition: str) -> ReportSpec:
        """The condition's spec; a condition nobody declares (another tool's) gets an empty one."""
        return self.by_condition.get(condition) or ReportSpec(conditions=(condition,))

    def aoc_step(self, condition: str) -> Optional[str]:
        return self.spec(condition).aoc_step

    def aoc_steps(self) -> Dict[str, str]:
        """Condition → its AOC step, for the declared conditions that have one (what ``aoc_step`` gives
        as one dict look-up per line; an undeclared condition has none)."""
        return {condition: spec.aoc_step for condition, spec in self.by_condition.items() if spec.aoc_step is not None}

    def flagged(self, name: str) -> FrozenSet[str]:
        """The declared conditions whose spec's boolean ``name`` (``aoc_reference``, ``rewritten``) is
        true (an undeclared condition's empty spec has none)."""
        return frozenset(condition for condition, spec in self.by_condition.items() if getattr(spec, name))

    def sections(self) -> List[Tuple[Section, Tuple[str, ...]]]:
        """Each distinct section with the conditions of every spec that shares it, in order."""
        found: Dict[int, Tuple[Section, List[str]]] = {}
        for spec in self.specs:
            for section in spec.sections:
                found.setdefault(id(section), (section, []))[1].extend(spec.conditions)
        ordered = sorted(enumerate(found.values()), key=lambda pair: (pair[1][0].order, pair[0]))
        return [(section, tuple(conditions)) for _, (section, conditions) in ordered]

    def section_blocks(self, context: SectionContext,
                       where: Callable[[Tuple[str, ...]], bool] = lambda conditions: True) -> list:
        """The blocks of every section whose conditions satisfy ``where``, in order."""
        blocks: list = []
        for section, conditions in self.sections():
            if where(conditions):
                blocks += section.build(replace(context, conditions=conditions))
        return blocks


@functools.lru_cache(maxsize=8)
def _index(modules: Tuple[str, ...]) -> SpecIndex:
    from audiofaith import interventions

    return SpecIndex.of(interventions.report_specs(modules))


def spec_index() -> SpecIndex:
    """The specs of the conditioned step and of every registered intervention family (``KINDS``)."""
    from audiofaith import interventions

    return _index(interventions.report_modules())
