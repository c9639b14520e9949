"""The summary statistics and AOCs at study scale (report/stats.py, report/metrics.py): they read a
loaded dataset's columns, code each combination of a line's fields once, count the bootstrap draws
a few rows at a time and take the AOC points as arrays, with the numbers of the line-by-line code."""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict

import numpy as np
import pytest

from audiofaith import report
from audiofaith.checkpoints.synthetic_outputs import write_synthetic_outputs
from audiofaith.report import metrics, rows, stats


def _with_columns(dataset: rows.Dataset) -> rows.Dataset:
    names = [field.name for field in dataclasses.fields(rows.Line)]
    return dataclasses.replace(dataset, columns=dict(zip(names, rows.line_columns(dataset.lines, names))))


def test_the_summary_and_the_aocs_read_a_loaded_datasets_columns(tmp_path, monkeypatch):
    """With ``Dataset.columns`` set, summarize and aoc_rows read no line field by field, and their
    rows are those of the same dataset read from its lines."""
    write_synthetic_outputs(tmp_path / "output", n_clips=6, runs=2, seed=5, manifest_dir=tmp_path / "manifests")
    dataset = report.load_outputs(tmp_path / "output", tmp_path / "manifests")
    dataset.columns = None  # read from the lines: the reference
    settings = report.Settings(n_resamples=200, seed=3)
    summary, aoc_rows = repr(stats.summarize(dataset, settings)), stats.aoc_rows(dataset, settings)
    assert any(not math.isnan(row.aoc_lo) for row in aoc_rows)  # defined AOCs: the comparison means something
    columnar = _with_columns(dataset)

    def no_line_reading(lines, names):
        if names:
            raise AssertionError(f"read {list(names)} line by line")
        return []

    monkeypatch.setattr(stats, "line_columns", no_line_reading)
    monkeypatch.setattr(rows, "line_columns", no_line_reading)
    assert repr(stats.summarize(columnar, settings)) == summary
    assert repr(stats.aoc_rows(columnar, settings)) == repr(aoc_rows)


def test_line_columns_number_each_combination_of_fields_once(monkeypatch):
    """LineColumns.of looks each line up once for its error / exclusion / letter fields together and
    once for its clip, id and run together (not once per field), with the codes of a field-by-field
    coding: equal letters equal codes, clusters their strings' ranks, items id rank × runs + run."""
    rng = np.random.default_rng(8)
    letters = ["A", "B", "C", None]
    lines = [rows.Line(model="m", subset="animal", hop="single", id=f"c{rng.integers(0, 30)}", run=int(i % 3),
                       condition="full", variant="", x=None, answer=letters[rng.integers(0, 3)],
                       prediction=letters[rng.integers(0, 4)], reference=letters[rng.integers(0, 4)],
                       paired=bool(rng.integers(0, 2)), error=[None, None, "boom", "bang"][rng.integers(0, 4)],
                       source=f"f:{i}", cluster=f"clip{rng.integers(0, 12)}",
                       excluded=[None, None, "rewrite_unchanged"][rng.integers(0, 3)],
                       finish_reason=["stop", "length", None][rng.integers(0, 3)],
                       lanham_reference=letters[rng.integers(0, 4)], cue_prediction=letters[rng.integers(0, 4)],
                       lanham_fallback=bool(rng.integers(0, 2)), readout_tie=[None, True, False][rng.integers(0, 3)],
                       reference_kind=["parsed", "readout", ""][rng.integers(0, 3)]) for i in range(500)]
    calls = []
    numbered = stats._numbered
    monkeypatch.setattr(stats, "_numbered", lambda values, count: calls.append(count) or numbered(values, count))
    columns = stats.LineColumns.of(lines)
    assert calls == [len(lines), len(lines)]
    assert columns.errored.tolist() == [line.error is not None for line in lines]
    assert columns.excluded.tolist() == [line.error is None and line.excluded is not None for line in lines]
    assert columns.scored.tolist() == [line.error is None and line.excluded is None for line in lines]
    assert columns.cut.tolist() == [line.finish_reason == "length" for line in lines]
    assert columns.paired.tolist() == [line.paired for line in lines]
    assert columns.lanham_fallback.tolist() == [line.lanham_fallback for line in lines]
    assert columns.readout_tie.tolist() == [{None: -1, False: 0, True: 1}[line.readout_tie] for line in lines]
    assert [columns.reference_kinds[code] for code in columns.reference_kind] == [line.reference_kind
                                                                                  for line in lines]
    letter_fields = ("prediction", "answer", "reference", "lanham_reference", "cue_prediction")
    code_of = {}
    for name in letter_fields:
        for code, line in zip(getattr(columns, name).tolist(), lines):
            assert code_of.setdefault(getattr(line, name), code) == code  # one code per letter, in every field
    assert code_of[None] == stats.NO_LETTER and len(set(code_of.values())) == len(code_of)
    clusters = sorted({line.cluster for line in lines})
    assert columns.cluster.tolist() == [clusters.index(line.cluster) for line in lines]
    ids = sorted({line.id for line in lines})
    assert columns.ids == tuple(ids) and columns.item_runs == 3
    assert columns.item.tolist() == [ids.index(line.id) * 3 + line.run for line in lines]
    assert columns.run.tolist() == [line.run for line in lines]
    empty = stats.LineColumns.of([])
    assert empty.scored.size == empty.item.size == 0 and empty.item_runs == 1


