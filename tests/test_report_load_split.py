"""A load split between the report's process and a forked one (``load.start_loading`` with
``parallel``): the same Dataset as one process loading every file (values, types and shared
objects), the same first error in file order, a clear ReportError when the child dies, and a report
(``write_report``, which forks before the plot worker starts its threads) of the same bytes."""

from __future__ import annotations

import filecmp
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from tqdm._monitor import TMonitor

from audiofaith.checkpoints.synthetic_outputs import write_synthetic_outputs
from audiofaith.report import cli, load
from audiofaith.report.rows import line_columns
from audiofaith.report.stats import Settings

from tests.test_report_load_columns import FIELDS, _files, _typed, assert_same_columns

REAL_IDLE_CORES = load._idle_cores  # what the autouse fixture below replaces, for the tests of it

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the split load forks")


@pytest.fixture(autouse=True)
def split_small_inputs(monkeypatch):
    """Split whatever the size (the report splits only from PARALLEL_LOAD_MIN_BYTES on), and on this
    machine's cores whatever their number and load; tqdm's monitor thread, which an earlier test's progress
    bar may have started, ended (no fork while another thread runs)."""
    monkeypatch.setattr(load, "PARALLEL_LOAD_MIN_BYTES", 0)
    monkeypatch.setattr(load, "usable_cores", lambda: 2)
    monkeypatch.setattr(load, "_idle_cores", lambda: 2.0)  # a core idle, however busy this machine is
    for thread in threading.enumerate():
        if isinstance(thread, TMonitor):
            thread.exit()
    assert threading.active_count() == 1, threading.enumerate()


def _load(root: Path, manifest_dir: Path, parallel: bool, exclude_cut: bool = False):
    """(the Dataset's columns, whether the load was split), or (the exception raised, split)."""
    loading = load.start_loading(root, manifest_dir, exclude_cut=exclude_cut, parallel=parallel)
    try:
        dataset = loading.finish()
    except Exception as exc:  # compared by the caller: the same error
        return exc, loading.split
    finally:
        loading.close()
    assert all(a is b for name, column, from_lines in zip(FIELDS, (dataset.columns[name] for name in FIELDS),
                                                          line_columns(dataset.lines, FIELDS))
               for a, b in zip(column, from_lines))
    return dataset.columns, loading.split


