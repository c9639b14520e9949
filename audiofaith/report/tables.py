"""The CSV tables: summary.csv, aoc.csv (and the benchmark CSVs) share one writer, which formats a
column at a time and writes the joined rows a few thousand at a time; per_item.csv, a row per
answer, is written per distinct combination of cells (``write_per_item``) with the same bytes."""

from __future__ import annotations

import csv
import functools
import io
import itertools
import math
import operator
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple, Union

import numpy as np

from audiofaith.report.load import REFERENCE_KINDS, Line, params_key
from audiofaith.report.rows import Dataset, dataset_columns, line_columns

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
_QUOTED_SEARCH = re.compile("[" + re.escape("".join(_QUOTED_CHARACTERS)) + "]").search


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


#: The line fields per_item.csv is made of (its cells and the derived ``correct``, ``agrees``,
#: ``reference_readout``), read by ``dataset_columns``.
_PER_ITEM_FIELDS = ("dataset", "model", "subset", "hop", "id", "run", "condition", "variant", "x", "answer",
                    "prediction", "reference", "lanham_reference", "error", "excluded", "finish_reason", "audio_cut",
                    "source", "paired", "reference_kind", "params")


def _per_item_fields(data: Union[Dataset, Sequence[Line]]) -> Dict[str, List[Any]]:
    if isinstance(data, Dataset):
        return dict(zip(_PER_ITEM_FIELDS, dataset_columns(data, _PER_ITEM_FIELDS)))
    return dict(zip(_PER_ITEM_FIELDS, line_columns(data, _PER_ITEM_FIELDS)))


def per_item_columns(data: Union[Dataset, Sequence[Line]]) -> Dict[str, Sequence[Any]]:
    """per_item.csv's columns: one value per answer, long format, joinable on (model, id, run), in
    the order of (dataset, model, id, run, condition, variant, params) (``per_item_order``).
    ``data``: a dataset (its ``columns`` read where it has them) or its lines."""
    column = _per_item_fields(data)
    if not column["id"]:
        return {name: () for name in PER_ITEM_COLUMNS}
    keys = _params_keys(column["params"])
    order = per_item_order([column[name] for name in ("dataset", "model", "id", "run", "condition", "variant")]
                           + [keys])
    pick: Callable[[Sequence[Any]], Tuple[Any, ...]] = \
        operator.itemgetter(*order) if len(order) > 1 else lambda values: (values[order[0]],)
    data: Dict[str, Sequence[Any]] = {name: pick(column.pop(name)) for name in _PER_ITEM_FIELDS}
    data["correct"] = [None if error else prediction is not None and prediction == answer
                       for error, prediction, answer in zip(data["error"], data["prediction"], data["answer"])]
    data["reference_readout"] = list(map(REFERENCE_KINDS.get, data.pop("reference_kind"), itertools.repeat("")))
    data["agrees"] = [prediction == reference if paired and prediction is not None and reference is not None else None
                      for paired, prediction, reference in zip(data.pop("paired"), data["prediction"],
                                                               data["reference"])]
    data["params"] = [key if params else "" for key, params in zip(pick(keys), data["params"])]
    return data


def _params_keys(params: Sequence[Dict[str, Any]]) -> List[str]:
    """``params_key`` of each parameters dict, worked out once per distinct dict object (the lines of
    one setting share one)."""
    objects = dict(zip(map(id, params), params))  # the dicts are held by ``params``: no id is reused
    keys = {key: params_key(value) for key, value in objects.items()}
    return list(map(keys.__getitem__, map(id, params)))


def write_per_item(path: Path, data: Union[Dataset, Sequence[Line]]) -> None:
    """per_item.csv of a dataset (its ``columns`` read where it has them) or of lines: the bytes of
    ``write_columns(path, PER_ITEM_COLUMNS, per_item_columns(data))``. Its cells are written per
    distinct combination of values (``_coded_per_item``), not per line and column, then joined in
    row order a few thousand rows at a time; columns whose equal values print apart (1 and 1.0,
    0.0 and -0.0) or of types the lines never hold are written cell by cell by ``write_columns``."""
    column = _per_item_fields(data)
    coded = _coded_per_item(column) if column["id"] else None
    if coded is None:
        write_columns(path, PER_ITEM_COLUMNS, per_item_columns(data))
        return
    order, segments = coded
    with open(path, "w", newline="", encoding="utf-8") as handle:
        handle.write(",".join(map(_csv_field, PER_ITEM_COLUMNS)) + _LINE_END)
        for start in range(0, len(order), _ROWS_PER_WRITE):
            rows = order[start:start + _ROWS_PER_WRITE]
            cells = [segment.texts[segment.codes[rows]].tolist() if isinstance(segment, CodedSegment)
                     else _pick(rows.tolist(), segment) for segment in segments]
            handle.write("".join(itertools.chain.from_iterable(zip(*cells, itertools.repeat(_LINE_END)))))


def _pick(indices: List[int], values: Sequence[str]) -> Sequence[str]:
    return operator.itemgetter(*indices)(values) if len(indices) > 1 else [values[indices[0]]]


@dataclass
class CodedSegment:
    """Adjacent CSV cells of every row coded by their combination of values: row ``i``'s text
    (its cells as ``csv.writer`` writes them, each followed by its delimiter) is
    ``texts[codes[i]]``; ``rank[codes[i]]`` is the row's place among the combinations' sort keys."""

    codes: np.ndarray
    texts: np.ndarray
    rank: np.ndarray


