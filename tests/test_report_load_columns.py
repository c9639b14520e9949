"""The report loads its lines as columns (``load.load_file_columns``, ``load_outputs``): the same
values as the line-by-line reader (``load.load_file``, kept as the reference), the same shared
objects, the same first error for a bad file; and ``Dataset.columns`` equals the loaded Lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from audiofaith.checkpoints.synthetic_outputs import write_synthetic_outputs
from audiofaith.report import load, rows
from audiofaith.report.rows import dataset_columns, line_columns
from audiofaith.report.spec import spec_index
from audiofaith.store.records import ManifestItem

FIELDS = load._LINE_ORDER


def _typed(name: str, value: Any) -> str:
    """A column value as a repr that tells apart ``1``, ``1.0`` and ``True``, ``0.0`` and ``-0.0``
    (a result mapping as a dict: loaded lines share read-only ones)."""
    return repr(dict(value) if name == "result" else value)


def assert_same_columns(got: Dict[str, List[Any]], expected: Dict[str, List[Any]]) -> None:
    """Equal values, type and float sign included, and the same sharing: two lines hold one object
    in a column exactly where the reference's two lines do (interned strings, one parameters dict
    per setting, shared result mappings)."""
    assert list(got) == list(expected) == list(FIELDS)
    for name in FIELDS:
        assert [_typed(name, value) for value in got[name]] == [_typed(name, value) for value in expected[name]], name
        pairs = set(zip(map(id, got[name]), map(id, expected[name])))
        assert len(pairs) == len({got_id for got_id, _ in pairs}) == len({ref_id for _, ref_id in pairs}), name


def read_files(paths: List[Path], manifest: Dict[str, ManifestItem], reader: str):
    """The columns of every file of ``paths`` loaded with one memo, as load_outputs does, by
    load_file_columns (``reader`` "columns") or from load_file's Lines ("lines"); or the exception raised."""
    memo = load._Memo()
    try:
        if reader == "columns":
            per_file = [load.load_file_columns(path, manifest, memo) for path in paths]
        else:
            per_file = [dict(zip(FIELDS, line_columns(load.load_file(path, manifest, memo), FIELDS))) for path in paths]
    except Exception as exc:  # compared by the caller: the same error
        return exc
    return {name: [value for columns in per_file for value in columns[name]] for name in FIELDS}


_CONDITIONS = ("full", "hint", "early_answering", "adding_mistakes", "paraphrasing", "mask", "noise_snr", "swap",
               "another_tool's_condition")
_OPTIONAL = {  # a field: the values a generated line may hold (absent when not drawn)
    "answer_mode": ["logits", "generate", ""], "answer": ["A", "B", ""], "dataset": ["sakura", "mmau", "", 7],
    "reference_field": ["baseline_prediction", "baseline_cue_prediction", ""],
    "baseline_prediction": ["A", "C", None], "baseline_cue_prediction": ["B", None], "prediction": ["A", "B", None, 3],
    "letter_logprobs": [{}, {"A": -1.0, "B": -1.0}, {"A": -0.5, "B": -2.0}], "raw": ["text", None],
    "cot_source_model": ["", "m1", "m9", "reference"], "protocol": ["ours", "paper"], "error": [None, "boom"],
    "thinking": ["on", "off", None], "finish_reason": ["stop", "length", None, 1],
    "rewrite_unchanged": [True, False, 1], "audio_warnings": [[], ["audio cut to 30 s"], ["quiet"]],
    "cue_prediction": ["A"], "switched_to_hint": [True, False, None, 1, 0.5], "mentions_hint": [False, "x"],
    "swap_answer_known": [False, True]}
_PARAMETERS = {"mode": ["fixed_cot", "regenerate"], "fraction": [0.0, -0.0, 0.25, 0.5], "k": [0, 1, 2, None],
               "n": [4], "snr_db": [20.0, -0.0, 5.5], "hint_letter": ["A", "B"], "swap_source_id": ["x/y/single/z"],
               "cot_source": ["reference", None], "hop": ["shadowed"], "flag": [True, False]}
#: Values a file of odd lines may hold besides: what the columnar reader leaves to load_file.
_ODD_OPTIONAL = {"reference_field": ["nonsense", ["a"]], "prediction": [["A"]], "answer": [None, ["A"]]}
_ODD_PARAMETERS = {"fraction": [1, 1.0, True, float("nan")], "snr_db": [20], "level": [[1, 2], 3, "3"],
                   "k": [False, "1"]}