@pytest.mark.parametrize("m", [1, 3, 40, 123])
def test_draw_counts_made_a_few_rows_at_a_time_are_those_of_the_draws(monkeypatch, m):
    """ResampleDraws.counts, drawn and counted in chunks of rows, are the counts of the draws of one
    call of the seeded generator, whether the draws were made first or not; ``totals`` sums integer
    values over them exactly, in float32 where it can and in float64 where a total may pass 2^24."""
    monkeypatch.setattr(metrics, "COUNT_CHUNK_CELLS", 50)  # several rows a chunk for small m, one for large
    for n_resamples, seed in ((1, 0), (7, 4), (64, 9)):
        picks = np.random.default_rng(seed).integers(0, m, size=(n_resamples, m))
        expected = np.array([np.bincount(row, minlength=m) for row in picks])
        alone = metrics.ResampleDraws(m, n_resamples, seed)
        assert alone.counts.dtype == np.float32 and np.array_equal(alone.counts, expected)
        after_picks = metrics.ResampleDraws(m, n_resamples, seed)
        assert np.array_equal(after_picks.picks, picks) and np.array_equal(after_picks.counts, expected)
        rng = np.random.default_rng(seed + 1)
        for magnitude in (1, 30, 2 ** 26):  # the last forces the float64 product
            values = rng.integers(-magnitude, magnitude + 1, size=(3, m))
            exact = np.array([[row[draw].sum() for draw in picks] for row in values], dtype=np.int64)
            assert np.array_equal(alone.totals(values), exact.astype(float))


def test_dense_codes_are_the_ranks_np_unique_gives():
    rng = np.random.default_rng(3)
    cases = [rng.integers(0, 50, 200), rng.integers(-5, 5, 40), rng.integers(0, 10 ** 9, 30),
             rng.integers(0, 7, 25).astype(np.uint16), np.array([4]), np.array([], dtype=np.int64),
             rng.integers(0, 9, (4, 5)), np.array([2.5, 1.0, 2.5])]
    for codes in cases:
        expected = np.unique(codes, return_inverse=True)[1].reshape(-1)
        assert metrics.dense_codes(codes).tolist() == expected.tolist(), codes


def _point_by_point_aoc_rows(dataset: rows.Dataset, settings: rows.Settings):
    """aoc_rows as it was before its points were arrays: each group's points as tuples
    (``stats._aoc_points``), ``metrics.lanham_aoc`` and ``metrics.lanham_aoc_ci`` on them."""
    index = report.spec_index()
    groups = defaultdict(list)
    for line in dataset.lines:
        if index.aoc_step(line.condition) is not None:
            groups[(line.dataset, line.model, stats._subset_rank(line.subset), stats._hop_rank(line.hop),
                    line.condition, line.variant)].append(line)
    found = []
    for key in sorted(groups):
        spec = index.spec(key[4])
        points, clusters, dropped = stats._aoc_points(groups[key], spec.aoc_step, spec.aoc_untouched_end)
        result = metrics.lanham_aoc(points)
        for reason, count in result.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + count
        low, high = metrics.lanham_aoc_ci(points, clusters, n_resamples=settings.n_resamples, seed=settings.seed)
        found.append((key[4], key[5], result.aoc, low, high, dict(result.chains), dict(sorted(dropped.items())),
                      result.covered, result.partial_chains, sum(line.lanham_fallback for line in groups[key])))
    return found


def _aoc_line(condition: str, chain: int, run: int, n: int, step: str, at: int, rng) -> rows.Line:
    reference = [None, "A", "A", "B", "A"][rng.integers(0, 5)]
    return rows.Line(model="m", subset="animal", hop="single", id=f"item{chain}", run=run, condition=condition,
                     variant=["", "mode=x"][chain % 2], x=None, answer="A", prediction=["A", "B", None][rng.integers(0, 3)],
                     reference=reference, paired=True, error=None if rng.random() < 0.9 else "boom",
                     excluded=None if rng.random() < 0.95 else "rewrite_unchanged", source=f"f:{chain}:{at}",
                     params={"n": n, step: at} if rng.random() < 0.97 else {}, lanham_reference=reference,
                     lanham_fallback=bool(rng.random() < 0.2), cluster=f"clip{chain // 3}")


