"""Conditioned step: each baseline run's own reasoning is injected back as the start of the
model's assistant turn, followed by the answer cue, and the final letter is read either from the
letter log-probabilities (one forward pass, ``logits``) or by a short greedy generation that is
parsed (``generate``, what the seed scripts did). Also the loader of baseline results that every
intervention builds on."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set

from audiofaith.errors import UserError
from audiofaith.jsonl import iter_jsonl
from audiofaith.records import BaselineRecord, ManifestItem
from audiofaith.report.sections import section_conditioned
from audiofaith.report.spec import ReportSpec, Section
from audiofaith.runners.variants import Variant

log = logging.getLogger(__name__)

NO_REASONING = "the baseline run has no reasoning to inject"


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


def conditioned_variants(results: Sequence[BaselineRecord], manifest: Sequence[ManifestItem]) -> List[Variant]:
    """One ``full`` variant per baseline run: its whole reasoning, injected unchanged."""
    by_id = {item.id: item for item in manifest}
    variants = []
    for record in results:
        for run, reasoning in enumerate(record.runs_reasonings):
            reasoning = reasoning or ""
            variants.append(Variant(
                item=by_id[record.id], run=run, condition="full", params={},
                baseline_prediction=record.runs_predictions[run], cot_source_model=record.model,
                baseline_cue_prediction=record.cue_prediction(run),
                reasoning=reasoning, skip_reason=None if reasoning.strip() else NO_REASONING,
            ))
    return variants


#: How the report shows the conditioned step's ``full`` lines; they are also the AOC's reference.
REPORT = ReportSpec(conditions=("full",), aoc_reference=True, sections=(Section(20, section_conditioned),))
