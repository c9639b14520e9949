"""JSON Lines I/O that never loses work: errors name file:line, appends are fsynced per batch,
and a torn last line left by a killed run is detected and cut before new lines are appended."""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Tuple

from audiofaith.errors import UserError, disk_full, is_disk_full

log = logging.getLogger(__name__)

#: Test-only hook: a process with this variable set to N stops itself (SIGSTOP) once an
#: AppendWriter has written N lines, so a test can kill or race it at a known point instead of
#: after a guessed delay (tests/test_cli.py, tests/test_cli_robust.py). Unset in normal use.
STOP_AFTER_LINES_ENV = "AUDIOFAITH_TEST_STOP_AFTER_LINES"


class JsonlError(UserError):
    """A malformed JSON Lines file; the message names the file and line."""


def iter_jsonl(path: "str | os.PathLike[str]", allow_torn_tail: bool = False) -> Iterator[Tuple[int, Any]]:
    """Yield ``(line_number, object)`` for each non-blank line.

    With ``allow_torn_tail`` an unparsable last line without a trailing newline (what a killed
    writer leaves) is skipped with a warning instead of raising. Lines are parsed by orjson when
    it is installed, with exactly ``json.loads``'s values (``fast_json_loads``).
    """
    path = Path(path)
    with open(path, "rb") as handle:
        data = handle.read()
    yield from _iter_data(path, data, allow_torn_tail)


def _iter_data(path: Path, data: bytes, allow_torn_tail: bool) -> Iterator[Tuple[int, Any]]:
    """``iter_jsonl`` of the file ``path`` whose contents are ``data``."""
    lines = data.split(b"\n")
    fast_loads = fast_json_loads()
    slow = _lines_with_long_numbers(data) if fast_loads is not None else frozenset()
    return _parse_lines(path, lines, range(len(lines)), data.endswith(b"\n"), slow, allow_torn_tail)


def _parse_lines(path: Path, lines: List[bytes], indices: Iterable[int], ends_with_newline: bool,
                 slow: FrozenSet[int], allow_torn_tail: bool) -> Iterator[Tuple[int, Any]]:
    """``(line_number, object)`` of the lines ``indices`` of a file split at its newlines (``lines``):
    orjson where it reads a line as ``json.loads`` would (not for the ``slow`` lines), else ``json.loads``."""
    last_index = len(lines) - 1
    fast_loads = fast_json_loads()
    for index in indices:
        raw = lines[index]
        if fast_loads is not None and index not in slow:
            try:
                obj = fast_loads(raw)
            except ValueError:  # what orjson rejects (also blank lines): read below as json.loads reads it
                pass
            else:
                yield index + 1, obj
                continue
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
            obj = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            torn = index == last_index and not ends_with_newline
            if torn and allow_torn_tail:
                log.warning("%s:%d: ignoring a torn last line (an interrupted write); it will be redone",
                            path, index + 1)
                return
            raise JsonlError(f"{path}:{index + 1}: not valid JSON ({exc})") from None
        yield index + 1, obj


def iter_jsonl_batches(path: "str | os.PathLike[str]", size: int) -> Iterator[Tuple[List[Any], Sequence[int]]]:
    """(objects, their line numbers) of the non-blank lines of a file, ``size`` lines at a time:
    exactly ``iter_jsonl``'s pairs (strict: a malformed line is a ``JsonlError`` naming it), in
    batches. With orjson a batch whose every line it reads as ``json.loads`` would (no blank line,
    no line ``iter_jsonl`` hands to ``json.loads``) is parsed in one ``map`` call, without a Python
    step per line; any other batch line by line by ``iter_jsonl``'s rules. Small batches keep a
    batch's objects in the processor's cache while a reader works through them column by column."""
    path = Path(path)
    with open(path, "rb") as handle:
        data = handle.read()
    fast_loads = fast_json_loads()
    slow = _lines_with_long_numbers(data) if fast_loads is not None else frozenset()
    lines = data.split(b"\n")
    ends_with_newline = data.endswith(b"\n")
    count = len(lines) - 1 if ends_with_newline else len(lines)  # the empty piece after a final newline
    del data
    for start in range(0, count, size):
        stop = min(start + size, count)
        if fast_loads is not None and not (slow and any(index in slow for index in range(start, stop))):
            try:
                objects = list(map(fast_loads, lines[start:stop]))
            except ValueError:  # a blank line, or one orjson rejects: read below line by line
                pass
            else:
                yield objects, range(start + 1, stop + 1)
                continue
        numbers: List[int] = []
        objects = []
        for number, obj in _parse_lines(path, lines, range(start, stop), ends_with_newline, slow, False):
            numbers.append(number)
            objects.append(obj)
        yield objects, numbers


