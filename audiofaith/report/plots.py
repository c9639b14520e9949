"""Plots (matplotlib is imported lazily: the core stays importable without it).

A figure is decided and its data gathered in the report's process (``curve_job``: whether any row
has data, the noise floors, the legend's missing lines); the drawing itself is a ``PlotJob`` that the
report hands to the current plotter (``submit_plot``): drawn at once, or queued for the plot worker's
drawing processes (``audiofaith.report.plot_worker``) while the report goes on. Both draw with the same functions, so
the PNGs are the same bytes.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Protocol, Sequence, Tuple

from audiofaith.report.load import mode_of
from audiofaith.report.noise_floor import noise_floors
from audiofaith.report.render import _finite
from audiofaith.report.spec import CurveSpec
from audiofaith.report.stats import SummaryRow, _hop_rank, _subset_rank

log = logging.getLogger(__name__)

MODE_STYLE = {"regenerate": "-", "fixed_cot": "--"}
_PROMPT_LABEL = {"cot": "with CoT", "direct": "without CoT"}


@dataclass(frozen=True)
class PlotJob:
    """One PNG to draw: a drawing function of this module, its keyword arguments (small, picklable
    data: no open figure, no registry) and the file it writes. ``panels``, the figure's number of
    axes where its builder counts them (``curve_job``; else 1), is what drawing it costs grows with:
    the plot worker draws the figures with the most first."""

    draw: Callable[..., Any]
    arguments: Mapping[str, Any]
    path: Path
    panels: int = 1

    def render(self) -> None:
        """Draw the figure and write it to ``path``."""
        self.draw(path=self.path, **self.arguments)


class Plotter(Protocol):
    """Where the report's figures are drawn (``plot_worker.PlotWorker``: in processes of their own)."""

    def submit(self, job: PlotJob) -> None: ...


_CURRENT_PLOTTER: contextvars.ContextVar[Optional[Plotter]] = contextvars.ContextVar("audiofaith_plotter",
                                                                                     default=None)


@contextlib.contextmanager
def plotting_with(plotter: Plotter) -> Iterator[None]:
    """Hand every figure submitted inside the block to ``plotter`` instead of drawing it at once."""
    token = _CURRENT_PLOTTER.set(plotter)
    try:
        yield
    finally:
        _CURRENT_PLOTTER.reset(token)


def submit_plot(job: PlotJob) -> None:
    """Draw ``job`` with the current plotter (``plotting_with``), else here and now. The caller has
    already decided that the figure exists: its Image block may name ``job.path``."""
    plotter = _CURRENT_PLOTTER.get()
    if plotter is None:
        job.render()
    else:
        plotter.submit(job)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.spines.top": False,
                         "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3, "figure.dpi": 110})
    return plt


def model_colors(models: Sequence[str]) -> Dict[str, Any]:
    """One consistent colour per model (matplotlib's tab10 cycle, in sorted model order)."""
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    return {model: palette[index % len(palette)] for index, model in enumerate(sorted(models))}


