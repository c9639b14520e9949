"""Drawing the report's figures (audiofaith/report/plots.py): ``save_tight`` writes the bytes that
matplotlib's own ``tight_layout(); savefig(bbox_inches="tight")`` writes, drawing each figure once
instead of twice, computing each axis' ticks once per pass (``TickMemo``) and measuring each text
once per process (``measure_text_once``)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

from audiofaith import report
from audiofaith.report import plots

SETTINGS = report.Settings(n_resamples=50, seed=7)


def _pngs(folder: Path) -> Dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*.png"))}


def _matplotlib_tight(fig, path: Path) -> None:
    """What the figures were saved with before ``save_tight``: matplotlib's tight layout and box."""
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")


def test_save_tight_writes_the_bytes_of_matplotlibs_tight_box(golden_report_inputs, monkeypatch):
    report.write_report(golden_report_inputs / "output", golden_report_inputs / "saved_tight", golden_report_inputs / "manifests", SETTINGS,
                        plot_worker=False)
    with monkeypatch.context() as patched:
        patched.setattr(plots, "save_tight", _matplotlib_tight)
        report.write_report(golden_report_inputs / "output", golden_report_inputs / "matplotlib_tight", golden_report_inputs / "manifests", SETTINGS,
                            plot_worker=False)
    saved, reference = _pngs(golden_report_inputs / "saved_tight"), _pngs(golden_report_inputs / "matplotlib_tight")
    assert len(reference) >= 8 and sorted(saved) == sorted(reference)
    assert [name for name in reference if saved[name] != reference[name]] == []


def test_each_figure_is_drawn_once(golden_report_inputs, monkeypatch):
    import matplotlib.figure

    draws: List[int] = []
    original = matplotlib.figure.Figure.draw
    monkeypatch.setattr(matplotlib.figure.Figure, "draw",
                        lambda self, renderer: draws.append(id(self)) or original(self, renderer))
    report.write_report(golden_report_inputs / "output", golden_report_inputs / "counted", golden_report_inputs / "manifests", SETTINGS, plot_worker=False)
    figures = len(_pngs(golden_report_inputs / "counted"))
    assert figures >= 8
    assert len(draws) == figures  # savefig's "tight" box alone drew each figure a second time


def test_a_curve_job_counts_the_panels_its_figure_draws(golden_report_inputs, monkeypatch):
    jobs: List[plots.PlotJob] = []
    axes: Dict[Path, int] = {}

    class Recording:
        def submit(self, job: plots.PlotJob) -> None:
            jobs.append(job)
            job.render()

    def counting(fig, path: Path) -> None:
        axes[path] = len(fig.axes)
        _matplotlib_tight(fig, path)

    monkeypatch.setattr(plots, "save_tight", counting)
    with plots.plotting_with(Recording()):
        report.write_report(golden_report_inputs / "output", golden_report_inputs / "panels", golden_report_inputs / "manifests", SETTINGS, plot_worker=False)
    curves = [job for job in jobs if job.draw is plots.draw_curves]
    assert len(curves) >= 7 and max(job.panels for job in curves) > 1
    assert [job.panels for job in curves] == [axes[job.path] for job in curves]


def test_each_axis_computes_its_ticks_once_per_pass(golden_report_inputs, monkeypatch):
    """save_tight's three passes (tight_layout, the tight box, savefig) compute an axis' ticks once
    each (plots.TickMemo); matplotlib alone computed them about 18 times per axis."""
    import matplotlib.ticker

    axes: List[int] = []
    located: List[int] = []
    original_save, original_locate = plots.save_tight, matplotlib.ticker.MaxNLocator.__call__

    def counting_save(fig, path: Path) -> None:
        axes.append(sum(type(axis.major.locator) is matplotlib.ticker.AutoLocator
                        for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)))
        original_save(fig, path)

    monkeypatch.setattr(plots, "save_tight", counting_save)
    monkeypatch.setattr(matplotlib.ticker.MaxNLocator, "__call__", lambda self: located.append(1) or original_locate(self))
    report.write_report(golden_report_inputs / "output", golden_report_inputs / "ticked", golden_report_inputs / "manifests",
                        SETTINGS, plot_worker=False)
    assert len(axes) >= 8 and sum(axes) >= 40
    assert 0 < len(located) <= 3 * sum(axes)


