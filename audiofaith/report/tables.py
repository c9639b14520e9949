"""The CSV tables: summary.csv, per_item.csv, aoc.csv (and the benchmark CSVs) share one writer,
which formats a column at a time and writes the joined rows a few thousand at a time."""

from __future__ import annotations

import csv
import io
import itertools
import math
import operator
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import numpy as np

from audiofaith.report.load import REFERENCE_KINDS, Line, params_key
from audiofaith.report.rows import line_columns

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


def _csv_column(values: Sequence[Any], kinds: Optional[Set[type]] = None) -> Sequence[Any]:
    """One column's cells (``_csv_value`` of each value); a column of strings (and None) is
    converted without a call per cell. ``kinds``: the values' types, when already known."""
    kinds = set(map(type, values)) if kinds is None else kinds
    if kinds <= {str}:
        return values
    if kinds <= {str, type(None), int}:
        return ["" if value is None else value for value in values]
    if kinds <= {bool, type(None)}:
        return list(map(_BOOL_CELLS.__getitem__, values))
    if kinds <= {float, type(None)}:
        distinct = dict.fromkeys(values)  # a nan is its own key (looked up by identity)
        if 0.0 in distinct and len({math.copysign(1.0, value) for value in values if value == 0.0}) > 1:
            return ["" if value is None or math.isnan(value) else f"{value:.6g}" for value in values]  # 0.0, -0.0
        cells = {value: "" if value is None or math.isnan(value) else f"{value:.6g}" for value in distinct}
        return list(map(cells.__getitem__, values))
    return [_csv_value(value) for value in values]


def write_columns(path: Path, columns: Sequence[str], data: Mapping[str, Sequence[Any]]) -> None:
    """A CSV file of ``columns`` from equal-length value lists, one per column (a column absent from
    ``data`` is empty), written ``_ROWS_PER_WRITE`` rows at a time: each column's cells of those rows
    are formatted together (``_column_fields``; each distinct cell quoted once per column), so only
    one write's text is held beside the values. Cells are exactly ``write_csv``'s and the bytes
    exactly ``csv.writer``'s."""
    lengths = {len(values) for values in data.values()}
    if len(lengths) > 1:
        raise ValueError(f"{path.name}: columns of different lengths {sorted(lengths)}")
    n_rows = lengths.pop() if lengths else 0
    cells = [data[name] if name in data else [""] * n_rows for name in columns]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        if len(columns) < 2:  # csv.writer quotes a row's only cell when it is empty
            writer.writerows(zip(*map(_csv_column, cells)))
        else:
            quoted: List[Dict[Any, str]] = [{} for _ in cells]  # each column's quoted cells, across writes
            for start in range(0, n_rows, _ROWS_PER_WRITE):
                stop = start + _ROWS_PER_WRITE
                fields = [_column_fields(values[start:stop], known) for values, known in zip(cells, quoted)]
                handle.write(_LINE_END.join(map(",".join, zip(*fields))) + _LINE_END)


#: Rows joined into one string per write: few calls, without the whole file's text in memory at once.
_ROWS_PER_WRITE = 8192
#: ``csv.writer``'s default dialect: its delimiter and line end, and the characters that make it quote a cell.
_LINE_END = "\r\n"
_QUOTED_CHARACTERS = (",", '"', "\r", "\n")


def _column_fields(values: Sequence[Any], known: Optional[Dict[Any, str]] = None) -> Sequence[str]:
    """The text ``csv.writer`` writes for each cell (``_csv_column``) of a column: strings that need
    no quoting as they are, every other distinct cell written by ``csv.writer`` once; ``known``: the
    text of cells (strings and integers) already written, kept for the column's next rows."""
    kinds = set(map(type, values))
    cells = _csv_column(values, kinds)
    if kinds <= {bool, type(None)} or kinds <= {float, type(None)}:
        return cells  # "true", "false", "" and numbers: nothing to quote
    if kinds <= {str, type(None)}:
        joined = "\0".join(cells)
        if not any(character in joined for character in _QUOTED_CHARACTERS):
            return cells
    elif not kinds <= {str, type(None), int}:  # equal cells of two types (1, 1.0, True) would share one text
        return [_csv_field(cell) for cell in cells]
    fields = {} if known is None else known  # strings and integers only: no two equal cells print apart
    for cell in dict.fromkeys(cells):
        if cell not in fields:
            fields[cell] = _csv_field(cell)
    return list(map(fields.__getitem__, cells))


def _csv_field(cell: Any) -> str:
    """What ``csv.writer`` writes for ``cell`` in a row of several cells."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow((cell, ""))
    return buffer.getvalue()[:-len("," + _LINE_END)]


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Dict[str, Any]]) -> None:
    """A CSV file of ``columns`` from row dicts (a missing key is an empty cell)."""
    rows = list(rows)
    write_columns(path, columns, {name: [row.get(name) for row in rows] for name in columns})


def per_item_columns(lines: Sequence[Line]) -> Dict[str, Sequence[Any]]:
    """per_item.csv's columns: one value per answer, long format, joinable on (model, id, run), in
    the order of (dataset, model, id, run, condition, variant, params) (``per_item_order``)."""
    names = ("dataset", "model", "subset", "hop", "id", "run", "condition", "variant", "x", "answer", "prediction",
             "reference", "lanham_reference", "error", "excluded", "finish_reason", "audio_cut", "source",
             "paired", "reference_kind", "params")
    if not lines:
        return {name: () for name in PER_ITEM_COLUMNS}
    column = dict(zip(names, line_columns(lines, names)))
    keys = list(map(params_key, column["params"]))
    order = per_item_order([column[name] for name in ("dataset", "model", "id", "run", "condition", "variant")]
                           + [keys])
    pick: Callable[[Sequence[Any]], Tuple[Any, ...]] = \
        operator.itemgetter(*order) if len(order) > 1 else lambda values: (values[order[0]],)
    data: Dict[str, Sequence[Any]] = {name: pick(column.pop(name)) for name in names}  # tuples, one column at a time
    data["correct"] = [None if error else prediction is not None and prediction == answer
                       for error, prediction, answer in zip(data["error"], data["prediction"], data["answer"])]
    data["reference_readout"] = list(map(REFERENCE_KINDS.get, data.pop("reference_kind"), itertools.repeat("")))
    data["agrees"] = [prediction == reference if paired and prediction is not None and reference is not None else None
                      for paired, prediction, reference in zip(data.pop("paired"), data["prediction"],
                                                               data["reference"])]
    data["params"] = [key if params else "" for key, params in zip(pick(keys), data["params"])]
    return data


def per_item_order(keys: Sequence[Sequence[Any]]) -> List[int]:
    """The row order of ``sorted(range(n), key=lambda i: tuple(column[i] for column in keys))``
    (ties in row order, as Python's stable sort leaves them): each column ranked among its sorted
    distinct values, the ranks sorted with one stable ``np.lexsort``."""
    ranks = []
    for values in keys:
        distinct = sorted(set(values))
        rank_of = dict(zip(distinct, range(len(distinct))))
        ranks.append(np.fromiter(map(rank_of.__getitem__, values), dtype=np.int64, count=len(values)))
    return np.lexsort(ranks[::-1]).tolist()


def per_item_rows(lines: Sequence[Line]) -> Iterable[Dict[str, Any]]:
    """per_item.csv: one row per answer, long format, joinable on (model, id, run)."""
    data = per_item_columns(lines)
    for index in range(len(lines)):
        yield {name: data[name][index] for name in PER_ITEM_COLUMNS}