@functools.lru_cache(maxsize=None)
def fast_json_loads() -> Optional[Callable[[bytes], Any]]:
    """``orjson.loads`` when orjson is installed (the report extra; about twice as fast as
    ``json.loads``), else None: ``json.loads`` reads every line. orjson rejects what ``json.loads``
    accepts beyond strict JSON (NaN, Infinity, 1e400, lone surrogates such as ``"\\ud800"``):
    ``iter_jsonl`` reads such a line with ``json.loads``. The one value orjson reads differently,
    an integer beyond 64 bits (a float to orjson), never reaches it: ``_lines_with_long_numbers``."""
    try:
        import orjson
    except ImportError:
        return None
    return orjson.loads


#: Every digit as "0", a newline as itself, any other byte as "x": a run of 19 digits becomes "0" * 19.
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else byte if byte == 0x0A else 0x78 for byte in range(256))
#: The fewest digits an integer beyond orjson's 64-bit range can have (-9223372036854775809).
LONG_NUMBER_DIGITS = 19


def _lines_with_long_numbers(data: bytes) -> FrozenSet[int]:
    """Indices of the lines of ``data`` holding a run of 19 or more digits: an integer literal that
    orjson may read as a float, where ``json.loads`` reads an int (a float's repr has at most 17
    digits in a row; a string with such a run is merely read by ``json.loads`` too)."""
    marked = data.translate(_DIGITS_ONLY)
    run = b"0" * LONG_NUMBER_DIGITS
    found, line, counted = set(), 0, 0
    start = marked.find(run)
    while start >= 0:
        line, counted = line + data.count(b"\n", counted, start), start
        found.add(line)
        end = data.find(b"\n", start)
        start = marked.find(run, end + 1) if end >= 0 else -1
    return frozenset(found)


def read_jsonl(path: "str | os.PathLike[str]") -> list:
    """All objects of a JSON Lines file (strict)."""
    return [obj for _, obj in iter_jsonl(path)]


def repair_torn_tail(path: "str | os.PathLike[str]") -> bool:
    """Cut an incomplete last line (no trailing newline, not valid JSON). Returns True if cut."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "rb") as handle:
        data = handle.read()
    if data.endswith(b"\n"):
        return False
    cut = data.rfind(b"\n") + 1
    tail = data[cut:]
    try:
        json.loads(tail.decode("utf-8"))
        complete = True
    except (UnicodeDecodeError, json.JSONDecodeError):
        complete = False
    with open(path, "r+b") as handle:
        if complete:  # a whole record whose newline was lost: keep it, add the newline
            handle.seek(0, os.SEEK_END)
            handle.write(b"\n")
        else:
            handle.truncate(cut)
        handle.flush()
        os.fsync(handle.fileno())
    if not complete:
        log.warning("%s: cut a torn last line left by an interrupted run", path)
    return not complete


class AppendWriter:
    """Append JSON lines to a file, flushing and fsyncing after every ``write_many`` call. A full
    disk (``DiskFull``) cuts the file back to its last whole batch: no torn line is left."""

    def __init__(self, path: "str | os.PathLike[str]") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_torn_tail(self.path)
        self._handle = open(self.path, "ab", buffering=0)  # unbuffered: a failed write leaves nothing pending
        self._written = 0
        stop_after = os.environ.get(STOP_AFTER_LINES_ENV)
        self._stop_after = int(stop_after) if stop_after else None

    def write_many(self, objects: Iterable[Dict[str, Any]]) -> int:
        lines = [json.dumps(obj, ensure_ascii=False) + "\n" for obj in objects]
        if not lines:
            return 0
        fd = self._handle.fileno()
        before = os.fstat(fd).st_size
        try:
            data = memoryview("".join(lines).encode("utf-8"))
            while data:
                data = data[self._handle.write(data):]
            os.fsync(fd)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            os.ftruncate(fd, before)  # the batch goes whole or not at all; shrinking needs no space
            self._handle.close()
            safe = count_lines(self.path)
            raise disk_full(self.path, f"its {safe} finished line(s) are safe (the batch being written was "
                                       f"cut)") from None
        before, self._written = self._written, self._written + len(lines)
        if self._stop_after is not None and before < self._stop_after <= self._written:
            log.warning("%s=%d: %d line(s) written to %s; stopping (SIGSTOP)", STOP_AFTER_LINES_ENV,
                        self._stop_after, self._written, self.path)
            os.kill(os.getpid(), signal.SIGSTOP)
        return len(lines)

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> "AppendWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl(path: "str | os.PathLike[str]", objects: Iterable[Dict[str, Any]]) -> None:
    """Write a whole JSON Lines file atomically (temp file + rename)."""
    write_atomic(path, "".join(json.dumps(obj, ensure_ascii=False) + "\n" for obj in objects))


def write_atomic(path: "str | os.PathLike[str]", text: str) -> None:
    """Replace ``path`` by ``text`` atomically (a temp file beside it, fsynced, renamed). On any
    failure the temp file is removed and ``path`` is unchanged; a full disk is ``DiskFull``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        if is_disk_full(exc):
            kept = "its previous version is kept" if path.exists() else "nothing was written"
            raise disk_full(path, kept) from None
        raise


def count_lines(path: "str | os.PathLike[str]") -> int:
    """Complete (newline-ended) lines of a file; 0 when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except FileNotFoundError:
        return 0
