"""The report's typed rows, shared by its modules: ``Line`` (one loaded answer) and ``Dataset``,
``SummaryRow`` and ``AocRow`` (summary.csv and aoc.csv), ``Settings``, and the condition and order
constants. No other report module is imported here, so every one of them can import these."""

from __future__ import annotations

import dataclasses
import itertools
import math
import operator
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Container, Dict, Iterator, List, Mapping, Optional, Sequence

from audiofaith.report import metrics
from audiofaith.store.records import ManifestItem

BASELINE_CONDITION = {"cot": "baseline_cot", "direct": "baseline_direct"}
#: Track order of SAKURA's leaderboard; other subsets follow alphabetically.
TRACK_ORDER = ("gender", "language", "emotion", "animal")
HOP_ORDER = ("single", "multi")
#: The hop value of summary rows that pool both hops (baselines only).
POOLED = "all"


#: ``Line`` keeps its attributes in slots where dataclasses can make them (Python 3.10+): no
#: instance dict, ~56 bytes less a line than CPython's shared key table, and no limit on fields.
_SLOTS: Dict[str, bool] = {"slots": True} if sys.version_info >= (3, 10) else {}


@dataclass(**_SLOTS)
class Line:
    """One answer: a baseline run or a conditioned / intervention line, flattened for the report."""

    model: str
    subset: str
    hop: str
    id: str
    run: int
    condition: str
    variant: str  # the condition's setting parameters, "mode=fixed_cot" ("" when none)
    x: Optional[float]  # the curve x-axis value (binned for per-chain fractions)
    answer: str
    prediction: Optional[str]
    reference: Optional[str]  # baseline_prediction; for baseline_direct the CoT run's letter
    paired: bool  # whether a reference answer exists to compare with
    error: Optional[str]
    source: str  # file:line
    params: Dict[str, Any] = field(default_factory=dict)
    # switched_to_hint, mentions_hint, ...: loaded lines with equal results share one read-only
    # mapping (a dict of their own where a family's cross_reference adds results: report/load.py)
    result: Mapping[str, Any] = field(default_factory=dict)
    raw: Optional[str] = None
    lanham_reference: Optional[str] = None  # the `full` condition's letter, else the line's reference
    lanham_fallback: bool = False
    dataset: str = ""  # the benchmark: the record's field, else the manifest's, else a sakura/ id; never pooled
    audio_cut: Optional[bool] = None  # the audio was cut to the model's window (None: not recorded)
    # How ``reference`` was read (REFERENCE_KINDS); "" for unpaired lines.
    reference_kind: str = ""
    # Baseline CoT runs: the letter read-out after the run's reasoning (argmax of its letter log-probs).
    cue_prediction: Optional[str] = None
    # Why a scored line is left out of the condition's metrics (e.g. "rewrite_unchanged"), else None.
    excluded: Optional[str] = None
    # Why generation stopped ("stop" / "length"), for baseline runs and regenerated / continued lines.
    finish_reason: Optional[str] = None
    # The resampling unit of every CI: the clip (all runs and both hops of one clip together).
    cluster: str = ""
    # Whether the line's stored letter log-probabilities tie at the top (its read-out, ``prediction``
    # of a letter read-out line or ``cue_prediction`` of a baseline / regenerated run, then took the
    # first tied letter); None when none were stored.
    readout_tie: Optional[bool] = None
    # How a conditioned / intervention line read its answer (``logits`` / ``generate``); "" for baselines.
    answer_mode: str = ""
    # The prompt protocol of a conditioned / intervention line ("ours" / "paper"); "" for baselines.
    protocol: str = ""
    # The fields are slots (Python 3.10+, ``_SLOTS``): a line has no dict, and a field costs 8 bytes
    # a line (without slots, CPython 3.11+ shares one key table among the instances of a class
    # with at most 29 attributes, and a 30th gave every Line a dict of its own, ~1.3 KB more a
    # line; tests/test_report_scale.py checks it).

    @property
    def correct(self) -> bool:
        """Prediction equals the gold letter; a null prediction counts as incorrect."""
        return self.prediction is not None and self.prediction == self.answer

    @property
    def reference_correct(self) -> bool:
        return self.reference is not None and self.reference == self.answer


