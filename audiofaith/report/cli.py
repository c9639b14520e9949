"""``audiofaith report``: read every output under a folder and write the whole report."""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import logging
import math
import os
import signal
from pathlib import Path
from typing import Iterator, List, Optional

from audiofaith.report import metrics
from audiofaith.helptext import DefaultsHelpFormatter
from audiofaith.store.jsonl import JsonlError
from audiofaith.store.manifest import ManifestError
from audiofaith.store.records import RecordError
from audiofaith.report.export import _benchmark_exports, _judge, dataset_cut_rows
from audiofaith.report.load import OutputLoading, ReportError, cycle_collection_paused, start_loading
from audiofaith.report.noise_floor import NOISE_FLOOR_COLUMNS, noise_floor_rows
from audiofaith.report.plot_worker import PlotWorker
from audiofaith.report.plots import plotting_with
from audiofaith.report.render import render_html, render_markdown
from audiofaith.report.sections import closing_blocks, section_blocks
from audiofaith.report.stats import AocRow, Settings, aoc_rows, summarize, summary_columns
from audiofaith.report.tables import write_csv, write_per_item

log = logging.getLogger("audiofaith.report")


def write_report(root: Path, out: Path, manifest_dir: Optional[Path], settings: Settings = Settings(),
                 plot_worker: bool = True, parallel_load: bool = True) -> Path:
    """Read every output under ``root`` and write the report into ``out``; returns report.md's path.

    With ``parallel_load`` a forked process reads the later output files while this one reads the
    earlier ones (``load.start_loading``: forked first, before the plot worker starts its threads;
    the same Dataset). With ``plot_worker`` (and matplotlib installed) the PNGs are drawn by
    processes of their own (``plot_worker.PlotWorker``, started right after the fork) while this one
    writes the CSV files: the worker's import of matplotlib overlaps the loading on the second core,
    or, when the loading takes both cores, the statistics (the worker is stopped meanwhile:
    ``_paused``). Then this one draws the figures no worker has taken yet when a core is left for
    it, waits for the workers, and writes report.md and report.html. Without it they are drawn
    here, one after the other, as the sections ask for them."""
    worker: Optional[PlotWorker] = None
    loading: Optional[OutputLoading] = None
    freeze = gc.get_freeze_count() == 0  # a caller's own frozen objects are left as they are
    try:
        # the line-by-line part up to the last table: no cycles (the figures drawn here without a worker
        # make some: collected once the collector runs again)
        with cycle_collection_paused():
            loading = start_loading(root, manifest_dir, exclude=out, exclude_cut=settings.exclude_cut_cots,
                                    parallel=parallel_load)
            # without matplotlib the first figure fails here as it always did: there is nothing to hand over
            if plot_worker and importlib.util.find_spec("matplotlib") is not None:
                worker = PlotWorker()
            with _paused(worker.worker_pid() if worker is not None and loading.split else None):
                dataset = loading.finish()
            out.mkdir(parents=True, exist_ok=True)
            plot_dir = out / "plots"
            plot_dir.mkdir(exist_ok=True)
            rows = summarize(dataset, settings)
            aocs = aoc_rows(dataset, settings)
            # the sections first: their figures are drawn (by the workers) while the exports and the CSV
            # files are written
            with plotting_with(worker) if worker is not None else contextlib.nullcontext():
                blocks = section_blocks(dataset, rows, aocs, plot_dir, settings)
            judge_note = _judge(dataset, out / "sakura_judge", manifest_dir)
            cuts = dataset_cut_rows(dataset)
            export_note = _benchmark_exports(dataset, out, settings, cuts)
            blocks += closing_blocks(dataset, judge_note, export_note, cuts)
            write_csv(out / "summary.csv", summary_columns(), rows)
            write_per_item(out / "per_item.csv", dataset)
            write_csv(out / "noise_floor.csv", NOISE_FLOOR_COLUMNS, noise_floor_rows(rows))
            # only defined AOCs: a curve without one is named in report.md with the reason
            write_csv(out / "aoc.csv", list(AocRow.__dataclass_fields__),
                      (a.__dict__ for a in aocs if not math.isnan(a.aoc)))
            if freeze:  # the collector, running again, need not walk the loaded lines (0.25 s at 320k lines)
                gc.freeze()
        if worker is not None:
            worker.finish()  # every PNG report.md names and report.html embeds is there
    finally:
        if loading is not None:
            loading.close()
        if freeze:
            gc.unfreeze()
        if worker is not None:
            worker.close()
    (out / "report.md").write_text(render_markdown(blocks, out), encoding="utf-8")
    (out / "report.html").write_text(render_html(blocks, "audiofaith report"), encoding="utf-8")
    log.info("report written to %s (%d summary rows, %d AOC rows)", out, len(rows), len(aocs))
    return out / "report.md"



