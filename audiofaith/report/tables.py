"""The CSV tables: summary.csv, per_item.csv, aoc.csv (and the benchmark CSVs) share one writer,
which formats a column at a time and writes the rows in one call."""

from __future__ import annotations

import csv
import math
import operator
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Sequence

from audiofaith.report.load import REFERENCE_KINDS, Line, params_key

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


#: ``_csv_value`` of a bool or None (a column of only these: no int shares a key with them).
_BOOL_CELLS = {True: "true", False: "false", None: ""}


def _csv_column(values: Sequence[Any]) -> Sequence[Any]:
    """One column's cells (``_csv_value`` of each value); a column of strings (and None) is
    converted without a call per cell."""
    kinds = set(map(type, values))
    if kinds <= {str}:
        return values
    if kinds <= {str, type(None), int}:
        return ["" if value is None else value for value in values]
    if kinds <= {bool, type(None)}:
        return [_BOOL_CELLS[value] for value in values]
    if kinds <= {float, type(None)}:
        return ["" if value is None or math.isnan(value) else f"{value:.6g}" for value in values]
    return [_csv_value(value) for value in values]


def write_columns(path: Path, columns: Sequence[str], data: Mapping[str, Sequence[Any]]) -> None:
    """A CSV file of ``columns`` from equal-length value lists, one per column (a column absent from
    ``data`` is empty); each column is formatted as a whole, the rows written in one call. Cells are
    exactly ``write_csv``'s."""
    lengths = {len(values) for values in data.values()}
    if len(lengths) > 1:
        raise ValueError(f"{path.name}: columns of different lengths {sorted(lengths)}")
    n_rows = lengths.pop() if lengths else 0
    cells = [_csv_column(data[name]) if name in data else [""] * n_rows for name in columns]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(zip(*cells))


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Dict[str, Any]]) -> None:
    """A CSV file of ``columns`` from row dicts (a missing key is an empty cell)."""
    rows = list(rows)
    write_columns(path, columns, {name: [row.get(name) for row in rows] for name in columns})


def per_item_columns(lines: Sequence[Line]) -> Dict[str, List[Any]]:
    """per_item.csv's columns: one value per answer, long format, joinable on (model, id, run)."""
    keys = [params_key(line.params) for line in lines]
    place = operator.attrgetter("dataset", "model", "id", "run", "condition", "variant")
    sort_keys = [fields + (key,) for fields, key in zip(map(place, lines), keys)]
    order = sorted(range(len(lines)), key=sort_keys.__getitem__)
    del sort_keys
    ordered = [lines[i] for i in order]
    names = ("dataset", "model", "subset", "hop", "id", "run", "condition", "variant", "x", "answer", "prediction",
             "reference", "lanham_reference", "error", "excluded", "finish_reason", "audio_cut", "source")
    values = zip(*map(operator.attrgetter(*names), ordered)) if ordered else [[] for _ in names]
    data: Dict[str, List[Any]] = {name: list(column) for name, column in zip(names, values)}
    data["correct"] = [None if line.error else line.correct for line in ordered]
    data["reference_readout"] = [REFERENCE_KINDS.get(line.reference_kind, "") for line in ordered]
    data["agrees"] = [line.prediction == line.reference
                      if line.paired and line.prediction is not None and line.reference is not None else None
                      for line in ordered]
    data["params"] = [keys[i] if lines[i].params else "" for i in order]
    return data


def per_item_rows(lines: Sequence[Line]) -> Iterable[Dict[str, Any]]:
    """per_item.csv: one row per answer, long format, joinable on (model, id, run)."""
    data = per_item_columns(lines)
    for index in range(len(lines)):
        yield {name: data[name][index] for name in PER_ITEM_COLUMNS}
