"""ica.evaluation (correlation, cca, cca_pairs): MCC (§4.1) and MCC after closed-form CCA (§4.2, Fig. 4).

Every expected value is either exact by construction (orthogonal Hadamard columns, permutations,
exact linear maps) or checked against an independent computation; statistical thresholds were
verified over 30 seeds and have wide margins.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from ica.evaluation.cca import CCA, fit_cca
from ica.evaluation.cca_pairs import CCAMCC, cca_mcc, pairwise_cca_mcc
from ica.evaluation.correlation import correlation_matrix, mcc


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240531)


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    # No RuntimeWarning (division by zero, invalid value) may escape from any measure.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _hadamard_basis() -> np.ndarray:
    """Seven exactly zero-mean, mutually orthogonal columns of norm 1 over 8 points."""
    return scipy.linalg.hadamard(8)[:, 1:] / np.sqrt(8.0)


# ---------------------------------------------------------------------------------------------
# correlation_matrix and mcc
# ---------------------------------------------------------------------------------------------


def test_hand_computed_pearson_and_spearman():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([1.0, 3.0, 2.0, 4.0])
    # Centred: a = [-1.5, -.5, .5, 1.5], b = [-1.5, .5, -.5, 1.5]: dot 4, squared norms 5 -> 0.8.
    np.testing.assert_allclose(correlation_matrix(a, b), [[0.8]], atol=1e-15)
    # Ranks equal the values here, so Spearman agrees; a monotone map leaves it unchanged.
    np.testing.assert_allclose(correlation_matrix(np.exp(a), b**3, "spearman"), [[0.8]], atol=1e-15)
    # Spearman with ties uses average ranks: [1, 2, 2, 4] -> ranks [1, 2.5, 2.5, 4].
    tied = np.array([1.0, 2.0, 2.0, 4.0])
    expected = np.corrcoef([1, 2.5, 2.5, 4], [1, 3, 2, 4])[0, 1]
    np.testing.assert_allclose(correlation_matrix(tied, b, "spearman"), [[expected]], atol=1e-15)


def test_correlation_matrix_shape_and_orientation(rng):
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 2))
    corr = correlation_matrix(a, b)
    assert corr.shape == (3, 2) and corr.dtype == np.float64
    reference = np.corrcoef(a.T, b.T)[:3, 3:]
    np.testing.assert_allclose(corr, reference, atol=1e-12)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_permuted_sign_flipped_rescaled_copy_scores_one(rng, method):
    s = rng.normal(size=(500, 4))
    z = s[:, [2, 0, 3, 1]] * np.array([-2.0, 0.5, 3.0, -1e-3]) + np.array([7.0, -1.0, 0.0, 1e3])
    assert mcc(z, s, method) == pytest.approx(1.0, abs=1e-12)


def test_spearman_is_one_under_a_monotone_map_and_pearson_is_not(rng):
    s = rng.normal(size=(2000, 3))
    z = np.exp(s[:, ::-1])
    assert mcc(z, s, "spearman") == pytest.approx(1.0, abs=1e-12)
    # Population value corr(exp(x), x) = 1 / sqrt(e - 1) ~ 0.76 for a standard normal x.
    assert mcc(z, s, "pearson") < 0.9


def test_independent_variables_score_near_zero():
    rng = np.random.default_rng(0)
    z, s = rng.normal(size=(20_000, 5)), rng.normal(size=(20_000, 5))
    assert mcc(z, s) < 0.05
    assert mcc(z, s, "spearman") < 0.05


def test_swapped_columns_score_one():
    e = _hadamard_basis()
    s = e[:, :2]
    z = s[:, ::-1]
    np.testing.assert_allclose(correlation_matrix(z, s), [[0.0, 1.0], [1.0, 0.0]], atol=1e-15)
    assert mcc(z, s) == pytest.approx(1.0, abs=1e-15)


def test_matching_is_optimal_not_diagonal_or_greedy():
    # Orthonormal zero-mean columns give correlations exactly equal to the mixing coefficients:
    # |corr(z, s)| = [[0.6, 0.5], [0.5, 0.0]]. Diagonal matching and greedy matching (take 0.6
    # first) both give (0.6 + 0.0) / 2 = 0.3; the optimal one-to-one matching is (0.5 + 0.5) / 2.
    e = _hadamard_basis()
    s = e[:, :2]
    z = np.column_stack(
        [0.6 * e[:, 0] + 0.5 * e[:, 1] + np.sqrt(0.39) * e[:, 2], -0.5 * e[:, 0] + np.sqrt(0.75) * e[:, 3]]
    )
    np.testing.assert_allclose(correlation_matrix(z, s), [[0.6, 0.5], [-0.5, 0.0]], atol=1e-14)
    assert mcc(z, s) == pytest.approx(0.5, abs=1e-14)


def test_rectangular_matching_averages_min_dimension_matches():
    # Three learnt dimensions against two sources: two matches, the spare dimension is ignored.
    e = _hadamard_basis()
    s = e[:, :2]
    z = np.column_stack([e[:, 4], 0.8 * e[:, 0] + 0.6 * e[:, 5], e[:, 1]])
    assert mcc(z, s) == pytest.approx((0.8 + 1.0) / 2, abs=1e-14)
    assert mcc(s, z) == pytest.approx((0.8 + 1.0) / 2, abs=1e-14)


@pytest.mark.parametrize("method", ["pearson", "spearman"])
@pytest.mark.parametrize("constant", [0.0, 3.0, 0.1, -1e6])
def test_zero_variance_column_correlates_zero(rng, method, constant):
    s = rng.normal(size=(101, 2))
    z = np.column_stack([s[:, 0], np.full(101, constant)])
    corr = correlation_matrix(z, s, method)  # the autouse fixture turns any warning into an error
    assert np.isfinite(corr).all()
    assert corr[1].tolist() == [0.0, 0.0]
    # Matched: z0-s0 (1) and the constant with s1 (0).
    assert mcc(z, s, method) == pytest.approx(0.5, abs=1e-12)
    assert mcc(np.full((10, 3), 2.0), rng.normal(size=(10, 3)), method) == 0.0


def test_torch_tensors_are_accepted(rng):
    s = rng.normal(size=(60, 3))
    z = s @ rng.normal(size=(3, 3))
    expected = mcc(z, s)
    assert mcc(torch.tensor(z), torch.tensor(s)) == pytest.approx(expected, abs=1e-15)
    assert mcc(torch.tensor(z, dtype=torch.float32, requires_grad=True), s) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "z, s, fragment",
    [
        (np.array([[np.nan, 1.0], [1.0, 2.0], [0.0, 1.0]]), np.ones((3, 2)), "non-finite"),
        (np.ones((3, 2)), np.array([[np.inf, 1.0], [1.0, 2.0], [0.0, 1.0]]), "non-finite"),
        (np.ones((4, 2)), np.ones((5, 2)), "4 rows but s has 5"),
        (np.ones((1, 2)), np.ones((1, 2)), "at least 2 rows"),
        (np.ones((4, 2, 2)), np.ones((4, 2)), "matrix"),
        (np.ones((4, 0)), np.ones((4, 2)), "no columns"),
    ],
)
def test_bad_input_is_a_clear_error(z, s, fragment):
    with pytest.raises(ValueError, match=fragment):
        mcc(z, s)


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ValueError, match="'kendall'.*pearson, spearman"):
        mcc(np.ones((3, 1)), np.ones((3, 1)), method="kendall")
    with pytest.raises(ValueError, match="kendall"):
        correlation_matrix(np.ones((3, 1)), np.ones((3, 1)), method="kendall")


# ---------------------------------------------------------------------------------------------
# fit_cca
# ---------------------------------------------------------------------------------------------


def _reference_canonical_correlations(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent references: principal angles between the centred column spaces (QR), and
    the generalised eigenproblem  S12 S22^-1 S21 w = rho^2 S11 w."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    qx, qy = np.linalg.qr(xc)[0], np.linalg.qr(yc)[0]
    by_qr = np.linalg.svd(qx.T @ qy, compute_uv=False)
    s11, s22, s12 = xc.T @ xc, yc.T @ yc, xc.T @ yc
    rho2 = scipy.linalg.eigh(s12 @ np.linalg.solve(s22, s12.T), s11, eigvals_only=True)[::-1]
    by_eig = np.sqrt(np.clip(rho2, 0.0, None))
    return by_qr, by_eig


def test_cca_matches_independent_references_and_whitens(rng):
    n = 400
    x = rng.normal(size=(n, 3)) * np.array([1.0, 10.0, 0.1]) + 5.0
    y = x @ rng.normal(size=(3, 4)) + rng.normal(size=(n, 4))
    cca = fit_cca(x, y)
    assert isinstance(cca, CCA)
    assert cca.weights1.shape == (3, 3) and cca.weights2.shape == (4, 3) and cca.correlations.shape == (3,)
    by_qr, by_eig = _reference_canonical_correlations(x, y)
    np.testing.assert_allclose(cca.correlations, by_qr[:3], atol=1e-10)
    np.testing.assert_allclose(cca.correlations, by_eig[:3], atol=1e-8)
    assert np.all(np.diff(cca.correlations) <= 0)
    c1, c2 = cca.transform(x, y)
    assert c1.shape == (n, 3) and c2.shape == (n, 3)
    np.testing.assert_allclose(c1.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(c1.T @ c1 / n, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(c2.T @ c2 / n, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(c1.T @ c2 / n, np.diag(cca.correlations), atol=1e-10)


def test_cca_transform_centres_with_the_fitted_means(rng):
    x, y = rng.normal(size=(100, 2)), rng.normal(size=(100, 3))
    cca = fit_cca(x, y)
    c1, c2 = cca.transform(x, y)
    shifted1, same2 = cca.transform(x + 5.0, y)
    np.testing.assert_allclose(shifted1, c1 + 5.0 * cca.weights1.sum(axis=0), atol=1e-12)
    np.testing.assert_allclose(same2, c2, atol=0)
    with pytest.raises(ValueError, match="fitted on 3"):
        cca.transform(x, y[:, :2])


def test_cca_is_immutable(rng):
    cca = fit_cca(rng.normal(size=(20, 2)), rng.normal(size=(20, 2)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cca.correlations = np.zeros(2)
    with pytest.raises(ValueError):
        cca.weights1[0, 0] = 1.0


def test_cca_gives_collapsed_directions_zero_weight(rng):
    x = rng.normal(size=(300, 3))
    # View 2: an exact linear image of two of x's directions, a constant column, a duplicated
    # column and a column of variance 1e-26 relative to the others.
    informative = x[:, :2] @ np.array([[2.0, 1.0], [-1.0, 1.0]])
    y = np.column_stack([informative, np.full(300, 4.0), informative[:, 0], 1e-13 * rng.normal(size=300)])
    cca = fit_cca(x, y)
    assert np.isfinite(cca.weights2).all() and np.isfinite(cca.correlations).all()
    np.testing.assert_allclose(cca.correlations, [1.0, 1.0, 0.0], atol=1e-10)
    assert np.abs(cca.weights2[2]).max() == 0.0  # the constant column
    assert np.abs(cca.weights2[4]).max() < 1e-6  # not amplified to ~1e13
    np.testing.assert_allclose(cca.weights2[:, 2], 0.0, atol=0)  # no third direction in view 2


def test_cca_of_an_entirely_constant_view(rng):
    cca = fit_cca(rng.normal(size=(50, 3)), np.ones((50, 2)))
    assert cca.correlations.tolist() == [0.0, 0.0]
    assert not cca.weights2.any()
    result = cca_mcc(rng.normal(size=(50, 3)), np.ones((50, 2)))
    assert (result.in_sample, result.out_of_sample) == (0.0, 0.0)


def test_fit_cca_rejects_non_finite_input(rng):
    x = rng.normal(size=(10, 2))
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="z2 has 1 non-finite"):
        fit_cca(x, bad)


def test_fit_cca_rejects_a_bad_rtol(rng):
    x = rng.normal(size=(10, 2))
    with pytest.raises(ValueError, match="rtol"):
        fit_cca(x, x, rtol=-1.0)


# ---------------------------------------------------------------------------------------------
# cca_mcc
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_cca_mcc_of_an_invertible_linear_map_is_one(rng, method):
    z1 = rng.normal(size=(1000, 5))
    z2 = z1 @ (rng.normal(size=(5, 5)) + 2 * np.eye(5)) + 3.0
    result = cca_mcc(z1, z2, method=method)
    assert isinstance(result, CCAMCC)
    assert result.in_sample == pytest.approx(1.0, abs=1e-8)
    assert result.out_of_sample == pytest.approx(1.0, abs=1e-8)


def test_cca_overfits_independent_data_in_sample_only():
    # 100 fitted rows in 50 dimensions: CCA finds spurious correlations in sample (0.62-0.65 over
    # 30 seeds) that vanish on the 900 held-out rows (0.07-0.08 over 30 seeds).
    rng = np.random.default_rng(1)
    z1, z2 = rng.normal(size=(1000, 50)), rng.normal(size=(1000, 50))
    result = cca_mcc(z1, z2, fit_fraction=0.1)
    assert result.in_sample > 0.5
    assert result.out_of_sample < 0.2
    assert result.in_sample > result.out_of_sample + 0.3


def test_cca_mcc_uses_leading_rows_in_order(rng):
    z1 = rng.normal(size=(40, 2))
    z2 = z1 @ rng.normal(size=(2, 2)) + 0.5 * rng.normal(size=(40, 2))
    result = cca_mcc(z1, z2, fit_fraction=0.25)
    c1, c2 = fit_cca(z1[:10], z2[:10]).transform(z1, z2)
    assert result.in_sample == pytest.approx(mcc(c1[:10], c2[:10]), abs=1e-14)
    assert result.out_of_sample == pytest.approx(mcc(c1[10:], c2[10:]), abs=1e-14)


def test_a_collapsed_dimension_gives_no_nan(rng):
    z1 = rng.normal(size=(300, 3))
    z2 = np.column_stack([z1[:, :2] @ rng.normal(size=(2, 2)), np.zeros(300)])
    result = cca_mcc(z1, z2)
    # Two exactly shared directions (correlation 1), one that view 2 lacks (correlation 0).
    assert result.in_sample == pytest.approx(2 / 3, abs=1e-8)
    assert result.out_of_sample == pytest.approx(2 / 3, abs=1e-8)


@pytest.mark.parametrize(
    "n, fit_fraction, fragment",
    [
        (10, 0.0, "strictly between 0 and 1"),
        (10, 1.0, "strictly between 0 and 1"),
        (10, -0.5, "strictly between 0 and 1"),
        (10, 0.1, "1 and 9"),
        (10, 0.9, "9 and 1"),
        (3, 0.5, "at least 2 rows"),
    ],
)
def test_cca_mcc_rejects_bad_splits(n, fit_fraction, fragment):
    z = np.random.default_rng(0).normal(size=(n, 2))
    with pytest.raises(ValueError, match=fragment):
        cca_mcc(z, z, fit_fraction=fit_fraction)


def test_cca_mcc_rejects_bad_input(rng):
    z = rng.normal(size=(10, 2))
    with pytest.raises(ValueError, match="kendall"):
        cca_mcc(z, z, method="kendall")
    with pytest.raises(ValueError, match="10 rows but z2 has 9"):
        cca_mcc(z, z[:9])
    with pytest.raises(ValueError, match="non-finite"):
        cca_mcc(z, np.where(z > 1, np.inf, z))


# ---------------------------------------------------------------------------------------------
# pairwise_cca_mcc
# ---------------------------------------------------------------------------------------------


def _runs(rng, n=240):
    """Runs of different widths sharing a 4-dimensional signal, one rank deficient."""
    base = rng.normal(size=(n, 4))
    runs = [base @ rng.normal(size=(4, d)) + 0.5 * rng.normal(size=(n, d)) for d in (4, 6, 3, 5)]
    runs[3][:, 1] = runs[3][:, 0]  # duplicated column
    runs[3][:, 4] = -2.0  # collapsed dimension
    return runs


@pytest.mark.parametrize("method", ["pearson", "spearman"])
@pytest.mark.parametrize("fit_fraction", [0.5, 0.3])
def test_pairwise_equals_cca_mcc_pair_by_pair(rng, method, fit_fraction):
    runs = _runs(rng)
    results = pairwise_cca_mcc(runs, fit_fraction=fit_fraction, method=method)
    assert list(results) == list(itertools.combinations(range(4), 2))
    for (i, j), value in results.items():
        single = cca_mcc(runs[i], runs[j], fit_fraction=fit_fraction, method=method)
        assert isinstance(value, CCAMCC)
        assert value.in_sample == pytest.approx(single.in_sample, abs=1e-8)
        assert value.out_of_sample == pytest.approx(single.out_of_sample, abs=1e-8)


def test_pairwise_accepts_a_stacked_array_and_tensors(rng):
    stacked = np.stack([rng.normal(size=(50, 3)) for _ in range(3)])
    from_array = pairwise_cca_mcc(stacked)
    from_tensor = pairwise_cca_mcc(torch.tensor(stacked))
    from_list = pairwise_cca_mcc([torch.tensor(z) for z in stacked])
    assert sorted(from_array) == [(0, 1), (0, 2), (1, 2)]
    assert from_array == from_tensor == from_list


def test_pairwise_with_fewer_than_two_runs_is_empty(rng):
    assert pairwise_cca_mcc([]) == {}
    assert pairwise_cca_mcc([rng.normal(size=(10, 2))]) == {}


def test_pairwise_names_the_non_finite_run(rng):
    runs = [rng.normal(size=(20, 2)) for _ in range(3)]
    runs[2][5, 0] = np.nan
    with pytest.raises(ValueError, match=r"latents\[2\] has 1 non-finite"):
        pairwise_cca_mcc(runs)


def test_pairwise_names_a_run_of_another_length(rng):
    runs = [rng.normal(size=(20, 2)), rng.normal(size=(19, 2))]
    with pytest.raises(ValueError, match=r"latents\[1\] has 19 rows"):
        pairwise_cca_mcc(runs)


def test_pairwise_rejects_bad_options(rng):
    runs = [rng.normal(size=(20, 2)) for _ in range(2)]
    with pytest.raises(ValueError, match="fit_fraction"):
        pairwise_cca_mcc(runs, fit_fraction=1.0)
    with pytest.raises(ValueError, match="kendall"):
        pairwise_cca_mcc(runs, method="kendall")