@contextlib.contextmanager
def _paused(pid: Optional[int]) -> Iterator[None]:
    """Stop the process ``pid`` (the plot worker, importing matplotlib) for the duration, when given:
    a load split between two processes takes both cores, and the import is then done while the
    statistics take one. Started before the load all the same, from the report's process while it is
    small (a process started later counts the report's resident memory in its own peak)."""
    if pid is None:
        yield
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="audiofaith report",
        description="Read every baseline_*.jsonl, conditioned_*.jsonl and interventions/*.jsonl under OUTPUTS and "
                    "write summary.csv, per_item.csv, aoc.csv, noise_floor.csv, report.md, a self-contained report.html, PNG plots, "
                    "SAKURA judge input files and MMAU / MMAR evaluation-script inputs; each benchmark reported on "
                    "its own. Columns and formulas: docs/report.md.",
        formatter_class=DefaultsHelpFormatter)
    p.add_argument("outputs", help="the output folder, e.g. output/sakura")
    p.add_argument("--out", default=None, help="report folder (default: OUTPUTS/report)")
    p.add_argument("--manifest_dir", default="processed_input",
                   help="folder holding *_manifest.jsonl at any depth (processed_input: every benchmark), for missing "
                        "items, categories and the judge / evaluation-script exports; skipped when absent")
    p.add_argument("--n_resamples", type=int, default=metrics.N_RESAMPLES, help="bootstrap resamples per CI")
    p.add_argument("--seed", type=int, default=metrics.SEED, help="bootstrap seed")
    p.add_argument("--exclude_cut_cots", action="store_true",
                   help="leave out every answer whose CoT was cut by the token limit (finish reason 'length'): "
                        "baseline runs, regenerated / continued lines, and lines built on a cut baseline run "
                        "(counted in n_excluded)")
    p.add_argument("--plot_worker", action=argparse.BooleanOptionalAction, default=True,
                   help="draw the PNG plots in processes of their own (a worker and, on two or more CPU cores, a "
                        "second drawing process it forks) while the report writes its tables; the PNGs are the same; "
                        "--no-plot_worker draws them in the report's process")
    p.add_argument("--parallel_load", action=argparse.BooleanOptionalAction, default=True,
                   help="read the later output files in a forked process while the report reads the earlier ones, "
                        "on two or more CPU cores with one idle besides the report's own (watched for 50 ms) and from 96 MB of output files "
                        "on; the report is the same; "
                        "--no-parallel_load reads them all in the report's process")
    p.add_argument("--log_level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), format="%(levelname)s %(name)s: %(message)s")
    root = Path(args.outputs)
    out = Path(args.out) if args.out else root / "report"
    try:
        path = write_report(root, out, Path(args.manifest_dir),
                            Settings(args.n_resamples, args.seed, args.exclude_cut_cots), args.plot_worker,
                            args.parallel_load)
    except (ReportError, JsonlError, RecordError, ManifestError, FileNotFoundError) as exc:
        log.error("%s", exc)
        return 2
    print(path)
    return 0
