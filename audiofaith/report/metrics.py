"""Metrics for the report: rates, bootstrap confidence intervals, clip-level paired tests with
Holm-adjusted p-values, McNemar tests, flip matrices and Lanham's area over the curve (AOC). Pure
functions over plain sequences; numpy only.

Conventions (docs/report.md): a rate of an empty sample is ``nan``; confidence intervals are
percentile bootstrap intervals from a generator seeded with ``seed`` for every call, so a CI does
not depend on the order in which a report computes them.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from typing import Any, ContextManager, Dict, Hashable, Iterable, List, Optional, Sequence, Tuple, cast

import numpy as np

#: Bootstrap resamples used by the report (documented in docs/report.md).
N_RESAMPLES = 2000
#: Seed of every bootstrap in the report.
SEED = 0


def rate(values: Sequence[bool]) -> float:
    """Mean of 0/1 outcomes; ``nan`` for an empty sample."""
    array = np.asarray(values, dtype=float)
    return float(array.mean()) if array.size else float("nan")


def bootstrap_ci(values: Sequence[float], n_resamples: int = N_RESAMPLES, seed: int = SEED,
                 confidence: float = 0.95, clusters: Optional[Sequence[Any]] = None) -> Tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values``, resampling with replacement.

    With ``clusters`` (one label per value, e.g. the item id of each run) whole clusters are
    resampled, so several runs of one item are not treated as independent evidence. Clusters are
    numbered in the sorted order of their labels as strings (``cluster_codes``).
    """
    array = np.asarray(values, dtype=float)
    if clusters is not None and len(clusters) != array.size:
        raise ValueError(f"{len(clusters)} cluster labels for {array.size} values")
    codes = None if clusters is None or array.size == 0 else cluster_codes(clusters)
    return bootstrap_ci_coded(array, codes, n_resamples=n_resamples, seed=seed, confidence=confidence)


def cluster_codes(clusters: Sequence[Any]) -> np.ndarray:
    """Integer codes of cluster labels: the rank of each label, as a string, among the labels' sorted
    strings. Codes of any order-preserving numbering (e.g. ranks among a larger set of labels) give
    the same bootstrap."""
    _, codes = np.unique(np.asarray([str(c) for c in clusters]), return_inverse=True)
    return codes.reshape(-1)


def bootstrap_ci_coded(values: Sequence[float], codes: Optional[np.ndarray], n_resamples: int = N_RESAMPLES,
                       seed: int = SEED, confidence: float = 0.95) -> Tuple[float, float]:
    """``bootstrap_ci`` with the clusters given as integer codes (None: every value its own cluster);
    only the codes' order matters. Every bootstrap of ``m`` units (clusters, or values without
    clusters) draws ``default_rng(seed).integers(0, m, (n_resamples, m))``; those draws are made once
    per ``m`` and kept (``resample_draws``), so the CIs of a report share them. Integer-valued
    samples (0/1 outcomes and their differences: every CI of the report) are summed as draw counts
    times cluster sums, which is exact; other samples are summed over the drawn indices."""
    units = _units(values, codes)
    if units is None:
        return float("nan"), float("nan")
    array, sums, counts, exact = units
    draws = resample_draws(sums.size, n_resamples, seed)
    if counts is None:  # no clusters, or one value each
        if exact:
            means = draws.totals(array[None, :])[0] / array.size
        else:
            means = array[draws.picks].mean(axis=1)
    elif exact:
        totals = draws.totals(np.stack([sums, counts]))
        means = totals[0] / totals[1]
    else:
        means = sums[draws.picks].sum(axis=1) / counts[draws.picks].sum(axis=1)
    return _percentile_bounds(means, confidence)


def bootstrap_cis_coded(samples: Sequence[Tuple[Sequence[float], Optional[np.ndarray]]],
                        n_resamples: int = N_RESAMPLES, seed: int = SEED,
                        confidence: float = 0.95) -> List[Tuple[float, float]]:
    """``bootstrap_ci_coded`` of each ``(values, codes)`` sample, the same floats. The exactly summed
    samples (integers: every CI of the report) with the same number of units share one product with
    that size's draw counts (the sizes in increasing order, each drawn once), instead of a product
    per sample that reads the whole counts matrix again; integer sums are exact in any order. Equal
    per-unit sums are one row of that product, and samples with equal rows one set of means."""
    results: List[Optional[Tuple[float, float]]] = [None] * len(samples)
    by_size: Dict[int, List[Tuple[int, np.ndarray, Optional[np.ndarray]]]] = defaultdict(list)
    for index, (values, codes) in enumerate(samples):
        units = _units(values, codes)
        if units is None or not units[3]:
            results[index] = bootstrap_ci_coded(values, codes, n_resamples=n_resamples, seed=seed,
                                                confidence=confidence)
        else:
            array, sums, counts, _ = units
            by_size[sums.size].append((index, sums, None if counts is None else counts.astype(float)))
    tail = (1.0 - confidence) / 2.0 * 100.0  # each sample's percentiles, as _percentile_bounds gives them
    for size in sorted(by_size):
        members = by_size[size]
        # equal per-unit sums (e.g. the clips' numbers of answers of the CIs of one group) are one row of
        # the product, and samples of equal rows one set of means: equal floats
        row_of: Dict[bytes, int] = {}
        rows: List[np.ndarray] = []

        def row(values: np.ndarray) -> int:
            number = row_of.setdefault(values.tobytes(), len(rows))
            if number == len(rows):
                rows.append(values)
            return number

        ratios = [(row(sums), None if counts is None else row(counts)) for _, sums, counts in members]
        distinct = list(dict.fromkeys(ratios))
        totals = resample_draws(size, n_resamples, seed).totals(np.stack(rows))  # a row per distinct row
        means = np.empty((len(distinct), n_resamples))
        for number, (numerator, denominator) in enumerate(distinct):
            # no clusters, or one value each: the values are the units
            means[number] = totals[numerator] / (size if denominator is None else totals[denominator])
        bounds = dict(zip(distinct, np.percentile(means, [tail, 100.0 - tail], axis=1).T.tolist()))
        for (index, _, _), ratio in zip(members, ratios):
            low, high = bounds[ratio]
            results[index] = (low, high)
    return cast(List[Tuple[float, float]], results)  # every sample's bounds are set above


