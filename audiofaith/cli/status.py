"""``python -m audiofaith status [DIR]``: one line per output file under DIR (default
``output/``): model, stage, lines done / expected, manifest items done / selected, errors, null
answers (``audiofaith.store.run_summary``: the definition the run's own summary uses), status, an ETA
from the recorded throughput for running files, and the settings in which a file differs from its
siblings (the other files of the same model and stage). Reads only files and sidecars; no torch.
Under a folder ``audiofaith submit`` wrote to (``DIR/slurm/plan.json``) it then shows each
stage's array tasks and merges with their job ids and SLURM states (squeue, sacct, else
``scontrol show job``) and what is left (``audiofaith.runners.slurm.render_status``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from audiofaith.store.jsonl import JsonlError
from audiofaith.store.locking import is_held
from audiofaith.store.run_summary import NULL_ANSWERS_LABEL, count_file

#: fingerprint entries that name a file's own inputs, so they differ between siblings by design
_OWN_INPUTS = {"manifest", "baseline_results"}


@dataclass
class FileStatus:
    path: Path
    model: str
    stage: str
    done: int
    expected: Optional[int]
    errors: int
    nulls: int
    status: str
    eta_seconds: Optional[float] = None
    differs: List[str] = field(default_factory=list)
    fingerprint: Dict[str, Any] = field(default_factory=dict)
    items_done: int = 0  # distinct manifest items with a line
    items_selected: Optional[int] = None  # manifest items the last session selected


def _flatten(value: Any, prefix: str = "") -> Dict[str, str]:
    if isinstance(value, dict):
        flat: Dict[str, str] = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: json.dumps(value, sort_keys=True)}


def _epoch(text: Optional[str]) -> Optional[float]:
    try:
        return _dt.datetime.fromisoformat(text).timestamp() if text else None
    except ValueError:
        return None


def file_status(path: Path, meta: Dict[str, Any]) -> FileStatus:
    fingerprint = meta.get("fingerprint") or {}
    sessions = meta.get("sessions") or [{}]
    last = sessions[-1]
    counts = count_file(path)
    done = counts.lines
    status = last.get("status") or "unknown"
    if "merged_from" in meta:
        status = "completed"
    elif status == "running" and is_held(path) is None:
        status = "interrupted"  # its process is gone; the next run resumes it
    expected = last.get("expected_lines")
    if "merged_from" in meta:  # its sessions are the shards'; the merge counted the whole
        expected = (meta.get("counts") or {}).get("lines", done)
    if expected is None and status == "completed":
        expected = done
    stage = fingerprint.get("stage", "?")
    if stage == "baseline" and fingerprint.get("prompt_mode"):
        stage = f"baseline ({fingerprint['prompt_mode']})"
    # progress against the manifest: a conditioned or intervention file made from an unfinished
    # baseline can be complete for its baseline records and still lack most manifest items
    items_selected = last.get("items_selected")
    missing = last.get("baseline_missing") or 0
    if missing and status == "completed":
        status = f"completed; its baseline lacked {missing} of {items_selected} items"
    eta = None
    if status == "running" and expected is not None and expected > done:  # only a live run has an ETA
        loaded = last.get("model_loaded")
        start_lines = last.get("lines_at_start")
        end = time.time()
        if loaded and start_lines is not None and end > loaded and done > start_lines:
            eta = (expected - done) / ((done - start_lines) / (end - loaded))
    return FileStatus(path=path, model=fingerprint.get("model_key", "?"), stage=stage, done=done, expected=expected,
                      errors=counts.errors, nulls=counts.null_answers, status=status, eta_seconds=eta,
                      fingerprint=fingerprint, items_done=len(counts.item_ids), items_selected=items_selected)


def mark_differences(files: List[FileStatus]) -> None:
    """Settings in which a file differs from the most common value among its siblings."""
    groups: Dict[tuple, List[FileStatus]] = {}
    for entry in files:
        groups.setdefault((entry.model, entry.stage), []).append(entry)
    for siblings in groups.values():
        if len(siblings) < 2:
            continue
        flats = [{k: v for k, v in _flatten(s.fingerprint).items() if k.split(".")[0] not in _OWN_INPUTS}
                 for s in siblings]
        for key in sorted(set().union(*flats)):
            common, _ = Counter(flat.get(key, "(unset)") for flat in flats).most_common(1)[0]
            for entry, flat in zip(siblings, flats):
                value = flat.get(key, "(unset)")
                if value != common:
                    entry.differs.append(f"{key}={value} (others {common})")


def collect(root: Path) -> List[FileStatus]:
    files = []
    for meta_path in sorted(root.rglob("*.meta.json")):
        output = meta_path.with_name(meta_path.name[: -len(".meta.json")])
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            files.append(file_status(output, meta))
        except (OSError, ValueError, JsonlError) as exc:
            files.append(FileStatus(path=output, model="?", stage="?", done=0, expected=None, errors=0, nulls=0,
                                    status=f"unreadable ({exc})"))
    mark_differences(files)
    return files


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def render(files: List[FileStatus], root: Path) -> str:
    rows = [["file", "model", "stage", "done/expected", "items", "errors", "null answers", "status", "ETA",
             "differs from siblings"]]
    for entry in files:
        try:
            name = str(entry.path.relative_to(root))
        except ValueError:
            name = str(entry.path)
        expected = "?" if entry.expected is None else str(entry.expected)
        items = f"{entry.items_done}/{'?' if entry.items_selected is None else entry.items_selected}"
        rows.append([name, entry.model, entry.stage, f"{entry.done}/{expected}", items, str(entry.errors),
                     str(entry.nulls),
                     entry.status, "" if entry.eta_seconds is None else _duration(entry.eta_seconds),
                     "; ".join(entry.differs)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    table = "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]
                      for row in rows).rstrip()
    return (f"{table}\n\nitems: manifest items with a line / items the run selected; {NULL_ANSWERS_LABEL}, "
            f"runs of a baseline line counted each; the run's last log line gives the same counts\n")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="audiofaith status",
        description="One line per output file (a .jsonl with a .meta.json sidecar) under DIR: model, stage, lines "
                    "done / expected, manifest items done / selected (a conditioned file made from an unfinished "
                    "baseline shows what it lacks), errors, null answers (no letter, on lines without an error), "
                    "status (running, interrupted, failed, completed), an ETA for running files from the "
                    "throughput of their session, and the settings in which a file "
                    "differs from the other files of the same model and stage. For a study submitted with "
                    "`audiofaith submit` (DIR/slurm/plan.json), then each stage's array tasks and merge jobs: job id, "
                    "SLURM state (squeue, sacct, else scontrol), the shard file's state, and what is left.")
    parser.add_argument("dir", nargs="?", default="output/", help="folder to scan recursively (default: output/)")
    args = parser.parse_args(argv)
    root = Path(args.dir)
    if not root.is_dir():
        print(f"audiofaith status: {root}: no such folder", file=sys.stderr)
        return 2
    from audiofaith.runners.slurm import load_plan, render_status

    files = collect(root)
    if not files:
        print(f"no output files (with a .meta.json sidecar) under {root}")
    else:
        sys.stdout.write(render(files, root))
    plan = load_plan(root)
    if plan is not None:
        sys.stdout.write("\n" + render_status(plan))
    return 0

