"""The plot worker (audiofaith/report/plot_worker.py): its PNGs are the bytes inline drawing writes,
whoever draws them (the worker, the processes it forks, the report's own process), the report waits
for it, and a figure that fails to be drawn (or is not written), or a drawing process that ends while
it holds a figure, fails the report with the figure's path and the traceback, never a report with a
missing image, and never by waiting for ever."""

from __future__ import annotations

import atexit
import functools
import logging
import os
import os.path
import signal
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from audiofaith import report
from audiofaith.report import cli, plots
from audiofaith.report.load import ReportError
from audiofaith.report.plot_worker import PlotWorker
from audiofaith.report.plots import PlotJob

SETTINGS = report.Settings(n_resamples=50, seed=7)


def _files(folder: Path) -> Dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


class _NoWorker:
    def __init__(self) -> None:
        raise AssertionError("no plot worker may be started here")


def test_the_worker_draws_the_bytes_inline_drawing_writes(golden_report_inputs):
    worker_out, inline_out = golden_report_inputs / "worker", golden_report_inputs / "inline"
    report.write_report(golden_report_inputs / "output", worker_out, golden_report_inputs / "manifests", SETTINGS, plot_worker=True)
    report.write_report(golden_report_inputs / "output", inline_out, golden_report_inputs / "manifests", SETTINGS, plot_worker=False)
    drawn, inline = _files(worker_out), _files(inline_out)
    pngs = sorted(name for name in inline if name.endswith(".png"))
    assert len(pngs) >= 8 and sorted(name for name in drawn if name.endswith(".png")) == pngs
    for name in pngs:
        assert drawn[name] == inline[name], name
    for name in ("report.md", "report.html", "summary.csv", "per_item.csv"):
        assert drawn[name].replace(bytes(worker_out), bytes(inline_out)) == inline[name], name
    text = (worker_out / "report.md").read_text(encoding="utf-8")
    assert all(f"]({name})" in text for name in pngs)  # report.md names every PNG the worker wrote


@pytest.mark.parametrize("processes, share", [(0, True), (1, False), (2, False), (2, True)],
                         ids=["the report alone", "one worker", "worker and a forked process", "all three"])
def test_who_draws_a_figure_does_not_matter(golden_report_inputs, monkeypatch, processes, share):
    inline_out, out = golden_report_inputs / "inline_reference", golden_report_inputs / f"drawn_by_{processes}_{share}"
    if not inline_out.exists():
        report.write_report(golden_report_inputs / "output", inline_out, golden_report_inputs / "manifests", SETTINGS, plot_worker=False)
    started: List[PlotWorker] = []

    def recording(**_defaults) -> PlotWorker:
        started.append(PlotWorker(processes=processes, share=share))
        return started[-1]

    monkeypatch.setattr(cli, "PlotWorker", recording)
    report.write_report(golden_report_inputs / "output", out, golden_report_inputs / "manifests", SETTINGS, plot_worker=True)
    inline, drawn = _files(inline_out), _files(out)
    pngs = sorted(name for name in inline if name.endswith(".png"))
    assert sorted(name for name in drawn if name.endswith(".png")) == pngs
    assert all(drawn[name] == inline[name] for name in pngs)
    (worker,) = started
    by_processes = worker.drawn_by_processes()
    assert len(by_processes) == processes and worker.drawn_here + sum(by_processes) == len(pngs)
    if processes == 0:
        assert worker.drawn_here == len(pngs)
    if not share:
        assert worker.drawn_here == 0


def _blocking_job(fifo: Path) -> PlotJob:
    """A job that blocks its drawing process until the FIFO is opened for writing (``os.open(path=fifo,
    flags=O_RDONLY)``: a function the worker can unpickle), then writes no PNG."""
    os.mkfifo(fifo)
    return PlotJob(os.open, {"flags": os.O_RDONLY}, fifo)


def _finish_within(worker: PlotWorker, seconds: float) -> BaseException:
    """Run ``worker.finish`` in a thread; fail the test if it has not ended within ``seconds``."""
    raised: List[BaseException] = []

    def run() -> None:
        try:
            worker.finish()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"finish still waits after {seconds} s"
    assert raised, "finish raised nothing"
    return raised[0]


