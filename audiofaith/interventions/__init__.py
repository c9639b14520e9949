"""Intervention families: each turns baseline runs into variants (docs/conditions.md).

A family is one module with:

- ``CONDITIONS``: the condition names it writes;
- ``add_arguments(parser)``: its own command-line options (optional);
- ``build_variants(context) -> list[Variant]``: pure with respect to the model, except where the
  family needs a rewriter model (``context.backend`` is loaded by then);
- ``check_options(options)``: refuses bad options before the model is loaded (optional);
- ``REPORT``: its ``audiofaith.report.spec.ReportSpec`` (conditions, curve x-axis, per-item
  parameters, AOC step, plots, report sections), which the report reads from this registry.

Registered here by ``--kind`` name as lazy module paths; no module is imported until chosen.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Dict, List, Optional, Sequence, Tuple

from audiofaith.backends.base import Backend
from audiofaith.text.prompts import PromptProfile
from audiofaith.store.records import BaselineRecord, ManifestItem

KINDS: Dict[str, str] = {
    "early_answering": "audiofaith.interventions.early_answering",
    "filler": "audiofaith.interventions.filler",
    "partial_filler": "audiofaith.interventions.partial_filler",
    "adding_mistakes": "audiofaith.interventions.adding_mistakes",
    "paraphrasing": "audiofaith.interventions.paraphrasing",
    "hint": "audiofaith.interventions.hint",
    "answer_stripped": "audiofaith.interventions.answer_stripped",
    "audio": "audiofaith.interventions.audio",
}
#: Modules besides the families whose ``REPORT`` the report reads: the conditioned step (``full``)
#: and the converter of the published study's files (its early answering in 5 % bins).
REPORTED_STAGES = ("audiofaith.runners.conditioned", "audiofaith.benchmarks.convert")


@dataclass
class InterventionContext:
    """What a family needs to build its variants."""

    items: Sequence[ManifestItem]
    results: Sequence[BaselineRecord]
    profile: PromptProfile
    options: Dict[str, Any]  # the family's parsed command-line options
    seed: int = 0
    backend: Optional[Backend] = None
    model_key: str = ""
    # The whole manifest, not only the selected items (--limit / --shard): e.g. swap sources.
    manifest: Sequence[ManifestItem] = ()
    by_id: Dict[str, ManifestItem] = field(default_factory=dict)
    # The prompt protocol ("ours" / "paper", audiofaith/text/protocols.py): a family may build its
    # variants as the published study did under "paper".
    protocol: str = "ours"

    def __post_init__(self) -> None:
        self.by_id = {item.id: item for item in self.items}
        if not self.manifest:
            self.manifest = list(self.items)

    def runs(self):
        """Every (item, run index, reasoning, baseline prediction, baseline record) to intervene on."""
        for record in self.results:
            item = self.by_id[record.id]
            for run, reasoning in enumerate(record.runs_reasonings):
                yield item, run, reasoning or "", record.runs_predictions[run], record

    def chains(self, condition: str):
        """Every baseline run as (item, reasoning, shared): ``shared`` holds the ``Variant`` fields
        all of that run's variants of ``condition`` carry (item, run, baseline letter, CoT's model)."""
        for item, run, reasoning, baseline_prediction, record in self.runs():
            yield item, reasoning, dict(item=item, run=run, condition=condition, baseline_prediction=baseline_prediction,
                                        cot_source_model=record.model)


def family(kind: str) -> ModuleType:
    """Import the module of intervention family ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown intervention --kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    return importlib.import_module(KINDS[kind])


def conditions() -> List[str]:
    return sorted(c for kind in KINDS for c in family(kind).CONDITIONS)


def report_modules() -> Tuple[str, ...]:
    """The modules whose ``REPORT`` spec the report reads, in report order."""
    return tuple(REPORTED_STAGES) + tuple(KINDS[kind] for kind in KINDS)


def report_specs(modules: Optional[Sequence[str]] = None) -> list:
    """The ``REPORT`` spec of each module of ``report_modules()`` (or of ``modules``)."""
    return [importlib.import_module(module).REPORT for module in (modules or report_modules())]