#: Lines the line-by-line reader handles apart or rejects, planted among generated ones.
_ODD_LINES = ['{"id": "sakura/animal/single/c0", "model": "m1", "run": 0, "condition": "full", "answer": "A"}',
              '[1, 2]', '{"no_id": 1}', '{"id": "x", "neither": 1}', '{"schema_version": 1, "id": "a/b", "run": 0, '
              '"condition": "full", "model": "m1"}', '{"schema_version": 1, "id": "sakura/animal/single/c0", '
              '"run": 0, "condition": "full", "model": "m1", "x": NaN, "param_names": ["x"]}', '',
              '{"schema_version": 1, "id": "sakura/animal/single/c0", "run": 0, "condition": "full", "model": "m1", '
              '"big": 123456789012345678901234567890}', '{"schema_version": 2, "id": "a", "run": 0, "condition": "c"}']
_BASELINE = {"schema_version": 1, "model": "m1", "prompt_mode": "cot", "answer": "A", "runs_reasonings": ["r", "s"],
             "runs_raw": ["x", "y"], "runs_predictions": ["A", None], "runs_correct": [True, None],
             "runs_letter_logprobs": [{"A": -1.0, "B": -1.0}, {}], "runs_finish_reasons": ["stop", "length"],
             "warnings": [], "error": None, "protocol": "ours", "runs_answer_raw": []}

_ABSENT = "<absent>"
#: What a generated baseline record may hold instead of ``_BASELINE``'s values (_ABSENT: no such field).
_BASELINE_VARIANTS = {
    "runs_raw": [_ABSENT], "error": ["audio failed"], "runs_letter_logprobs": [_ABSENT],
    "runs_finish_reasons": [_ABSENT], "warnings": [["audio cut to 30 s"], _ABSENT], "thinking": ["on", None],
    "protocol": ["paper", _ABSENT], "answer": ["", _ABSENT], "dataset": ["mmau", _ABSENT],
    "subset": ["gender", _ABSENT], "hop": ["multi"], "runs_reasonings": [["r"]], "extra_field": [1]}
#: Values of a file of odd lines besides: what the records reject or migrate (read line by line).
_ODD_BASELINE_VARIANTS = {"schema_version": [_ABSENT, 0, 2, True], "prompt_mode": ["both", _ABSENT],
                          "model": ["", None, 5, _ABSENT], "runs_predictions": ["AB"], "runs_raw": ["xy", None],
                          "thinking": [True, 1], "protocol": [["p"]]}


