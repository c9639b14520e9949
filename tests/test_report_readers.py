"""The report's readers after the statistics (per_item.csv, the sections' counts, the benchmark
exports) read a loaded dataset's columns (``rows.dataset_columns``) and give the bytes and tables
they gave when they read its lines one by one."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import List

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

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
    return list(report.load_outputs(root).lines)  # a Sequence (rows.ColumnLines): as a list here


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




@pytest.mark.parametrize("section", ["rewrites", "finish_reasons", "readout_ties"])
def test_the_sections_count_a_datasets_columns(loaded, section):
    """The rewrites, cut-CoT and read-out tie sections count the dataset's columns: the same blocks
    as from its lines, without visiting a line."""
    from audiofaith.report import sections

    build = {"rewrites": sections.section_rewrites, "readout_ties": sections.section_readout_ties,
             "finish_reasons": lambda dataset: sections.section_finish_reasons(dataset, report.Settings())}[section]
    from_lines = build(rows.Dataset(list(loaded), [], {}))
    assert any(isinstance(block, report.Table) for block in from_lines)
    assert build(_with_columns(loaded)) == from_lines


def test_a_benchmarks_own_dataset_carries_its_columns(loaded):
    """benchmark_dataset: the lines of one benchmark with their columns (each selected when read);
    the dataset itself when every line is of that benchmark."""
    from audiofaith.report.sections import benchmark_dataset

    whole = _with_columns(loaded, unread=False)
    assert benchmark_dataset(whole, "sakura") is whole
    lines = [dataclasses.replace(line, dataset="mmau") if index % 3 == 0 else line for index, line in enumerate(loaded)]
    mixed = _with_columns(lines, unread=False)
    for name in ("mmau", "sakura"):
        own = benchmark_dataset(mixed, name)
        assert own.lines == [line for line in lines if line.dataset == name]
        assert own.files is mixed.files and own.manifest is mixed.manifest
        assert rows.dataset_columns(own, FIELDS) == rows.line_columns(own.lines, FIELDS)
    assert benchmark_dataset(rows.Dataset(lines, [], {}), "mmau").columns is None


def test_audio_cuts_are_counted_per_benchmark_and_model(loaded):
    """cut_rows from the lines and from the dataset's columns: baseline items whose audio was cut
    (an item is cut when any of its runs is), answered conditioned / intervention lines with a cut,
    and those that recorded none."""
    import math

    from audiofaith.benchmarks.reporting import cut_rows
    from audiofaith.report.export import dataset_cut_rows

    template = loaded[0]

    def line(dataset, model, condition, item, cut, error=None):
        return dataclasses.replace(template, dataset=dataset, model=model, condition=condition, id=item,
                                   audio_cut=cut, error=error)

    lines = [line("sakura", "m1", "baseline_cot", "a", True), line("sakura", "m1", "baseline_direct", "a", False),
             line("sakura", "m1", "baseline_cot", "b", None), line("sakura", "m1", "baseline_cot", "c", False),
             line("sakura", "m1", "full", "a", None), line("sakura", "m1", "mask", "a", True),
             line("sakura", "m1", "mask", "c", False), line("sakura", "m1", "mask", "b", True, error="failed"),
             line("mmau", "m2", "swap", "d", True)]
    expected = [{"dataset": "mmau", "model": "m2", "items": 0, "items_cut": 0, "share_cut": math.nan, "lines": 1,
                 "lines_cut": 1, "lines_unrecorded": 0},
                {"dataset": "sakura", "model": "m1", "items": 2, "items_cut": 1, "share_cut": 0.5, "lines": 3,
                 "lines_cut": 1, "lines_unrecorded": 1}]
    for found in (cut_rows(lines), dataset_cut_rows(_with_columns(lines))):
        assert [{**row, "share_cut": None} for row in found] == [{**row, "share_cut": None} for row in expected]
        assert math.isnan(found[0]["share_cut"]) and found[1]["share_cut"] == 0.5


def test_the_exports_read_only_the_baseline_lines(loaded):
    """baseline_lines: the dataset's baseline_cot / baseline_direct lines in their order, found in its
    condition column (what the judge, category and prediction exports read)."""
    from audiofaith.report.export import baseline_lines

    expected = [line for line in loaded if line.condition in ("baseline_cot", "baseline_direct")]
    assert 0 < len(expected) < len(loaded)
    assert baseline_lines(_with_columns(loaded, unread=False)) == expected
    assert baseline_lines(rows.Dataset(list(loaded), [], {})) == expected


def test_the_exports_are_written_after_the_sections_sent_their_figures(tmp_path, monkeypatch):
    """write_report hands the figures to the plot worker before it writes the judge and evaluation
    exports (which the figures do not need), so the drawing starts that much earlier; the report's
    document is the same as without a worker."""
    import functools

    from audiofaith.report import cli
    from audiofaith.report.plot_worker import PlotWorker

    outputs, manifests = tmp_path / "output", tmp_path / "manifests"
    write_synthetic_outputs(outputs, n_clips=3, runs=1, seed=2, manifest_dir=manifests)
    events: List[str] = []

    class Recording(PlotWorker):
        def submit(self, job) -> None:
            events.append("figure")
            super().submit(job)

    for name in ("_judge", "_benchmark_exports"):
        monkeypatch.setattr(cli, name, functools.partial(lambda name, call, *args: events.append(name) or call(*args),
                                                         name, getattr(cli, name)))
    monkeypatch.setattr(cli, "PlotWorker", functools.partial(Recording, processes=0, share=True))
    settings = report.Settings(n_resamples=20, seed=1)
    cli.write_report(outputs, tmp_path / "worker", manifests, settings)
    assert "figure" in events and events.index("_judge") > max(i for i, event in enumerate(events) if event == "figure")
    assert events[-2:] == ["_judge", "_benchmark_exports"]
    cli.write_report(outputs, tmp_path / "inline", manifests, settings, plot_worker=False)
    for name in ("report.md", "audio_cuts.csv", "per_item.csv"):
        assert (tmp_path / "worker" / name).read_bytes() == (tmp_path / "inline" / name).read_bytes()
    assert sorted(path.name for path in (tmp_path / "worker" / "sakura_judge").rglob("*.json"))


_TEXTS = st.sampled_from(["", "a", "b", "a,b", 'say "x"', "two\nlines", "cr\rhere", "ü"])
_MAYBE_TEXTS = st.one_of(st.none(), _TEXTS)
_LETTERS = st.one_of(st.none(), st.sampled_from(["A", "B", "C"]))


@st.composite
def _lines(draw) -> List[rows.Line]:
    """Lines with few distinct values a field (so that rows tie and combinations repeat), cells
    csv.writer quotes, nulls, nan, and x of one type per draw (floats, or ints, or none)."""
    x_values = draw(st.sampled_from([st.one_of(st.none(), st.sampled_from([0.0, 0.25, 1e-7, 123456789.0,
                                                                           float("nan")])),
                                     st.one_of(st.none(), st.integers(-3, 3)), st.none()]))
    shared_params = [{}, {"k": 1}, {"k": 1, "note": "a,b"}, {"fraction": 0.5}]
    n_lines = draw(st.integers(0, 30))
    lines = []
    for index in range(n_lines):
        params = draw(st.sampled_from(shared_params + [{"k": draw(st.integers(0, 2))}]))
        lines.append(rows.Line(
            model=draw(st.sampled_from(["m1", "m2"])), subset=draw(_TEXTS), hop=draw(st.sampled_from(["single", "multi"])),
            id=draw(st.sampled_from(["i1", "i2", "i,3"])), run=draw(st.integers(0, 2)),
            condition=draw(st.sampled_from(["baseline_cot", "full", "mask"])), variant=draw(_TEXTS), x=draw(x_values),
            answer=draw(st.sampled_from(["A", "B"])), prediction=draw(_LETTERS), reference=draw(_LETTERS),
            paired=draw(st.booleans()), error=draw(_MAYBE_TEXTS), source=draw(st.sampled_from([f"f.jsonl:{index}",
                                                                                              f"a,b:{index}"])),
            params=params, lanham_reference=draw(_LETTERS), dataset=draw(st.sampled_from(["sakura", "mmau"])),
            audio_cut=draw(st.one_of(st.none(), st.booleans())), reference_kind=draw(st.sampled_from(["", "parsed",
                                                                                                      "readout"])),
            excluded=draw(_MAYBE_TEXTS), finish_reason=draw(st.one_of(st.none(), st.sampled_from(["stop", "length"])))))
    return lines


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=_lines())
def test_per_item_csv_of_generated_lines_is_the_csv_modules_bytes(tmp_path, lines):
    """For any lines, write_per_item (coded, or cell by cell where values print apart) writes the
    bytes of csv.writer over per_item_rows, from the lines and from the dataset's columns."""
    expected = _csv_module_bytes(tmp_path / "rows.csv", lines)
    tables.write_per_item(tmp_path / "lines.csv", lines)
    assert (tmp_path / "lines.csv").read_bytes() == expected
    tables.write_per_item(tmp_path / "columns.csv", _with_columns(lines))
    assert (tmp_path / "columns.csv").read_bytes() == expected


def test_per_item_csv_writes_the_empty_parameters_once(loaded, tmp_path, monkeypatch):
    """Every baseline run holds a parameters dict of its own, empty: per_item.csv codes them all as one
    combination per audio cut (its key asked once), not one per line; the bytes are those of writing cell by cell."""
    empty = {id(line.params) for line in loaded if not line.params}
    assert len(empty) > 10
    asked: List[int] = []
    original = tables.params_key
    monkeypatch.setattr(tables, "params_key", lambda params: asked.append(id(params)) or original(params))
    coded, plain = tmp_path / "coded.csv", tmp_path / "plain.csv"
    tables.write_per_item(coded, loaded)
    assert len(empty.intersection(asked)) <= len({line.audio_cut for line in loaded if not line.params}) < 4
    monkeypatch.undo()
    tables.write_columns(plain, tables.PER_ITEM_COLUMNS, tables.per_item_columns(loaded))
    assert coded.read_bytes() == plain.read_bytes()
