"""Metrics for the report: rates, bootstrap confidence intervals, McNemar tests, flip matrices
and Lanham's area over the curve (AOC). Pure functions over plain sequences; numpy only.

Conventions (docs/report.md): a rate of an empty sample is ``nan``; confidence intervals are
percentile bootstrap intervals from a generator seeded with ``seed`` for every call, so a CI does
not depend on the order in which a report computes them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Dict, Hashable, Iterable, List, Optional, Sequence, Tuple

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
    resampled, so several runs of one item are not treated as independent evidence.
    """
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    labels = None
    if clusters is not None:
        if len(clusters) != array.size:
            raise ValueError(f"{len(clusters)} cluster labels for {array.size} values")
        _, labels = np.unique(np.asarray([str(c) for c in clusters]), return_inverse=True)
    if labels is None or labels.max() + 1 == array.size:  # no clusters, or one value each
        means = array[rng.integers(0, array.size, size=(n_resamples, array.size))].mean(axis=1)
    else:
        sums, counts = np.bincount(labels, weights=array), np.bincount(labels)
        picks = rng.integers(0, sums.size, size=(n_resamples, sums.size))
        means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


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
    """Lanham's AOC and the per-length curves it integrates."""

    aoc: float
    curves: Dict[int, Tuple[np.ndarray, np.ndarray]]  # n -> (x = k / n, y = mean same-answer)
    chains: Dict[int, int]  # n -> number of chains of that length


def lanham_aoc(points: Iterable[Tuple[Hashable, int, int, bool]]) -> AocResult:
    """Area over the "% same answer" curve, Lanham et al. (2023) §2.

    ``points`` are ``(chain, n, k, same)``: a chain of ``n`` steps answered with ``k`` of them
    (or with a mistake before step ``k``), ``same`` = the answer equals the full-chain answer.
    For each length n: y_n(k) = mean of ``same`` over chains of that length, AUC_n = trapezoid of
    y_n over x = k/n, and AOC = 1 − Σ_n (N_n / N) · AUC_n with N_n the number of chains of length
    n. Lengths with fewer than two distinct x values (no area) are left out, and so is n = 0.
    """
    same_by_length: Dict[int, Dict[int, List[bool]]] = defaultdict(lambda: defaultdict(list))
    chains_by_length: Dict[int, set] = defaultdict(set)
    for chain, n, k, same in points:
        if n <= 0:
            continue
        same_by_length[n][k].append(bool(same))
        chains_by_length[n].add(chain)
    curves: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
    areas: Dict[int, float] = {}
    for n, by_k in sorted(same_by_length.items()):
        ks = sorted(by_k)
        if len(ks) < 2:
            continue
        x = np.array([k / n for k in ks])
        y = np.array([np.mean(by_k[k]) for k in ks])
        curves[n] = (x, y)
        areas[n] = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
    chains = {n: len(chains_by_length[n]) for n in areas}
    total = sum(chains.values())
    if not total:
        return AocResult(float("nan"), curves, chains)
    auc = sum(chains[n] / total * areas[n] for n in areas)
    return AocResult(1.0 - auc, curves, chains)