@pytest.mark.parametrize("killed", ["worker", "forked"])
def test_a_drawing_process_killed_while_it_holds_a_figure_fails_the_report(tmp_path, killed):
    worker = PlotWorker(processes=2, share=False)
    try:
        fifos = [tmp_path / "first.png", tmp_path / "second.png"]
        for fifo in fifos:
            worker.submit(_blocking_job(fifo))
        deadline = time.monotonic() + 120
        while len(worker.held_jobs()) < 2:  # each drawing process holds one, blocked on its FIFO
            assert time.monotonic() < deadline, f"the drawing processes took {worker.held_jobs()}"
            time.sleep(0.05)
        held = worker.held_jobs()
        worker_pid = worker.worker_pid()
        victim = next(path for path, pid in held.items() if (pid == worker_pid) == (killed == "worker"))
        os.kill(held[victim], signal.SIGKILL)
        survivor = next(path for path in fifos if path != victim)
        os.close(os.open(survivor, os.O_WRONLY))  # the other process's job ends (and writes no PNG)
        error = _finish_within(worker, 60)
        assert isinstance(error, ReportError)
        assert f"while drawing {victim}" in str(error)
        if killed == "forked":  # the worker says which of its processes ended, and how
            assert f"drawing process {held[victim]} ended abnormally (killed by signal {signal.SIGKILL})" in str(error)
        else:
            assert f"exit code {-signal.SIGKILL}" in str(error)
    finally:
        worker.close()


