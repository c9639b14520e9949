"""What a run says about its output file when it ends, and what ``audiofaith status`` counts: one
definition of a null answer for both, and each distinct error reason once with its count.

A **null answer** is an answer that commits to no letter on a line *without* an error (a baseline
line counts its runs); a line with an error has no answer at all and is counted under errors only.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Set, Tuple

from audiofaith.store.jsonl import iter_jsonl
from audiofaith.store.records import BaselineRecord, ResultRecord, read_result_line

log = logging.getLogger("audiofaith")

#: The label both the run summary and ``status`` give the count of ``null_answers``.
NULL_ANSWERS_LABEL = "null answers (no letter, on lines without an error)"
#: Distinct error reasons printed at the end of a run; the rest are counted in one line.
SHOWN_REASONS = 10


def null_answers(record: ResultRecord) -> int:
    """Null answers of one line: its runs with no letter (baseline) or its missing letter; 0 for a line
    with an error (it has no answer to be null)."""
    if record.error is not None:
        return 0
    if isinstance(record, BaselineRecord):
        return sum(prediction is None for prediction in record.runs_predictions)
    return int(record.prediction is None)


@dataclass
class FileCounts:
    """Counts over one output file, read through the record types."""

    lines: int = 0
    errors: int = 0
    null_answers: int = 0
    item_ids: Set[str] = field(default_factory=set)
    #: (condition, reason) -> lines; condition is "" for baseline lines
    reasons: Counter = field(default_factory=Counter)


def count_file(path: "str | Path") -> FileCounts:
    """Lines, errors, null answers, distinct item ids and error reasons of an output file (a torn
    last line is skipped)."""
    path = Path(path)
    counts = FileCounts()
    if not path.exists():
        return counts
    for line_number, obj in iter_jsonl(path, allow_torn_tail=True):
        record = read_result_line(obj, f"{path}:{line_number}")
        counts.lines += 1
        counts.item_ids.add(record.id)
        counts.null_answers += null_answers(record)
        if record.error is not None:
            counts.errors += 1
            counts.reasons[(getattr(record, "condition", ""), record.error)] += 1
    return counts


def reason_lines(reasons: Counter) -> List[str]:
    """One line per distinct error reason (most frequent first), with its count; swap lines that
    found no clip to swap in get their likely cause."""
    by_reason: Dict[str, int] = Counter()
    swap_without_clip = 0
    for (condition, reason), count in reasons.items():
        by_reason[reason] += count
        if condition == "swap":
            swap_without_clip += count
    ordered: List[Tuple[str, int]] = sorted(by_reason.items(), key=lambda entry: (-entry[1], entry[0]))
    lines = [f"  {count} × {reason}" for reason, count in ordered[:SHOWN_REASONS]]
    if len(ordered) > SHOWN_REASONS:
        rest = sum(count for _, count in ordered[SHOWN_REASONS:])
        lines.append(f"  … and {len(ordered) - SHOWN_REASONS} other reason(s) on {rest} line(s) (the `error` field)")
    if swap_without_clip:
        lines.append(f"  ({swap_without_clip} swap line(s) found no clip to swap in. Partners come from every item of "
                     "the manifest in the same track and hop, whatever --sample / --limit / --shard select, so a "
                     "small sample is not the cause and a full run gives these items none either; a small manifest "
                     "(a few clips per track and hop) is, or a multi-hop question no other clip is known to answer "
                     "differently: --swap_multi_hop label allows clips of another class)")
    return lines


def log_run_end(path: "str | Path") -> FileCounts:
    """Log the file's errors (each distinct reason once, with its count) and its labelled null
    answers; the same numbers ``audiofaith status`` shows."""
    counts = count_file(path)
    if counts.errors:
        log.warning("%s: %d line(s) with an error (not scored; `--retry_errors` redoes them after a fix):\n%s",
                    path, counts.errors, "\n".join(reason_lines(counts.reasons)))
    log.info("%s: %d line(s), %d with an error, %d %s", path, counts.lines, counts.errors, counts.null_answers,
             NULL_ANSWERS_LABEL)
    return counts
