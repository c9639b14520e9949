"""Scale-out: shards of one output written by several processes, and their merge.

- ``--shard K/N`` (job arrays) and launcher ranks (``torchrun`` / ``accelerate launch`` set
  ``RANK`` and ``WORLD_SIZE``) select every N-th manifest item from K and write
  ``<stem>.shard-K-of-N<suffix>`` next to the requested output, each with its own sidecar.
- ``merge_shards`` joins them into the requested output in canonical order (the order a
  single-process run leaves after it finishes), refusing missing, unfinished or overlapping
  shards. Under a launcher the last rank to finish merges automatically.
- Under a SLURM job array (``SLURM_ARRAY_TASK_ID`` / ``SLURM_ARRAY_TASK_COUNT``, ids 0..N-1) each
  task takes shard ``TASK_ID/TASK_COUNT`` the same way, and the last task to finish merges; set
  ``AUDIOFAITH_ARRAY_SHARDS=0`` for arrays whose tasks are not shards of one output.

No torch here: the launcher's environment variables are all that is needed.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from audiofaith.errors import UserError
from audiofaith.store.jsonl import iter_jsonl, write_jsonl
from audiofaith.store.provenance import now, sidecar_path
from audiofaith.store.records import read_result_line

log = logging.getLogger(__name__)


class MergeError(UserError):
    """Shards that cannot be merged (missing, unfinished, overlapping or from other settings)."""


def launcher_rank() -> Optional[Tuple[int, int]]:
    """``(rank, world_size)`` under torchrun / accelerate with more than one process, else None."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return None
    return int(os.environ.get("RANK", "0")), world


#: set to 0 to keep SLURM array tasks from sharding (arrays over manifests or settings, not items)
ARRAY_SHARDS_VARIABLE = "AUDIOFAITH_ARRAY_SHARDS"


