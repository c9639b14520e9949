"""Progress and log lines that do not fight each other.

- On a terminal: a tqdm bar, and log records written through ``tqdm.write`` so they appear
  above the bar instead of breaking it.
- Anywhere else (a file, a SLURM log, a pipe): no bar (its carriage returns make such logs
  unreadable) but a plain log line every ``AUDIOFAITH_PROGRESS_SECONDS`` seconds (default 60)
  and at the end: ``baseline qwen2_audio: 120/1000 items (12%), 3.2 items/s, ETA 4m35s``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Optional

log = logging.getLogger("audiofaith.progress")


def on_terminal(stream=None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class TqdmLoggingHandler(logging.StreamHandler):
    """Writes log records with ``tqdm.write`` so a live progress bar is redrawn below them."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # logging must never raise
            self.handleError(record)


def log_handler(stream=None) -> logging.Handler:
    """The handler for the CLI's logging: through tqdm on a terminal, a plain stream otherwise."""
    stream = sys.stderr if stream is None else stream
    return TqdmLoggingHandler(stream) if on_terminal(stream) else logging.StreamHandler(stream)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s" if hours else f"{rest // 60}m{rest % 60:02d}s"


class LineProgress:
    """tqdm's ``update``/``close`` interface, logging one line every ``interval`` seconds."""

    def __init__(self, total: int, desc: str, unit: str, interval: Optional[float] = None) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit + "s"
        self.interval = float(os.environ.get("AUDIOFAITH_PROGRESS_SECONDS", 60) if interval is None else interval)
        self.n = 0
        self.started = time.monotonic()
        self.last = self.started

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.n / elapsed
        percent = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        text = f"{self.desc}: {self.n}/{self.total} {self.unit}{percent}, {rate:.2f} {self.unit}/s"
        if 0 < self.n < self.total:
            text += f", ETA {_duration((self.total - self.n) / rate)}"
        return text

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval and self.n < self.total:
            self.last = now
            log.info("%s", self.line())

    def close(self) -> None:
        if self.total:
            log.info("%s", self.line())

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(total: int, desc: str, unit: str):
    """A tqdm bar on a terminal, periodic log lines elsewhere; use as a context manager."""
    if on_terminal():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True)
    return LineProgress(total, desc, unit)
