"""The plot workers: processes of their own that draw the report's PNGs while the report goes on.

``write_report`` starts one worker process first (matplotlib's import overlaps the loading); once it
has imported matplotlib it forks the other drawing processes (``processes`` in all), which share
that import instead of repeating it. The section builders hand their ``PlotJob``s to one queue
(``plots.submit_plot``), and each drawing process takes the next job from it when it says it is
ready (the figure with the most panels first, then in the order sent: ``_JobQueue``): the process
writes ``ready <pid>`` on its channel's ready pipe (the worker's stdout for the first), and a feeder
thread of the report answers with the next job, pickled on the channel's job pipe (its stdin). Once
the report has written its own tables it draws the jobs nobody has taken yet itself when a core is
left for it (``PlotWorker.finish``; matplotlib is then imported here, and only then), waits for the
workers, and checks that every PNG it was given exists, before writing report.md and report.html.
Who draws a figure does not matter: all draw with the same functions, so the PNGs are the same
bytes.

A plain subprocess (``python -c "...plot_worker import main..."``: ``main`` below), not
multiprocessing: ``python -m audiofaith`` has no ``__main__`` guard for spawn to rely on, and
forking the report's process, which holds millions of loaded lines, is slow and unsafe (the worker
forks only itself, small and single-threaded, right after importing matplotlib). The worker ends
with ``end`` (``os._exit`` once its output is flushed, as the forked processes do): the report waits
for it, and Python's teardown of matplotlib took 0.1-0.4 s after the last figure.

A job that fails, here or in a worker, fails the report with the figure's path and the traceback
(``ReportError``), never with a missing image. A drawing process that ends while it holds a job
(killed, say) fails the report naming that job's figure; nothing waits for it.
"""

from __future__ import annotations

import gc
import itertools
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
from typing import IO, Dict, List, NoReturn, Optional, Sequence, Tuple

import audiofaith
from audiofaith.report.load import ReportError, usable_cores
from audiofaith.report.plots import PlotJob

log = logging.getLogger("audiofaith.report")

#: The worker's command line (``-c``, not ``-m``: the report package already imports this module);
#: its arguments are the forked processes' channels, ``<job pipe fd>,<ready pipe fd>`` each.
WORKER_COMMAND = "import sys; from audiofaith.report.plot_worker import main, end; end(main(sys.argv[1:]))"

#: What a drawing process writes on its ready pipe, with its pid, when it can take a job (after
#: importing matplotlib, after each job).
READY = b"ready"

#: The message (then the traceback) of a figure that failed, drawn by a worker or by the report.
FAILED = "plot worker: drawing {path} failed"

#: At most this many drawing processes (the first imports matplotlib, ~0.6 s CPU; the others fork it).
MAX_PROCESSES = 2


def default_processes() -> int:
    """Drawing processes: one per usable core, at most ``MAX_PROCESSES`` (one where the worker cannot
    fork). On two cores both draw once the report's own work is done, instead of one while the
    report waits."""
    return max(1, min(MAX_PROCESSES if hasattr(os, "fork") else 1, usable_cores()))


class _JobQueue:
    """The jobs nobody has taken yet, handed out the figure with the most panels first (then in the
    order sent), then the ends (None) that ``finish`` and ``close`` put, one per drawing process.

    What a figure costs to draw grows with its panels (0.17 s CPU for the two-panel bars, 0.3-0.4 s
    for four panels, 0.5-0.6 s for six), and the report sends the six-panel mask curves last:
    drawing the large figures first leaves small ones for the end, so that both drawing processes
    finish at about the same time instead of one drawing a large figure alone while the report
    waits."""

    def __init__(self) -> None:
        self._queue: "queue.PriorityQueue[Tuple[int, int, int, Optional[PlotJob]]]" = queue.PriorityQueue()
        self._sent = itertools.count()

    def put(self, job: Optional[PlotJob]) -> None:
        """Queue ``job``, or an end (None): after every job."""
        ends, panels = (1, 0) if job is None else (0, job.panels)
        self._queue.put((ends, -panels, next(self._sent), job))

    def get(self) -> Optional[PlotJob]:
        """The next job (or end), waiting for one."""
        return self._queue.get()[-1]

    def get_nowait(self) -> Optional[PlotJob]:
        """The next job (or end); ``queue.Empty`` when there is none."""
        return self._queue.get_nowait()[-1]