@st.composite
def _files(draw):
    """Lines of two files: conditioned / intervention lines of several shapes (runs of one setting
    in a row, so its group is reused), baseline records, and now and then an odd line."""
    files = []
    for _ in range(2):
        odd = draw(st.integers(0, 2)) == 0  # a file the columnar reader may leave to load_file
        optional = {name: values + (_ODD_OPTIONAL.get(name, []) if odd else []) for name, values in _OPTIONAL.items()}
        parameters = {name: values + (_ODD_PARAMETERS.get(name, []) if odd else [])
                      for name, values in {**_PARAMETERS, **(_ODD_PARAMETERS if odd else {})}.items()}
        lines = []
        for _ in range(draw(st.integers(1, 6))):
            item_id = draw(st.sampled_from(["sakura/animal/single/c0", "sakura/emotion/multi/c1",
                                            "mmau/sound/single/u1"]))
            if draw(st.integers(0, 3)) == 0:
                baseline = {**_BASELINE, "id": item_id, "model": draw(st.sampled_from(["m1", "m2"])),
                            "prompt_mode": draw(st.sampled_from(["cot", "direct"]))}
                runs = draw(st.integers(0, 3))  # lists of each run's values, some of another length
                for name, values in (("runs_predictions", ["A", "B", None]), ("runs_reasonings", ["r"]),
                                     ("runs_raw", ["x", "y"]), ("runs_finish_reasons", ["stop", "length", None]),
                                     ("runs_letter_logprobs", [{}, {"A": -0.5, "B": -0.5}, {"C": -1.0}, None])):
                    length = runs if name in ("runs_predictions", "runs_reasonings") and not odd else \
                        draw(st.sampled_from([runs, runs, runs + 1, max(runs - 1, 0)]))
                    baseline[name] = [draw(st.sampled_from(values)) for _ in range(length)]
                for name in draw(st.lists(st.sampled_from(sorted(_BASELINE_VARIANTS)), unique=True, max_size=3)):
                    baseline[name] = draw(st.sampled_from(_BASELINE_VARIANTS[name] + (
                        _ODD_BASELINE_VARIANTS.get(name, []) if odd else [])))
                lines.append(json.dumps({name: value for name, value in baseline.items() if value is not _ABSENT}))
                continue
            line = {"schema_version": draw(st.sampled_from([1, 1, 1, 0, None] if odd else [1])), "id": item_id,
                    "model": draw(st.sampled_from(["m1", "m2", "m1", ""] if odd else ["m1", "m2"])), "run": 0,
                    "condition": draw(st.sampled_from(_CONDITIONS))}
            if line["schema_version"] is None:
                del line["schema_version"]
            for name in draw(st.lists(st.sampled_from(sorted(optional)), unique=True)):
                line[name] = draw(st.sampled_from(optional[name]))
            params = {name: draw(st.sampled_from(parameters[name]))
                      for name in draw(st.lists(st.sampled_from(sorted(parameters)), unique=True, max_size=3))}
            line.update(params)
            if params or draw(st.booleans()):
                line["param_names"] = sorted(params)
            for run in range(draw(st.integers(1, 4))):
                lines.append(json.dumps({**line, "run": run}))
            for name in draw(st.lists(st.sampled_from(sorted(params)), max_size=2)) if params else ():
                # a sibling setting: one parameter drawn again (0.0 and -0.0, 1 and 1.0 side by side)
                lines.append(json.dumps({**line, name: draw(st.sampled_from(parameters[name]))}))
        if odd and draw(st.booleans()):
            lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(_ODD_LINES)))
        files.append(lines)
    return files


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=_files(), batch=st.sampled_from([1, 2, 3, 512]))
def test_generated_files_load_as_columns_exactly_as_line_by_line(tmp_path_factory, monkeypatch, files, batch):
    """load_file_columns (columns per batch and shape, falling back to load_file for what it does
    not handle) gives exactly load_file's values and shared objects, or the same first error, for
    files of mixed shapes, versions, baselines and interventions, edge values (1, 1.0, True; 0.0,
    -0.0; NaN; lists; mixed types; unknown reference fields; empty models), bad lines and any
    batch size. A manifest item gives its answer and clip."""
    monkeypatch.setattr(load, "LOAD_BATCH", batch)
    manifest = {"mmau/sound/single/u1": ManifestItem("mmau/sound/single/u1", "mmau", "sound", "single",
                                                     "clips/u1.wav", "q?", ("a", "b"), "B")}
    folder = tmp_path_factory.mktemp("files")
    paths = []
    for number, lines in enumerate(files):
        path = folder / f"f{number}" / "interventions" / "x.jsonl"
        path.parent.mkdir(parents=True)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        paths.append(path)
    got, expected = read_files(paths, manifest, "columns"), read_files(paths, manifest, "lines")
    if isinstance(expected, Exception):
        assert type(got) is type(expected) and str(got) == str(expected)
    else:
        assert not isinstance(got, Exception), got
        assert_same_columns(got, expected)


def test_regular_files_are_read_as_columns_not_line_by_line(tmp_path, monkeypatch):
    """Every file of the synthetic study outputs (every line kind) takes the columnar reader, in
    batches across which shapes and settings recur; their columns are load_file's."""
    outputs, manifests = tmp_path / "output", tmp_path / "manifests"
    write_synthetic_outputs(outputs, n_clips=6, runs=2, seed=4, manifest_dir=manifests)
    manifest = load.load_manifests(manifests)
    paths = load.find_output_files(outputs)
    expected = read_files(paths, manifest, "lines")
    monkeypatch.setattr(load, "LOAD_BATCH", 7)
    monkeypatch.setattr(load, "load_file", lambda *args: pytest.fail(f"read line by line: {args[0]}"))
    got = read_files(paths, manifest, "columns")
    assert_same_columns(got, expected)


def _load_line_by_line(root: Path, manifest_dir: Path, exclude_cut: bool) -> List[load.Line]:
    """What load_outputs loaded before it read columns: load_file, then the checks and joins on Lines."""
    manifest = load.load_manifests(manifest_dir)
    memo = load._Memo()
    lines = [line for path in load.find_output_files(root) for line in load.load_file(path, manifest, memo)]
    load._check_duplicates(lines)
    load.join(lines)
    if exclude_cut:
        load.exclude_cut_cots(lines)
    for spec in spec_index().specs:
        if spec.cross_reference is not None:
            spec.cross_reference(dict(zip(FIELDS, line_columns(lines, FIELDS))))  # the lines' own result dicts
    return lines


