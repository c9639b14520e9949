"""Reading a baseline results file as the input of the conditioned step and the interventions,
checked against the manifest before any model loads."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set

from audiofaith.errors import UserError
from audiofaith.jsonl import iter_jsonl
from audiofaith.records import BaselineRecord, ManifestItem

log = logging.getLogger(__name__)


class ResultsMismatch(UserError):
    """Baseline results that do not belong to the manifest."""


def load_baseline_results(path: "str | Path", manifest: Sequence[ManifestItem],
                          selected: Optional[Set[str]] = None) -> List[BaselineRecord]:
    """Read CoT baseline records and check they belong to ``manifest`` (errors name file:line).
    ``selected``: the ids this run asked for (--limit, --sample, --shard); only those are
    warned about when they have no baseline result."""
    path = Path(path)
    if not path.is_file():
        raise ResultsMismatch(f"{path}: baseline results file not found")
    known = {item.id for item in manifest}
    seen: Dict[str, int] = {}
    records: List[BaselineRecord] = []
    for line_number, obj in iter_jsonl(path):
        where = f"{path}:{line_number}"
        record = BaselineRecord.from_json(obj, where)
        if record.id not in known:
            raise ResultsMismatch(f"{where}: id {record.id!r} is not in the manifest; "
                                  f"are the results and the manifest from the same subset?")
        if record.id in seen:
            raise ResultsMismatch(f"{where}: duplicate id {record.id!r} (first on line {seen[record.id]})")
        if record.prompt_mode == "direct":
            raise ResultsMismatch(f"{where}: a direct-answer (--no_reasoning) baseline has no reasoning to condition on")
        seen[record.id] = line_number
        records.append(record)
    if not records:
        raise ResultsMismatch(f"{path}: no baseline records")
    wanted = known if selected is None else set(selected)
    missing = len(wanted - set(seen))
    if missing:
        which = "manifest" if selected is None else "selected"
        log.warning("%d %s item(s) have no baseline result in %s and are skipped", missing, which, path)
    return records
