"""The plot workers: processes of their own that draw the report's PNGs while the report goes on.

``write_report`` starts them first (matplotlib's import overlaps the loading), the section builders
hand their ``PlotJob``s to one shared queue (``plots.submit_plot``), and each worker takes the next
job from it when it says it is ready: a feeder thread per worker answers the worker's ``ready``
line on its stdout with the next job, pickled on its stdin. Once the report has written its own
tables it draws the jobs no worker has taken yet itself (``PlotWorker.finish``; matplotlib is then
imported here, and only then), waits for the workers, and checks that every PNG it was given
exists, before writing report.md and report.html. Who draws a figure does not matter: both draw
with the same functions, so the PNGs are the same bytes.

Plain subprocesses (``python -c "...plot_worker import main..."``: ``main`` below), not
multiprocessing: ``python -m audiofaith`` has no ``__main__`` guard for spawn to rely on, and
forking a process that holds millions of loaded lines is slow and unsafe.

A job that fails, here or in a worker, fails the report with the figure's path and the traceback
(``ReportError``), never with a missing image. A worker that ends while it holds a job (killed, say)
fails the report naming that job's figure; nothing waits for it.
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
from typing import IO, List, Optional

import audiofaith
from audiofaith.report.load import ReportError
from audiofaith.report.plots import PlotJob

log = logging.getLogger("audiofaith.report")

#: The worker's command line (``-c``, not ``-m``: the report package already imports this module).
WORKER_COMMAND = "import sys; from audiofaith.report.plot_worker import main; sys.exit(main())"

#: What a worker writes on stdout when it can take a job (after importing matplotlib, after each job).
READY = b"ready\n"

#: The message (then the traceback) of a figure that failed, drawn by a worker or by the report.
FAILED = "plot worker: drawing {path} failed"

#: At most this many worker processes (each imports matplotlib while the report loads: ~0.6 s CPU, ~100 MB).
MAX_PROCESSES = 2


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_processes() -> int:
    """Worker processes: one per usable core, at most ``MAX_PROCESSES``. On two cores both workers
    draw once the report's own work is done, instead of one worker while the report waits."""
    return max(1, min(MAX_PROCESSES, usable_cores()))


class _Process:
    """One worker process, its stderr (a file: it never blocks on a full pipe) and its feeder thread.

    The feeder starts the process once ``after`` is set (the previous worker has said READY for the
    first time, or has ended), so that two workers never import matplotlib at once on a core the
    report's loading needs; it does not start it at all when the report is already ``finishing``."""

    def __init__(self, jobs: "queue.Queue[Optional[PlotJob]]", environment: dict,
                 after: Optional[threading.Event], finishing: threading.Event) -> None:
        self._jobs = jobs
        self._environment = environment
        self._after = after
        self._finishing = finishing
        self._lock = threading.Lock()  # between starting the process (feeder) and stopping it (stop)
        self._stopped = False
        self.stderr: IO[bytes] = tempfile.TemporaryFile()
        self.process: Optional[subprocess.Popen] = None
        self.start_error: Optional[str] = None
        self.ready = threading.Event()  # said READY once, or the feeder has ended
        self.held: Optional[PlotJob] = None  # the job sent and not yet answered by READY
        self.drawn = 0
        self.feeder = threading.Thread(target=self._feed, daemon=True)
        self.feeder.start()

    def _start(self) -> bool:
        if self._after is not None:
            self._after.wait()
        with self._lock:
            if self._stopped or self._finishing.is_set():
                return False
            try:
                self.process = subprocess.Popen([sys.executable, "-c", WORKER_COMMAND], stdin=subprocess.PIPE,
                                                stdout=subprocess.PIPE, stderr=self.stderr, env=self._environment)
            except OSError:
                self.start_error = traceback.format_exc()
                return False
        return True

    def _feed(self) -> None:
        """Start the worker, then answer each READY with the next job from the queue until it gives
        None (no more jobs: the worker's stdin is closed and it ends) or the worker ends (its return
        code says why)."""
        try:
            if not self._start():
                return
            stdin, stdout = self.process.stdin, self.process.stdout
            while stdout.readline() == READY:
                self.ready.set()
                if self.held is not None:
                    self.held, self.drawn = None, self.drawn + 1
                job = self._jobs.get()
                if job is None:
                    stdin.close()
                    return
                self.held = job
                pickle.dump(job, stdin, protocol=pickle.HIGHEST_PROTOCOL)
                stdin.flush()
        except (BrokenPipeError, OSError, ValueError):  # ValueError: stop closed the pipe
            pass  # the worker has ended: finish reads its return code and stderr
        finally:
            self.ready.set()  # the next worker starts even when this one could not

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", errors="replace").strip()

    def failure(self) -> Optional[str]:
        """Why this worker failed, once it has ended; None while it runs, before it starts and when
        it ended cleanly."""
        if self.start_error is not None:
            return f"the plot worker could not be started:\n{self.start_error}"
        code = self.process.poll() if self.process is not None else None
        held = self.held
        if code is None or (code == 0 and held is None):
            return None
        errors = self.errors()
        holding = f" while drawing {held.path}" if held is not None else ""
        return (f"the plot worker failed (exit code {code}){holding}:\n{errors}" if errors else
                f"the plot worker failed with exit code {code}{holding} and no message")

    def wait(self) -> None:
        """Wait for the feeder (the queue holds a None for it), then for the process."""
        self.feeder.join()
        if self.process is not None:
            _close(self.process.stdin)  # the feeder stopped on an ended worker: nothing more to send
            self.process.wait()

    def stop(self) -> None:
        """Kill the worker if it runs (or keep it from starting), wait for its feeder, and close its
        pipes and stderr."""
        with self._lock:
            self._stopped = True
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self._after is not None:
            self._after.set()
        self.feeder.join()
        if self.process is not None:
            _close(self.process.stdin)
            _close(self.process.stdout)
        if not self.stderr.closed:
            self.stderr.close()


