"""What an existing output already holds, read before any model loads: which lines are done,
which carry an error (``--retry_errors``), and duplicated lines (refused, naming both lines)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Set, Tuple

from audiofaith.store.jsonl import iter_jsonl, write_jsonl
from audiofaith.store.records import RecordError, read_result_line
from audiofaith.store.sharding import line_key


@dataclass
class OutputState:
    """The lines of an output file by resume key (``id`` for baseline lines)."""

    keys: Set[Tuple] = field(default_factory=set)
    errored: Set[Tuple] = field(default_factory=set)

    @property
    def ids(self) -> Set[str]:
        return {key[0] for key in self.keys}


def read_output_state(path: "str | Path") -> OutputState:
    """Keys and errored keys of ``path`` (missing file: empty); a duplicated key is an error."""
    path = Path(path)
    state = OutputState()
    if not path.exists():
        return state
    first: Dict[Tuple, int] = {}
    for line_number, obj in iter_jsonl(path, allow_torn_tail=True):
        record = read_result_line(obj, f"{path}:{line_number}")
        key = record.key()
        if key in first:
            raise RecordError(f"{path}:{line_number}: duplicate line {key} (first on line {first[key]}); the file "
                              f"was written by two runs at once. Keep one line per key (or start a new output)")
        first[key] = line_number
        state.keys.add(key)
        if record.error is not None:
            state.errored.add(key)
    return state


def drop_lines(path: "str | Path", keys: Set[Tuple]) -> int:
    """Rewrite ``path`` atomically without the lines whose key is in ``keys``; returns how many went.
    The kept lines are written as they were read (an older version's line is not rewritten)."""
    if not keys:
        return 0
    kept, dropped = [], 0
    for line_number, obj in iter_jsonl(path, allow_torn_tail=True):
        if line_key(obj, f"{path}:{line_number}") in keys:
            dropped += 1
        else:
            kept.append(obj)
    write_jsonl(path, kept)
    return dropped


def work_signature(parts: Iterable[Any]) -> str:
    """A short hash of what a session was asked to do (e.g. the baseline runs a stage answers)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode("utf-8") + b"\n")
    return digest.hexdigest()[:16]
