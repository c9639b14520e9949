"""Reading a baseline results file as the input of the conditioned step and the interventions,
checked against the manifest before any model loads."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set

from audiofaith.errors import UserError
from audiofaith.store.jsonl import iter_jsonl
from audiofaith.store.records import BaselineRecord, ManifestItem

log = logging.getLogger(__name__)


class ResultsMismatch(UserError):
    """Baseline results that do not belong to the manifest."""


def load_baseline_results(path: "str | Path", manifest: Sequence[ManifestItem],
                          selected: Optional[Set[str]] = None) -> List[BaselineRecord]:
    """Read CoT baseline records and check they belong to ``manifest`` (errors name file:line).
    ``selected``: the ids this run asked for (--limit, --sample, --shard); only those are
    warned about when they have no baseline result."""
    path = Path(path)
    if path.is_dir():
        from audiofaith.store.manifest import folder_given

        raise ResultsMismatch(folder_given(path, "baseline results"))
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
        log.warning("%d %s item(s) have no baseline result in %s and are skipped: the baseline covers %d of the %d "
                    "%s items (%s). Finish the baseline first (rerun its command; it resumes): an output started "
                    "now records this baseline's content and has to be redone once the baseline changes",
                    missing, which, path, len(wanted) - missing, len(wanted), which, baseline_status(path))
    return records


def baseline_status(path: "str | Path") -> str:
    """What the baseline's provenance sidecar says about how its last session ended, in words."""
    from audiofaith.store.provenance import sidecar_path

    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return f"it has no sidecar {sidecar}: whether its run finished is unknown"
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"its sidecar {sidecar} is unreadable ({exc})"
    sessions = meta.get("sessions") or [{}]
    last = sessions[-1]
    status = last.get("status") or "unknown"
    if status == "running":
        from audiofaith.store.locking import is_held

        status = "running now" if is_held(path) is not None else "interrupted"
    selected = last.get("items_selected")
    chosen = f", {selected} item(s) selected" if selected is not None else ""
    return f"its sidecar {sidecar} says its last session was {status}{chosen}"