def slurm_array_shard() -> Optional[Tuple[int, int]]:
    """``(task id, task count)`` in a SLURM job array of more than one task, else None.

    The array's ids must be 0..N-1 (``--array=0-3``, any ``%`` limit): a task of ``--array=1,3`` or
    ``--array=1-4`` could not tell its shard, and is refused with the way out (``--shard K/N``)."""
    if os.environ.get(ARRAY_SHARDS_VARIABLE, "1") == "0":
        return None
    count_text, task_text = os.environ.get("SLURM_ARRAY_TASK_COUNT"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if not count_text or not task_text:
        return None
    count, task = int(count_text), int(task_text)
    if count <= 1:
        return None
    low = int(os.environ.get("SLURM_ARRAY_TASK_MIN", "0") or 0)
    high = int(os.environ.get("SLURM_ARRAY_TASK_MAX", str(count - 1)) or count - 1)
    if low != 0 or high != count - 1 or not 0 <= task < count:
        raise UserError(f"SLURM array task {task} of {count} (ids {low}-{high}): shards need ids 0-{count - 1} "
                        f"(sbatch --array=0-{count - 1}); to run one shard of an array, pass --shard K/N, or set "
                        f"{ARRAY_SHARDS_VARIABLE}=0 when the array's tasks are not shards")
    return task, count


def shard_output_path(output: "str | Path", index: int, count: int) -> Path:
    output = Path(output)
    return output.with_name(f"{output.stem}.shard-{index}-of-{count}{output.suffix}")


_SHARD_NAME = re.compile(r"\.shard-\d+-of-\d+\.[^.]+$")


def is_shard_file(path: "str | Path") -> bool:
    """Whether ``path`` is a shard file (``<stem>.shard-K-of-N<suffix>``), read only through its merge."""
    return _SHARD_NAME.search(Path(path).name) is not None


def _shard_files(output: Path) -> Dict[Tuple[int, int], Path]:
    pattern = re.compile(rf"^{re.escape(output.stem)}\.shard-(\d+)-of-(\d+){re.escape(output.suffix)}$")
    found = {}
    for path in output.parent.glob(f"{output.stem}.shard-*-of-*{output.suffix}"):
        match = pattern.match(path.name)
        if match:
            found[(int(match.group(1)), int(match.group(2)))] = path
    return found


def line_key(obj: Dict[str, Any], where: str = "<output>") -> Tuple:
    """The identity of an output line, read through its record: id for baseline lines,
    (id, run, condition, params) for conditioned / intervention lines."""
    return read_result_line(obj, where).key()


def canonical_sort(lines: List[Dict[str, Any]], id_order: Sequence[str]) -> List[Dict[str, Any]]:
    """Manifest order of ids (unknown ids last, by id), then run, condition and parameters.
    The lines are returned as they are (an older version's line is not rewritten)."""
    position = {item_id: index for index, item_id in enumerate(id_order)}

    def key(obj: Dict[str, Any]) -> Tuple:
        ident = line_key(obj)
        return (position.get(ident[0], len(position)), ident[0]) + ident[1:]

    return sorted(lines, key=key)


def canonicalize(path: "str | Path", id_order: Sequence[str]) -> None:
    """Rewrite a finished output file atomically in canonical order; a run that selected no items
    (a shard of more shards than items) leaves an empty file, so its shard can be merged."""
    if not Path(path).exists():
        write_jsonl(path, [])
        return
    lines = [obj for _, obj in iter_jsonl(path)]
    write_jsonl(path, canonical_sort(lines, id_order))


def merge_shards(output: "str | Path", id_order: Sequence[str], count: Optional[int] = None) -> Dict[str, Any]:
    """Merge ``<stem>.shard-K-of-N`` files into ``output``; returns the merged counts.

    Refuses: no shards, shards of several N, a missing K, a shard whose sidecar is not
    ``completed`` or whose settings differ from shard 0's, and a line present in two shards.
    """
    output = Path(output)
    found = _shard_files(output)
    if not found:
        raise MergeError(f"no shard files {output.stem}.shard-K-of-N{output.suffix} next to {output}")
    counts = {n for _, n in found}
    if count is not None:
        counts &= {count}
    if len(counts) != 1:
        raise MergeError(f"shards of different totals next to {output}: N = {sorted({n for _, n in found})}; "
                         f"pass the number of shards to merge")
    total = counts.pop()
    missing = [k for k in range(total) if (k, total) not in found]
    if missing:
        raise MergeError(f"cannot merge {output}: shard(s) {missing} of {total} are missing")
    fingerprint = None
    merged: Dict[Tuple, Dict[str, Any]] = {}
    sessions: List[Dict[str, Any]] = []
    for k in range(total):
        path = found[(k, total)]
        meta_path = sidecar_path(path)
        if not meta_path.exists():
            raise MergeError(f"cannot merge: {path} has no provenance sidecar {meta_path}")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        status = meta.get("sessions", [{}])[-1].get("status")
        if status != "completed":
            raise MergeError(f"cannot merge: shard {path} is not finished (status {status!r}); rerun it to resume")
        if fingerprint is None:
            fingerprint = meta.get("fingerprint")
        elif meta.get("fingerprint") != fingerprint:
            raise MergeError(f"cannot merge: {path} was made with other settings than shard 0")
        sessions.extend(meta.get("sessions", []))
        for line_number, obj in iter_jsonl(path):
            key = line_key(obj, f"{path}:{line_number}")
            if key in merged:
                raise MergeError(f"cannot merge: {path}:{line_number} repeats {key} from another shard (overlap)")
            merged[key] = obj
    write_jsonl(output, canonical_sort(list(merged.values()), id_order))
    merged_counts = {"lines": len(merged), "shards": total}
    meta = {"fingerprint": fingerprint, "merged_from": [str(found[(k, total)]) for k in range(total)],
            "merged": now(), "sessions": sessions, "counts": merged_counts}
    tmp = sidecar_path(output).with_name(sidecar_path(output).name + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, sidecar_path(output))
    log.info("merged %d shard(s) into %s (%d lines)", total, output, len(merged))
    return merged_counts


def merge_if_last(output: "str | Path", total: int, id_order: Sequence[str]) -> bool:
    """Under a launcher: merge when every shard has finished; the lock lets only one rank do it."""
    output = Path(output)
    for k in range(total):
        meta_path = sidecar_path(shard_output_path(output, k, total))
        if not meta_path.exists():
            return False
        if json.loads(meta_path.read_text(encoding="utf-8")).get("sessions", [{}])[-1].get("status") != "completed":
            return False
    lock = output.with_name(output.name + ".merge-lock")
    try:
        handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    try:
        merge_shards(output, id_order, total)
    finally:
        os.close(handle)
        os.unlink(lock)
    return True
