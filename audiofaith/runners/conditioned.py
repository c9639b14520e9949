"""Conditioned step: each baseline run's own reasoning is injected back as the start of the
model's assistant turn, followed by the answer cue, and the final letter is read either from the
letter log-probabilities (one forward pass, ``logits``) or by a short greedy generation that is
parsed (``generate``, what the seed scripts did). ``load_baseline_results`` (the input of every
intervention) lives in ``audiofaith/store/baseline_results.py`` and is re-exported here."""

from __future__ import annotations

from typing import List, Sequence

from audiofaith.store.baseline_results import ResultsMismatch, load_baseline_results
from audiofaith.store.records import BaselineRecord, ManifestItem
from audiofaith.report.sections import section_conditioned
from audiofaith.report.spec import ReportSpec, Section
from audiofaith.runners.variant import Variant

__all__ = ["NO_REASONING", "ResultsMismatch", "conditioned_variants", "load_baseline_results"]

NO_REASONING = "the baseline run has no reasoning to inject"


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