def _awkward_figure(plt):
    """Shared axes of different lengths (their locators give different ticks, and they share one
    formatter, with an offset), an inverted shared axis, a legend outside, a suptitle."""
    fig, axes = plt.subplots(2, 2, sharex=True, sharey=True, figsize=(6.5, 6.0),
                             gridspec_kw={"height_ratios": [6, 1], "width_ratios": [1, 2.5]}, squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.plot([0.5, 7.5, 19.0], [1e6 + index, 1e6 + 4.5, 1e6 + 0.25], marker="o", label=f"series {index}")
        ax.set_title(f"panel {index}")
    axes[0][0].invert_xaxis()
    axes[1][0].set_xlabel("x (s)")
    axes[1][0].set_ylabel("y")
    fig.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    fig.suptitle("an awkward figure")
    return fig


def _one_formatter_figure(plt):
    """Two axes of different lengths, not shared, with one formatter: each sets its own positions."""
    import matplotlib.ticker

    fig, (tall, short) = plt.subplots(2, 1, figsize=(4.0, 6.0), gridspec_kw={"height_ratios": [6, 1]})
    formatter = matplotlib.ticker.ScalarFormatter()
    for ax in (tall, short):
        ax.plot([0, 1, 2], [2e6 + 0.5, 2e6 + 7.25, 2e6 + 3.0])
        ax.yaxis.set_major_formatter(formatter)
    return fig


def test_remembered_ticks_draw_matplotlibs_bytes_on_an_awkward_figure(tmp_path, monkeypatch):
    plt = plots._pyplot()
    remembered, plain = tmp_path / "remembered.png", tmp_path / "plain.png"
    memos: List[plots.TickMemo] = []
    original = plots.remember_ticks
    monkeypatch.setattr(plots, "remember_ticks", lambda fig: memos.extend(original(fig)) or memos)
    fig = _awkward_figure(plt)
    plots.save_tight(fig, remembered)
    plt.close(fig)
    assert len(memos) == 8 and all(1 <= memo.computed <= 3 for memo in memos)
    fig = _awkward_figure(plt)
    _matplotlib_tight(fig, plain)
    plt.close(fig)
    assert remembered.read_bytes() == plain.read_bytes()


def test_remembered_ticks_set_a_formatter_two_axes_use_back_to_each_axis_positions(tmp_path):
    import numpy as np

    plt = plots._pyplot()
    fig = _one_formatter_figure(plt)
    tall, short = fig.axes
    formatter = tall.yaxis.get_major_formatter()
    memos = plots.remember_ticks(fig)
    assert len(memos) == 4 and short.yaxis.get_major_formatter() is formatter
    tall_ticks = [tick.get_loc() for tick in tall.yaxis._update_ticks()]
    tall_offset = formatter.get_offset()
    short_ticks = [tick.get_loc() for tick in short.yaxis._update_ticks()]
    assert tall_ticks != short_ticks and not np.array_equal(tall.yaxis.get_majorticklocs(),
                                                            short.yaxis.get_majorticklocs())
    assert not np.array_equal(getattr(formatter, "_locs"), tall.yaxis.get_majorticklocs())
    assert [tick.get_loc() for tick in tall.yaxis._update_ticks()] == tall_ticks  # remembered
    assert np.array_equal(getattr(formatter, "_locs"), tall.yaxis.get_majorticklocs())  # set back
    assert formatter.get_offset() == tall_offset
    assert [memo.computed for memo in memos] == [0, 1, 0, 1]
    plots.save_tight(fig, tmp_path / "remembered.png")
    plt.close(fig)
    fig = _one_formatter_figure(plt)
    _matplotlib_tight(fig, tmp_path / "plain.png")
    plt.close(fig)
    assert (tmp_path / "remembered.png").read_bytes() == (tmp_path / "plain.png").read_bytes()


def test_ticks_are_computed_each_time_when_matplotlibs_tick_update_is_not_the_one_known(tmp_path, monkeypatch, caplog):
    import logging

    import matplotlib.axis

    plt = plots._pyplot()
    fig = _awkward_figure(plt)
    plots.save_tight(fig, tmp_path / "remembered.png")
    plt.close(fig)
    original = matplotlib.axis.Axis._update_ticks
    monkeypatch.setattr(matplotlib.axis.Axis, "_update_ticks", lambda self, which="both": original(self))
    fig = _awkward_figure(plt)
    with caplog.at_level(logging.DEBUG, logger="audiofaith.report.plots"):
        assert plots.remember_ticks(fig) == []
        plots.save_tight(fig, tmp_path / "plain.png")
    plt.close(fig)
    assert "ticks computed each time" in caplog.text
    assert (tmp_path / "remembered.png").read_bytes() == (tmp_path / "plain.png").read_bytes()


def test_a_text_is_measured_once_per_process(tmp_path, monkeypatch):
    """matplotlib measured each text again for each renderer: twice per figure, in every figure."""
    from matplotlib.backends.backend_agg import RendererAgg

    plt = plots._pyplot()
    measured: List[str] = []
    original = RendererAgg.get_text_width_height_descent
    monkeypatch.setattr(RendererAgg, "get_text_width_height_descent",
                        lambda self, s, prop, ismath: measured.append(s) or original(self, s, prop, ismath))
    monkeypatch.setattr(plots, "_TEXT_SIZES", {})
    fig = _awkward_figure(plt)
    plots.save_tight(fig, tmp_path / "first.png")
    plt.close(fig)
    first = len(measured)
    assert first >= 10 and len(set(measured)) == first  # the laid out and the cropped renderers share them
    fig = _awkward_figure(plt)
    plots.save_tight(fig, tmp_path / "second.png")
    plt.close(fig)
    assert len(measured) == first  # all known from the first figure
    assert (tmp_path / "first.png").read_bytes() == (tmp_path / "second.png").read_bytes()


def test_text_is_measured_by_each_renderer_where_matplotlib_finds_fonts_otherwise(monkeypatch, caplog):
    import logging

    import matplotlib.font_manager
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    plt = plots._pyplot()
    monkeypatch.delattr(matplotlib.font_manager.FontManager, "_find_fonts_by_props")
    plots._measuring_canvas_class.cache_clear()
    try:
        fig = _awkward_figure(plt)
        with caplog.at_level(logging.DEBUG, logger="audiofaith.report.plots"):
            assert not plots.measure_text_once(fig)
        assert type(fig.canvas) is FigureCanvasAgg and "text measured by each renderer" in caplog.text
        plt.close(fig)
    finally:
        monkeypatch.undo()
        plots._measuring_canvas_class.cache_clear()
    fig = _awkward_figure(plt)
    assert plots.measure_text_once(fig) and type(fig.canvas) is not FigureCanvasAgg
    plt.close(fig)