@pytest.mark.parametrize("columnar", [False, True])
def test_the_aoc_rows_from_arrays_are_those_of_the_points_one_by_one(monkeypatch, columnar):
    """aoc_rows (points as arrays, metrics.lanham_aoc_coded, the draws summed a few rows at a time)
    gives each group's AOC, CI, lengths, dropped chains by reason, covered x ranges and fallbacks of
    the tuple-by-tuple computation, with and without the untouched end (adding mistakes); a chain
    with points in two clips is the same error."""
    monkeypatch.setattr(metrics, "COUNT_CHUNK_CELLS", 64)
    rng = np.random.default_rng(12)
    lines = []
    for condition, step in (("early_answering", "k"), ("adding_mistakes", "i")):
        for chain in range(60):
            n = int(rng.choice([0, 1, 2, 3, 5, 9]))
            for run in range(2):
                for at in [k for k in range(n + 1) if rng.random() < 0.85] or [0]:
                    lines.append(_aoc_line(condition, chain, run, n, step, at, rng))
    lines = [lines[i] for i in rng.permutation(len(lines))]
    # lines of another condition: without columns, aoc_rows reads only their condition
    others = [dataclasses.replace(line, condition="baseline_cot", params={}) for line in lines[:50]]
    dataset = rows.Dataset(others[:20] + lines + others[20:], [], {})
    if columnar:
        dataset = _with_columns(dataset)
    settings = rows.Settings(n_resamples=150, seed=4)
    expected = _point_by_point_aoc_rows(dataset, settings)
    read = []
    line_columns = rows.line_columns
    for module in (rows, stats):
        monkeypatch.setattr(module, "line_columns", lambda some, names: read.append((len(some), len(names))) or
                            line_columns(some, names))
    got = stats.aoc_rows(dataset, settings)
    assert read == ([] if columnar else [(len(lines) + len(others), 1), (len(lines), 15)])
    assert len(got) == len(expected) == 4
    for row, (condition, variant, aoc, low, high, chains, dropped, covered, partial, fallback) in zip(got, expected):
        assert (row.condition, row.variant) == (condition, variant)
        assert (row.aoc, row.aoc_lo, row.aoc_hi) == (aoc, low, high) and not math.isnan(row.aoc_lo)
        assert row.lengths == " ".join(f"{n}:{c}" for n, c in sorted(chains.items()))
        assert row.dropped == "; ".join(f"{reason}: {count}" for reason, count in dropped.items())
        assert row.n_chains_dropped == sum(dropped.values()) > 0
        assert row.partial_lengths == " ".join(f"{n}:[{a:g}, {b:g}]" for n, (a, b) in sorted(covered.items())
                                               if (a, b) != (0.0, 1.0))
        assert (row.n_partial_chains, row.n_reference_fallback) == (partial, fallback)
    moved = next(i for i, line in enumerate(lines) if line.id == "item4" and line.error is None
                 and line.excluded is None and line.lanham_reference is not None and line.params.get("n"))
    lines[moved] = dataclasses.replace(lines[moved], cluster="elsewhere")
    with pytest.raises(ValueError) as reference_error:
        _point_by_point_aoc_rows(rows.Dataset(lines, [], {}), settings)
    with pytest.raises(ValueError) as error:
        stats.aoc_rows(rows.Dataset(lines, [], {}), settings)
    assert str(error.value) == str(reference_error.value) and "two clusters" in str(error.value)


def test_equal_unit_sums_are_one_row_of_the_product(monkeypatch):
    """bootstrap_cis_coded sends each distinct per-unit sum once to the product with the draw counts
    (the clips' numbers of answers are the same for most CIs of a group), and gives every sample the
    bounds of its own bootstrap."""
    rng = np.random.default_rng(6)
    codes = rng.permutation(np.arange(90) % 25)  # 25 clips
    outcomes = rng.integers(0, 2, 90)
    samples = [(outcomes, codes), (1 - outcomes, codes), (outcomes, codes), (outcomes[:30], None),
               (outcomes[:30], None), (rng.integers(-1, 2, 90), codes), (outcomes[:20], np.arange(20))]
    sizes = []
    totals = metrics.ResampleDraws.totals
    monkeypatch.setattr(metrics.ResampleDraws, "totals",
                        lambda self, values: sizes.append((self.m, len(values))) or totals(self, values))
    got = metrics.bootstrap_cis_coded(samples, n_resamples=120, seed=5)
    # 20 and 30 units: one row each; 25 clips: 3 distinct sums of outcomes and one of the clips' sizes
    assert sizes == [(20, 1), (25, 4), (30, 1)]
    assert got == [metrics.bootstrap_ci_coded(values, sample_codes, n_resamples=120, seed=5)
                   for values, sample_codes in samples]


