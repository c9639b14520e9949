"""The plot worker: a process of its own that draws the report's PNGs while the report goes on.

``write_report`` starts it first (matplotlib's import overlaps the loading), the section builders
hand it ``PlotJob``s (``plots.submit_plot``), and the report waits for it, and checks that every
PNG it was given exists, before writing report.md and report.html. A plain subprocess
(``python -c "...plot_worker import main..."``: ``main`` below), not multiprocessing: ``python -m audiofaith`` has
no ``__main__`` guard for spawn to rely on, and forking a process that holds millions of loaded
lines is slow and unsafe. Jobs travel pickled over the worker's stdin; a reader thread takes them
off the pipe as they come, so the report never waits for a figure to be drawn to send the next.

A job that fails ends the worker: the report then fails with the figure's path and the worker's
traceback (``ReportError``), never with a missing image and never by drawing it inline instead.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import IO, List, Union

import audiofaith
from audiofaith.report.load import ReportError
from audiofaith.report.plots import PlotJob

log = logging.getLogger("audiofaith.report")

#: The worker's command line (``-c``, not ``-m``: the report package already imports this module).
WORKER_COMMAND = "import sys; from audiofaith.report.plot_worker import main; sys.exit(main())"

#: What the worker writes on stderr before the failing figure's traceback.
FAILED = "plot worker: drawing {path} failed"


class PlotWorker:
    """The report's side of the worker: ``submit`` jobs, then ``finish`` (wait and check) or, when
    the report fails, ``close`` (stop it)."""

    def __init__(self) -> None:
        package_root = str(Path(audiofaith.__file__).resolve().parents[1])  # the worker runs this same code
        environment = {**os.environ,
                       "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # a file: the worker never blocks on a full pipe
        self._process = subprocess.Popen([sys.executable, "-c", WORKER_COMMAND],
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr,
                                         env=environment)
        self.paths: List[Path] = []

    def submit(self, job: PlotJob) -> None:
        """Send ``job`` to the worker; it draws the jobs in the order they were sent."""
        self.paths.append(job.path)
        try:
            pickle.dump(job, self._process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):  # the worker has ended: its error says why
            self.finish()
            raise ReportError(f"the plot worker ended before it was sent {job.path}")  # finish found no error

    def finish(self) -> None:
        """Wait for the worker to draw every job; raise ``ReportError`` with its traceback when it
        failed, or naming a PNG it was given and did not write."""
        if self._process.stdin is not None and not self._process.stdin.closed:
            try:
                self._process.stdin.close()
            except (BrokenPipeError, OSError):
                pass  # the worker has ended: its return code and stderr say why
        code = self._process.wait()
        self._stderr.seek(0)
        errors = self._stderr.read().decode("utf-8", errors="replace").strip()
        self._stderr.close()
        if code != 0:
            raise ReportError(f"the plot worker failed (exit code {code}):\n{errors}" if errors else
                              f"the plot worker failed with exit code {code} and no message")
        if errors:
            log.warning("plot worker: %s", errors)
        missing = [str(path) for path in self.paths if not path.is_file()]
        if missing:
            raise ReportError(f"the plot worker ended without writing {', '.join(missing)}")

    def close(self) -> None:
        """Stop the worker if it still runs (the report failed before ``finish``)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        if not self._stderr.closed:
            self._stderr.close()


def _read_jobs(source: IO[bytes], jobs: "queue.Queue[Union[PlotJob, str, None]]") -> None:
    """Unpickle jobs from ``source`` into ``jobs`` until the report closes the pipe (then None);
    a job that cannot be read is put as its traceback."""
    try:
        while True:
            jobs.put(pickle.load(source))
    except EOFError:
        jobs.put(None)
    except Exception:  # noqa: BLE001 - handed to the drawing loop, which fails with it
        jobs.put(traceback.format_exc())


def main() -> int:
    """Draw every job read from stdin; on the first failure, print its path and traceback and exit 1."""
    from audiofaith.report.plots import _pyplot

    _pyplot()  # import matplotlib while the report loads its lines
    jobs: "queue.Queue[Union[PlotJob, str, None]]" = queue.Queue()
    threading.Thread(target=_read_jobs, args=(sys.stdin.buffer, jobs), daemon=True).start()
    while True:
        job = jobs.get()
        if job is None:
            return 0
        if isinstance(job, str):
            sys.stderr.write("plot worker: reading a job failed:\n" + job)
            sys.stderr.flush()
            return 1
        try:
            job.render()
        except Exception:  # noqa: BLE001 - reported to the report, which fails with it
            sys.stderr.write(FAILED.format(path=job.path) + ":\n" + traceback.format_exc())
            sys.stderr.flush()
            return 1
