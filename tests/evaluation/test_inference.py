"""Means, jackknife standard errors, draws, comparisons, corrections and verdicts against hand computations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from ica.evaluation.corrections import adjust
from ica.evaluation.inference import compare, estimate, pair_moments, seed_moments
from ica.evaluation.verdicts import TOO_FEW, verdict


def pairs_of(values_by_seed):
    """Per-pair values a_i + a_j from per-seed effects."""
    return {(i, j): values_by_seed[i] + values_by_seed[j] for i, j in itertools.combinations(sorted(values_by_seed), 2)}


def brute_jackknife(pairs):
    seeds = sorted({s for k in pairs for s in k})
    left = [np.mean([v for k, v in pairs.items() if s not in k]) for s in seeds]
    n = len(seeds)
    return math.sqrt((n - 1) / n * sum((x - np.mean(left)) ** 2 for x in left))


def test_per_seed_estimate_is_the_t_interval_of_the_mean():
    values = {0: 0.61, 1: 0.72, 2: 0.70, 3: 0.65, 4: 0.80}
    found = estimate(values)
    x = np.array(list(values.values()))
    half = stats.t.ppf(0.975, 4) * x.std(ddof=1) / math.sqrt(5)
    assert found.mean == pytest.approx(x.mean()) and found.n_seeds == 5 and found.kind == "seed"
    assert (found.low, found.high) == pytest.approx((x.mean() - half, x.mean() + half))


def test_per_pair_standard_error_is_the_jackknife_over_seeds_with_failures_left_out():
    pairs = pairs_of({0: 0.3, 1: 0.45, 2: 0.41, 3: 0.38, 4: 0.5})
    pairs[(1, 3)] = None  # a failed pair
    pairs[(2, 4)] = float("nan")
    found = estimate(pairs)
    finite = {k: v for k, v in pairs.items() if v is not None and not math.isnan(v)}
    assert found.mean == pytest.approx(np.mean(list(finite.values())))
    assert found.se == pytest.approx(brute_jackknife(finite))
    assert found.df == 4 and found.kind == "pair"


def test_too_few_seeds_give_no_estimate_and_failed_seeds_do_not_count():
    assert estimate({0: 0.5, 1: None}) is None
    assert estimate({(0, 1): 0.5}) is None
    assert estimate({(0, 1): 0.5, (0, 2): 0.6, (1, 2): 0.7}) is not None
    assert compare({0: 0.5}, {0: 0.4, 1: 0.6}) is None
    assert seed_moments(np.array([0.5, np.nan, np.nan])).se != seed_moments(np.array([0.5, np.nan, np.nan])).se


def test_draws_combine_as_the_mean_of_the_draws_means():
    draws = {0: {0: 0.5, 1: 0.7}, 1: {0: 0.8, 1: 0.9, 2: 1.0}, 2: {0: 0.2}}
    found = estimate(draws)
    means = np.array([0.6, 0.9, 0.2])
    assert found.mean == pytest.approx(means.mean()) and found.n_draws == 3 and found.n_seeds == 6
    assert found.se == pytest.approx(means.std(ddof=1) / math.sqrt(3)) and found.df == 2


def test_two_models_within_one_draw_are_compared_by_welch():
    a = {i: v for i, v in enumerate([0.9, 0.85, 0.88, 0.93, 0.91])}
    b = {i: v for i, v in enumerate([0.7, 0.8, 0.75, 0.72, 0.79, 0.74])}
    found = compare(a, b, margin=0.05)
    reference = stats.ttest_ind(list(a.values()), list(b.values()), equal_var=False)
    assert found.p_value == pytest.approx(reference.pvalue)
    assert found.difference == pytest.approx(np.mean(list(a.values())) - np.mean(list(b.values())))
    assert found.p_equivalent > 0.5 and found.test.startswith("Welch")


def test_across_draws_the_comparison_is_paired_by_draw():
    a = {0: {0: 0.9, 1: 0.8}, 1: {0: 0.5, 1: 0.6}, 2: {0: 0.7, 1: 0.72}}
    b = {0: {0: 0.8, 1: 0.75}, 1: {0: 0.45, 1: 0.5}, 2: {0: 0.65, 1: 0.6}}
    found = compare(a, b)
    d = [0.85 - 0.775, 0.55 - 0.475, 0.71 - 0.625]
    assert found.p_value == pytest.approx(stats.ttest_1samp(d, 0).pvalue) and found.n_draws == 3
    assert found.n_a == 6 and found.test == "paired t over draws"


def test_equivalence_is_two_one_sided_tests_against_the_margin():
    rng = np.random.default_rng(0)
    a = dict(enumerate(0.8 + 0.01 * rng.standard_normal(10)))
    b = dict(enumerate(0.8 + 0.01 * rng.standard_normal(10)))
    close = compare(a, b, margin=0.05)
    assert close.p_equivalent < 0.001 and close.p_noninferior < 0.001
    far = compare({k: v + 0.2 for k, v in a.items()}, b, margin=0.05)
    assert far.p_equivalent > 0.99 and far.p_value < 0.001
    with pytest.raises(ValueError, match="margin"):
        compare(a, b, margin=-1)


def test_mixed_kinds_are_refused():
    with pytest.raises(ValueError, match="per seed"):
        compare({0: 0.1, 1: 0.2}, {(0, 1): 0.3, (0, 2): 0.3, (1, 2): 0.2})


def test_holm_and_benjamini_hochberg_match_hand_computation():
    p = [0.01, 0.04, None, 0.03, 0.005]
    assert adjust(p, "holm") == pytest.approx([0.03, 0.06, None, 0.06, 0.02])
    assert adjust(p, "bh") == pytest.approx([0.02, 0.04, None, 0.04, 0.02])
    assert adjust(p, "none") == p
    assert adjust([], "holm") == [] and adjust([0.9, 0.8]) == [1.0, 1.0]
    with pytest.raises(ValueError, match="correction"):
        adjust(p, "bonferonni")


def test_verdicts_follow_the_adjusted_p_and_the_direction():
    assert verdict("ivae", "vade", 0.1, 0.01, 0.9, 0.05) == "ivae better"
    assert verdict("ivae", "vade", 0.1, 0.01, 0.9, 0.05, higher_is_better=False) == "vade better"
    assert verdict("ivae", "vade", 0.01, 0.4, 0.01, 0.05) == "equivalent within ±0.05"
    assert verdict("ivae", "vade", 0.01, 0.4, 0.2, 0.05) == "inconclusive"
    assert verdict("ivae", "vade", None, None, None, 0.05) == TOO_FEW


def test_pair_moments_agree_with_the_dictionary_route():
    rng = np.random.default_rng(1)
    matrix = rng.uniform(size=(6, 6))
    matrix = (matrix + matrix.T) / 2
    by_pair = {(i, j): matrix[i, j] for i, j in itertools.combinations(range(6), 2)}
    m = pair_moments(matrix)
    found = estimate(by_pair)
    assert (found.mean, found.se) == pytest.approx((float(m.mean), float(m.se)))


def test_metric_values_read_the_summary_layout():
    from ica.evaluation.significance import metric_values

    summary = {
        "seeds": {"0": {"mcc": 0.5, "elbo_train": -3.0}, "1": {"mcc": None}},
        "pairs": [{"seeds": [0, 1], "cca_mcc_out": 0.9}],
        "cell": {"mcc_observations": 0.4},
    }
    assert metric_values(summary, "mcc")[0] == 0.5 and math.isnan(metric_values(summary, "mcc")[1])
    assert metric_values(summary, "cca_mcc_out") == {(0, 1): 0.9}
    assert metric_values(summary, "mcc_observations") is None  # one value per cell: nothing to test
    assert metric_values({}, "mcc") is None