@pytest.mark.parametrize("exclude_cut", [False, True])
def test_a_split_load_is_the_single_process_load(tmp_path, exclude_cut):
    """Every line kind of the synthetic study outputs, split between two processes: the same values,
    types and shared objects (interned strings, one parameters dict and x per setting across both
    parts, shared result mappings, NO_RESULTS) as one process reading every file."""
    outputs, manifests = tmp_path / "output", tmp_path / "manifests"
    write_synthetic_outputs(outputs, n_clips=6, runs=2, seed=4, manifest_dir=manifests)
    expected, expected_split = _load(outputs, manifests, parallel=False, exclude_cut=exclude_cut)
    got, split = _load(outputs, manifests, parallel=True, exclude_cut=exclude_cut)
    assert split and not expected_split
    assert_same_columns(got, expected)
    assert any(result is load.NO_RESULTS for result in got["result"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=_files(), extra=st.integers(0, 2))
def test_generated_files_split_as_in_one_process(tmp_path_factory, files, extra):
    """Generated files of every shape, edge value and bad line (``test_report_load_columns``), split
    after the first file: the same columns and shared objects, or the same first error (a bad line
    in the report's part before one in the child's; the child's raised here with its type and message)."""
    root = tmp_path_factory.mktemp("split")
    for number, lines in enumerate(files + files[:1] * extra):  # a file again: duplicates across the parts
        path = root / f"f{number}" / "interventions" / "x.jsonl"
        path.parent.mkdir(parents=True)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    expected, _ = _load(root, root / "none", parallel=False)
    got, split = _load(root, root / "none", parallel=True)
    assert split
    if isinstance(expected, Exception):
        assert type(got) is type(expected) and str(got) == str(expected)
    else:
        assert not isinstance(got, Exception), got
        assert_same_columns(got, expected)


def test_settings_across_both_parts_share_their_objects(tmp_path):
    """Lines of one setting in the report's files and in the child's: one parameters dict, one
    ``x`` float and one result mapping across both parts, as in one process; a one-character
    ``raw`` an object per line as the JSON parser made it (unpickling shares Python's own)."""
    steps = {"schema_version": 1, "model": "m1", "condition": "early_answering", "answer": "A", "prediction": "B",
             "raw": "x", "fraction": 0.5, "k": 2, "n": 4, "param_names": ["fraction", "k", "n"]}
    rewrites = {"schema_version": 1, "model": "m1", "condition": "paraphrasing", "answer": "A", "prediction": "B",
                "raw": "y", "fraction": 0.25, "k": 1, "n": 4, "param_names": ["fraction", "k", "n"],
                "rewrite_unchanged": False}
    for number, item in enumerate(["c0", "c1"]):
        path = tmp_path / "output" / f"m{number}" / "interventions" / "x.jsonl"
        path.parent.mkdir(parents=True)
        path.write_text("".join(json.dumps({**line, "id": f"sakura/animal/single/{item}", "run": run}) + "\n"
                                for line in (steps, rewrites) for run in range(2)), encoding="utf-8")
    expected, _ = _load(tmp_path / "output", tmp_path / "none", parallel=False)
    got, split = _load(tmp_path / "output", tmp_path / "none", parallel=True)
    assert split
    assert_same_columns(got, expected)
    steps_x = [x for x, condition in zip(got["x"], got["condition"]) if condition == "early_answering"]
    assert len(steps_x) == 4 and len(set(map(id, steps_x))) == 1
    assert len({id(params) for params in got["params"]}) == 2
    rewrite_results = [result for result, condition in zip(got["result"], got["condition"]) if condition == "paraphrasing"]
    assert len(rewrite_results) == 4 and len(set(map(id, rewrite_results))) == 1
    assert [raw for raw in got["raw"]] == ["x", "x", "y", "y"] * 2


def _outputs_with_bad_lines(root: Path, bad_files: List[int]) -> List[Path]:
    """Synthetic outputs whose files at positions ``bad_files`` end with a malformed line."""
    write_synthetic_outputs(root, n_clips=3, runs=1, seed=2)
    files = load.find_output_files(root)
    for position in bad_files:
        with files[position].open("a", encoding="utf-8") as stream:
            stream.write("{not json\n")
    return files


@pytest.mark.parametrize("bad_files", [[0, -1], [-1]], ids=["both parts", "child's part"])
def test_the_first_error_in_file_order_wins(tmp_path, bad_files):
    """A bad line in the report's own files is raised before one in the child's; a bad line in the
    child's files alone is raised as one process raises it (type and message naming file:line)."""
    files = _outputs_with_bad_lines(tmp_path / "output", bad_files)
    expected, _ = _load(tmp_path / "output", tmp_path / "none", parallel=False)
    got, split = _load(tmp_path / "output", tmp_path / "none", parallel=True)
    assert split and isinstance(expected, Exception)
    assert type(got) is type(expected) and str(got) == str(expected)
    assert str(files[bad_files[0]]) in str(got)


def test_a_child_that_dies_fails_the_load(tmp_path, monkeypatch):
    """A loading child killed while it reads fails the load with a ReportError that says so:
    no hang, no partial Dataset."""
    write_synthetic_outputs(tmp_path / "output", n_clips=3, runs=1, seed=2)
    last = load.find_output_files(tmp_path / "output")[-1]  # read by the child
    read = load.load_file_columns
    report_process = os.getpid()

    def killed_on_the_last(path: Path, *args: Any, **kwargs: Any) -> Dict[str, List[Any]]:
        if path == last and os.getpid() != report_process:
            os.kill(os.getpid(), signal.SIGKILL)
        return read(path, *args, **kwargs)

    monkeypatch.setattr(load, "load_file_columns", killed_on_the_last)
    got, split = _load(tmp_path / "output", tmp_path / "none", parallel=True)
    assert split and isinstance(got, load.ReportError)
    assert "ended abnormally (killed by signal 9)" in str(got)


def test_no_split_where_threads_run_or_it_does_not_pay(tmp_path, monkeypatch):
    """No fork with another Python thread alive, on one core, with no core idle besides the report's
    own (its usable cores watched; the load average where they cannot be), below the size threshold
    or without ``parallel``."""
    write_synthetic_outputs(tmp_path / "output", n_clips=3, runs=1, seed=2)

    def split(**kwargs: Any) -> bool:
        loading = load.start_loading(tmp_path / "output", None, **kwargs)
        loading.close()
        return loading.split

    assert split(parallel=True) and not split(parallel=False)
    monkeypatch.setattr(load.threading, "active_count", lambda: 2)
    assert not split(parallel=True)
    monkeypatch.undo()
    monkeypatch.setattr(load, "usable_cores", lambda: 1)
    assert not split(parallel=True)
    monkeypatch.undo()
    monkeypatch.setattr(load, "usable_cores", lambda: 2)
    monkeypatch.setattr(load, "PARALLEL_LOAD_MIN_BYTES", 0)
    for idle, splits in ((2.0, True), (1.5, True), (1.4, False), (0.0, False)):  # a core idle besides this one's
        monkeypatch.setattr(load, "_idle_cores", lambda: idle)
        assert split(parallel=True) is splits, idle
    monkeypatch.setattr(load, "_idle_cores", lambda: None)  # no per-CPU times: the load average, if any
    for load_average, splits in ((1.5, True), (1.6, False), (None, True)):
        monkeypatch.setattr(load, "_load_average", lambda: load_average)
        assert split(parallel=True) is splits, load_average
    monkeypatch.undo()
    monkeypatch.setattr(load, "PARALLEL_LOAD_MIN_BYTES", 1 << 40)
    assert not split(parallel=True)


def test_idle_cores_are_read_from_the_usable_cpus_times(monkeypatch):
    """The idle cores are the idle share of the usable CPUs' clock ticks between two reads of
    /proc/stat (idle and iowait idle; guest time not counted twice); other CPUs do not count."""
    stat = ("cpu  900 0 900 900 0 0 0 0 0 0\n"
            "cpu0 {0} 0 100 {1} 0 0 0 0 7 7\ncpu1 {2} 0 100 {3} {4} 0 0 0 0 0\ncpu2 {5} 0 0 0 0 0 0 0 0 0\n"
            "intr 1 2 3\n")
    reads = iter([stat.format(100, 100, 100, 100, 0, 5), stat.format(100, 110, 110, 100, 0, 500),  # cpu0 idle, cpu1 busy
                  stat.format(100, 100, 100, 100, 0, 5), stat.format(105, 105, 100, 105, 5, 5)])  # half and all idle
    monkeypatch.setattr(load, "_idle_cores", REAL_IDLE_CORES)
    monkeypatch.setattr(load, "_proc_stat", lambda: next(reads))
    monkeypatch.setattr(load.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(load, "IDLE_WINDOW_SECONDS", 0)
    assert load._idle_cores() == 1.0
    assert load._idle_cores() == 1.5
    assert load._cpu_times("cpu  1 2 3 4\n", {0}) is None and load._cpu_times(None, {0}) is None
    monkeypatch.setattr(load, "_proc_stat", lambda: stat.format(1, 1, 1, 1, 1, 1))
    assert load._idle_cores() is None  # no clock tick between the reads


@pytest.mark.skipif(not Path("/proc/stat").is_file() or not hasattr(os, "sched_getaffinity"),
                    reason="no per-CPU times on this system (the load average decides there)")
def test_a_busy_core_is_not_idle_here(monkeypatch):
    """On this machine: with a process spinning on each usable core but one, at most that one core
    (the report's own, idle while it watches) counts as idle, and the load is not split."""
    monkeypatch.setattr(load, "_idle_cores", REAL_IDLE_CORES)
    cores = sorted(os.sched_getaffinity(0))
    spinners = [subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"])
                for cpu in cores[1:]]
    try:
        time.sleep(0.3)
        idle = load._idle_cores()
        assert idle is not None and idle <= 1.3, idle
        assert not load._core_idle()
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def _process_state(pid: int, awaited: str) -> str:
    """A process's state letter in /proc ("T": stopped), once it is ``awaited`` (a signal takes
    effect a moment after it is sent) or after a second."""
    for _ in range(100):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if (state == "T") == (awaited == "T"):
            break
        time.sleep(0.01)
    return state


def test_the_report_forks_its_loader_before_the_plot_worker(tmp_path, monkeypatch):
    """write_report splits the load (forked before the plot worker starts its threads; the worker is
    stopped while both processes load, so that its import of matplotlib overlaps the statistics
    instead, and runs on afterwards) and writes the same bytes, plots included, as a report loading
    in one process (whose worker imports meanwhile); ``--no-parallel_load`` turns it off."""
    outputs, manifests = tmp_path / "output", tmp_path / "manifests"
    write_synthetic_outputs(outputs, n_clips=4, runs=2, seed=3, manifest_dir=manifests)
    events: List[str] = []
    workers: List[Any] = []
    finish, start_worker, summarize = load.OutputLoading.finish, cli.PlotWorker.__init__, cli.summarize
    proc = Path("/proc/self/stat").exists()

    def recorded(self: load.OutputLoading) -> Any:
        pid = workers[-1].worker_pid()
        expected = "T" if self.split else "R"
        events.append(f"{'split ' if self.split else ''}load, worker {_process_state(pid, expected) if proc else '?'}")
        return finish(self)

    def summarized(*args: Any, **kwargs: Any) -> Any:
        events.append(f"statistics, worker {_process_state(workers[-1].worker_pid(), 'R') if proc else '?'}")
        return summarize(*args, **kwargs)

    def worker_started(self: Any, *args: Any, **kwargs: Any) -> None:
        start_worker(self, *args, **kwargs)
        workers.append(self)

    monkeypatch.setattr(load.OutputLoading, "finish", recorded)
    monkeypatch.setattr(cli.PlotWorker, "__init__", worker_started)
    monkeypatch.setattr(cli, "summarize", summarized)
    report_settings = Settings(n_resamples=30, seed=1)
    cli.write_report(outputs, tmp_path / "split", manifests, report_settings, plot_worker=True, parallel_load=True)
    cli.write_report(outputs, tmp_path / "single", manifests, report_settings, plot_worker=True, parallel_load=False)
    assert [event.split(", ")[0] for event in events] == ["split load", "statistics", "load", "statistics"]
    if proc:
        assert events[0].endswith("worker T") and not events[1].endswith("T")  # stopped for the split load alone
        assert not events[2].endswith("T") and not events[3].endswith("T")
    written = sorted(path.relative_to(tmp_path / "split") for path in (tmp_path / "split").rglob("*") if path.is_file())
    assert written == sorted(path.relative_to(tmp_path / "single") for path in (tmp_path / "single").rglob("*")
                             if path.is_file())
    assert any(path.suffix == ".png" for path in written) and Path("per_item.csv") in written
    assert all(filecmp.cmp(tmp_path / "split" / path, tmp_path / "single" / path, shallow=False) for path in written)
    assert cli.parser().parse_args(["out", "--no-parallel_load"]).parallel_load is False
    assert cli.parser().parse_args(["out"]).parallel_load is True


def _write_lines(path: Path, lines: List[Dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def test_a_setting_of_either_float_zero_in_both_parts_shares_its_params(tmp_path):
    """A setting whose parameter is 0.0 in the report's files and both -0.0 (first) and 0.0 in the
    child's: the child's 0.0 lines share the report's parameters dict, its -0.0 lines one of their
    own, as in one process (the groups of one key are told apart by the signs of their zeros)."""
    steps = {"schema_version": 1, "model": "m1", "condition": "early_answering", "answer": "A", "prediction": "B",
             "k": 0, "n": 4, "param_names": ["fraction", "k", "n"]}
    _write_lines(tmp_path / "output" / "a" / "interventions" / "x.jsonl",
                 [{**steps, "fraction": 0.0, "id": f"sakura/animal/single/c{run}", "run": 0} for run in range(3)])
    _write_lines(tmp_path / "output" / "b" / "interventions" / "x.jsonl",
                 [{**steps, "fraction": fraction, "id": f"sakura/animal/single/c{run}", "run": 1}
                  for fraction in (-0.0, 0.0) for run in range(3)])
    expected, _ = _load(tmp_path / "output", tmp_path / "none", parallel=False)
    got, split = _load(tmp_path / "output", tmp_path / "none", parallel=True)
    assert split
    assert_same_columns(got, expected)
    params = got["params"]
    assert [repr(p["fraction"]) for p in params] == ["0.0"] * 3 + ["-0.0"] * 3 + ["0.0"] * 3
    assert len({id(p) for p in params[:3] + params[6:]}) == 1 and params[3] is not params[0]


def test_the_child_sends_each_shared_object_once_by_placeholder(tmp_path):
    """The child's columns (``_ChildColumns.of``) hold no interned string, parameters dict, ``x`` or
    shared result mapping of its own but a placeholder each, the object itself sent once before
    them; unpickled (``_ColumnsUnpickler``) as the report's own object (its interned strings, its
    parameters dict, ``x`` and result mapping where it has the same setting), appended to the
    report's own columns. A plain unpickler cannot read them."""
    for part, seed in (("a", 5), ("b", 6)):  # the same settings in both parts
        write_synthetic_outputs(tmp_path / "output" / part, n_clips=3, runs=2, models=("m1",), seed=seed)
    files = load.find_output_files(tmp_path / "output")
    half = len(files) // 2
    assert all("/a/" in str(path) for path in files[:half]) and all("/b/" in str(path) for path in files[half:])
    report_memo, child_memo = load._Memo(), load._Memo()
    report_columns: Dict[str, List[Any]] = {name: [] for name in FIELDS}
    child_columns: Dict[str, List[Any]] = {name: [] for name in FIELDS}
    for path in files[:half]:
        load.load_file_columns(path, {}, report_memo, report_columns)
    for path in files[half:]:
        load.load_file_columns(path, {}, child_memo, child_columns)
    expected = {name: [_typed(name, value) for value in column] for name, column in child_columns.items()}
    shared, appended = load._ChildColumns.of(child_columns, child_memo)
    assert [column.name for column in appended] == list(FIELDS)
    sent = {column.name: column.values for column in appended}
    placeholders = {id(value): value for column in sent.values() for value in column
                    if type(value) is load._Placeholder}
    assert sorted(placeholder.number for placeholder in placeholders.values()) == list(range(len(placeholders)))
    assert len(placeholders) == (len(shared.strings) + len(shared.params) + len(shared.xs) + len(shared.results)
                                 + len(shared.parsed))
    assert len(shared.strings) == len(set(shared.strings))
    for name in load._INTERNED_FIELDS:
        assert not any(type(value) is str for value in sent[name]), name
    assert not any(type(value) is float for value in sent["x"])
    assert not any(type(value) is load.MappingProxyType for value in sent["result"])
    assert not any(params for params in sent["params"] if type(params) is dict)  # only baselines' own empty dicts
    with pytest.raises(load.ReportError, match="without its objects"):
        pickle.loads(pickle.dumps(sent))
    with pytest.raises(load.ReportError, match="without the columns it is appended to"):
        pickle.loads(pickle.dumps(appended[4:5]))  # the run column: no placeholders
    stream = io.BytesIO()
    pickle.dump(("columns", shared), stream)
    pickle.dump(appended, stream)
    stream.seek(0)
    _, unpickled = pickle.load(stream)
    got: Dict[str, List[Any]] = {name: ["before"] for name in FIELDS}
    load._ColumnsUnpickler(stream, unpickled.objects(report_memo), got).load()
    assert all(column[0] == "before" for column in got.values())
    got = {name: column[1:] for name, column in got.items()}
    assert {name: [_typed(name, value) for value in column] for name, column in got.items()} == expected
    assert all(type(value) is not str or value is sys.intern(value)
               for name in load._INTERNED_FIELDS for value in got[name])
    for name in ("params", "x"):
        report_objects = {id(value) for value in report_columns[name]}
        shared_objects = [value for value in got[name] if value is not None and (name != "params" or value)]
        assert shared_objects and all(id(value) in report_objects for value in shared_objects), name
    report_results = {id(result) for result in report_columns["result"]}
    assert any(id(result) in report_results and result for result in got["result"])
    assert all(result is load.NO_RESULTS or any(result is known for known in report_memo.results.values())
               for result in got["result"] if type(result) is load.MappingProxyType)


def test_a_duplicate_across_the_parts_is_named_as_in_one_process(tmp_path):
    """A line of the child's files that duplicates one of the report's own is found once the
    columns are joined, and named (file:line of both) exactly as a single-process load names it."""
    outputs, manifests = tmp_path / "output", tmp_path / "manifests"
    write_synthetic_outputs(outputs, n_clips=4, runs=2, seed=7, manifest_dir=manifests)
    files = load.find_output_files(outputs)
    copy = outputs / "zz" / files[0].relative_to(outputs)  # read last, by the child: a duplicate of the first file
    copy.parent.mkdir(parents=True)
    copy.write_bytes(files[0].read_bytes())
    expected_error, _ = _load(outputs, manifests, parallel=False)
    got, split = _load(outputs, manifests, parallel=True)
    assert split and isinstance(expected_error, load.ReportError) and "duplicate of" in str(expected_error)
    assert type(got) is type(expected_error) and str(got) == str(expected_error)
