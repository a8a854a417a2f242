"""MCC and closed-form CCA against hand-computed cases and independent references."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from ica.measures import CCAMCC, cca_mcc, correlation_matrix, fit_cca, mcc, pairwise_cca_mcc


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_permuted_sign_flipped_rescaled_sources_score_one(rng, method):
    s = rng.normal(size=(500, 4))
    z = s[:, [2, 0, 3, 1]] * np.array([-2.0, 0.5, 3.0, -1.0]) + 7.0
    assert mcc(z, s, method) == pytest.approx(1.0, abs=1e-12)


def test_spearman_is_invariant_to_monotone_transforms_and_pearson_is_not(rng):
    s = rng.normal(size=(2000, 3))
    z = np.exp(2 * s)
    assert mcc(z, s, "spearman") == pytest.approx(1.0, abs=1e-12)
    assert mcc(z, s, "pearson") < 0.9


def test_independent_variables_score_near_zero(rng):
    assert mcc(rng.normal(size=(20_000, 5)), rng.normal(size=(20_000, 5))) < 0.05


def test_matching_is_the_best_permutation_found_by_brute_force(rng):
    import itertools

    s = rng.normal(size=(300, 4))
    z = s @ rng.normal(size=(4, 4)) + rng.normal(size=(300, 4))
    corr = np.abs(correlation_matrix(z, s))
    best = max(np.mean([corr[i, p[i]] for i in range(4)]) for p in itertools.permutations(range(4)))
    assert mcc(z, s) == pytest.approx(best, abs=1e-12)


def test_matching_beats_greedy_on_a_hand_built_case():
    # Population |corr| = [[0.7, 0.6], [0.6, 0.0]]: greedy (0.7 first) and the diagonal both give 0.35,
    # the optimal one-to-one matching takes the two 0.6s.
    g = np.random.default_rng(0)
    s = g.normal(size=(100_000, 2))
    e = g.normal(size=(100_000, 2))
    z = np.column_stack([0.7 * s[:, 0] + 0.6 * s[:, 1] + np.sqrt(0.15) * e[:, 0], 0.6 * s[:, 0] + 0.8 * e[:, 1]])
    corr = np.abs(correlation_matrix(z, s))
    np.testing.assert_allclose(corr, [[0.7, 0.6], [0.6, 0.0]], atol=0.01)
    assert mcc(z, s) == pytest.approx((corr[0, 1] + corr[1, 0]) / 2, abs=1e-12)


def test_hand_computed_correlations():
    s = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [4.0, 3.0]])
    z = s[:, ::-1].copy()
    assert mcc(z, s) == pytest.approx(1.0)
    # by hand: both columns have mean 2.5 and squared deviations summing to 5; the cross products sum to 3
    assert correlation_matrix(s[:, :1], s[:, 1:])[0, 0] == pytest.approx(0.6)


def test_constant_column_correlates_zero_without_warnings(rng):
    s = rng.normal(size=(100, 2))
    z = np.column_stack([s[:, 0], np.full(100, 3.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        corr = correlation_matrix(z, s)
    assert corr[1].tolist() == [0.0, 0.0]
    assert mcc(z, s) == pytest.approx(0.5, abs=1e-12)  # z0 = s0 matched (1.0), the constant scores 0


def test_torch_tensors_are_accepted(rng):
    s = rng.normal(size=(50, 2))
    assert mcc(torch.tensor(s), torch.tensor(s)) == pytest.approx(1.0)


@pytest.mark.parametrize("z, s, fragment", [
    (np.array([[np.nan, 1.0], [1.0, 2.0], [0.0, 1.0]]), np.ones((3, 2)), "non-finite"),
    (np.ones((4, 2)), np.ones((5, 2)), "4 points"),
    (np.ones((1, 2)), np.ones((1, 2)), "at least 2"),
])
def test_bad_input_is_a_clear_error(z, s, fragment):
    with pytest.raises(ValueError, match=fragment):
        mcc(z, s)


def test_unknown_method():
    with pytest.raises(ValueError, match="kendall"):
        mcc(np.ones((3, 1)), np.ones((3, 1)), method="kendall")


def test_cca_correlations_match_an_independent_computation(rng):
    x = rng.normal(size=(400, 3))
    y = x @ rng.normal(size=(3, 4)) + rng.normal(size=(400, 4))
    cca = fit_cca(x, y)
    # Reference: canonical correlations are the singular values of Qx^T Qy from thin QR of the centred views.
    qx, _ = np.linalg.qr(x - x.mean(0))
    qy, _ = np.linalg.qr(y - y.mean(0))
    reference = np.linalg.svd(qx.T @ qy, compute_uv=False)
    np.testing.assert_allclose(cca.correlations, reference[:3], atol=1e-10)
    c1, c2 = cca.transform(x, y)
    np.testing.assert_allclose(c1.T @ c1 / 400, np.eye(3), atol=1e-8)
    np.testing.assert_allclose(c2.T @ c2 / 400, np.eye(3), atol=1e-8)
    np.testing.assert_allclose(c1.T @ c2 / 400, np.diag(cca.correlations), atol=1e-8)


def test_cca_mcc_of_an_invertible_linear_map_is_one(rng):
    z1 = rng.normal(size=(1000, 5))
    z2 = z1 @ rng.normal(size=(5, 5)) + 3.0
    result = cca_mcc(z1, z2)
    assert result.in_sample == pytest.approx(1.0, abs=1e-8)
    assert result.out_of_sample == pytest.approx(1.0, abs=1e-8)


def test_out_of_sample_cca_of_independent_data_is_near_zero_while_in_sample_is_not(rng):
    z1, z2 = rng.normal(size=(2000, 40)), rng.normal(size=(2000, 40))
    result = cca_mcc(z1, z2, fit_fraction=0.1)
    assert result.in_sample > 0.3  # CCA overfits 200 points in 40 dimensions (measured: 0.39)
    assert result.out_of_sample < 0.1  # and finds nothing on the other 1800 (measured: 0.05)


def test_a_collapsed_dimension_gives_no_nan(rng):
    z1 = rng.normal(size=(300, 3))
    z2 = np.column_stack([z1[:, :2] @ rng.normal(size=(2, 2)), np.zeros(300)])
    result = cca_mcc(z1, z2)
    assert np.isfinite([result.in_sample, result.out_of_sample]).all()
    assert result.out_of_sample == pytest.approx(2 / 3, abs=0.05)


def test_bad_fit_fraction():
    with pytest.raises(ValueError, match="fit_fraction"):
        cca_mcc(np.ones((10, 2)), np.ones((10, 2)), fit_fraction=1.0)


def test_pairwise_equals_one_pair_at_a_time(rng):
    base = rng.normal(size=(300, 4))
    runs = [base @ rng.normal(size=(4, 4)) + 0.3 * rng.normal(size=(300, 4)) for _ in range(4)]
    results = pairwise_cca_mcc(runs)
    assert sorted(results) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    for (i, j), value in results.items():
        single = cca_mcc(runs[i], runs[j])
        assert isinstance(value, CCAMCC)
        assert value.in_sample == pytest.approx(single.in_sample, abs=1e-8)
        assert value.out_of_sample == pytest.approx(single.out_of_sample, abs=1e-8)


def test_pairwise_names_a_non_finite_run(rng):
    runs = [rng.normal(size=(20, 2)), np.full((20, 2), np.nan)]
    with pytest.raises(ValueError, match="run 1"):
        pairwise_cca_mcc(runs)