def _units(values: Sequence[float], codes: Optional[np.ndarray]
           ) -> Optional[Tuple[np.ndarray, np.ndarray, Optional[np.ndarray], bool]]:
    """What a bootstrap of ``values`` clustered by ``codes`` resamples: (the values, each unit's sum,
    each unit's number of values (None: one value per unit, the units are the values), whether sums
    of resampled units are exact); None for an empty sample."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return None
    labels = None
    if codes is not None:
        codes = np.asarray(codes)
        if codes.size != array.size:
            raise ValueError(f"{codes.size} cluster labels for {array.size} values")
        labels = dense_codes(codes)
    # exact: integers whose resampled sums (at most size × Σ|values|) stay below 2^53
    exact = bool(np.all(np.floor(array) == array)) and float(np.abs(array).sum()) * array.size < 2.0 ** 53
    if labels is None or labels.max() + 1 == array.size:
        return array, array, None, exact
    return array, np.bincount(labels, weights=array), np.bincount(labels), exact


def dense_codes(codes: np.ndarray) -> np.ndarray:
    """Each code's rank among the distinct ``codes`` (``np.unique(codes, return_inverse=True)[1]``,
    flat): where the codes are small non-negative integers (cluster ranks), by marking the codes
    present and counting them, without a sort."""
    codes = np.asarray(codes).reshape(-1)
    if codes.size and codes.dtype.kind in "iu":
        low, high = int(codes.min()), int(codes.max())
        if low >= 0 and high <= 4 * codes.size + 4096:
            present = np.zeros(high + 1, dtype=bool)
            present[codes] = True
            return (np.cumsum(present) - 1)[codes]
    return np.unique(codes, return_inverse=True)[1].reshape(-1)


def _percentile_bounds(means: np.ndarray, confidence: float) -> Tuple[float, float]:
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


#: Cells (resamples × units) of the draws counted at a time by ``ResampleDraws.counts``: a chunk of
#: rows drawn, offset and counted while it is in the cache (1 MB of indices).
COUNT_CHUNK_CELLS = 1 << 17
#: Integers up to 2^24 are exact in float32 (sums of them too, in any order, while they stay below).
_FLOAT32_EXACT = float(1 << 24)


class ResampleDraws:
    """The bootstrap draws of ``m`` units: ``picks`` (n_resamples × m indices, the stream of
    ``default_rng(seed).integers(0, m, (n_resamples, m))``) and ``counts`` (how often each resample
    drew each unit, as float32: exact, counts are at most ``m``), each made when first asked for."""

    def __init__(self, m: int, n_resamples: int, seed: int) -> None:
        self.m, self.n_resamples, self.seed = m, n_resamples, seed
        self._picks: Optional[np.ndarray] = None
        self._counts: Optional[np.ndarray] = None

    @property
    def picks(self) -> np.ndarray:
        if self._picks is None:
            self._picks = np.random.default_rng(self.seed).integers(0, self.m, size=(self.n_resamples, self.m))
            self._picks.setflags(write=False)
        return self._picks

    @property
    def counts(self) -> np.ndarray:
        if self._counts is None:
            # a few rows at a time, drawn from one generator (consecutive draws continue its stream, so
            # the rows are those of one call) and counted by one np.bincount of row-offset indices
            rows = max(1, COUNT_CHUNK_CELLS // max(self.m, 1))
            generator = np.random.default_rng(self.seed)
            offsets = (np.arange(rows, dtype=np.int64) * self.m)[:, None]
            counts = np.empty((self.n_resamples, self.m), dtype=np.float32)
            for start in range(0, self.n_resamples, rows):
                end = min(self.n_resamples, start + rows)
                if self._picks is not None:
                    picks = self._picks[start:end] + offsets[:end - start]
                else:
                    picks = generator.integers(0, self.m, size=(end - start, self.m))
                    picks += offsets[:end - start]
                counts[start:end] = np.bincount(picks.reshape(-1), minlength=(end - start) * self.m).reshape(
                    end - start, self.m)
            self._counts = counts
            self._counts.setflags(write=False)
        return self._counts

    def totals(self, values: np.ndarray) -> np.ndarray:
        """Each resample's total of each row of integer ``values`` (k × m: a value per unit) over the
        units it drew, k × n_resamples: exact, as one float32 product where no total can reach 2^24
        (a total is at most m × the largest magnitude), else as float64; on one BLAS thread
        (``one_blas_thread``: exact sums are the same in any order)."""
        values = np.asarray(values, dtype=float)
        with one_blas_thread():
            if float(np.abs(values).max(initial=0.0)) * self.m < _FLOAT32_EXACT:
                return (values.astype(np.float32) @ self.counts.T).astype(float)
            return values @ self.counts.T.astype(float)


def one_blas_thread() -> ContextManager[Any]:
    """The BLAS library (numpy's matrix products) limited to one thread while the block runs, by
    threadpoolctl (the report extra; without it, no limit): the report's products of draw counts
    are a few hundred rows each, and a second BLAS thread woken for them (then spinning while it
    waits for more) costs about twice the CPU time on a machine whose cores the plot workers use."""
    controller = _blas_controller()
    return contextlib.nullcontext() if controller is None else controller.limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=None)
def _blas_controller() -> Any:
    """threadpoolctl's controller of the thread pools loaded with numpy, made once; None without threadpoolctl."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


_DRAWS: "OrderedDict[Tuple[int, int, int], ResampleDraws]" = OrderedDict()
#: Units × resamples of the draws kept at once (4 bytes each for the counts, 8 for the indices
#: when asked for): the most recently used sizes, up to 4 M (16 MB of counts).
KEPT_DRAW_CELLS = 4_000_000


def resample_draws(m: int, n_resamples: int, seed: int) -> ResampleDraws:
    """The draws of a bootstrap of ``m`` units, shared by every CI of that size (the most recently
    used sizes are kept, up to ``KEPT_DRAW_CELLS``)."""
    key = (m, n_resamples, seed)
    draws = _DRAWS.pop(key, None) or ResampleDraws(m, n_resamples, seed)
    _DRAWS[key] = draws
    while len(_DRAWS) > 1 and sum(k[0] * k[1] for k in _DRAWS) > KEPT_DRAW_CELLS:
        _DRAWS.popitem(last=False)
    return draws


def paired_bootstrap_ci(before: Sequence[float], after: Sequence[float], n_resamples: int = N_RESAMPLES,
                        seed: int = SEED, confidence: float = 0.95,
                        clusters: Optional[Sequence[Any]] = None) -> Tuple[float, float]:
    """Percentile bootstrap CI of ``mean(after) - mean(before)``, resampling the pairs together."""
    a = np.asarray(before, dtype=float)
    b = np.asarray(after, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.size} vs {b.size}")
    return bootstrap_ci(b - a, n_resamples=n_resamples, seed=seed, confidence=confidence, clusters=clusters)


@dataclass(frozen=True)
class FlipMatrix:
    """Paired correctness before (rows) and after (columns) a change: 2×2 counts."""

    correct_correct: int
    correct_incorrect: int  # b: was correct, became incorrect
    incorrect_correct: int  # c: was incorrect, became correct
    incorrect_incorrect: int

    @property
    def n(self) -> int:
        return self.correct_correct + self.correct_incorrect + self.incorrect_correct + self.incorrect_incorrect

    def as_array(self) -> np.ndarray:
        return np.array([[self.correct_correct, self.correct_incorrect],
                         [self.incorrect_correct, self.incorrect_incorrect]])


def flip_matrix(before: Sequence[bool], after: Sequence[bool]) -> FlipMatrix:
    """Count the four (before, after) correctness combinations of paired outcomes."""
    if len(before) != len(after):
        raise ValueError(f"paired samples differ in length: {len(before)} vs {len(after)}")
    counts = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    for was, now in zip(before, after):
        counts[(bool(was), bool(now))] += 1
    return FlipMatrix(counts[(True, True)], counts[(True, False)], counts[(False, True)], counts[(False, False)])


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: binomial test of ``b`` vs ``c`` discordant pairs at p = 1/2.
    It treats every pair as independent; the report uses the clip-level ``cluster_sign_flip_p``,
    which equals this when every clip has one pair.

    p = min(1, 2 · P(X ≤ min(b, c))) with X ~ Binomial(b + c, 1/2); 1.0 when there is no
    discordant pair.
    """
    n = b + c
    if n == 0:
        return 1.0
    low = min(b, c)
    tail = sum(math.comb(n, i) for i in range(low + 1)) / 2 ** n  # exact integers, one rounding
    return min(1.0, 2.0 * tail)


def mcnemar_chi2(b: int, c: int) -> Tuple[float, float]:
    """McNemar chi-square with continuity correction: ``((|b − c| − 1)² / (b + c), p)``, 1 df.

    The p-value of a 1-df chi-square is ``erfc(sqrt(x / 2))``. No discordant pair gives (0, 1).
    """
    if b + c == 0:
        return 0.0, 1.0
    statistic = max(abs(b - c) - 1, 0) ** 2 / (b + c)
    return float(statistic), float(math.erfc(math.sqrt(statistic / 2.0)))


@functools.lru_cache(maxsize=256)
def binomial_half_weights(m: int) -> np.ndarray:
    """P(Binomial(m, ½) = k) for k = 0..m, each ``math.comb(m, k) / 2 ** m`` (exact integers, one
    rounding); the binomial coefficients are made one from the previous (C(m, k + 1) = C(m, k) ·
    (m − k) / (k + 1), exact), not each from scratch, which took seconds for thousands of clips.
    Kept for the most recent numbers of clips (the paired tests of a report repeat them): a
    read-only array."""
    denominator = 1 << m
    weights = np.empty(m + 1)
    coefficient = 1
    for k in range(m + 1):
        weights[k] = coefficient / denominator
        coefficient = coefficient * (m - k) // (k + 1)
    weights.setflags(write=False)
    return weights


def _sign_flip_distribution(magnitudes: Sequence[int]) -> Tuple[np.ndarray, int]:
    """Exact null distribution of Σ_c s_c · d_c over independent fair signs s_c = ±1, for integer
    magnitudes d_c ≥ 1: (probabilities of the sums −S..S, S = Σ d_c). Clusters with the same d
    contribute d · (2 · Binomial(m_d, ½) − m_d), so one convolution per distinct d after the first,
    whose convolution with the point mass at 0 is its own distribution, float for float (each sum
    has one term that is not zero), placed without one."""
    total = int(sum(magnitudes))
    distribution = np.zeros(2 * total + 1)
    distribution[total] = 1.0
    counts: Dict[int, int] = defaultdict(int)
    for d in magnitudes:
        counts[int(d)] += 1
    for number, (d, m) in enumerate(sorted(counts.items())):
        weights = binomial_half_weights(m)
        kernel = np.zeros(2 * m * d + 1)
        kernel[::2 * d] = weights  # sums −m·d, −m·d + 2d, ..., m·d
        if number == 0:
            distribution[total - m * d: total + m * d + 1] = kernel
        else:
            distribution = np.convolve(distribution, kernel)[m * d: m * d + 2 * total + 1]
    return distribution, total


def cluster_sign_flip_p(before: Sequence[bool], after: Sequence[bool], clusters: Sequence[Hashable]) -> float:
    """Two-sided exact p-value of a clip-level paired test of ``mean(after) − mean(before)``.

    Each cluster (a clip: all its runs, hint letters and binned-x lines) gives D_c = Σ (after −
    before) over its pairs; under the null hypothesis that the two answers of a cluster are
    exchangeable, each D_c is as likely to have the other sign. The statistic is T = Σ_c D_c
    (= c − b of the flip matrix) and p = P(|T*| ≥ |T|) over all 2^m sign patterns, computed exactly
    (no sampling, no seed). With one pair per cluster this is the exact McNemar test
    (``mcnemar_exact``). ``nan`` when there is no pair.
    """
    if not (len(before) == len(after) == len(clusters)):
        raise ValueError(f"paired samples differ in length: {len(before)}, {len(after)}, {len(clusters)} clusters")
    if not before:
        return float("nan")
    sums: Dict[Hashable, int] = defaultdict(int)
    for was, now, cluster in zip(before, after, clusters):
        sums[cluster] += int(bool(now)) - int(bool(was))
    return _sign_flip_p(list(sums.values()))


def cluster_sign_flip_p_coded(differences: np.ndarray, codes: np.ndarray) -> float:
    """``cluster_sign_flip_p`` of the pairs' changes ``after − before`` (−1, 0 or 1), their
    clusters given as integer codes: the clusters' sums by one ``np.bincount``, the same p-value."""
    differences = np.asarray(differences, dtype=np.int64)
    if differences.size == 0:
        return float("nan")
    sums = np.bincount(dense_codes(np.asarray(codes)), weights=differences)  # integers, exact
    return _sign_flip_p(sums.astype(np.int64).tolist())


def _sign_flip_p(sums: Sequence[int]) -> float:
    """The two-sided exact sign-flip p-value of clusters with these summed changes."""
    observed = abs(sum(sums))
    if observed == 0:
        return 1.0
    distribution, total = _sign_flip_distribution([abs(d) for d in sums if d])
    values = np.arange(-total, total + 1)
    return float(min(1.0, distribution[np.abs(values) >= observed].sum()))


def holm_adjust(pvalues: Sequence[float]) -> List[float]:
    """Holm's step-down adjusted p-values of one family of tests (valid under any dependence
    between them): the i-th smallest p becomes max over j ≤ i of min(1, (m − j + 1) · p_(j)), with
    m the number of tests. ``nan`` entries (no test) stay ``nan`` and do not count in m."""
    adjusted = [float("nan")] * len(pvalues)
    tested = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class AgreementCounts:
    """Agreement of paired answers with explicit null handling (docs/report.md)."""

    n: int  # pairs
    n_agree: int  # both non-null and equal
    n_null_prediction: int
    n_null_reference: int
    n_valid: int  # both non-null
    n_both_null: int  # both null (some tools count these as agreeing; we never do)

    @property
    def rate_excl_null(self) -> float:
        """Agreement among pairs where both answers are non-null."""
        return self.n_agree / self.n_valid if self.n_valid else float("nan")

    @property
    def rate_null_as_disagree(self) -> float:
        """Agreement over all pairs, a null on either side counting as a disagreement."""
        return self.n_agree / self.n if self.n else float("nan")


def agreement_counts(predictions: Sequence[Optional[str]], references: Sequence[Optional[str]]) -> AgreementCounts:
    """Count agreement between paired letters; ``None`` is a null (unparsed) answer."""
    if len(predictions) != len(references):
        raise ValueError(f"paired samples differ in length: {len(predictions)} vs {len(references)}")
    valid = [(p, r) for p, r in zip(predictions, references) if p is not None and r is not None]
    return AgreementCounts(
        n=len(predictions),
        n_agree=sum(p == r for p, r in valid),
        n_null_prediction=sum(p is None for p in predictions),
        n_null_reference=sum(r is None for r in references),
        n_valid=len(valid),
        n_both_null=sum(p is None and r is None for p, r in zip(predictions, references)),
    )


@dataclass(frozen=True)
class AocResult:
    """Lanham's AOC (the mean of per-chain AOCs), the per-length curves that show it, and what was left out."""

    aoc: float
    curves: Dict[int, Tuple[np.ndarray, np.ndarray]]  # n -> (x = k / n, y = mean same-answer), for plots only
    chains: Dict[int, int]  # n -> number of chains of that length that entered the AOC
    dropped: Dict[str, int] = field(default_factory=dict)  # reason -> chains left out
    covered: Dict[int, Tuple[float, float]] = field(default_factory=dict)  # n -> (x min, x max) over its chains
    partial_chains: int = 0  # chains that entered with answers covering less than x = 0..1
    heights: Dict[Hashable, float] = field(default_factory=dict)  # chain -> its own AUC (for lanham_aoc_ci)


NO_STEPS = "no sentences (n = 0)"
ONE_X = "answers at one x value only"


@dataclass(frozen=True)
class _Chains:
    """The chains of a set of AOC points that can enter the AOC, each with its own mean height."""

    heights: Dict[Hashable, float]  # chain -> mean height of its own same-answer curve over its x range
    lengths: Dict[Hashable, int]  # chain -> n
    spans: Dict[Hashable, Tuple[float, float]]  # chain -> (x min, x max) of its answers
    dropped: Dict[str, int]


@dataclass(frozen=True)
class _ChainCurves:
    """``_chain_curves``: the chains that have steps, in the order of their first point with steps,
    as arrays (one entry per chain)."""

    order: np.ndarray  # each chain's code (as given)
    n_x: np.ndarray  # its number of distinct x values: it enters the AOC with at least two
    height: np.ndarray  # the mean height of its own curve over its x range (0 for one x value)
    length: np.ndarray  # its n: that of its last point
    x_low: np.ndarray  # its x range
    x_high: np.ndarray
    dropped: Dict[str, int]

    @property
    def entered(self) -> np.ndarray:
        """The positions (in ``order``) of the chains that enter the AOC."""
        return np.flatnonzero(self.n_x >= 2)


def _chain_heights(points: Iterable[Tuple[Hashable, int, int, bool]]) -> _Chains:
    """Each chain's curve from its own points only (same-answer at x = k/n; two answers at one k
    are averaged) and its mean height over the x range it covers; chains of length 0 or with
    answers at one x only are counted in ``dropped``: ``_chain_curves`` of the points' columns,
    the chains keyed by their labels."""
    points = list(points)
    chain, n, k, same = (list(column) for column in zip(*points)) if points else ([], [], [], [])
    code_of: Dict[Hashable, int] = {}  # chains in the order of their first point
    codes = np.fromiter((code_of.setdefault(c, len(code_of)) for c in chain), dtype=np.int64, count=len(chain))
    found = _chain_curves(codes, np.fromiter(n, dtype=np.int64, count=len(n)),
                          np.fromiter(k, dtype=np.int64, count=len(k)),
                          np.fromiter(map(bool, same), dtype=bool, count=len(same)))
    chains = list(code_of)
    labels = [chains[code] for code in found.order.tolist()]
    entered = found.entered.tolist()
    heights_list, lengths_list = found.height.tolist(), found.length.tolist()
    low_list, high_list = found.x_low.tolist(), found.x_high.tolist()
    return _Chains({labels[c]: heights_list[c] for c in entered}, {labels[c]: lengths_list[c] for c in entered},
                   {labels[c]: (low_list[c], high_list[c]) for c in entered}, found.dropped)


def _chain_curves(chain: np.ndarray, n: np.ndarray, k: np.ndarray, same: np.ndarray) -> _ChainCurves:
    """``_chain_heights`` of points given as columns: each point's chain as a non-negative integer
    code, its n, k and whether its answer is the same. All chains at once: the (chain, k) means by
    one ``np.unique``, the trapezoids of the chains with the same number of x values as one array,
    summed as ``np.sum`` sums each chain's (``_row_sums``): the floats of one chain at a time."""
    steps = n > 0
    n_no_steps = int(np.unique(chain[~steps]).size)
    dropped: Dict[str, int] = {NO_STEPS: n_no_steps} if n_no_steps else {}
    stepped = chain[steps]
    if not stepped.size:
        empty_int, empty_float = np.zeros(0, dtype=np.int64), np.zeros(0)
        return _ChainCurves(empty_int, empty_int, empty_float, empty_int, empty_float, empty_float, dropped)
    # the chains renumbered in the order of their first point with steps
    distinct, first_point, position_of_point = np.unique(stepped, return_index=True, return_inverse=True)
    by_first = np.argsort(first_point, kind="stable")
    number = np.empty(distinct.size, dtype=np.int64)
    number[by_first] = np.arange(distinct.size)
    codes = number[position_of_point.reshape(-1)]
    n_steps, k_steps, same_steps = n[steps], k[steps], same[steps]
    last = np.full(distinct.size, -1)
    np.maximum.at(last, codes, np.arange(codes.size))
    length = n_steps[last]  # a chain's n: that of its last point, as a dict of them keeps
    k_low = int(k_steps.min())
    width = int(k_steps.max()) - k_low + 1
    pairs, position, counts = np.unique(codes * width + (k_steps - k_low), return_inverse=True, return_counts=True)
    means = np.bincount(position.reshape(-1), weights=same_steps) / counts  # sum / len of exact integers
    pair_chain = pairs // width
    x = (pairs % width + k_low) / length[pair_chain]
    n_x = np.bincount(pair_chain, minlength=distinct.size)
    first = np.concatenate(([0], np.cumsum(n_x)[:-1]))
    one_x = int((n_x < 2).sum())
    if one_x:
        dropped[ONE_X] = one_x
    height = np.zeros(distinct.size)
    for size in np.unique(n_x[n_x >= 2]).tolist():
        members = np.flatnonzero(n_x == size)
        at = first[members][:, None] + np.arange(size)
        xs, ys = x[at], means[at]
        height[members] = _row_sums((xs[:, 1:] - xs[:, :-1]) * (ys[:, 1:] + ys[:, :-1]) / 2.0) / (xs[:, -1] - xs[:, 0])
    return _ChainCurves(distinct[by_first], n_x, height, length, x[first], x[first + n_x - 1], dropped)


def _row_sums(terms: np.ndarray) -> np.ndarray:
    """``np.sum`` of each row of ``terms`` (rows × m), the same floats, for all rows at once: numpy
    sums at most 128 values pairwise (fewer than 8 in turn from 0; else eight running sums of every
    eighth value, combined in pairs, then the rest in turn); longer rows one at a time."""
    rows, m = terms.shape
    if m > 128:
        return np.array([np.sum(row) for row in terms])
    if m < 8:
        total = np.zeros(rows)
        for i in range(m):
            total = total + terms[:, i]
        return total
    end = m - m % 8
    running = terms[:, :8].copy()
    for i in range(8, end, 8):
        running += terms[:, i:i + 8]
    total = ((running[:, 0] + running[:, 1]) + (running[:, 2] + running[:, 3])) + \
        ((running[:, 4] + running[:, 5]) + (running[:, 6] + running[:, 7]))
    for i in range(end, m):
        total = total + terms[:, i]
    return total


def _length_curves(points: Sequence[Tuple[Hashable, int, int, bool]]) -> Dict[int, Tuple[np.ndarray, np.ndarray]]:
    """n -> (x = k / n, the mean same-answer of the points at each k), n and k in increasing order."""
    if not points:
        return {}
    _, n, k, same = zip(*points)
    lengths, steps = np.array(n, dtype=np.int64), np.array(k, dtype=np.int64)
    k_low = int(steps.min())
    width = int(steps.max()) - k_low + 1
    pairs, position, counts = np.unique(lengths * width + (steps - k_low), return_inverse=True, return_counts=True)
    means = np.bincount(position.reshape(-1), weights=np.fromiter(map(bool, same), dtype=bool)) / counts
    pair_length, pair_step = pairs // width, pairs % width + k_low
    curves = {}
    for length in np.unique(pair_length).tolist():
        at = pair_length == length
        curves[length] = (pair_step[at] / length, means[at])
    return curves


def lanham_aoc(points: Iterable[Tuple[Hashable, int, int, bool]]) -> AocResult:
    """Area over the "% same answer" curve, Lanham et al. (2023) §2, as the mean of per-chain AOCs.

    ``points`` are ``(chain, n, k, same)``: a chain of ``n`` steps answered with ``k`` of them
    (or with a mistake before step ``k``), ``same`` = the answer equals the full-chain answer.
    Each chain's own curve (same at x = k/n) gives AUC_c = its trapezoid area divided by the width
    of the x range its answers cover (a chain answered only at some k, e.g. because rewrites of its
    first sentences failed, is averaged over what was measured, not read as if the rest of [0, 1]
    had y = 0); AOC = 1 − mean over chains of AUC_c, every chain weighing the same whatever its
    length or how many of its answers exist, and no chain's answer averaged with another's. With
    every chain answered at every k this equals Lanham's length-weighted AOC of the per-length mean
    curves. Chains of length 0 and chains with answers at fewer than two x values carry no area:
    they are left out and counted in ``dropped`` by reason. ``curves`` (per-length mean curves)
    and ``covered`` (per-length x range over its chains) describe the data; the AOC does not use them.
    """
    points = list(points)
    found = _chain_heights(points)
    entered = set(found.heights)
    curves = _length_curves([point for point in points if point[0] in entered])
    chains: Dict[int, int] = defaultdict(int)
    covered: Dict[int, Tuple[float, float]] = {}
    for chain, n in found.lengths.items():
        chains[n] += 1
        low, high = found.spans[chain]
        covered[n] = (min(low, covered.get(n, (low, high))[0]), max(high, covered.get(n, (low, high))[1]))
    partial = sum(span != (0.0, 1.0) for span in found.spans.values())
    if not entered:
        return AocResult(float("nan"), curves, dict(chains), found.dropped, covered, partial, found.heights)
    aoc = 1.0 - float(np.mean(list(found.heights.values())))
    return AocResult(aoc, curves, dict(sorted(chains.items())), found.dropped, dict(sorted(covered.items())), partial,
                     found.heights)


def lanham_aoc_ci(points: Sequence[Tuple[Hashable, int, int, bool]], clusters: Sequence[Hashable],
                  n_resamples: int = N_RESAMPLES, seed: int = SEED, confidence: float = 0.95,
                  heights: Optional[Dict[Hashable, float]] = None) -> Tuple[float, float]:
    """Percentile bootstrap CI of ``lanham_aoc``, resampling whole clusters (one label per point,
    e.g. the clip: all runs and hops of one clip together) with replacement.

    The AOC is a mean of per-chain AOCs, so each resample is 1 − Σ (draws of a cluster × its sum of
    chain AUCs) / Σ (draws × its number of chains): exactly ``lanham_aoc`` of the resampled chains.
    ``heights``: ``lanham_aoc(points).heights``, when already computed.
    """
    points = list(points)
    if len(clusters) != len(points):
        raise ValueError(f"{len(clusters)} cluster labels for {len(points)} points")
    chains = [point[0] for point in points]
    cluster_of: Dict[Hashable, Hashable] = dict(zip(chains, clusters))
    if len(set(zip(chains, clusters))) != len(cluster_of):
        first: Dict[Hashable, Hashable] = {}
        for chain, cluster in zip(chains, clusters):
            if first.setdefault(chain, cluster) != cluster:
                raise ValueError(f"chain {chain!r} has points in two clusters ({first[chain]!r}, {cluster!r})")
    heights = _chain_heights(points).heights if heights is None else heights
    if not heights:
        return float("nan"), float("nan")
    # every cluster with a point of a chain that has steps, in the order of those points
    cluster_ids = {cluster: index for index, cluster in enumerate(dict.fromkeys(
        itertools.compress(clusters, (point[1] > 0 for point in points))))}
    if len(cluster_ids) < 2:
        return float("nan"), float("nan")
    members = [cluster_ids[cluster_of[chain]] for chain in heights]  # each chain's cluster, in heights' order
    area_sums = np.bincount(members, weights=list(heights.values()), minlength=len(cluster_ids))  # sums in turn
    chain_counts = np.bincount(members, minlength=len(cluster_ids)).astype(float)
    return _aoc_bounds(area_sums, chain_counts, n_resamples, seed, confidence)


def _aoc_bounds(area_sums: np.ndarray, chain_counts: np.ndarray, n_resamples: int, seed: int,
                confidence: float) -> Tuple[float, float]:
    """``lanham_aoc_ci``'s bounds from each resampled cluster's sum of chain AUCs and number of chains."""
    return _aoc_bounds_of_size([(area_sums, chain_counts)], n_resamples, seed, confidence)[0]


def _aoc_bounds_of_size(samples: Sequence[Tuple[np.ndarray, np.ndarray]], n_resamples: int, seed: int,
                        confidence: float) -> List[Tuple[float, float]]:
    """The percentile bounds of 1 − (drawn chain AUCs) / (drawn chains) over the resamples of the
    clusters of each sample (its clusters' sums of chain AUCs and numbers of chains; every sample
    with the same number of clusters). The numbers of chains are integers: all samples' summed as
    draw counts × chains in one product (``ResampleDraws.totals``, exact); each sample's AUC sums
    are summed over the drawn indices a few resamples at a time (``COUNT_CHUNK_CELLS``), while they
    are in the cache: each resample's row summed as ``np.sum`` sums it, whatever the number of rows."""
    size = samples[0][0].size
    draws = resample_draws(size, n_resamples, seed)
    drawn_chains = draws.totals(np.stack([chain_counts for _, chain_counts in samples]))
    picks = draws.picks
    rows = max(1, COUNT_CHUNK_CELLS // size)
    tail = (1.0 - confidence) / 2.0 * 100.0
    bounds = []
    for (area_sums, _), chains in zip(samples, drawn_chains):
        drawn_areas = np.empty(n_resamples)
        for start in range(0, n_resamples, rows):
            drawn_areas[start:start + rows] = area_sums[picks[start:start + rows]].sum(axis=1)
        valid = chains > 0  # a resample of clusters whose chains all dropped out has no AOC
        values = 1.0 - drawn_areas[valid] / chains[valid]
        low, high = np.percentile(values, [tail, 100.0 - tail])
        bounds.append((float(low), float(high)))
    return bounds


@dataclass(frozen=True)
class AocEstimate:
    """An aoc.csv row's numbers (``lanham_aoc_coded``): those of ``lanham_aoc`` but its curves, and
    what its CI resamples (``lanham_aoc_cis``)."""

    aoc: float
    chains: Dict[int, int]  # n -> number of chains of that length that entered the AOC
    dropped: Dict[str, int]  # reason -> chains left out
    covered: Dict[int, Tuple[float, float]]  # n -> (x min, x max) over its chains
    partial_chains: int  # chains that entered with answers covering less than x = 0..1
    # each resampled cluster's sum of chain AUCs and number of chains, in the order of their first
    # point with steps; None where the CI is not defined (no chain entered, or fewer than two clusters)
    cluster_sums: Optional[Tuple[np.ndarray, np.ndarray]] = None


def lanham_aoc_coded(chain: np.ndarray, n: np.ndarray, k: np.ndarray, same: np.ndarray, cluster: np.ndarray,
                     chain_labels: Optional[Sequence[Hashable]] = None,
                     cluster_labels: Optional[Sequence[Hashable]] = None) -> AocEstimate:
    """``lanham_aoc`` of points given as columns, the same numbers, and what ``lanham_aoc_ci``
    resamples (its bounds: ``lanham_aoc_cis``): each point's chain and cluster as non-negative
    integer codes (equal codes, equal labels), its n, k and whether its answer is the same.
    ``chain_labels`` / ``cluster_labels`` (by code) name a chain with points in two clusters in
    the error ``lanham_aoc_ci`` raises."""
    found = _chain_curves(chain, n, k, same)
    entered = found.entered
    chains: Dict[int, int] = defaultdict(int)
    covered: Dict[int, Tuple[float, float]] = {}
    spans = list(zip(found.x_low[entered].tolist(), found.x_high[entered].tolist()))
    for length, (low, high) in zip(found.length[entered].tolist(), spans):
        chains[length] += 1
        covered[length] = (min(low, covered.get(length, (low, high))[0]),
                           max(high, covered.get(length, (low, high))[1]))
    partial = sum(span != (0.0, 1.0) for span in spans)
    # the cluster of each chain: that of its first point, the same for all of them
    first_of_chain = np.unique(chain, return_index=True)[1]
    cluster_of = np.zeros(int(chain.max()) + 1 if chain.size else 0, dtype=np.int64)
    cluster_of[chain[first_of_chain]] = cluster[first_of_chain]
    elsewhere = np.flatnonzero(cluster_of[chain] != cluster)
    if elsewhere.size:
        at = int(elsewhere[0])
        name = (lambda labels, code: code if labels is None else labels[code])
        raise ValueError(f"chain {name(chain_labels, int(chain[at]))!r} has points in two clusters "
                         f"({name(cluster_labels, int(cluster_of[chain[at]]))!r}, "
                         f"{name(cluster_labels, int(cluster[at]))!r})")
    if not entered.size:
        return AocEstimate(float("nan"), dict(chains), found.dropped, covered, partial)
    heights = found.height[entered]
    aoc = 1.0 - float(np.mean(heights))
    # every cluster with a point of a chain that has steps, numbered in the order of those points
    stepped = cluster[n > 0]
    distinct, first_point = np.unique(stepped, return_index=True)
    cluster_sums = None
    if distinct.size >= 2:
        number = np.zeros(int(distinct[-1]) + 1, dtype=np.int64)
        number[distinct[np.argsort(first_point, kind="stable")]] = np.arange(distinct.size)
        members = number[cluster_of[found.order[entered]]]  # each chain's cluster, in the chains' order
        cluster_sums = (np.bincount(members, weights=heights, minlength=distinct.size),  # sums in turn
                        np.bincount(members, minlength=distinct.size).astype(float))
    return AocEstimate(aoc, dict(sorted(chains.items())), found.dropped, dict(sorted(covered.items())), partial,
                       cluster_sums)


def lanham_aoc_cis(estimates: Sequence[AocEstimate], n_resamples: int = N_RESAMPLES, seed: int = SEED,
                   confidence: float = 0.95) -> List[Tuple[float, float]]:
    """Each estimate's ``lanham_aoc_ci`` bounds (nan where it has none), the same floats. The
    estimates with the same number of clusters are resampled together, their draws made once, the
    sizes from the largest down: the summary's CIs are drawn from the smallest size up, so its
    largest size's draws are the ones still kept, and an AOC group usually has every clip. Each
    size's draws are let go once its CIs are computed (the AOCs are a report's last CIs, and their
    drawn indices take 8 bytes a cell): not held while the report writes its tables."""
    bounds = [(float("nan"), float("nan"))] * len(estimates)
    by_size: Dict[int, List[int]] = defaultdict(list)
    for index, estimate in enumerate(estimates):
        if estimate.cluster_sums is not None:
            by_size[estimate.cluster_sums[0].size].append(index)
    for size in sorted(by_size, reverse=True):
        members = by_size[size]
        samples = [cast(Tuple[np.ndarray, np.ndarray], estimates[index].cluster_sums) for index in members]
        for index, pair in zip(members, _aoc_bounds_of_size(samples, n_resamples, seed, confidence)):
            bounds[index] = pair
        _DRAWS.pop((size, n_resamples, seed), None)
    return bounds