@pytest.mark.parametrize("exclude_cut", [False, True])
def test_loaded_columns_are_the_lines_and_the_line_by_line_load(tmp_path, exclude_cut):
    """load_outputs sets Dataset.columns: every field of every Line, the very objects (so a
    family's cross_reference results, filled into the Lines' result dicts, are in the column too);
    the Lines equal those of loading line by line (duplicates checked, references joined, cut CoTs
    excluded, hint controls attached)."""
    outputs, manifests = tmp_path / "output", tmp_path / "manifests"
    write_synthetic_outputs(outputs, n_clips=6, runs=2, seed=4, manifest_dir=manifests)
    dataset = load.load_outputs(outputs, manifests, exclude_cut=exclude_cut)
    assert dataset.columns is not None and list(dataset.columns) == list(FIELDS)
    columns = dataset_columns(dataset, FIELDS)
    from_lines = line_columns(dataset.lines, FIELDS)
    for name, column, expected in zip(FIELDS, columns, from_lines):
        assert len(column) == len(expected) and all(a is b for a, b in zip(column, expected)), name
    reference = _load_line_by_line(outputs, manifests, exclude_cut)
    assert_same_columns(dict(zip(FIELDS, from_lines)), dict(zip(FIELDS, line_columns(reference, FIELDS))))
    assert any(line.lanham_fallback for line in dataset.lines) or any(line.lanham_reference for line in dataset.lines)
    assert any("no_hint_prediction" in line.result for line in dataset.lines)
    assert any(line.excluded == load.CUT_BY_LENGTH for line in dataset.lines) == exclude_cut


def test_a_duplicate_line_is_named_as_line_by_line(tmp_path):
    """The columnar duplicate check names the same two lines as the line-by-line one."""
    outputs = tmp_path / "output"
    write_synthetic_outputs(outputs, n_clips=2, runs=2, seed=1)
    path = load.find_output_files(outputs)[-1]
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines + [lines[1]]) + "\n", encoding="utf-8")
    with pytest.raises(load.ReportError) as expected:
        _load_line_by_line(outputs, tmp_path / "none", False)
    with pytest.raises(load.ReportError) as got:
        load.load_outputs(outputs, tmp_path / "none")
    assert str(got.value) == str(expected.value) and "duplicate of" in str(got.value)


def test_settings_that_print_apart_stay_apart_in_columns(tmp_path, monkeypatch):
    """Lines of one shape whose parameters are equal in Python but print apart (``0.0`` and ``-0.0``)
    are read as columns into separate settings, each with its own parameters dict, as line by line;
    a NaN or a column of mixed types (``1`` and ``1.0``) is left to load_file."""
    base = {"schema_version": 1, "id": "sakura/animal/single/c0", "model": "m1", "run": 0,
            "condition": "early_answering", "answer": "A", "prediction": "A", "k": 0, "n": 4,
            "param_names": ["fraction", "k", "n"]}
    cases = {"floats": [0.0, -0.0, 0.5, 0.0, -0.0], "mixed": [1, 1.0, 1], "nan": [0.5, float("nan")]}
    for case, fractions in cases.items():
        path = tmp_path / case / "interventions" / "early_answering_sakura.jsonl"
        path.parent.mkdir(parents=True)
        path.write_text("".join(json.dumps({**base, "run": run, "fraction": fraction}) + "\n"
                                for run, fraction in enumerate(fractions)), encoding="utf-8")
        expected = read_files([path], {}, "lines")
        with monkeypatch.context() as patch:
            if case == "floats":
                patch.setattr(load, "load_file", lambda *args: pytest.fail("read line by line"))
            got = read_files([path], {}, "columns")
        assert_same_columns(got, expected)
        if case == "floats":
            assert [repr(params["fraction"]) for params in got["params"]] == ["0.0", "-0.0", "0.5", "0.0", "-0.0"]
            assert len({id(params) for params in got["params"]}) == 3


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=_files(), exclude_cut=st.booleans())
def test_generated_outputs_load_as_line_by_line(tmp_path_factory, files, exclude_cut):
    """load_outputs (duplicates, joins and exclusions on the columns, then the Lines) gives the Lines
    of loading line by line, or the same first error, for generated outputs: direct runs joined to
    CoT runs, legacy references, AOC steps with and without their `full` line, the paper protocol,
    cut CoTs, duplicates."""
    root = tmp_path_factory.mktemp("outputs")
    for number, lines in enumerate(files):
        path = root / f"m{number}" / "interventions" / "x.jsonl"
        path.parent.mkdir(parents=True)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    try:
        expected = line_columns(_load_line_by_line(root, root / "none", exclude_cut), FIELDS)
    except Exception as exc:
        with pytest.raises(type(exc)) as got:
            load.load_outputs(root, root / "none", exclude_cut=exclude_cut)
        assert str(got.value) == str(exc)
    else:
        dataset = load.load_outputs(root, root / "none", exclude_cut=exclude_cut)
        assert_same_columns(dataset.columns, dict(zip(FIELDS, expected)))