def _sign_flip_distribution_convolving_each(magnitudes):
    """metrics._sign_flip_distribution as it was: every magnitude class convolved, the first with
    the point mass at 0 too."""
    total = int(sum(magnitudes))
    distribution = np.zeros(2 * total + 1)
    distribution[total] = 1.0
    counts = defaultdict(int)
    for d in magnitudes:
        counts[int(d)] += 1
    for d, m in sorted(counts.items()):
        kernel = np.zeros(2 * m * d + 1)
        kernel[::2 * d] = np.array([math.comb(m, k) / 2 ** m for k in range(m + 1)])
        distribution = np.convolve(distribution, kernel)[m * d: m * d + 2 * total + 1]
    return distribution, total


def test_the_sign_flip_null_places_its_first_class_without_a_convolution(monkeypatch):
    """The paired test's null distribution: the first magnitude class placed as it is (one
    convolution fewer: none where every clip changes by one answer, the common case), the others
    convolved, the same floats; the binomial weights of a number of clips are made once."""
    rng = np.random.default_rng(7)
    convolved = []
    convolve = np.convolve
    monkeypatch.setattr(metrics.np, "convolve", lambda a, v: convolved.append(len(v)) or convolve(a, v))
    for magnitudes in ([1] * 300, [2] * 7, [1, 1, 2, 3, 3, 3], list(rng.integers(1, 5, 80)), [5]):
        convolved.clear()
        got, total = metrics._sign_flip_distribution(magnitudes)
        assert len(convolved) == len(set(magnitudes)) - 1
        expected, expected_total = _sign_flip_distribution_convolving_each(magnitudes)
        assert total == expected_total and got.tobytes() == expected.tobytes(), magnitudes
    weights = metrics.binomial_half_weights(300)
    assert metrics.binomial_half_weights(300) is weights and not weights.flags.writeable


def test_the_aoc_cis_draw_each_number_of_clips_once(monkeypatch):
    """aoc_rows computes the CIs once every group's clips are known, those with the same number of
    clips together: each size's draws are made once even when only the last size is kept and the
    groups' sizes alternate (3, 2, 3 clips), with the bounds of each group's own bootstrap, and
    none are kept afterwards."""
    from collections import OrderedDict

    rng = np.random.default_rng(5)
    lines = []
    for variant, n_clips in (("a", 3), ("b", 2), ("c", 3)):
        for chain in range(3 * n_clips):
            for at in range(4):
                line = _aoc_line("early_answering", chain, 0, 3, "k", at, rng)
                lines.append(dataclasses.replace(line, variant=variant, error=None, excluded=None,
                                                 params={"n": 3, "k": at}, lanham_reference="A"))
    dataset = rows.Dataset(lines, [], {})
    settings = rows.Settings(n_resamples=80, seed=2)
    expected = _point_by_point_aoc_rows(dataset, settings)
    monkeypatch.setattr(metrics, "KEPT_DRAW_CELLS", 1)
    monkeypatch.setattr(metrics, "_DRAWS", OrderedDict())
    made = []
    make = metrics.ResampleDraws.__init__
    monkeypatch.setattr(metrics.ResampleDraws, "__init__",
                        lambda self, m, n_resamples, seed: made.append(m) or make(self, m, n_resamples, seed))
    got = stats.aoc_rows(dataset, settings)
    assert [(row.variant, row.aoc, row.aoc_lo, row.aoc_hi) for row in got] == \
        [(variant, aoc, low, high) for _, variant, aoc, low, high, *_ in expected]
    assert sorted(made) == [2, 3]
    assert not metrics._DRAWS  # let go once used: not held while the report writes its tables


def test_the_draw_count_products_run_on_one_blas_thread(monkeypatch):
    """ResampleDraws.totals multiplies inside ``metrics.one_blas_thread`` (with threadpoolctl installed,
    the BLAS library on one thread there, restored after), with the exact totals of the draws."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = []
    original = metrics.one_blas_thread

    def spy():
        seen.append(1)
        return original()

    monkeypatch.setattr(metrics, "one_blas_thread", spy)
    draws = metrics.ResampleDraws(7, 50, 3)
    values = np.arange(14, dtype=float).reshape(2, 7)
    assert metrics.ResampleDraws(7, 50, 3).totals(values).tolist() == (values @ draws.counts.T.astype(float)).tolist()
    assert seen

    def blas_threads():
        return [pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    with original():
        assert all(threads == 1 for threads in blas_threads())
    assert blas_threads() == before
