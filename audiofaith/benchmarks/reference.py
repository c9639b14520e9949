"""``--cot_source reference``: the conditioned step and the text interventions inject a benchmark's
own reference reasoning (MMAR's human-written ``thinking``, kept in the manifest as
``meta.reference_cot``) instead of each baseline run's CoT: does the model follow a correct human
chain of thought?

Every line made this way carries the parameter ``cot_source: "reference"`` (so it has its own
resume key, report variant and Lanham reference) and ``cot_source_model: "reference"``. Its
``baseline_prediction`` stays the model's own baseline letter, so agreement and flips compare the
answer after the reference reasoning with what the model answered on its own.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence

from audiofaith.benchmarks.common import REFERENCE_COT_KEY
from audiofaith.errors import UserError
from audiofaith.store.records import BaselineRecord, ManifestItem

COT_SOURCES = ("own", "reference")
REFERENCE = "reference"
#: Intervention families that inject (an edit of) the baseline CoT, so can take the reference CoT.
REFERENCE_KINDS = ("early_answering", "filler", "partial_filler", "adding_mistakes", "paraphrasing",
                   "answer_stripped")
#: The others, and why not.
NOT_REFERENCE_KINDS: Dict[str, str] = {
    "hint": "the hint family has the model write a new CoT under a hint; it injects no CoT",
    "audio": "the audio family perturbs the audio (its fixed_cot mode keeps the model's own CoT)",
}


class ReferenceError(UserError):
    """``--cot_source reference`` asked where it cannot apply; the message says why."""


def check_kind(kind: str) -> None:
    if kind not in REFERENCE_KINDS:
        reason = NOT_REFERENCE_KINDS.get(kind, "it does not inject a CoT")
        raise ReferenceError(f"--cot_source reference does not apply to --kind {kind}: {reason}; it applies to the "
                             f"conditioned step and --kind {', '.join(REFERENCE_KINDS)}")


def check_items(items: Sequence[ManifestItem]) -> None:
    """Every item needs a reference CoT; refuse before any model is loaded."""
    missing = [item.id for item in items if not str(item.meta.get(REFERENCE_COT_KEY) or "").strip()]
    if missing:
        datasets = sorted({item.dataset for item in items})
        raise ReferenceError(
            f"--cot_source reference: {len(missing)} of {len(items)} item(s) have no reference reasoning "
            f"(meta.{REFERENCE_COT_KEY}), e.g. {', '.join(missing[:3])}; benchmark(s) {', '.join(datasets)}. "
            "Only MMAR ships one (its 'thinking', written by scripts/prepare_benchmark.py mmar)")


def with_reference_cot(results: Sequence[BaselineRecord], items: Sequence[ManifestItem]) -> List[BaselineRecord]:
    """The baseline records with every run's reasoning replaced by the item's reference CoT."""
    by_id = {item.id: item for item in items}
    return [dataclasses.replace(record, runs_reasonings=[by_id[record.id].meta[REFERENCE_COT_KEY]]
                                * len(record.runs_reasonings)) for record in results]


def mark_reference(variants: Sequence) -> List:
    """The variants labelled as made from the reference CoT (a parameter, so part of the resume key)."""
    return [dataclasses.replace(v, params={**v.params, "cot_source": REFERENCE}, cot_source_model=REFERENCE)
            for v in variants]