def _close(stream: Optional[IO[bytes]]) -> None:
    if stream is None or stream.closed:
        return
    try:
        stream.close()
    except (BrokenPipeError, OSError):
        pass  # the worker has ended: its return code and stderr say why


class PlotWorker:
    """The report's side of the workers: ``submit`` jobs, then ``finish`` (draw what no worker has
    taken, wait and check) or, when the report fails, ``close`` (stop them).

    ``processes`` worker processes are started (default: ``default_processes``); with ``share`` the
    report's own process draws, in ``finish``, the jobs no worker has taken yet, else it only waits
    (default: it shares when a core is left over for it; importing matplotlib costs it ~0.6 s)."""

    def __init__(self, processes: Optional[int] = None, share: Optional[bool] = None) -> None:
        processes = default_processes() if processes is None else processes
        share = usable_cores() > processes if share is None else share
        if processes < 1 and not share:
            raise ValueError("no worker process and no sharing: nothing would draw the figures")
        package_root = str(Path(audiofaith.__file__).resolve().parents[1])  # the workers run this same code
        environment = {**os.environ,
                       "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        self._jobs: "queue.Queue[Optional[PlotJob]]" = queue.Queue()
        self._share = share
        self._finishing = threading.Event()
        self._processes: List[_Process] = []
        for _ in range(processes):  # each starts once the one before it is ready
            after = self._processes[-1].ready if self._processes else None
            self._processes.append(_Process(self._jobs, environment, after, self._finishing))
        self.paths: List[Path] = []
        self.drawn_here = 0  # jobs the report's process drew (finish)

    def submit(self, job: PlotJob) -> None:
        """Queue ``job``: the next worker to be ready draws it, or the report's process in ``finish``."""
        self.paths.append(job.path)
        self._jobs.put(job)

    def finish(self) -> None:
        """Draw the jobs no worker has taken (with ``share``), wait for the workers to draw theirs;
        raise ``ReportError`` with the traceback when a figure failed, when a worker failed (naming
        the figure it held), or naming a PNG it was given that nobody wrote."""
        if self._share:
            while True:
                self._raise_on_failure()  # a worker that failed already: fail now, with its error
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    continue
                try:
                    job.render()
                except Exception as exc:  # noqa: BLE001 - the report fails with it
                    raise ReportError(FAILED.format(path=job.path) + ":\n" + traceback.format_exc()) from exc
                self.drawn_here += 1
        self._finishing.set()  # a worker not started yet is not started now
        for _ in self._processes:
            self._jobs.put(None)  # each feeder takes one and closes its worker's stdin
        for worker in self._processes:
            worker.wait()
        self._raise_on_failure()
        for worker in self._processes:
            errors = worker.errors()
            if errors:
                log.warning("plot worker: %s", errors)
        log.debug("plot jobs drawn: %d here, %s by the workers", self.drawn_here,
                  [worker.drawn for worker in self._processes])
        missing = [str(path) for path in self.paths if not path.is_file()]
        if missing:
            raise ReportError(f"the plot worker ended without writing {', '.join(missing)}")

    def _raise_on_failure(self) -> None:
        for worker in self._processes:
            failure = worker.failure()
            if failure is not None:
                raise ReportError(failure)

    def close(self) -> None:
        """Stop the workers that still run (the report failed before ``finish``, or ``finish`` raised)."""
        for _ in self._processes:
            self._jobs.put(None)  # a feeder still waiting for a job ends
        for worker in self._processes:
            worker.stop()


def main() -> int:
    """Say READY on stdout, draw the job then read from stdin, and again, until stdin ends; on the
    first failure, print its path and traceback on stderr and exit 1."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)  # READY lines only
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # whatever a drawing prints goes to stderr
    from audiofaith.report.plots import _pyplot

    _pyplot()  # import matplotlib while the report loads its lines
    source = sys.stdin.buffer
    while True:
        try:
            channel.write(READY)
        except (BrokenPipeError, OSError):
            return 0  # the report has gone
        try:
            job = pickle.load(source)
        except EOFError:
            return 0
        except Exception:  # noqa: BLE001 - reported to the report, which fails with it
            sys.stderr.write("plot worker: reading a job failed:\n" + traceback.format_exc())
            sys.stderr.flush()
            return 1
        try:
            job.render()
        except Exception:  # noqa: BLE001 - reported to the report, which fails with it
            sys.stderr.write(FAILED.format(path=job.path) + ":\n" + traceback.format_exc())
            sys.stderr.flush()
            return 1
