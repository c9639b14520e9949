"""Metrics against values computed by hand."""

import math

import numpy as np
import pytest

from audiofaith.report import metrics


def test_rate_and_empty_rate():
    assert metrics.rate([True, False, True, True]) == 0.75
    assert math.isnan(metrics.rate([]))


def exact_bootstrap_interval(successes: int, n: int, confidence: float = 0.95) -> tuple:
    """The percentile interval of the bootstrap distribution of a 0/1 mean, computed exactly: a
    resample of n draws with replacement has Binomial(n, successes/n) successes. An independent
    reference: no resampling, no numpy, only the binomial CDF."""
    p, tail = successes / n, (1 - confidence) / 2

    def quantile(level: float) -> float:
        cumulative = 0.0
        for k in range(n + 1):
            cumulative += math.comb(n, k) * p ** k * (1 - p) ** (n - k)
            if cumulative >= level:
                return k / n
        return 1.0

    return quantile(tail), quantile(1 - tail)


def test_bootstrap_ci_endpoints_are_pinned_and_match_the_exact_bootstrap():
    """The endpoints at a fixed seed are pinned, and lie within one step (1/n) of the exact
    bootstrap quantiles: a 50 % interval, another resampling scheme or a constant (-1, 1) fails."""
    rng = np.random.default_rng(1)
    small = rng.random(50) < 0.7  # 34 of 50
    large = np.tile(small, 20)  # same proportion, 20× the items
    assert int(small.sum()) == 34
    assert exact_bootstrap_interval(34, 50) == (0.54, 0.80)
    assert exact_bootstrap_interval(680, 1000) == (0.651, 0.709)
    assert metrics.bootstrap_ci(small, seed=3) == pytest.approx((0.54, 0.8005), abs=1e-9)
    assert metrics.bootstrap_ci(large, seed=3) == pytest.approx((0.651, 0.708), abs=1e-9)
    for values in (small, large):
        exact = exact_bootstrap_interval(int(values.sum()), values.size)
        got = metrics.bootstrap_ci(values, seed=3)
        assert got == pytest.approx(exact, abs=1 / values.size + 1e-9), (got, exact)
    # 90 %: narrower, again at the exact quantiles
    assert metrics.bootstrap_ci(small, seed=3, confidence=0.9) == pytest.approx(
        exact_bootstrap_interval(34, 50, 0.9), abs=1 / 50 + 1e-9)


def test_bootstrap_ci_is_seeded_and_degenerate_cases():
    values = [1, 0, 1, 1, 0, 1]
    assert metrics.bootstrap_ci(values, seed=7) == metrics.bootstrap_ci(values, seed=7)
    assert metrics.bootstrap_ci(values, seed=7) == pytest.approx((1 / 3, 1.0))  # exact: (2/6, 6/6)
    assert exact_bootstrap_interval(4, 6) == (1 / 3, 1.0)
    assert metrics.bootstrap_ci([1, 1, 1]) == (1.0, 1.0)
    assert all(math.isnan(v) for v in metrics.bootstrap_ci([]))


def test_paired_bootstrap_ci_of_a_difference():
    """Resampled as pairs, the difference is a mean of 0/1 (2 of 10 pairs improve): its exact
    bootstrap interval is (0.0, 0.5). Resampling the two arms apart would reach below 0."""
    before = [1, 1, 1, 1, 0, 0, 0, 0, 1, 1]
    after = [1, 1, 1, 1, 1, 1, 0, 0, 1, 1]  # +20 points
    assert exact_bootstrap_interval(2, 10) == (0.0, 0.5)
    assert metrics.paired_bootstrap_ci(before, after) == (0.0, 0.5)
    assert metrics.paired_bootstrap_ci(after, before) == (-0.5, 0.0)
    with pytest.raises(ValueError):
        metrics.paired_bootstrap_ci([1, 0], [1])


def test_flip_matrix_counts():
    before = [True, True, True, False, False, True]
    after = [True, False, False, True, False, True]
    flips = metrics.flip_matrix(before, after)
    assert (flips.correct_correct, flips.correct_incorrect, flips.incorrect_correct, flips.incorrect_incorrect) == \
        (2, 2, 1, 1)
    assert flips.n == 6
    assert flips.as_array().tolist() == [[2, 2], [1, 1]]


def test_mcnemar_exact_known_values():
    # b = 1, c = 9: P(X <= 1), X ~ Bin(10, 1/2) = (1 + 10) / 1024; two-sided = 22 / 1024.
    assert metrics.mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert metrics.mcnemar_exact(9, 1) == pytest.approx(22 / 1024)
    # b = c: the tail reaches past the middle, the p-value caps at 1.
    assert metrics.mcnemar_exact(5, 5) == 1.0
    assert metrics.mcnemar_exact(0, 0) == 1.0
    # b = 0, c = 6: 2 / 64.
    assert metrics.mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    # Large counts stay finite (exact integer arithmetic).
    assert 0 < metrics.mcnemar_exact(3000, 3200) < 0.02