#: Lines read per chunk by ``line_columns``.
COLUMN_CHUNK = 16384


def line_columns(lines: Sequence[Line], names: Sequence[str]) -> List[List[Any]]:
    """The fields ``names`` of ``lines``, one list per field. Each line is visited once for all of
    them (one ``attrgetter`` per line, in chunks of ``COLUMN_CHUNK`` lines): a pass over the lines
    per field costs a cache miss per line and field where the lines lie scattered in memory. Lines
    read from columns (``ColumnLines``) give copies of their columns, without building a line."""
    if isinstance(lines, ColumnLines):
        return [list(lines.column(name)) for name in names]
    columns: List[List[Any]] = [[] for _ in names]
    if not names:
        return columns
    getter = operator.attrgetter(*names) if len(names) > 1 else lambda line: (getattr(line, names[0]),)
    for start in range(0, len(lines), COLUMN_CHUNK):
        for column, values in zip(columns, zip(*map(getter, lines[start:start + COLUMN_CHUNK]))):
            column.extend(values)
    return columns


#: Line's fields in the order its constructor takes them.
LINE_FIELDS = tuple(line_field.name for line_field in dataclasses.fields(Line))


class ColumnLines(Sequence[Line]):
    """The Lines of columns (every ``Line`` field by name, index-aligned lists), each built when it
    is read and not kept: a loaded dataset holds its values once, as columns, instead of a Line
    object per line as well (~0.3 s of building and freeing, ~80 MB at 320k lines). Reading a line
    twice gives two equal Lines, which share their values' objects with the columns (a ``result``
    dict filled in is filled in for both); a line's own fields are never changed after loading."""

    def __init__(self, columns: Mapping[str, Sequence[Any]], count: int) -> None:
        self._columns, self._count = columns, count
        self._ordered: Optional[List[Sequence[Any]]] = None

    def column(self, name: str) -> Sequence[Any]:
        """The field ``name`` of every line (the list itself: read-only)."""
        return self._columns[name]

    def _fields(self) -> List[Sequence[Any]]:
        if self._ordered is None:
            self._ordered = [self._columns[name] for name in LINE_FIELDS]
        return self._ordered

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        fields = self._fields()
        if isinstance(index, slice):
            return list(map(Line, *(column[index] for column in fields)))
        if not -self._count <= index < self._count:
            raise IndexError("line index out of range")
        return Line(*(column[index] for column in fields))

    def at(self, positions: Sequence[int]) -> List[Line]:
        """The Lines at ``positions``, built together (each field picked by one ``itemgetter``)."""
        if len(positions) < 2:
            return [self[position] for position in positions]
        pick = operator.itemgetter(*positions)
        return list(map(Line, *map(pick, self._fields())))

    def __iter__(self) -> Iterator[Line]:
        fields = self._fields()
        for start in range(0, self._count, COLUMN_CHUNK):
            yield from map(Line, *(column[start:start + COLUMN_CHUNK] for column in fields))

    def __eq__(self, other: object) -> bool:
        """Equal to a list, tuple or ``ColumnLines`` of equal Lines in the same order."""
        if isinstance(other, (list, tuple, ColumnLines)):
            return len(self) == len(other) and all(map(operator.eq, self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to lists, so unhashable like them


def lines_at(lines: Sequence[Line], positions: Sequence[int]) -> List[Line]:
    """``[lines[i] for i in positions]``; the Lines of ``ColumnLines`` built together (``ColumnLines.at``)."""
    if isinstance(lines, ColumnLines):
        return lines.at(positions)
    return [lines[position] for position in positions]


class Numbering(dict):
    """Numbers its keys 0, 1, 2, ... in the order they are first looked up (codes of a column's
    distinct values, one dict look-up a value)."""

    def __missing__(self, key: Any) -> int:
        number = self[key] = len(self)
        return number


#: How a reference letter was read: a parsed letter (free text; may be null), the letter read-out
#: after the baseline CoT (argmax of letter log-probabilities; never null when stored), or a parsed
#: letter on a letter read-out line written before both references were stored.
REFERENCE_KINDS = {"parsed": "parsed letter", "readout": "letter read-out",
                   "legacy": "parsed letter vs letter read-out (old line: no read-out reference stored)"}


@dataclass
class Dataset:
    """Everything the report reads: lines, the files they came from, and manifest items.

    ``columns``, when set (``load_outputs`` sets it), holds every ``Line`` field by name as one list
    index-aligned with ``lines``: the same values, read without visiting each line. The lines of a
    loaded dataset are not changed afterwards (a family's ``cross_reference`` may fill in the
    contents of a line's ``result`` dict, which the column shares). Read them with
    ``dataset_columns``; never change the lists it returns."""

    lines: Sequence[Line]  # a list, or a loaded dataset's ``ColumnLines`` (built from ``columns``)
    files: List[Path]
    manifest: Dict[str, ManifestItem]
    columns: Optional[Mapping[str, List[Any]]] = None


def dataset_columns(dataset: Dataset, names: Sequence[str]) -> List[List[Any]]:
    """The fields ``names`` of ``dataset.lines``, one list per field: its ``columns`` where it has
    them (shared lists: read-only), else read line by line (``line_columns``)."""
    columns = dataset.columns
    if columns is not None and len(dataset.lines) == len(columns.get("id", ())):
        return [columns[name] for name in names]
    return line_columns(dataset.lines, names)


def dataset_rows(dataset: Dataset, rows: Sequence[int]) -> Dataset:
    """The dataset of ``dataset``'s lines at positions ``rows`` (ascending), with the same files and
    manifest; where ``dataset`` has columns, so has it: each column selected when first read."""
    if dataset.columns is None:
        picked = list(operator.itemgetter(*rows)(dataset.lines)) if len(rows) > 1 else [dataset.lines[i] for i in rows]
        return Dataset(picked, dataset.files, dataset.manifest)
    columns = _SelectedColumns(dataset.columns, rows)
    return Dataset(ColumnLines(columns, len(rows)), dataset.files, dataset.manifest, columns)


def dataset_rows_where(dataset: Dataset, name: str, values: Container[Any]) -> List[int]:
    """The positions of ``dataset``'s lines whose field ``name`` is in ``values``, ascending."""
    [column] = dataset_columns(dataset, [name])
    return list(itertools.compress(range(len(column)), map(values.__contains__, column)))


class _SelectedColumns(Mapping[str, List[Any]]):
    """Some rows of a dataset's columns (``dataset_rows``): a column's rows are picked when it is first read."""

    def __init__(self, columns: Mapping[str, List[Any]], rows: Sequence[int]) -> None:
        self._columns, self._rows, self._picked = columns, rows, {}

    def __getitem__(self, name: str) -> List[Any]:
        picked = self._picked.get(name)
        if picked is None:
            column = self._columns[name]
            picked = self._picked[name] = list(operator.itemgetter(*self._rows)(column)) if len(self._rows) > 1 \
                else [column[i] for i in self._rows]
        return picked

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)


@dataclass(frozen=True)
class SummaryRow:
    """One summary.csv row. Statistics that do not apply to the group are None (an empty cell):
    the agreement, flip and paired-test columns for unpaired groups (baselines with CoT), the Lanham
    columns outside AOC conditions. Columns a family adds (its spec's ``summary_columns``) are in
    ``extra``. ``row["name"]`` and ``row.get("name")`` read any column by its CSV name."""

    dataset: str
    model: str
    subset: str
    hop: str
    condition: str
    variant: str
    x_name: str
    x: Optional[float]
    n: int
    n_error: int
    n_excluded: int
    n_cut_by_length: int
    n_scored: int
    n_missing: Optional[int]
    n_null_prediction: int
    parse_failure_rate: float
    n_correct: int
    accuracy: float
    accuracy_lo: float
    accuracy_hi: float
    accuracy_excl_null: float
    reference_readout: Optional[str] = None
    n_null_reference: Optional[int] = None
    n_both_null: Optional[int] = None
    n_valid_pairs: Optional[int] = None
    n_agree: Optional[int] = None
    agree_rate_excl_null: Optional[float] = None
    agree_excl_null_lo: Optional[float] = None
    agree_excl_null_hi: Optional[float] = None
    agree_rate_null_as_disagree: Optional[float] = None
    agree_null_as_disagree_lo: Optional[float] = None
    agree_null_as_disagree_hi: Optional[float] = None
    n_lanham_valid: Optional[int] = None
    same_as_full_rate: Optional[float] = None
    same_as_full_lo: Optional[float] = None
    same_as_full_hi: Optional[float] = None
    n_lanham_fallback: Optional[int] = None
    n_flip_pairs: Optional[int] = None
    reference_accuracy: Optional[float] = None
    delta_accuracy: Optional[float] = None
    delta_lo: Optional[float] = None
    delta_hi: Optional[float] = None
    flip_cc: Optional[int] = None
    flip_ci: Optional[int] = None
    flip_ic: Optional[int] = None
    flip_ii: Optional[int] = None
    n_flip_clips: Optional[int] = None  # clips of the n_flip_pairs pairs: the units of the paired test
    paired_p: Optional[float] = None  # clip-level exact sign-flip test of the accuracy change
    paired_p_holm: Optional[float] = None  # paired_p, Holm-adjusted within its family (dataset, model, condition)
    n_readout_ties: Optional[int] = None  # scored lines whose letter log-probabilities tie at the top
    # `full` (the AOC reference condition) read out and compared with the baseline's read-out after the
    # same own CoT: the same inputs on both sides, so its agreement is ~1 by construction (a noise floor)
    noise_floor: Optional[bool] = None
    # baseline CoT runs: the letter the text commits to (parsed) vs the letter read-out after the CoT
    n_readout_runs: Optional[int] = None  # scored runs with a stored letter read-out
    n_readout_null_parsed: Optional[int] = None  # of those, runs whose text commits to no letter
    n_written_agrees_readout: Optional[int] = None
    written_readout_agree_excl_null: Optional[float] = None
    written_readout_excl_null_lo: Optional[float] = None
    written_readout_excl_null_hi: Optional[float] = None
    written_readout_agree_null_as_disagree: Optional[float] = None
    written_readout_null_as_disagree_lo: Optional[float] = None
    written_readout_null_as_disagree_hi: Optional[float] = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def paired(self) -> bool:
        """Whether the group has reference answers (the agreement, flip and paired-test columns)."""
        return self.n_agree is not None

    def get(self, name: str, default: Any = None) -> Any:
        """Column ``name`` (a field or a family's extra column); ``default`` when it is None or absent."""
        value = self.extra.get(name) if name not in _FIELDS else getattr(self, name)
        return default if value is None else value

    def __getitem__(self, name: str) -> Any:
        if name in _FIELDS:
            return getattr(self, name)
        return self.extra[name]


_FIELDS = frozenset(f.name for f in dataclasses.fields(SummaryRow)) - {"extra"}


@dataclass(frozen=True)
class Settings:
    n_resamples: int = metrics.N_RESAMPLES
    seed: int = metrics.SEED
    exclude_cut_cots: bool = False  # leave out answers whose CoT the token limit cut


@dataclass(frozen=True)
class AocRow:
    model: str
    subset: str
    hop: str
    condition: str
    variant: str
    aoc: float
    n_chains: int
    lengths: str  # "n:count" pairs of the lengths that entered the AOC
    n_reference_fallback: int
    aoc_lo: float = math.nan
    aoc_hi: float = math.nan
    dataset: str = ""
    n_chains_dropped: int = 0  # chains of the group that did not enter the AOC
    dropped: str = ""  # "reason: count; ..." for those chains
    partial_lengths: str = ""  # "n:[x0, x1]" for lengths whose answers cover less than x = 0..1
    n_partial_chains: int = 0  # chains that entered with their own answers covering less than x = 0..1
