"""`ica.evaluation.significance`: bootstrap intervals of medians resampling seeds, and tests between two models
(issue #15). Calibration against known distributions with fixed generators, the scheme against a brute-force
enumeration of resamples, pairs' dependence, failed values, and the tests' power and size."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ica.evaluation.significance import (MIN_SEEDS, bootstrap_median_ci, compare, medians_of_draws, metric_values,
                                         resampled_medians)


def per_seed(values) -> dict[int, float]:
    return {i: float(v) for i, v in enumerate(values)}


def per_pair(effects, rng, noise: float = 0.1) -> dict[tuple[int, int], float]:
    """Pairwise values that share their seeds' effects (as CCA-MCC between seeds does): the value of (i, j) is the
    mean of seed i's and seed j's effect plus a little noise of its own. Symmetric, so the true median is 0 for
    effects centred on 0."""
    n = len(effects)
    return {(i, j): (effects[i] + effects[j]) / 2 + noise * rng.normal() for i in range(n) for j in range(i + 1, n)}


def naive_pair_ci(values: dict, rng, resamples: int = 2000, level: float = 0.95) -> tuple[float, float]:
    """What the module must NOT do: resample the pairs as if they were independent."""
    v = np.array(list(values.values()))
    medians = np.median(v[rng.integers(0, v.size, size=(resamples, v.size))], axis=1)
    low, high = np.percentile(medians, [50 * (1 - level), 50 * (1 + level)])
    return low, high


# ------------------------------------------------------------------------------------ the scheme
def brute_force_median(values: dict, seeds: list[int]) -> float:
    """The median of one resample, enumerated by hand: the drawn seeds' values, or every pair of draws with
    different seeds; failed values left out."""
    pairwise = isinstance(next(iter(values)), tuple)
    if pairwise:
        found = [values.get((min(a, b), max(a, b)), math.nan)
                 for i, a in enumerate(seeds) for b in seeds[i + 1:] if a != b]
    else:
        found = [values[s] for s in seeds]
    found = [v for v in found if v is not None and math.isfinite(v)]
    return float(np.median(found)) if found else math.nan


@pytest.mark.parametrize("pairwise", [False, True])
def test_medians_of_draws_equal_the_resamples_enumerated_by_hand(pairwise):
    rng = np.random.default_rng(3)
    for _ in range(60):
        n = int(rng.integers(2, 7))
        draw = lambda: None if rng.random() < 0.2 else float(rng.integers(0, 6))  # noqa: E731 - ties and failures
        values = ({(i, j): draw() for i in range(n) for j in range(i + 1, n)} if pairwise
                  else {i: draw() for i in range(n)})
        draws = rng.integers(0, n, size=(25, n))
        got = medians_of_draws(values, draws)
        for row, d in zip(got, draws):
            expected = brute_force_median(values, [int(s) for s in d])
            assert (math.isnan(expected) and math.isnan(row)) or row == expected, (values, d)


def test_failed_values_are_drawn_but_left_out_of_the_median():
    values = {0: 1.0, 1: math.nan, 2: 3.0, 3: None}
    medians = medians_of_draws(values, np.array([[1, 1, 3, 3], [0, 1, 1, 3], [0, 2, 1, 3], [2, 2, 2, 1]]))
    assert math.isnan(medians[0])  # only failed seeds drawn: no median, not a zero
    assert medians[1:].tolist() == [1.0, 2.0, 3.0]
    pairs = {(0, 1): 0.5, (0, 2): math.nan, (1, 2): 0.9}
    assert math.isnan(medians_of_draws(pairs, np.array([[0, 0, 0]]))[0])  # one seed: no pair of distinct seeds
    assert math.isnan(medians_of_draws(pairs, np.array([[0, 2, 2]]))[0])  # its only pair failed
    assert medians_of_draws(pairs, np.array([[0, 1, 2]]))[0] == pytest.approx(0.7)


def test_intervals_are_deterministic_and_hold_the_median():
    rng = np.random.default_rng(0)
    values = per_seed(rng.normal(size=12))
    first, again = bootstrap_median_ci(values), bootstrap_median_ci(values)
    assert first == again
    assert (resampled_medians(values, seed=0) == resampled_medians(values, seed=0)).all()
    assert not (resampled_medians(values, seed=0) == resampled_medians(values, seed=1)).all()
    assert first.low <= np.median(list(values.values())) <= first.high
    wider = bootstrap_median_ci(values, level=0.99)
    assert wider.low <= first.low and wider.high >= first.high


# --------------------------------------------------------------------------------- calibration
def test_per_seed_interval_covers_the_true_median_in_most_repetitions():
    """15 seeds from N(0, 1) (true median 0), 200 repetitions: a 95% interval should cover 0 about 95% of the time
    (the percentile bootstrap of a median is slightly short at this size); an interval built wrongly (from the
    quartiles, or far too narrow) covers far less."""
    rng = np.random.default_rng(0)
    covered = [bootstrap_median_ci(per_seed(rng.normal(size=15)), seed=r) for r in range(200)]
    coverage = np.mean([ci.low <= 0 <= ci.high for ci in covered])
    assert 0.86 <= coverage <= 0.995, coverage


def test_resampling_seeds_is_wider_and_better_calibrated_than_resampling_pairs():
    """For pairwise values that share their seeds' effects, resampling the pairs as independent units gives an
    interval far too narrow (covering the true median in well under 95% of repetitions); resampling seeds does not."""
    rng = np.random.default_rng(1)
    seeds_cover, naive_cover, seeds_width, naive_width = [], [], [], []
    for r in range(150):
        values = per_pair(rng.normal(size=15), rng)
        ci = bootstrap_median_ci(values, seed=r)
        low, high = naive_pair_ci(values, rng)
        seeds_cover.append(ci.low <= 0 <= ci.high)
        naive_cover.append(low <= 0 <= high)
        seeds_width.append(ci.high - ci.low)
        naive_width.append(high - low)
    assert np.mean(seeds_width) > 2 * np.mean(naive_width)
    assert np.mean(seeds_cover) >= 0.85, np.mean(seeds_cover)
    assert np.mean(naive_cover) < 0.7, np.mean(naive_cover)


def test_too_few_seeds_give_no_interval_and_failures_do_not_count_as_seeds():
    assert bootstrap_median_ci(per_seed(range(MIN_SEEDS - 1))) is None
    assert bootstrap_median_ci(per_seed(range(MIN_SEEDS))) is not None
    failing = {**per_seed(range(MIN_SEEDS - 1)), 100: math.nan, 101: None}
    assert bootstrap_median_ci(failing) is None
    assert bootstrap_median_ci({}) is None
    rng = np.random.default_rng(0)
    assert bootstrap_median_ci(per_pair(rng.normal(size=MIN_SEEDS - 1), rng)) is None
    assert bootstrap_median_ci(per_pair(rng.normal(size=MIN_SEEDS), rng)) is not None


def test_failed_seeds_widen_the_interval_but_never_leave_the_finite_values():
    rng = np.random.default_rng(2)
    finite = rng.normal(size=10)
    values = {**per_seed(finite), **{10 + i: math.nan for i in range(10)}}
    ci = bootstrap_median_ci(values)
    assert all(math.isfinite(v) for v in ci)
    assert finite.min() <= ci.low <= ci.high <= finite.max()
    medians = resampled_medians(values, 500)
    assert np.isfinite(medians).all()  # 20 seeds drawn: never only failed ones (but with tiny odds)
    clean = bootstrap_median_ci(per_seed(finite))
    assert (ci.high - ci.low) >= (clean.high - clean.low) * 0.9


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="level"):
        bootstrap_median_ci(per_seed(range(8)), level=1.5)
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_median_ci(per_seed(range(8)), resamples=0)
    with pytest.raises(ValueError, match="per seed"):
        bootstrap_median_ci({0: 1.0, (1, 2): 0.5})
    with pytest.raises(ValueError, match="same kind"):
        compare(per_seed(range(8)), {(0, 1): 1.0, (0, 2): 1.0})


# ---------------------------------------------------------------------------------------- tests
def test_per_seed_comparison_is_the_two_sided_rank_test():
    rng = np.random.default_rng(4)
    a, b = rng.normal(3, 1, size=10), rng.normal(0, 1, size=10)
    found = compare(per_seed(a), per_seed(b))
    expected = stats.mannwhitneyu(a, b, alternative="two-sided")
    assert found.test == "Mann-Whitney U" and found.statistic == "U"
    assert found.p_value == pytest.approx(expected.pvalue) and found.value == pytest.approx(expected.statistic)
    assert found.p_value < 0.01
    assert found.difference == pytest.approx(np.median(a) - np.median(b))
    assert (found.n_a, found.n_b) == (10, 10)
    same = compare(per_seed(rng.normal(size=10)), per_seed(rng.normal(size=10)))
    assert same.p_value > 0.05


def test_per_pair_comparison_bootstraps_seeds():
    rng = np.random.default_rng(5)
    a, b = per_pair(rng.normal(1, 0.3, size=10), rng), per_pair(rng.normal(0, 0.3, size=10), rng)
    found = compare(a, b)
    assert found.test == "bootstrap over seeds"
    assert found.p_value == pytest.approx(1 / 2000)  # floored at 1/resamples, never 0
    assert found.difference == pytest.approx(np.median(list(a.values())) - np.median(list(b.values())))
    assert (found.n_a, found.n_b) == (10, 10)
    assert compare(a, b) == found  # deterministic
    same = compare(per_pair(rng.normal(size=10), rng), per_pair(rng.normal(size=10), rng))
    assert same.p_value > 0.05
    assert compare(a, a).p_value == pytest.approx(1.0, abs=0.05)


def test_under_the_null_small_p_values_are_rare():
    """Both models from one distribution: p < 0.05 in about 5% of repetitions (allowing for the bootstrap's
    small-sample liberality), for both kinds of test."""
    rng = np.random.default_rng(6)
    small = {"seed": 0, "pair": 0}
    for r in range(80):
        ea, eb = rng.normal(size=10), rng.normal(size=10)
        small["seed"] += compare(per_seed(ea), per_seed(eb)).p_value < 0.05
        small["pair"] += compare(per_pair(ea, rng), per_pair(eb, rng), seed=r).p_value < 0.05
    assert small["seed"] <= 10 and small["pair"] <= 12, small


def test_comparisons_leave_failures_out_and_need_values():
    rng = np.random.default_rng(7)
    a = {**per_seed(rng.normal(2, 1, size=8)), 8: math.nan, 9: None}
    found = compare(a, per_seed(rng.normal(size=8)))
    assert found.n_a == 8 and math.isfinite(found.p_value) and math.isfinite(found.difference)
    assert compare({0: math.nan, 1: None}, per_seed(range(5))) is None
    few = per_pair(rng.normal(size=MIN_SEEDS - 1), rng)
    assert compare(few, per_pair(rng.normal(size=8), rng)) is None  # too few seeds for the bootstrap


def test_metric_values_read_the_summary_layout():
    summary = {"seeds": {"0": {"mcc": 0.5, "elbo_train": -3.0}, "1": {"mcc": None}},
               "pairs": [{"seeds": [0, 1], "cca_mcc_out": 0.9}], "cell": {"mcc_observations": 0.4}}
    assert metric_values(summary, "mcc")[0] == 0.5 and math.isnan(metric_values(summary, "mcc")[1])
    assert metric_values(summary, "cca_mcc_out") == {(0, 1): 0.9}
    assert metric_values(summary, "mcc_observations") is None  # one value per cell: nothing to resample
    assert metric_values({}, "mcc") is None