def test_joins_on_columns_fill_in_what_join_fills_in(tmp_path):
    """A direct run takes its CoT run's letter, an old letter read-out line (no reference field) the
    baseline's read-out, an AOC step its `full` line's letter (the baseline's letter under the
    paper protocol), as join() on Lines gives them."""
    item = "sakura/animal/single/c0"
    baselines = [{**_BASELINE, "id": item, "prompt_mode": mode} for mode in ("cot", "direct")]
    step = {"schema_version": 1, "id": item, "model": "m1", "run": 0, "answer_mode": "logits", "answer": "A",
            "baseline_prediction": "B", "prediction": "C", "k": 1, "n": 4, "fraction": 0.25,
            "param_names": ["fraction", "k", "n"]}
    lines = baselines + [
        {**step, "condition": "full", "reference_field": "baseline_prediction", "param_names": [], "k": None},
        {**step, "condition": "early_answering"}, {**step, "condition": "early_answering", "run": 1},
        {**step, "condition": "early_answering", "protocol": "paper", "fraction": 0.5},
        {**step, "condition": "adding_mistakes", "reference_field": "baseline_cue_prediction"},
        {**step, "condition": "mask", "mode": "fixed_cot", "mask_ratio": 0.5, "param_names": ["mask_ratio", "mode"]}]
    path = tmp_path / "output" / "m1" / "interventions" / "x_sakura.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    expected = line_columns(_load_line_by_line(tmp_path / "output", tmp_path / "none", False), FIELDS)
    dataset = load.load_outputs(tmp_path / "output", tmp_path / "none")
    assert_same_columns(dataset.columns, dict(zip(FIELDS, expected)))
    kinds = dict(zip(zip(dataset.columns["condition"], dataset.columns["run"], dataset.columns["protocol"]),
                     dataset.columns["reference_kind"]))
    assert kinds[("early_answering", 0, "ours")] == kinds[("mask", 0, "ours")] == "readout"
    assert kinds[("early_answering", 1, "ours")] == "legacy"
    assert any(dataset.columns["lanham_fallback"]) and "parsed" in dataset.columns["reference_kind"]


_KEY_VALUES = {"dataset": ["sakura", "mmau", 7], "model": ["m1", "m2"], "condition": ["full", "hint"],
               "id": ["a/b/single/c0", "a/b/multi/c0", "x"], "run": [0, 1, 1.0, True, 2, -1, -2]}
_KEY_PARAMS = [{}, {"k": 0}, {"k": 0.0}, {"k": -0.0}, {"k": False}, {"k": [1]}, {"mode": "a", "k": 1}]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(*(st.sampled_from(values) for values in _KEY_VALUES.values()),
                          st.integers(0, len(_KEY_PARAMS) - 1), st.booleans()), max_size=30))
def test_duplicate_key_codes_are_equal_exactly_where_the_keys_are(drawn):
    """``_key_codes`` gives two lines one code where their duplicate keys are equal (1, 1.0 and True
    one run; parameters by their printed key, so 0.0 and -0.0 apart, a fresh dict equal to another
    alike) and, runs apart whose hashes collide (-1 and -2), different codes where they differ: the
    lines are walked for the first duplicate only where two codes are equal."""
    columns: Dict[str, List[Any]] = {name: [] for name in (*_KEY_VALUES, "params")}
    for *values, params_number, fresh in drawn:
        for name, value in zip(_KEY_VALUES, values):
            columns[name].append(value)
        params = _KEY_PARAMS[params_number]
        columns["params"].append(dict(params) if fresh else params)
    codes = load._key_codes(columns)
    assert codes is not None and len(codes) == len(drawn)
    keys = [(dataset, model, condition, load.params_key(params), item_id, run) for dataset, model, condition, item_id,
            run, params in zip(*(columns[name] for name in (*_KEY_VALUES, "params")))]
    for first in range(len(keys)):
        for second in range(len(keys)):
            if keys[first] == keys[second]:
                assert codes[first] == codes[second]
            elif hash(keys[first][5]) != hash(keys[second][5]) or keys[first][:5] != keys[second][:5]:
                assert codes[first] != codes[second], (keys[first], keys[second])