def test_no_plot_worker_draws_in_the_report_process(golden_report_inputs, monkeypatch):
    monkeypatch.setattr(cli, "PlotWorker", _NoWorker)
    assert cli.parser().parse_args(["out", "--no-plot_worker"]).plot_worker is False
    assert cli.parser().parse_args(["out"]).plot_worker is True
    out = golden_report_inputs / "no_worker"
    assert report.main([str(golden_report_inputs / "output"), "--out", str(out), "--manifest_dir", str(golden_report_inputs / "manifests"),
                        "--n_resamples", "20", "--no-plot_worker", "--log_level", "warning"]) == 0
    assert (out / "plots" / "sakura_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("drawn_by", ["workers", "the report"])
def test_a_figure_the_worker_fails_to_draw_fails_the_report(golden_report_inputs, monkeypatch, caplog, drawn_by):
    real_curve_job = plots.curve_job
    if drawn_by == "the report":
        monkeypatch.setattr(cli, "PlotWorker", functools.partial(PlotWorker, processes=0, share=True))

    def without_colors(rows, spec, colors, path):  # the worker's draw_curves finds no colour for the model
        job = real_curve_job(rows, spec, colors, path)
        return job if job is None or path.name != "early_answering.png" else \
            PlotJob(job.draw, {**job.arguments, "colors": {}}, job.path)

    monkeypatch.setattr(plots, "curve_job", without_colors)
    out = golden_report_inputs / f"failing_{drawn_by.replace(' ', '_')}"
    with caplog.at_level(logging.ERROR, logger="audiofaith.report"):
        code = report.main([str(golden_report_inputs / "output"), "--out", str(out), "--manifest_dir", str(golden_report_inputs / "manifests"),
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


def test_the_figures_with_most_panels_are_drawn_first(tmp_path):
    """Drawing a figure costs about its number of panels: the large ones first leave small ones for
    the end, so that the drawing processes end together."""
    drawn: List[str] = []

    def record(path: Path) -> None:
        drawn.append(path.stem)
        path.write_bytes(b"\x89PNG\r\n\x1a\n")

    worker = PlotWorker(processes=0, share=True)  # the report's process draws them all, in finish
    try:
        for name, panels in [("bars", 2), ("four", 4), ("six", 6), ("also_four", 4), ("one", 1), ("also_six", 6)]:
            worker.submit(PlotJob(record, {}, tmp_path / f"{name}.png", panels=panels))
        worker.finish()
    finally:
        worker.close()
    assert drawn == ["six", "also_six", "four", "also_four", "bars", "one"]


def _write_and_mark_the_teardown(path: Path, marker: Path) -> None:
    """A job's drawing (a function the worker can unpickle): writes ``path``, and has Python's
    teardown of the process write ``marker``."""
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    atexit.register(marker.touch)


def test_the_worker_ends_without_pythons_teardown(tmp_path):
    """The report waits for the worker to end; finalizing matplotlib's modules took 0.1-0.4 s."""
    worker = PlotWorker(processes=1, share=False)  # the worker's own process draws the job
    try:
        worker.submit(PlotJob(_write_and_mark_the_teardown, {"marker": tmp_path / "teardown"}, tmp_path / "drawn.png"))
        worker.finish()
    finally:
        worker.close()
    assert worker.drawn_by_processes() == [1] and (tmp_path / "drawn.png").is_file()
    assert not (tmp_path / "teardown").exists()


class _Cycle:
    """An object that refers to itself: only the cyclic garbage collector frees it."""

    def __init__(self) -> None:
        self.itself = self


_LAST_CYCLE: List[Any] = []  # a weak reference to the cycle the previous job in this process left


def _write_the_collectors_state(path: Path) -> None:
    """A job's drawing (a function the worker can unpickle): writes whether Python's cyclic collector
    is on, whether objects are frozen, and whether the cycle the previous job drawn by this process
    left has been collected; then leaves one."""
    import gc
    import weakref

    previous = "none" if not _LAST_CYCLE else ("collected" if _LAST_CYCLE[0]() is None else "alive")
    _LAST_CYCLE[:] = [weakref.ref(_Cycle())]
    path.write_text(f"{gc.isenabled()} {gc.get_freeze_count() > 0} {previous}", encoding="utf-8")


def test_the_drawing_processes_collect_once_per_figure(tmp_path):
    """The collector ran many times per figure, walking matplotlib's objects too: the drawing
    processes keep it off and collect once each figure is written, matplotlib's objects frozen."""
    worker = PlotWorker(processes=2, share=False)
    try:
        for index in range(8):
            worker.submit(PlotJob(_write_the_collectors_state, {}, tmp_path / f"{index}.png"))
        worker.finish()
    finally:
        worker.close()
    states = [(tmp_path / f"{index}.png").read_text(encoding="utf-8").split() for index in range(8)]
    assert {tuple(state[:2]) for state in states} == {("False", "True")}
    assert {state[2] for state in states} <= {"none", "collected"}
    assert [state[2] for state in states].count("collected") >= 8 - len(worker.drawn_by_processes())


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


def test_without_matplotlib_the_first_figure_fails_as_before(golden_report_inputs, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # import matplotlib raises ImportError
    monkeypatch.setattr(cli, "PlotWorker", _NoWorker)
    with pytest.raises(ImportError, match="matplotlib"):
        report.write_report(golden_report_inputs / "output", golden_report_inputs / "no_matplotlib", golden_report_inputs / "manifests", SETTINGS)
    assert not (golden_report_inputs / "no_matplotlib" / "report.md").exists()


def test_the_loaded_lines_are_frozen_while_the_figures_are_drawn_then_released(golden_report_inputs, monkeypatch):
    import gc

    frozen_while_drawing: List[int] = []
    real_finish = PlotWorker.finish

    def finish(self) -> None:
        frozen_while_drawing.append(gc.get_freeze_count())
        real_finish(self)

    monkeypatch.setattr(PlotWorker, "finish", finish)
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    report.write_report(golden_report_inputs / "output", golden_report_inputs / "frozen", golden_report_inputs / "manifests", SETTINGS)
    # the collector, enabled again while the figures are drawn, has no loaded line to walk
    assert frozen_while_drawing and frozen_while_drawing[0] > 1000
    assert gc.get_freeze_count() == 0 and gc.isenabled()  # as the report found it
    gc.freeze()  # a caller's own frozen objects stay frozen: the report then freezes nothing
    try:
        before = gc.get_freeze_count()
        frozen_while_drawing.clear()
        report.write_report(golden_report_inputs / "output", golden_report_inputs / "frozen_by_caller", golden_report_inputs / "manifests", SETTINGS)
        # (the caller's frozen objects that the report frees leave the count: it can only fall)
        assert len(frozen_while_drawing) == 1 and before - 1000 < frozen_while_drawing[0] <= before
        assert before - 1000 < gc.get_freeze_count() <= frozen_while_drawing[0]
    finally:
        gc.unfreeze()
