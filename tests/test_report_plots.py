"""Drawing the report's figures (audiofaith/report/plots.py): ``save_tight`` writes the bytes that
matplotlib's own ``tight_layout(); savefig(bbox_inches="tight")`` writes, drawing each figure once
instead of twice."""

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