class _Channel:
    """The report's end of one drawing process: its job pipe, its ready pipe and the feeder thread
    that answers each READY with the next job from the queue."""

    def __init__(self, jobs: _JobQueue, job_pipe: IO[bytes], ready_pipe: IO[bytes]) -> None:
        self._jobs = jobs
        self.job_pipe = job_pipe
        self.ready_pipe = ready_pipe
        self.pid: Optional[int] = None  # from its first READY
        self.held: Optional[PlotJob] = None  # the job sent and not yet answered by READY
        self.drawn = 0
        self.ended = False  # the process closed its ready pipe (it ended) or the report sent None
        self.feeder = threading.Thread(target=self._feed, daemon=True)
        self.feeder.start()

    def _feed(self) -> None:
        """Answer each READY with the next job until the queue gives None (no more jobs: the job pipe
        is closed and the process ends) or the process ends (the worker's return code says why)."""
        try:
            while True:
                words = self.ready_pipe.readline().split()
                if len(words) != 2 or words[0] != READY:
                    return  # ended (or wrote nonsense): a job it holds fails the report
                self.pid = int(words[1])
                if self.held is not None:
                    self.held, self.drawn = None, self.drawn + 1
                job = self._jobs.get()
                if job is None:
                    self.job_pipe.close()
                    return
                self.held = job
                pickle.dump(job, self.job_pipe, protocol=pickle.HIGHEST_PROTOCOL)
                self.job_pipe.flush()
        except (BrokenPipeError, OSError, ValueError):  # ValueError: close closed the pipe
            pass  # the process has ended: finish reads the worker's return code and stderr
        finally:
            self.ended = True

    def close(self) -> None:
        """Close both pipes (once the feeder has ended: it may be reading the ready pipe)."""
        for stream in (self.job_pipe, self.ready_pipe):
            _close(stream)


def _close(stream: IO[bytes]) -> None:
    if not stream.closed:
        try:
            stream.close()
        except (BrokenPipeError, OSError):
            pass  # the process has ended: the worker's return code and stderr say why


