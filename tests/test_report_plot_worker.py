"""The plot worker (audiofaith/report/plot_worker.py): its PNGs are the bytes inline drawing writes,
the report waits for it, and a figure it fails to draw (or does not write) fails the report with the
figure's path and the worker's traceback, never a report with a missing image."""

from __future__ import annotations

import logging
import os.path
from pathlib import Path
from typing import Dict

import pytest

from audiofaith import report
from audiofaith.checkpoints.synthetic_outputs import write_synthetic_outputs
from audiofaith.report import cli, plots
from audiofaith.report.load import ReportError
from audiofaith.report.plot_worker import PlotWorker
from audiofaith.report.plots import PlotJob

SETTINGS = report.Settings(n_resamples=50, seed=7)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """The golden report's inputs (tests/test_report_scale.py): every line kind, two models."""
    tmp = tmp_path_factory.mktemp("plot_worker")
    write_synthetic_outputs(tmp / "output", n_clips=8, runs=2, seed=3, manifest_dir=tmp / "manifests")
    return tmp


def _files(folder: Path) -> Dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


class _NoWorker:
    def __init__(self) -> None:
        raise AssertionError("no plot worker may be started here")


def test_the_worker_draws_the_bytes_inline_drawing_writes(outputs):
    worker_out, inline_out = outputs / "worker", outputs / "inline"
    report.write_report(outputs / "output", worker_out, outputs / "manifests", SETTINGS, plot_worker=True)
    report.write_report(outputs / "output", inline_out, outputs / "manifests", SETTINGS, plot_worker=False)
    drawn, inline = _files(worker_out), _files(inline_out)
    pngs = sorted(name for name in inline if name.endswith(".png"))
    assert len(pngs) >= 8 and sorted(name for name in drawn if name.endswith(".png")) == pngs
    for name in pngs:
        assert drawn[name] == inline[name], name
    for name in ("report.md", "report.html", "summary.csv", "per_item.csv"):
        assert drawn[name].replace(bytes(worker_out), bytes(inline_out)) == inline[name], name
    text = (worker_out / "report.md").read_text(encoding="utf-8")
    assert all(f"]({name})" in text for name in pngs)  # report.md names every PNG the worker wrote


def test_no_plot_worker_draws_in_the_report_process(outputs, monkeypatch):
    monkeypatch.setattr(cli, "PlotWorker", _NoWorker)
    assert cli.parser().parse_args(["out", "--no-plot_worker"]).plot_worker is False
    assert cli.parser().parse_args(["out"]).plot_worker is True
    out = outputs / "no_worker"
    assert report.main([str(outputs / "output"), "--out", str(out), "--manifest_dir", str(outputs / "manifests"),
                        "--n_resamples", "20", "--no-plot_worker", "--log_level", "warning"]) == 0
    assert (out / "plots" / "sakura_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_figure_the_worker_fails_to_draw_fails_the_report(outputs, monkeypatch, caplog):
    real_curve_job = plots.curve_job

    def without_colors(rows, spec, colors, path):  # the worker's draw_curves finds no colour for the model
        job = real_curve_job(rows, spec, colors, path)
        return job if job is None or path.name != "early_answering.png" else \
            PlotJob(job.draw, {**job.arguments, "colors": {}}, job.path)

    monkeypatch.setattr(plots, "curve_job", without_colors)
    out = outputs / "failing"
    with caplog.at_level(logging.ERROR, logger="audiofaith.report"):
        code = report.main([str(outputs / "output"), "--out", str(out), "--manifest_dir", str(outputs / "manifests"),
                            "--n_resamples", "20", "--log_level", "warning"])
    assert code == 2
    message = caplog.text
    assert f"drawing {out / 'plots' / 'early_answering.png'} failed" in message
    assert "Traceback" in message and "KeyError" in message and "draw_curves" in message
    assert not (out / "report.md").exists() and not (out / "report.html").exists()


def test_a_png_the_worker_does_not_write_fails_the_report(tmp_path):
    worker = PlotWorker()
    try:
        worker.submit(PlotJob(os.path.exists, {}, tmp_path / "drawn.png"))  # "draws" by looking: writes nothing
        with pytest.raises(ReportError, match="without writing .*drawn.png"):
            worker.finish()
    finally:
        worker.close()


def test_a_worker_that_cannot_start_fails_the_report(tmp_path, monkeypatch):
    monkeypatch.setattr("audiofaith.report.plot_worker.WORKER_COMMAND", "import sys; sys.exit('no matplotlib here')")
    worker = PlotWorker()
    try:
        with pytest.raises(ReportError, match="no matplotlib here"):
            for index in range(200):  # the pipe breaks once the worker has gone; finish reports it either way
                worker.submit(PlotJob(os.path.exists, {"unused": "x" * 10_000}, tmp_path / f"{index}.png"))
            worker.finish()
    finally:
        worker.close()


def test_without_matplotlib_the_first_figure_fails_as_before(outputs, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # import matplotlib raises ImportError
    monkeypatch.setattr(cli, "PlotWorker", _NoWorker)
    with pytest.raises(ImportError, match="matplotlib"):
        report.write_report(outputs / "output", outputs / "no_matplotlib", outputs / "manifests", SETTINGS)
    assert not (outputs / "no_matplotlib" / "report.md").exists()