#: Types whose equal values always print alike (``_csv_value``): a combination of values is
#: written once for every line that shares it only where each column holds these.
_CODED_KINDS = {str, type(None)}


def _code_segment(keys: Iterable[Tuple[Any, ...]], n_rows: int, cells: Callable[[Tuple[Any, ...], int], List[Any]],
                  sort_key: Callable[[Tuple[Any, ...], int], Tuple[Any, ...]],
                  plain: Sequence[int]) -> Optional[CodedSegment]:
    """Code ``keys`` (one tuple a row): a combination's code is the row where it first occurs.
    ``cells(key, first_row)`` gives the segment's cell values, ``sort_key(key, first_row)`` its sort
    key; None when a combination holds a value of another type than ``_CODED_KINDS`` at one of the
    positions ``plain`` (the caller has checked the other positions' types on every row)."""
    first_rows: Dict[Tuple[Any, ...], int] = {}
    codes = np.fromiter(map(first_rows.setdefault, keys, itertools.count()), dtype=np.int64, count=n_rows)
    texts = np.empty(n_rows, dtype=object)
    rank = np.zeros(n_rows, dtype=np.int64)
    written: Dict[Any, str] = {}  # each distinct cell's text (a cell: a string, or an integer as is)
    sort_keys = {}
    plain_values = operator.itemgetter(*plain) if len(plain) > 1 else (
        (lambda key, position=plain[0]: (key[position],)) if plain else lambda key: ())
    for key, row in first_rows.items():
        if not _CODED_KINDS.issuperset(map(type, plain_values(key))):
            return None
        fields = []
        for cell in map(_csv_value, cells(key, row)):
            field = written.get(cell)
            if field is None:
                field = written[cell] = cell if type(cell) is str and not _needs_quoting(cell) else _csv_field(cell)
            fields.append(field)
        texts[row] = ",".join(fields) + ","  # the source column follows every segment
        sort_keys[row] = sort_key(key, row)
    distinct = sorted(set(sort_keys.values()))
    rank_of = dict(zip(distinct, range(len(distinct))))
    for row, key in sort_keys.items():
        rank[row] = rank_of[key]
    return CodedSegment(codes, texts, rank)


def _needs_quoting(cell: str) -> bool:
    """Whether ``csv.writer`` quotes ``cell`` (a string) in a row of several cells."""
    return _QUOTED_SEARCH(cell) is not None


def _coded_per_item(column: Dict[str, List[Any]]) -> Optional[Tuple[np.ndarray, List[Any]]]:
    """The rows' order (of their sort keys, ties in line order: ``per_item_order``) and per_item.csv's
    cells as three coded segments (the item's place; the answer's cells; the parameters and
    audio cut) and the source column's fields; None where a column may hold equal values that
    print apart (``_CODED_KINDS``), which only cell-by-cell formatting tells apart."""
    n_rows = len(column["id"])
    kinds = {name: set(map(type, column[name])) for name in ("run", "x", "audio_cut", "source")}
    if not (kinds["run"] <= {int} and kinds["audio_cut"] <= {bool, type(None)} and kinds["source"] <= {str}
            and (kinds["x"] <= {float, type(None)} or kinds["x"] <= {int, type(None)})):
        return None
    if kinds["x"] <= {float, type(None)} and 0.0 in dict.fromkeys(column["x"]) and \
            len({math.copysign(1.0, x) for x in filter(functools.partial(operator.eq, 0.0), column["x"])}) > 1:
        return None  # 0.0 and -0.0: equal keys, two texts
    item_names = ("dataset", "model", "subset", "hop", "id", "run")
    item = _code_segment(zip(*(column[name] for name in item_names)), n_rows, lambda key, row: list(key),
                         lambda key, row: (key[0], key[1], key[4], key[5]), plain=(0, 1, 2, 3, 4))
    answer_names = ("condition", "variant", "x", "answer", "prediction", "reference", "reference_kind", "paired",
                    "lanham_reference", "error", "excluded", "finish_reason")

    def answer_cells(key: Tuple[Any, ...], row: int) -> List[Any]:
        condition, variant, x, answer, prediction, reference, kind, paired, lanham, error, excluded, finish = key
        correct = None if error else prediction is not None and prediction == answer
        agrees = prediction == reference if paired and prediction is not None and reference is not None else None
        return [condition, variant, x, answer, prediction, correct, reference, REFERENCE_KINDS.get(kind, ""), agrees,
                lanham, error, excluded, finish]

    answer = _code_segment(zip(*(column[name] for name in answer_names)), n_rows, answer_cells,
                           lambda key, row: (key[0], key[1]), plain=(0, 1, 3, 4, 5, 6, 8, 9, 10, 11))
    params = column["params"]  # coded by the dict's identity (the lines of one setting share one dict), empty ones as one
    parameters = _code_segment(zip([id(values) if values else 0 for values in params], column["audio_cut"]), n_rows,
                               lambda key, row: [params_key(params[row]) if params[row] else "", key[1]],
                               lambda key, row: (params_key(params[row]),), plain=())
    if item is None or answer is None or parameters is None:
        return None
    source = column["source"]  # a file and line number each: distinct cells
    joined = "\0".join(source)
    if any(character in joined for character in _QUOTED_CHARACTERS):  # a scan per character: faster than one search
        source = _column_fields(source)
    order = np.lexsort([segment.rank[segment.codes] for segment in (parameters, answer, item)])
    return order, [item, answer, parameters, source]


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
