"""The report's readers after the statistics (per_item.csv, the sections' counts, the benchmark
exports) read a loaded dataset's columns (``rows.dataset_columns``) and give the bytes and tables
they gave when they read its lines one by one."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import List

import pytest

from audiofaith import report
from audiofaith.checkpoints.synthetic_outputs import write_synthetic_outputs
from audiofaith.report import rows, tables

FIELDS = [field.name for field in dataclasses.fields(rows.Line)]


class _Unread:
    """A line that may not be read: a reader that visits lines instead of the dataset's columns fails."""

    def __getattr__(self, name):
        raise AssertionError(f"a line was read ({name}) although the dataset has columns")


def _with_columns(lines: List[rows.Line], unread: bool = True) -> rows.Dataset:
    """A dataset of ``lines`` whose fields are given as columns; with ``unread`` its lines may not be visited."""
    columns = dict(zip(FIELDS, rows.line_columns(lines, FIELDS)))
    return rows.Dataset([_Unread() for _ in lines] if unread else list(lines), [], {}, columns)


def _csv_module_bytes(path: Path, lines: List[rows.Line]) -> bytes:
    """per_item.csv as ``csv.writer`` writes ``per_item_rows``' cells, row by row."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(tables.PER_ITEM_COLUMNS)
        for row in report.per_item_rows(lines):
            writer.writerow([tables._csv_value(row[name]) for name in tables.PER_ITEM_COLUMNS])
    return path.read_bytes()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> List[rows.Line]:
    root = tmp_path_factory.mktemp("readers") / "output"
    write_synthetic_outputs(root, n_clips=6, runs=2, seed=11)
    return report.load_outputs(root).lines


def _edge_lines(lines: List[rows.Line]) -> List[rows.Line]:
    """Loaded lines plus cells ``csv.writer`` quotes (commas, quotes, line breaks in variant, error,
    source and parameters), a nan x and a line equal to another but for its source."""
    first, second = lines[0], lines[len(lines) // 2]
    return lines + [
        dataclasses.replace(first, variant='mode="x", k=1', error="failed,\nbadly", source="a,b.jsonl:1"),
        dataclasses.replace(second, x=float("nan"), params={"note": 'say "x"', "k": 2}, source="c.jsonl:2"),
        dataclasses.replace(second, x=1e-7, audio_cut=True, finish_reason="length", source="c.jsonl:3"),
        dataclasses.replace(first, source="d\r.jsonl:4", excluded="rewrite_unchanged", paired=True, reference=None),
    ]


def test_per_item_csv_is_written_per_combination_with_the_csv_modules_bytes(tmp_path, loaded):
    """write_per_item writes each distinct combination of cells once and joins them per row: the
    bytes of csv.writer over per_item_rows, quoted cells and the rows' order (ties in line order)
    included, from the lines or from the dataset's columns alike."""
    lines = _edge_lines(loaded)
    assert tables._coded_per_item(tables._per_item_fields(lines)) is not None  # the coded path, not the fallback
    expected = _csv_module_bytes(tmp_path / "rows.csv", lines)
    tables.write_per_item(tmp_path / "lines.csv", lines)
    assert (tmp_path / "lines.csv").read_bytes() == expected
    tables.write_per_item(tmp_path / "columns.csv", _with_columns(lines))
    assert (tmp_path / "columns.csv").read_bytes() == expected
    tables.write_per_item(tmp_path / "empty.csv", rows.Dataset([], [], {}, {name: [] for name in FIELDS}))
    assert (tmp_path / "empty.csv").read_bytes() == _csv_module_bytes(tmp_path / "empty_rows.csv", [])


@pytest.mark.parametrize("change", ["negative_zero", "int_and_float_x", "int_in_a_text_column", "bool_run"])
def test_per_item_csv_values_that_print_apart_are_written_cell_by_cell(tmp_path, loaded, change):
    """Equal values that print apart (0.0 and -0.0, 1234567 and 1234567.0, 1 and True) would share one
    combination: such columns are written cell by cell, with the same bytes as csv.writer."""
    lines = list(loaded)
    index = next(i for i, line in enumerate(lines) if line.x == 0.0)
    if change == "negative_zero":
        lines[index] = dataclasses.replace(lines[index], x=-0.0)
    elif change == "int_and_float_x":
        lines[index] = dataclasses.replace(lines[index], x=1234567.0)
        lines.append(dataclasses.replace(lines[index], x=1234567, source="e.jsonl:1"))
    elif change == "int_in_a_text_column":
        lines.append(dataclasses.replace(lines[index], error=1, source="e.jsonl:1"))
        lines.append(dataclasses.replace(lines[index], error=1.0, source="e.jsonl:2"))
    else:
        lines.append(dataclasses.replace(lines[index], run=True, source="e.jsonl:1"))
    assert tables._coded_per_item(tables._per_item_fields(lines)) is None
    tables.write_per_item(tmp_path / "written.csv", _with_columns(lines, unread=False))
    assert (tmp_path / "written.csv").read_bytes() == _csv_module_bytes(tmp_path / "rows.csv", lines)


def test_per_item_columns_read_a_datasets_columns(loaded):
    """per_item_columns takes a dataset and reads its columns (its lines are not visited)."""
    assert tables.per_item_columns(_with_columns(loaded)) == tables.per_item_columns(loaded)
