"""What the conditioned step and every intervention family build: ``Variant``s, edited versions of
one baseline run, which the variant runner (``runners/variants.py``) answers. Here so families
describe their work without importing a runner."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from audiofaith.store.records import BaselineRecord, InterventionRecord, ManifestItem, result_key

#: What the runner does with a variant (module docstring of ``runners/variants.py``).
ACTIONS = ("score", "continue", "regenerate")

#: An audio edit maps (16 kHz samples, item) to new samples, or to None for a text-only call.
AudioEdit = Callable[[np.ndarray, ManifestItem], Optional[np.ndarray]]


@dataclass(frozen=True)
class Variant:
    """One edited version of one baseline run, to be answered."""

    item: ManifestItem
    run: int
    condition: str
    params: Dict[str, Any]
    baseline_prediction: Optional[str]
    cot_source_model: str = ""
    # The baseline run's letter read-out (argmax of its runs_letter_logprobs): the reference of
    # lines whose answer is a letter read-out too (``with_cue_references`` fills it in).
    baseline_cue_prediction: Optional[str] = None
    reasoning: str = ""
    action: str = "score"
    user_text: Optional[str] = None
    # What ``user_text`` is, where it is a prompt a protocol defines for itself: "direct" (the
    # direct-answer prompt). Under the paper protocol such a variant gets that protocol's prompt;
    # any other user-turn override has no paper form and is refused.
    user_mode: Optional[str] = None
    audio_edit: Optional[AudioEdit] = None
    extra: Dict[str, Any] = field(default_factory=dict)
    skip_reason: Optional[str] = None  # written as the line's error instead of running it
    # Computes condition-specific results from the finished line (e.g. the hint family's
    # ``switched_to_hint``); what it returns is added to ``extra``. Not called for skipped lines.
    annotate: Optional[Callable[[InterventionRecord], Dict[str, Any]]] = None

    def key(self) -> Tuple[str, int, str, str]:
        return result_key(self.item.id, self.run, self.condition, self.params)


def with_cue_references(variants: Sequence[Variant], results: Sequence[BaselineRecord]) -> List[Variant]:
    """The variants with ``baseline_cue_prediction`` set from their baseline run's stored letter
    log-probabilities (None where the baseline has none)."""
    by_id = {record.id: record for record in results}
    out = []
    for variant in variants:
        record = by_id.get(variant.item.id)
        cue = record.cue_prediction(variant.run) if record is not None else None
        out.append(dataclasses.replace(variant, baseline_cue_prediction=cue))
    return out