class PlotWorker:
    """The report's side of the drawing processes: ``submit`` jobs, then ``finish`` (draw what nobody
    has taken, wait and check) or, when the report fails, ``close`` (stop them).

    ``processes`` drawing processes (default: ``default_processes``); 0 draws everything here. With
    ``share`` the report's own process draws, in ``finish``, the jobs nobody has taken yet, else it
    only waits (default: it shares when a core is left over for it)."""

    def __init__(self, processes: Optional[int] = None, share: Optional[bool] = None) -> None:
        processes = default_processes() if processes is None else processes
        self._share = usable_cores() > processes if share is None else share
        if processes < 1 and not self._share:
            raise ValueError("no drawing process and no sharing: nothing would draw the figures")
        self._jobs = _JobQueue()
        self._channels: List[_Channel] = []
        self._process: Optional[subprocess.Popen] = None
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # a file: no process blocks on a full pipe
        self.paths: List[Path] = []
        self.drawn_here = 0  # jobs the report's process drew (finish)
        if processes < 1:
            return
        package_root = str(Path(audiofaith.__file__).resolve().parents[1])  # the worker runs this same code
        environment = {**os.environ,
                       "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        forked: List[Tuple[int, int, int, int]] = []  # (job read, job write, ready read, ready write)
        for _ in range(processes - 1):
            forked.append(os.pipe() + os.pipe())
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", WORKER_COMMAND, *(f"{job},{ready}" for job, _, _, ready in forked)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=environment,
                pass_fds=[fd for job, _, _, ready in forked for fd in (job, ready)])
        finally:
            for job_read, _, _, ready_write in forked:  # the worker's ends
                os.close(job_read)
                os.close(ready_write)
        self._channels.append(_Channel(self._jobs, self._process.stdin, self._process.stdout))
        for _, job_write, ready_read, _ in forked:
            self._channels.append(_Channel(self._jobs, os.fdopen(job_write, "wb"), os.fdopen(ready_read, "rb")))

    def submit(self, job: PlotJob) -> None:
        """Queue ``job``: a drawing process draws it when it is ready and no job with more panels
        waits, or the report's own process does in ``finish``."""
        self.paths.append(job.path)
        self._jobs.put(job)

    def held_jobs(self) -> Dict[Path, Optional[int]]:
        """The figures being drawn now, with the pid of the process drawing each."""
        return {channel.held.path: channel.pid for channel in self._channels if channel.held is not None}

    def drawn_by_processes(self) -> List[int]:
        """How many jobs each drawing process has drawn (the worker's first, then the forked ones)."""
        return [channel.drawn for channel in self._channels]

    def worker_pid(self) -> Optional[int]:
        """The worker's pid (the forked drawing processes have their own: ``held_jobs``)."""
        return self._process.pid if self._process is not None else None

    def finish(self) -> None:
        """Draw the jobs nobody has taken (with ``share``), wait for the workers to draw theirs;
        raise ``ReportError`` with the traceback when a figure failed, when a drawing process failed
        (naming the figure it held), or naming a PNG it was given that nobody wrote."""
        if self._share:
            while True:
                self._raise_on_failure(wait=False)  # a process that failed already: fail now, with its error
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
        for _ in self._channels:
            self._jobs.put(None)  # each feeder takes one and closes its job pipe: the process ends
        for channel in self._channels:
            channel.feeder.join()
            _close(channel.job_pipe)  # a feeder stopped by an ended process: nothing more to send
        self._raise_on_failure(wait=True)
        errors = self._errors()
        if errors:
            log.warning("plot worker: %s", errors)
        log.debug("plot jobs drawn: %d here, %s by the drawing processes", self.drawn_here,
                  self.drawn_by_processes())
        missing = [str(path) for path in self.paths if not path.is_file()]
        if missing:
            raise ReportError(f"the plot worker ended without writing {', '.join(missing)}")

    def _errors(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", errors="replace").strip()

    def _raise_on_failure(self, wait: bool) -> None:
        """Raise ``ReportError`` when the worker has failed or a drawing process ended holding a job;
        with ``wait``, wait for the worker to end first."""
        if self._process is None:
            return
        code = self._process.wait() if wait else self._process.poll()
        lost = [channel.held.path for channel in self._channels if channel.ended and channel.held is not None]
        if (code is None or code == 0) and not lost:
            return
        holding = f" while drawing {', '.join(map(str, lost))}" if lost else ""
        ended = f"(exit code {code})" if code is not None else "(a drawing process)"
        errors = self._errors()
        raise ReportError(f"the plot worker failed {ended}{holding}:\n{errors}" if errors else
                          f"the plot worker failed {ended}{holding} and left no message")

    def close(self) -> None:
        """Stop the worker if it still runs (the report failed before ``finish``, or ``finish`` raised);
        its forked processes end once they have drawn the job they hold, as their job pipes close."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        for _ in self._channels:
            self._jobs.put(None)  # each feeder still running takes one and closes its job pipe
        for channel in self._channels:
            channel.feeder.join()
            channel.close()
        if not self._stderr.closed:
            self._stderr.close()


def _serve(jobs: IO[bytes], ready: IO[bytes]) -> int:
    """Say READY, draw the job then read from ``jobs``, and again, until ``jobs`` ends (0); on the
    first failure, print its path and traceback on stderr (1). Python's cyclic garbage collector is
    off while a figure is drawn and collects once it is written (``collect_per_figure``)."""
    collect_per_figure()
    announce = READY + b" %d\n" % os.getpid()
    while True:
        try:
            ready.write(announce)
        except (BrokenPipeError, OSError):
            return 0  # the report has gone
        try:
            job = pickle.load(jobs)
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
        gc.collect()  # the figure's cycles, once it is written (the collector is off: collect_per_figure)


def collect_per_figure() -> None:
    """Leave the objects that exist now (matplotlib's modules, fonts and caches: ``gc.freeze``) to
    the collector no more, and stop it collecting on its own: a drawing process collects once per
    figure instead (``_serve``). A figure makes tens of thousands of objects, many in cycles, so the
    collector ran many times per figure, walking matplotlib's module objects as well; about 10 % of
    the drawing CPU. Called before the fork too, so that the forked processes share those objects'
    pages instead of copying them as the collector writes to them."""
    gc.disable()
    gc.freeze()


def main(channels: Sequence[str] = ()) -> int:
    """Import matplotlib, fork a drawing process for each of ``channels`` (``<job fd>,<ready fd>``),
    draw the jobs of stdin (READY lines on stdout), and wait for the forked processes; 1 when any
    drawing failed or a forked process ended abnormally."""
    own_ready = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)  # READY lines only
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # whatever a drawing prints goes to stderr
    pipes = [tuple(int(fd) for fd in channel.split(",")) for channel in channels]
    from audiofaith.report.plots import _pyplot

    _pyplot()  # import matplotlib while the report loads its lines (the forked processes share it)
    collect_per_figure()
    children: List[int] = []
    for index, (job_fd, ready_fd) in enumerate(pipes):
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # a drawing process: only its own channel open, so that each pipe ends with its process
            try:
                own_ready.close()
                os.close(sys.stdin.fileno())
                for later_job_fd, later_ready_fd in pipes[index + 1:]:
                    os.close(later_job_fd)
                    os.close(later_ready_fd)
                code = _serve(os.fdopen(job_fd, "rb"), os.fdopen(ready_fd, "wb", buffering=0))
            except BaseException:  # noqa: BLE001 - a forked process must never return into the worker's code
                sys.stderr.write("plot worker: a drawing process failed:\n" + traceback.format_exc())
                code = 1
            sys.stderr.flush()
            os._exit(code)
        children.append(pid)
        os.close(job_fd)
        os.close(ready_fd)
    code = _serve(sys.stdin.buffer, own_ready)
    own_ready.close()  # the report learns at once that this process draws no more
    for pid in children:
        _, status = os.waitpid(pid, 0)
        if status != 0:
            sys.stderr.write(f"plot worker: drawing process {pid} ended abnormally "
                             f"({_describe(status)})\n")
            code = 1
    sys.stderr.flush()
    return code


def end(code: int) -> NoReturn:
    """End the worker with ``code`` once its output is flushed, without Python's teardown: the report
    waits for the worker to end, and finalizing matplotlib's modules and objects took 0.1-0.4 s
    after the last figure was written. Every PNG is closed and each forked process has ended
    (``main`` waited for them); the forked processes end the same way (``os._exit``)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.WEXITSTATUS(status)}"