def test_mcnemar_chi2_with_continuity_correction():
    # (|1 − 9| − 1)² / 10 = 4.9; P(chi2_1 > 4.9) = 0.026857 (tables: 0.0269).
    statistic, p = metrics.mcnemar_chi2(1, 9)
    assert statistic == pytest.approx(4.9)
    assert p == pytest.approx(0.026857, abs=1e-6)
    # The classic textbook table b = 25, c = 15: (10 − 1)² / 40 = 2.025, p = 0.1547.
    statistic, p = metrics.mcnemar_chi2(25, 15)
    assert statistic == pytest.approx(2.025)
    assert p == pytest.approx(0.1547, abs=1e-4)
    assert metrics.mcnemar_chi2(0, 0) == (0.0, 1.0)


def test_agreement_counts_null_handling():
    predictions = ["A", "B", None, "C", None, "A"]
    references = ["A", "C", "B", None, None, "A"]
    counts = metrics.agreement_counts(predictions, references)
    assert (counts.n, counts.n_agree, counts.n_valid) == (6, 2, 3)
    assert (counts.n_null_prediction, counts.n_null_reference, counts.n_both_null) == (2, 2, 1)
    assert counts.rate_excl_null == pytest.approx(2 / 3)
    assert counts.rate_null_as_disagree == pytest.approx(2 / 6)


def test_agreement_reproduces_the_af3_animal_computation():
    # 1000 items: 23 not re-run (left out upstream), 10 null baselines counted as disagreeing,
    # 867 agreeing → 867 / 977 = 88.7 %.
    references = [None] * 10 + ["A"] * 967
    predictions = ["A"] * 10 + ["A"] * 867 + ["B"] * 100
    counts = metrics.agreement_counts(predictions, references)
    assert round(100 * counts.rate_null_as_disagree, 1) == 88.7
    assert counts.rate_excl_null == pytest.approx(867 / 967)


def test_lanham_aoc_three_step_toy_example():
    # Chains of length n = 3 (x = k/3 for k = 0..3) and one chain of length n = 2.
    #   n = 3, chain a: same = 0, 0, 1, 1      chain b: same = 0, 1, 1, 1
    #     y_3 = 0, 0.5, 1, 1 at x = 0, 1/3, 2/3, 1
    #     AUC_3 = 1/3 · [(0 + 0.5)/2 + (0.5 + 1)/2 + (1 + 1)/2] = 1/3 · (0.25 + 0.75 + 1) = 2/3
    #   n = 2, chain c: same = 1, 1, 1 at x = 0, 1/2, 1 → AUC_2 = 1
    #   weights: N_3 = 2, N_2 = 1 of N = 3 chains
    #   AOC = 1 − (2/3 · 2/3 + 1/3 · 1) = 1 − 7/9 = 2/9
    points = [("a", 3, k, s) for k, s in enumerate([0, 0, 1, 1])]
    points += [("b", 3, k, s) for k, s in enumerate([0, 1, 1, 1])]
    points += [("c", 2, k, s) for k, s in enumerate([1, 1, 1])]
    result = metrics.lanham_aoc(points)
    assert result.aoc == pytest.approx(2 / 9)
    assert result.chains == {2: 1, 3: 2}
    x, y = result.curves[3]
    assert x.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert y.tolist() == [0, 0.5, 1, 1]


def test_lanham_aoc_edge_cases():
    # A chain whose answer never changes has no area over the curve; one that only agrees at the end has 1/2.
    assert metrics.lanham_aoc([("a", 1, 0, True), ("a", 1, 1, True)]).aoc == pytest.approx(0.0)
    assert metrics.lanham_aoc([("a", 1, 0, False), ("a", 1, 1, True)]).aoc == pytest.approx(0.5)
    # Empty chains (n = 0) and lengths with a single point carry no area and are left out.
    assert math.isnan(metrics.lanham_aoc([("a", 0, 0, True), ("b", 4, 2, True)]).aoc)


def test_cluster_bootstrap_resamples_whole_items():
    """Runs of one item are resampled together: three identical runs per item are not three
    independent observations, so the interval is wider than the naive one."""
    from audiofaith.report import metrics

    per_item = [1, 0, 1, 1, 0, 1, 0, 1, 1, 0] * 3
    values = [v for v in per_item for _ in range(3)]
    items = [f"i{k}" for k in range(len(per_item)) for _ in range(3)]
    naive = metrics.bootstrap_ci(values, n_resamples=2000, seed=0)
    clustered = metrics.bootstrap_ci(values, n_resamples=2000, seed=0, clusters=items)
    single = metrics.bootstrap_ci(per_item, n_resamples=2000, seed=0)
    assert clustered[1] - clustered[0] > naive[1] - naive[0]
    assert abs((clustered[1] - clustered[0]) - (single[1] - single[0])) < 0.05
    # one value per cluster: identical to the unclustered bootstrap
    assert metrics.bootstrap_ci(per_item, seed=0, clusters=list(range(30))) == single