def test_loading_builds_no_line_object_and_reads_lines_from_the_columns(tmp_path, monkeypatch):
    """load_outputs (baseline records and the families' cross_reference included) builds no Line:
    ``Dataset.lines`` builds each one from the columns when it is read (index, negative index,
    slice, iteration), equal to the Lines of the line-by-line load, sharing the columns' objects."""
    outputs, manifests = tmp_path / "output", tmp_path / "manifests"
    write_synthetic_outputs(outputs, n_clips=4, runs=2, seed=3, manifest_dir=manifests)
    built: List[int] = []
    original_init = load.Line.__init__
    monkeypatch.setattr(load.Line, "__init__", lambda self, *args, **kwargs: built.append(1) or original_init(
        self, *args, **kwargs))
    dataset = load.load_outputs(outputs, manifests)
    assert not built and isinstance(dataset.lines, rows.ColumnLines)
    assert "baseline_cot" in dataset.columns["condition"]
    monkeypatch.undo()
    lines = list(dataset.lines)
    reference = _load_line_by_line(outputs, manifests, False)
    assert lines == reference and dataset.lines == reference and len(dataset.lines) == len(reference)
    assert dataset.lines[-1] == reference[-1] and dataset.lines[3:9] == reference[3:9]
    assert rows.lines_at(dataset.lines, [7, 2, 5]) == rows.lines_at(reference, [7, 2, 5]) == [reference[7], reference[2],
                                                                                             reference[5]]
    assert rows.lines_at(dataset.lines, [4]) == [reference[4]] and rows.lines_at(dataset.lines, []) == []
    assert dataset.lines[5].params is dataset.columns["params"][5]
    assert dataset.lines[5].result is dataset.columns["result"][5]
    with pytest.raises(IndexError):
        dataset.lines[len(reference)]
    assert rows.line_columns(dataset.lines, ["id", "result"]) == [dataset.columns["id"], dataset.columns["result"]]
    assert any("no_hint_prediction" in line.result for line in dataset.lines)


def test_baseline_records_are_read_as_columns_as_line_by_line(tmp_path, monkeypatch):
    """Baseline records are read as columns, without a record or a Line, into load_file's values:
    run lists of other lengths than the predictions', errors, no runs, missing read-outs, models
    labelled by thinking mode and protocol (``True`` and ``1`` apart), a model that is a number."""
    path = tmp_path / "m1" / "baseline_sakura.jsonl"
    path.parent.mkdir(parents=True)
    item = "sakura/animal/single/c0"
    records = [{**_BASELINE, "id": item}, {**_BASELINE, "id": item, "thinking": True},
               {**_BASELINE, "id": item, "thinking": 1}, {**_BASELINE, "id": item, "thinking": "on", "protocol": "paper"},
               {**_BASELINE, "id": item, "model": 5}, {**_BASELINE, "id": item, "runs_raw": ["x"]},
               {**_BASELINE, "id": item, "runs_letter_logprobs": [{"C": -1.0}]}, {**_BASELINE, "id": item, "error": "x"},
               {**_BASELINE, "id": item, "runs_predictions": [], "runs_reasonings": []},
               {**_BASELINE, "id": item, "warnings": ["audio cut to 30 s"], "runs_finish_reasons": ["stop"]}]
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    expected = read_files([path], {}, "lines")
    monkeypatch.setattr(load, "load_file", lambda *args: pytest.fail("read line by line"))
    monkeypatch.setattr(load.BaselineRecord, "from_json", lambda *args: pytest.fail("read through a record"))
    got = read_files([path], {}, "columns")
    assert_same_columns(got, expected)
    assert {"m1 [thinking True]", "m1 [thinking 1]", "m1 [thinking on] [paper protocol]", 5} <= set(got["model"])
