"""The CSV tables: summary.csv, per_item.csv, aoc.csv (and the benchmark CSVs) share one writer."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Dict, Iterable, Sequence

from audiofaith.report.load import REFERENCE_KINDS, Line

PER_ITEM_COLUMNS = ["dataset", "model", "subset", "hop", "id", "run", "condition", "variant", "x", "answer", "prediction",
                    "correct", "reference", "reference_readout", "agrees", "lanham_reference", "error", "excluded",
                    "finish_reason", "params", "audio_cut", "source"]


def _csv_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({name: _csv_value(row.get(name)) for name in columns})


def per_item_rows(lines: Sequence[Line]) -> Iterable[Dict[str, Any]]:
    """per_item.csv: one row per answer, long format, joinable on (model, id, run)."""
    for line in sorted(lines, key=lambda l: (l.dataset, l.model, l.id, l.run, l.condition, l.variant, json.dumps(l.params, sort_keys=True))):
        agrees = None
        if line.paired and line.prediction is not None and line.reference is not None:
            agrees = line.prediction == line.reference
        yield {"dataset": line.dataset, "model": line.model, "subset": line.subset, "hop": line.hop, "id": line.id, "run": line.run,
               "condition": line.condition, "variant": line.variant, "x": line.x, "answer": line.answer,
               "prediction": line.prediction, "correct": None if line.error else line.correct,
               "reference": line.reference, "reference_readout": REFERENCE_KINDS.get(line.reference_kind, ""),
               "agrees": agrees, "lanham_reference": line.lanham_reference, "error": line.error,
               "excluded": line.excluded, "finish_reason": line.finish_reason,
               "params": json.dumps(line.params, sort_keys=True) if line.params else "",
               "audio_cut": line.audio_cut, "source": line.source}