def plot_accuracy_bars(table: Dict[Tuple[str, str], Dict[str, Dict[str, Dict[str, Any]]]], colors: Dict[str, Any],
                       path: Path, title: str = "SAKURA accuracy") -> None:
    """Accuracy per track and hop: bars per (model, prompt), 95 % CI whiskers, one panel per hop;
    ``title`` names the benchmark ("SAKURA accuracy")."""
    plt = _pyplot()
    series = sorted(table)  # (model, prompt)
    tracks = sorted({s for per_hop in table.values() for hop in per_hop.values() for s in hop}, key=_subset_rank)
    hops = sorted({hop for per_hop in table.values() for hop in per_hop}, key=_hop_rank)
    fig, axes = plt.subplots(1, len(hops), figsize=(5.5 * len(hops), 3.8), sharey=True, squeeze=False)
    width = 0.8 / max(len(series), 1)
    for ax, hop in zip(axes[0], hops):
        for index, (model, prompt) in enumerate(series):
            rows = table[(model, prompt)].get(hop, {})
            xs, ys, errs = [], [], [[], []]
            for position, track in enumerate(tracks):
                row = rows.get(track)
                if row is None or not _finite(row.accuracy):
                    continue
                xs.append(position + (index - (len(series) - 1) / 2) * width)
                ys.append(100 * row.accuracy)
                errs[0].append(100 * (row.accuracy - row.accuracy_lo))
                errs[1].append(100 * (row.accuracy_hi - row.accuracy))
            ax.bar(xs, ys, width * 0.92, yerr=errs, capsize=2, color=colors[model],
                   alpha=1.0 if prompt == "cot" else 0.45, hatch="" if prompt == "cot" else "//",
                   edgecolor="white" if prompt == "cot" else colors[model], label=f"{model} ({_PROMPT_LABEL[prompt]})")
        ax.set_xticks(range(len(tracks)), [t.capitalize() for t in tracks])
        ax.grid(False, axis="x")
        ax.set_title(f"{hop.capitalize()}-hop")
        ax.set_ylim(0, 100)
        ax.axhline(0, color="black", linewidth=0.5)
    axes[0][0].set_ylabel("Accuracy (%)")
    axes[0][-1].legend(*_unique_legend(axes), fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.suptitle(f"{title} with and without chain of thought (95 % bootstrap CI)")
    save_tight(fig, path)
    plt.close(fig)


def plot_curves(rows: Sequence[SummaryRow], spec: CurveSpec, colors: Dict[str, Any], path: Path) -> bool:
    """A track × hop grid of curves: one colour per model, one line style per variant, CI bands;
    drawn here and now (``curve_job`` for the figure as a job).

    Returns False (and writes nothing) when no row has data for the figure.
    """
    job = curve_job(rows, spec, colors, path)
    if job is None:
        return False
    job.render()
    return True


def curve_job(rows: Sequence[SummaryRow], spec: CurveSpec, colors: Dict[str, Any], path: Path) -> Optional[PlotJob]:
    """The curve figure of ``spec`` over ``rows`` as a job (``draw_curves`` on the rows it draws),
    or None when no row has data for it."""
    # the noise floors read every row (a curve without its own zero point takes the `full` rows')
    floors = {(f.model, f.subset, f.hop, f.condition, f.variant): f.floor for f in noise_floors(rows, spec)
              if f.floor is not None}
    candidates = [r for r in rows if r.condition in spec.conditions and r.x is not None]
    rows = [r for r in candidates if _finite(r.get(spec.metric))]
    if not rows:
        return None
    drawn = {(r.model, r.condition, r.variant) for r in rows}
    undrawn = sorted({(r.model, r.condition, r.variant) for r in candidates} - drawn)
    # name the variant when there are several, counting those that draw no line
    named = len({(condition, variant) for _, condition, variant in drawn | set(undrawn)}) > 1
    return PlotJob(draw_curves, {"rows": rows, "spec": spec, "colors": colors, "floors": floors, "undrawn": undrawn,
                                 "named": named}, path, panels=len({r.subset for r in rows}) * len({r.hop for r in rows}))


def draw_curves(rows: Sequence[SummaryRow], spec: CurveSpec, colors: Dict[str, Any],
                floors: Dict[Tuple[str, str, str, str, str], float], undrawn: List[Tuple[str, str, str]], named: bool,
                path: Path) -> None:
    """Draw the curve figure ``curve_job`` decided: ``rows`` are the rows with data, ``floors`` the
    noise floors by (model, subset, hop, condition, variant), ``undrawn`` the (model, condition,
    variant) series without a line, ``named`` whether labels name the variant."""
    plt = _pyplot()
    tracks = sorted({r.subset for r in rows}, key=_subset_rank)
    hops = sorted({r.hop for r in rows}, key=_hop_rank)
    fig, axes = plt.subplots(len(hops), len(tracks), figsize=(3.6 * len(tracks) + 1.8, 2.9 * len(hops)),
                             sharex=True, sharey=True, squeeze=False)
    variants = sorted({(r.condition, r.variant) for r in rows})
    styles = ["-", "--", ":", "-."]
    for (row_index, hop), (col_index, track) in ((h, t) for h in enumerate(hops) for t in enumerate(tracks)):
        ax = axes[row_index][col_index]
        for model in sorted({r.model for r in rows}):
            for variant_index, (condition, variant) in enumerate(variants):
                points = sorted((r for r in rows if (r.model, r.subset, r.hop, r.condition, r.variant)
                                 == (model, track, hop, condition, variant)), key=lambda r: r.x)
                if not points:
                    continue
                style = MODE_STYLE.get(mode_of(variant), styles[variant_index % len(styles)])
                x = [spec.x_scale * p.x for p in points]
                label = model + (f" · {_short_variant(condition, variant, spec)}" if named else "")
                ax.plot(x, [100 * p[spec.metric] for p in points], style, marker="o", markersize=3,
                        color=colors[model], label=label)
                ax.fill_between(x, [100 * p[spec.low] for p in points], [100 * p[spec.high] for p in points],
                                color=colors[model], alpha=0.15, linewidth=0)
                floor = floors.get((model, track, hop, condition, variant))
                if floor is not None:  # the noise floor: agreement with nothing changed (docs/report.md)
                    ax.axhline(100 * floor, linestyle=":", linewidth=1.2, color=colors[model],
                               label=f"{label}: no intervention")
        ax.set_title(f"{track.capitalize()} · {hop}-hop")
        ax.set_ylim(-2, 102)
        if spec.x_range is not None:  # the whole range the statistic uses, not only where points fall
            low, high = (spec.x_scale * bound for bound in spec.x_range)
            margin = 0.03 * (high - low)
            ax.set_xlim(low - margin, high + margin)
        if row_index == len(hops) - 1:
            ax.set_xlabel(spec.xlabel)
        if col_index == 0:
            ax.set_ylabel(spec.ylabel)
    if spec.invert_x:
        axes[0][0].invert_xaxis()  # the x axes are shared: inverting one inverts all
    handles, labels = _unique_legend(axes)
    for model, condition, variant in undrawn:  # say why a line the title or legend promises is not there
        name = model + (f" · {_short_variant(condition, variant, spec)}" if named else "")
        handles.append(plt.Line2D([], [], linestyle="none"))
        labels.append(f"{name}: no line, no {spec.ylabel} to draw (every answer null or no scored line)")
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    fig.suptitle(spec.title)
    save_tight(fig, path)
    plt.close(fig)


def save_tight(fig, path: Path) -> None:
    """Lay ``fig`` out with ``tight_layout`` and write it cropped to its tight bounding box: the PNG
    ``fig.tight_layout(); fig.savefig(path, bbox_inches="tight")`` writes, byte for byte, drawn once
    instead of twice.

    Asked for ``bbox_inches="tight"`` (or left with the layout engine ``tight_layout`` leaves behind),
    ``savefig`` first draws the whole figure without rendering it, only to measure it, then draws it
    again to render it. The figure's tight box measured right after ``tight_layout`` is the box that
    first draw measures (``tests/test_report_plots.py`` compares the bytes), so this measures it
    here, drops the layout engine (the layout is done) and hands ``savefig`` the box. Through these
    passes each axis computes its ticks once per change of their inputs (``remember_ticks``) and
    each text is measured once per process (``measure_text_once``), with the same bytes.
    """
    import matplotlib

    remember_ticks(fig)
    measure_text_once(fig)
    fig.tight_layout()
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    fig.set_layout_engine(None)
    fig.savefig(path, bbox_inches=box.padded(matplotlib.rcParams["savefig.pad_inches"]))


class TickMemo:
    """An axis' ticks computed once for as long as what they are computed from is unchanged
    (``remember_ticks``).

    matplotlib computes an axis' ticks (``Axis._update_ticks``: the locator's positions, the
    formatter's labels, the ticks moved and labelled, those within the view kept) each time
    anything measures or draws the axis: its tight box, its spines, its label's and its siblings'
    positions, the title's, the drawing itself; about 18 times per axis per figure, through the
    three passes of ``save_tight`` (``tight_layout``, the tight box, ``savefig``). Within a pass the
    inputs do not change, so every computation after the first gives the same ticks. This takes
    the place of the axis' ``_update_ticks`` (an attribute of the axis object alone: nothing else
    is patched) and computes again only when one of them changed: the view interval (those of the
    locator's and the formatter's axes too: shared axes share one of each, set on the first), the
    axes' boxes in pixels and the dpi (the locator's number of ticks follows its axis' length), the
    scale, the locator and formatter objects, the list of ticks.

    Only for the ticker matplotlib gives a linear axis: a ``MaxNLocator`` (``AutoLocator``) with a
    ``ScalarFormatter`` and no minor ticks, whose ticks depend on nothing else while the figure's
    tick parameters stay as they are (``save_tight`` changes none). A formatter may serve several
    axes: when another has set its positions since, they are set back to this axis' (what
    computing again would do) before the remembered ticks are returned.
    """

    def __init__(self, axis: Any, compute: Callable[[], list], locs_attribute: str) -> None:
        self._axis = axis
        self._compute = compute  # the class's own _update_ticks, bound to the axis
        self._locs_attribute = locs_attribute  # where the formatter keeps its tick positions
        self._values: Optional[tuple] = None
        self._objects: tuple = ()
        self._ticks: list = []
        self._locs: Any = None  # the positions the formatter was given by the last computation
        self.computed = 0  # computations (the rest were remembered)

    def _inputs(self) -> Tuple[tuple, tuple]:
        axis = self._axis
        major = axis.major
        # the locator's and the formatter's axis: the first of shared axes (the locator's length sets
        # the number of ticks); each axis read once (reading a view interval costs ~12 µs)
        read = (axis, major.locator.axis, major.formatter.axis)
        values: list = [axis.axes.figure.dpi, axis.get_scale()]
        for index, other in enumerate(read):
            if all(other is not earlier for earlier in read[:index]):
                values.extend((*other.get_view_interval(), *other.axes.bbox.bounds))
        return tuple(values), (major.locator, major.formatter, axis.minor.locator, axis.majorTicks, *read)

    def __call__(self) -> list:
        values, objects = self._inputs()
        if (values == self._values and len(objects) == len(self._objects)
                and all(now is then for now, then in zip(objects, self._objects))):
            formatter = self._axis.major.formatter
            if self._locs is not None and getattr(formatter, self._locs_attribute) is not self._locs:
                formatter.set_locs(self._locs)
            return list(self._ticks)
        formatter = self._axis.major.formatter
        before = getattr(formatter, self._locs_attribute)
        self._ticks = self._compute()
        after = getattr(formatter, self._locs_attribute)
        self._locs = after if after is not before else None  # None: the formatter was not asked
        self._values, self._objects = values, objects
        self.computed += 1
        return list(self._ticks)


def remember_ticks(fig) -> List[TickMemo]:
    """Give each axis of ``fig`` whose ticker ``TickMemo`` knows a ``TickMemo``: its ticks are
    computed once per change of what they are computed from instead of each time they are measured
    or drawn (-15 % of drawing CPU); the PNG bytes are the same (``tests/test_report_plots.py``).
    Returns the memos; none (and a debug line) when this matplotlib's ticks are not computed the way
    ``TickMemo`` relies on."""
    from matplotlib import axis as maxis
    from matplotlib import ticker

    compute = getattr(maxis.Axis, "_update_ticks", None)
    locs_attribute = next((name for name in ("_locs", "locs") if isinstance(getattr(ticker.ScalarFormatter, name, None),
                                                                           list)), None)
    try:
        parameters = list(inspect.signature(compute).parameters) if callable(compute) else None
    except (TypeError, ValueError):
        parameters = None
    if parameters != ["self"] or locs_attribute is None:
        log.debug("ticks computed each time: Axis._update_ticks %s, ScalarFormatter's positions in %s",
                  parameters, locs_attribute)
        return []
    memos = []
    for ax in fig.axes:
        for axis in (getattr(ax, "xaxis", None), getattr(ax, "yaxis", None)):
            if (axis is None or type(axis)._update_ticks is not compute or "_update_ticks" in vars(axis)
                    or type(axis.major.locator) not in (ticker.AutoLocator, ticker.MaxNLocator)
                    or type(axis.major.formatter) is not ticker.ScalarFormatter
                    or type(axis.minor.locator) is not ticker.NullLocator
                    or axis.major.locator.axis is None or axis.major.formatter.axis is None):
                continue
            memo = TickMemo(axis, axis._update_ticks, locs_attribute)
            axis._update_ticks = memo
            memos.append(memo)
    return memos


def _short_variant(condition: str, variant: str, spec: CurveSpec) -> str:
    text = variant.replace("mode=", "") or condition
    return f"{condition}: {text}" if len(spec.conditions) > 1 and variant else text


def _draws_something(handle) -> bool:
    """Whether a legend handle has anything on the plot (a line with a finite point, a bar)."""
    import numpy as np

    if hasattr(handle, "get_ydata"):
        return bool(np.isfinite(np.asarray(handle.get_ydata(), dtype=float)).any())
    patches = getattr(handle, "patches", None)
    return bool(patches) if patches is not None else True


def _unique_legend(axes) -> Tuple[list, list]:
    """One legend entry per label, only for series that draw something."""
    seen: Dict[str, Any] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if _draws_something(handle):
                seen.setdefault(label, handle)
    return list(seen.values()), list(seen.keys())


#: Text sizes measured by this process's Agg renderers (``measure_text_once``), by text, font,
#: font files, dpi and hinting.
_TEXT_SIZES: Dict[tuple, Tuple[float, float, float]] = {}


@functools.lru_cache(maxsize=None)
def _measuring_canvas_class() -> Optional[type]:
    """The canvas ``measure_text_once`` gives a figure (None, logged at debug, where this
    matplotlib does not find fonts the way its renderer relies on)."""
    from matplotlib import font_manager
    from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg

    find_fonts = getattr(font_manager.fontManager, "_find_fonts_by_props", None)
    if not callable(find_fonts):
        log.debug("text measured by each renderer: no FontManager._find_fonts_by_props")
        return None

    class SharedSizesRenderer(RendererAgg):
        """The Agg renderer, its non-mathtext text sizes shared with this process's other renderers."""

        def get_text_width_height_descent(self, s, prop, ismath):
            if ismath is not False:
                return super().get_text_width_height_descent(s, prop, ismath)
            import matplotlib

            key = (s, prop, tuple(find_fonts(prop)), self.dpi, matplotlib.rcParams.get("text.hinting"),
                   matplotlib.rcParams.get("text.hinting_factor"))
            size = _TEXT_SIZES.get(key)
            if size is None:
                size = super().get_text_width_height_descent(s, prop, ismath)
                _TEXT_SIZES[(s, prop.copy(), *key[2:])] = size  # a copy: the caller's may change
            return size

    class SharedSizesCanvas(FigureCanvasAgg):
        """The Agg canvas, its renderers ``SharedSizesRenderer``s."""

        def get_renderer(self):
            renderer = super().get_renderer()
            if type(renderer) is RendererAgg:
                renderer.__class__ = SharedSizesRenderer
            return renderer

    return SharedSizesCanvas


def measure_text_once(fig) -> bool:
    """Have ``fig``'s renderers share the sizes of the texts they measure with every renderer of
    this process: whether it does (only a figure on matplotlib's own Agg canvas).

    matplotlib keeps the sizes a renderer has measured (a tick label, a title, a legend entry) for
    that renderer only, and a figure makes two (``save_tight``: one to lay it out, one of the
    cropped size to draw it), so the same texts were measured again in each figure and pass. The
    Agg renderer's size of a text depends only on the text, its font properties and files, the dpi
    and the hinting, which the shared sizes are kept by; mathtext is measured each time. The
    canvas and its renderers change class (subclasses of matplotlib's, of this figure only):
    nothing else is patched, and the PNG bytes are the same (``tests/test_report_plots.py``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas_class = _measuring_canvas_class()
    if canvas_class is None or type(fig.canvas) is not FigureCanvasAgg:
        return False
    fig.canvas.__class__ = canvas_class
    return True
