"""Identifiability measures: MCC against ground truth, and MCC between runs after closed-form CCA.

What the paper measures (Willetts & Paige, §4 and the Fig. 4 caption):

* **MCC** (§4.1, Fig. 2): the absolute correlation between every learnt dimension and every true
  source, the optimal one-to-one matching of the two sets (Hungarian algorithm, maximising the sum),
  and the mean of the matched values. It is 1 exactly when every source is recovered up to
  permutation, sign and scale (Pearson) or up to a strictly monotone map (Spearman).
* **CCA-MCC** (§4.2, Fig. 4): without ground truth, two runs (seeds) are compared with each other.
  Their representations are identifiable only up to a linear map, so they are first aligned by
  canonical correlation analysis fitted on one part of the evaluation points; MCC of the canonical
  variates is then reported on those points ("in sample", optimistic: CCA can overfit) and on the
  rest ("out of sample").

Why this module is written the way it is:

* Everything is computed in float64 with numpy/scipy; numpy arrays and torch tensors are accepted.
* CCA is the exact closed form (whitening by a pseudo-inverse square root, then an SVD), not an
  iterative solver, so results are deterministic and reproducible.
* Degenerate latents are common (collapsed dimensions, posterior collapse). A column with zero
  variance carries no information: it correlates 0 with everything (never NaN, never a warning),
  and in CCA directions of (numerically) zero variance get weight 0 instead of being amplified.
* Invalid input (non-finite values, mismatched lengths) raises ``ValueError`` rather than silently
  producing NaN, so a failed run stays visible to the caller.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = [
    "METHODS",
    "DEFAULT_RTOL",
    "CCA",
    "CCAMCC",
    "correlation_matrix",
    "mcc",
    "fit_cca",
    "cca_mcc",
    "pairwise_cca_mcc",
]

METHODS = ("pearson", "spearman")

#: Default relative eigenvalue cut-off of the CCA whitening (see :func:`fit_cca`).
DEFAULT_RTOL = 1e-10

#: A column counts as constant when its centred sum of squares is at most ``_CONSTANT_RTOL**2``
#: times its raw sum of squares, i.e. its standard deviation is below 1e-12 of its RMS value:
#: what is left there is rounding error, not signal.
_CONSTANT_RTOL = 1e-12


# ----------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------


def _as_matrix(a: Any, name: str) -> np.ndarray:
    """``a`` as a finite float64 matrix ``[N, d]`` (a vector becomes one column)."""
    if hasattr(a, "detach"):  # torch.Tensor, without importing torch
        a = a.detach().cpu().numpy()
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} cannot be read as a float matrix: {exc}") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a matrix [N, d], got an array of shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has no columns")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name} has {int(bad.sum())} non-finite value(s) (NaN or inf)")
    return arr


def _as_pair(a: Any, b: Any, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two matrices over the same N >= 2 rows."""
    x, y = _as_matrix(a, names[0]), _as_matrix(b, names[1])
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{names[0]} has {x.shape[0]} rows but {names[1]} has {y.shape[0]}; "
                         "correlations need the same points in both")
    if x.shape[0] < 2:
        raise ValueError(f"at least 2 rows are needed to measure correlation, got {x.shape[0]}")
    return x, y


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown correlation method {method!r}; expected one of {', '.join(METHODS)}")


# ----------------------------------------------------------------------------------------------
# Correlation and MCC
# ----------------------------------------------------------------------------------------------


def _inverse_scale(centred_ss: np.ndarray, raw_ss: np.ndarray) -> np.ndarray:
    """``1/sqrt(centred_ss)`` per column, and 0 for constant columns (no division by zero)."""
    informative = centred_ss > _CONSTANT_RTOL**2 * raw_ss
    out = np.zeros_like(centred_ss)
    out[informative] = 1.0 / np.sqrt(centred_ss[informative])
    return out


def _unit_columns(a: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit norm; a constant column becomes all zeros."""
    centred = a - a.mean(axis=0)
    centred_ss = np.einsum("ij,ij->j", centred, centred)
    raw_ss = np.einsum("ij,ij->j", a, a)
    return centred * _inverse_scale(centred_ss, raw_ss)


def _correlation(x: np.ndarray, y: np.ndarray, method: str) -> np.ndarray:
    """Correlation matrix of validated float64 matrices (no input checks)."""
    if method == "spearman":
        from scipy.stats import rankdata  # imported on use: scipy costs every `ica` command a second at start-up

        x, y = rankdata(x, axis=0), rankdata(y, axis=0)
    return np.clip(_unit_columns(x).T @ _unit_columns(y), -1.0, 1.0)


def _matched_mean(abs_corr: np.ndarray, k: int | None = None) -> float:
    """Sum of the optimal one-to-one matching of ``abs_corr``, divided by ``k`` (default: the
    number of matches). ``k`` larger than the matrix stands for extra all-zero rows/columns."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(abs_corr, maximize=True)
    return float(abs_corr[rows, cols].sum() / (len(rows) if k is None else k))


def correlation_matrix(a: Any, b: Any, method: str = "pearson") -> np.ndarray:
    """Correlation between every column of ``a`` and every column of ``b`` (§4, MCC).

    Args:
        a: ``[N, d_a]`` array or tensor.
        b: ``[N, d_b]`` array or tensor over the same N points.
        method: ``"pearson"``, or ``"spearman"`` (each column ranked, average ranks for ties, then
            Pearson).

    Returns:
        ``[d_a, d_b]`` float64 matrix with entries in [-1, 1]. A column with zero variance carries no
        information and correlates 0 with everything (never NaN).

    Raises:
        ValueError: unknown method, non-finite values, different N, or fewer than 2 rows.
    """
    _check_method(method)
    x, y = _as_pair(a, b, ("a", "b"))
    return _correlation(x, y, method)


def mcc(z: Any, s: Any, method: str = "pearson") -> float:
    """Mean correlation coefficient between ``z`` and ``s`` (§4.1, Fig. 2).

    The absolute correlation matrix is matched one-to-one with
    ``scipy.optimize.linear_sum_assignment(..., maximize=True)`` (``min(d_z, d_s)`` pairs) and the
    matched values are averaged.

    Args:
        z: learnt latents ``[N, d_z]`` (array or tensor).
        s: sources, or another run's latents, ``[N, d_s]``.
        method: ``"pearson"`` or ``"spearman"``.

    Returns:
        MCC in [0, 1]; 1 means every matched pair is perfectly (rank-)correlated.

    Raises:
        ValueError: unknown method, non-finite values, different N, or fewer than 2 rows.
    """
    _check_method(method)
    x, y = _as_pair(z, s, ("z", "s"))
    return _matched_mean(np.abs(_correlation(x, y, method)))


# ----------------------------------------------------------------------------------------------
# Closed-form CCA
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CCA:
    """A fitted canonical correlation analysis between two views (§4.2).

    Canonical variates are ``c1 = (z1 - mean1) @ weights1`` and ``c2 = (z2 - mean2) @ weights2``.
    On the fitted rows they have unit variance, are uncorrelated within each view, and
    ``corr(c1[:, i], c2[:, i]) = correlations[i]``. Directions a view does not span get weight 0
    (their variates are constant 0). Arrays are read-only.
    """

    mean1: np.ndarray  # [d1]
    mean2: np.ndarray  # [d2]
    weights1: np.ndarray  # [d1, k], k = min(d1, d2)
    weights2: np.ndarray  # [d2, k]
    correlations: np.ndarray  # [k], descending, in [0, 1]

    def __post_init__(self) -> None:
        for field in ("mean1", "mean2", "weights1", "weights2", "correlations"):
            value = np.array(getattr(self, field), dtype=np.float64)  # a private copy
            value.setflags(write=False)
            object.__setattr__(self, field, value)

    def transform(self, z1: Any, z2: Any) -> tuple[np.ndarray, np.ndarray]:
        """Canonical variates of both views, centred with the *fitted* means.

        Args:
            z1: ``[N, d1]`` points of view 1.
            z2: ``[N, d2]`` the same points in view 2.

        Returns:
            ``(c1, c2)``, each ``[N, k]`` float64.

        Raises:
            ValueError: non-finite values, different N, or column counts that do not match the fit.
        """
        x, y = _as_matrix(z1, "z1"), _as_matrix(z2, "z2")
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"z1 has {x.shape[0]} rows but z2 has {y.shape[0]}")
        for name, arr, mean in (("z1", x, self.mean1), ("z2", y, self.mean2)):
            if arr.shape[1] != mean.shape[0]:
                raise ValueError(f"{name} has {arr.shape[1]} columns; the CCA was fitted on {mean.shape[0]}")
        return (x - self.mean1) @ self.weights1, (y - self.mean2) @ self.weights2


@dataclass(frozen=True)
class _Whitening:
    """One view's centring and pseudo-inverse square root, fitted once and reused for every pair.

    ``whitening`` is ``V_r diag(λ_r^{-1/2})`` over the r eigenvectors kept: the symmetric
    ``Σ^{-1/2} = V Λ^{-1/2} V^T`` expressed in its own eigenbasis. Both give the same CCA weights;
    this one is ``[d, r]`` with ``r <= d``, so collapsed directions are dropped, not divided by ~0.
    """

    mean: np.ndarray  # [d]
    whitening: np.ndarray  # [d, r]

    @classmethod
    def fit(cls, x: np.ndarray, rtol: float) -> "_Whitening":
        mean = x.mean(axis=0)
        centred = x - mean
        cov = centred.T @ centred / x.shape[0]
        values, vectors = np.linalg.eigh(cov)
        top = values[-1]
        keep = values > rtol * top if top > 0 else np.zeros(values.shape, dtype=bool)
        return cls(mean, vectors[:, keep] / np.sqrt(values[keep]))

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) @ self.whitening


def _whitened_cross(white1: np.ndarray, white2: np.ndarray) -> np.ndarray:
    """Cross-covariance of two whitened views over the same rows."""
    return white1.T @ white2 / white1.shape[0]


def _canonical_directions(cross: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SVD of the whitened cross-covariance: ``(u [r1, m], correlations [m], v [r2, m])``."""
    u, singular, vt = np.linalg.svd(cross, full_matrices=False)
    return u, np.clip(singular, 0.0, 1.0), vt.T


def _padded(a: np.ndarray, k: int) -> np.ndarray:
    """Zero-pad the last axis of ``a`` to length ``k``."""
    pad = k - a.shape[-1]
    if pad == 0:
        return a
    widths = [(0, 0)] * (a.ndim - 1) + [(0, pad)]
    return np.pad(a, widths)


def fit_cca(z1: Any, z2: Any, rtol: float = DEFAULT_RTOL) -> CCA:
    """Exact closed-form CCA between two views (Hotelling, 1936; used for alignment in §4.2).

    Covariances are computed in float64. Each view is whitened by the pseudo-inverse square root of
    its covariance (symmetric eigendecomposition; eigenvalues at or below ``rtol`` times the largest
    count as zero, and those directions get weight 0, so constant or collapsed dimensions neither
    crash nor get amplified). The SVD of the whitened cross-covariance gives the canonical
    directions (weights = whitening @ singular vectors) and correlations (singular values, clipped to
    [0, 1]). When a view is rank deficient the trailing components have zero weights and
    correlation 0.

    Args:
        z1: ``[N, d1]`` view 1 (array or tensor).
        z2: ``[N, d2]`` view 2 over the same N points.
        rtol: relative eigenvalue cut-off of the whitening.

    Returns:
        The fitted :class:`CCA` with ``k = min(d1, d2)`` components.

    Raises:
        ValueError: non-finite values, different N, fewer than 2 rows, or rtol outside [0, 1).
    """
    if not 0.0 <= rtol < 1.0:
        raise ValueError(f"rtol must be in [0, 1), got {rtol}")
    x, y = _as_pair(z1, z2, ("z1", "z2"))
    w1, w2 = _Whitening.fit(x, rtol), _Whitening.fit(y, rtol)
    u, correlations, v = _canonical_directions(_whitened_cross(w1.apply(x), w2.apply(y)))
    k = min(x.shape[1], y.shape[1])
    return CCA(
        mean1=w1.mean,
        mean2=w2.mean,
        weights1=_padded(w1.whitening @ u, k),
        weights2=_padded(w2.whitening @ v, k),
        correlations=_padded(correlations, k),
    )


# ----------------------------------------------------------------------------------------------
# MCC after CCA (between seeds)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CCAMCC:
    """MCC between two runs after CCA alignment (§4.2, Fig. 4).

    ``in_sample`` is measured on the rows CCA was fitted on (optimistic), ``out_of_sample`` on the
    held-out rest.
    """

    in_sample: float
    out_of_sample: float


def _split(n: int, fit_fraction: float) -> int:
    """Number of leading rows CCA is fitted on; both parts must hold at least 2 rows."""
    if not 0.0 < fit_fraction < 1.0:
        raise ValueError(f"fit_fraction must be strictly between 0 and 1, got {fit_fraction}")
    n_fit = int(round(n * fit_fraction))
    if n_fit < 2 or n - n_fit < 2:
        raise ValueError(f"fit_fraction={fit_fraction} splits {n} rows into {n_fit} and {n - n_fit}; "
                         "both parts need at least 2 rows")
    return n_fit


def cca_mcc(z1: Any, z2: Any, fit_fraction: float = 0.5, method: str = "pearson") -> CCAMCC:
    """MCC between two runs after CCA alignment, in and out of sample (§4.2, Fig. 4 caption).

    CCA is fitted on the first ``round(N * fit_fraction)`` rows, in the given order (no shuffling:
    the caller fixes the evaluation set and its order). Both views are transformed; in-sample MCC is
    that of the canonical variates on the fitted rows, out-of-sample MCC on the remaining rows.

    Args:
        z1: ``[N, d1]`` latents of one run (array or tensor).
        z2: ``[N, d2]`` latents of another run at the same N points.
        fit_fraction: fraction of rows CCA is fitted on, strictly between 0 and 1.
        method: ``"pearson"`` or ``"spearman"`` correlation for the MCC.

    Returns:
        :class:`CCAMCC` with ``in_sample`` and ``out_of_sample``.

    Raises:
        ValueError: bad method or fit_fraction, a part with fewer than 2 rows, non-finite values,
            or different N.
    """
    _check_method(method)
    x, y = _as_pair(z1, z2, ("z1", "z2"))
    n_fit = _split(x.shape[0], fit_fraction)
    c1, c2 = fit_cca(x[:n_fit], y[:n_fit]).transform(x, y)
    return CCAMCC(
        in_sample=mcc(c1[:n_fit], c2[:n_fit], method),
        out_of_sample=mcc(c1[n_fit:], c2[n_fit:], method),
    )


@dataclass(frozen=True)
class _Part:
    """One block of rows (fitted or held out) of one run, whitened with that run's fitted whitening,
    with the second moments that give a pair's Pearson correlations without forming the variates.

    ``rows - offset`` is the block centred on its own mean. The fitted block keeps its rows as
    whitened (they are exactly what the CCA is fitted on; their mean is zero up to rounding, kept in
    ``offset``); the held-out block is re-centred (``offset = 0``) so its cross-products are exact.
    """

    rows: np.ndarray  # [n, r]
    offset: np.ndarray  # [r]: mean of ``rows``
    mean: np.ndarray  # [r]: mean of the block centred with the *fitted* mean, then whitened
    gram: np.ndarray  # [r, r]: (rows - offset).T @ (rows - offset); only needed for Pearson

    @classmethod
    def of(cls, white: np.ndarray, recentre: bool, with_gram: bool) -> "_Part":
        mean = white.mean(axis=0)
        rows, offset = (white - mean, np.zeros_like(mean)) if recentre else (white, mean)
        gram = rows.T @ rows - len(rows) * np.outer(offset, offset) if with_gram else np.empty((0, 0))
        return cls(rows, offset, mean, gram)

    def centred_cross(self, other: "_Part", uncentred: np.ndarray | None = None) -> np.ndarray:
        """``(rows - offset).T @ (other.rows - other.offset)``, reusing ``rows.T @ other.rows``."""
        if uncentred is None:
            uncentred = self.rows.T @ other.rows
        return uncentred - len(self.rows) * np.outer(self.offset, other.offset)

    def inverse_scales(self, directions: np.ndarray) -> np.ndarray:
        """Inverse norms of the centred variates ``rows @ directions`` (0 where constant), judged
        like :func:`_unit_columns` judges the variates centred with the fitted mean."""
        centred_ss = np.maximum(np.einsum("ij,ij->j", directions, self.gram @ directions), 0.0)
        raw_ss = centred_ss + len(self.rows) * (self.mean @ directions) ** 2
        return _inverse_scale(centred_ss, raw_ss)


def _abs_pearson(a: _Part, b: _Part, cross: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``|corr|`` between the variates ``a.rows @ u`` and ``b.rows @ v``, from the centred
    cross-product ``cross`` of the two blocks."""
    corr = (u.T @ cross @ v) * a.inverse_scales(u)[:, None] * b.inverse_scales(v)[None, :]
    return np.abs(np.clip(corr, -1.0, 1.0))


def pairwise_cca_mcc(latents: Sequence[Any], fit_fraction: float = 0.5,
                     method: str = "pearson") -> dict[tuple[int, int], CCAMCC]:
    """:func:`cca_mcc` for every pair of runs, sharing the per-run work (§4.2, Fig. 4: 10 seeds,
    45 pairs).

    Each run is centred and whitened once, on the fitted rows; a pair then costs its whitened
    cross-covariance, one SVD and (for Pearson) the correlation of the variates computed from second
    moments. Values equal ``cca_mcc(latents[i], latents[j], fit_fraction, method)`` up to rounding.

    A run with non-finite values is not skipped or turned into NaN: ``ValueError`` names its index,
    so a failure stays visible and the caller decides how to record it (for example by leaving that
    run out and marking its pairs as failed).

    Args:
        latents: a sequence of S matrices ``[N, d_i]`` (arrays or tensors; d may differ between
            runs) or one array ``[S, N, d]``. All runs must share the same N points in the same order.
        fit_fraction: fraction of leading rows CCA is fitted on, strictly between 0 and 1.
        method: ``"pearson"`` or ``"spearman"``.

    Returns:
        ``{(i, j): CCAMCC}`` for every ``0 <= i < j < S`` (empty when S < 2).

    Raises:
        ValueError: a run that is non-finite, not a matrix or of a different N (its index is named),
            a bad method or fit_fraction.
    """
    _check_method(method)
    if hasattr(latents, "detach"):
        latents = latents.detach().cpu().numpy()
    runs = [_as_matrix(z, f"latents[{i}]") for i, z in enumerate(latents)]
    if len(runs) < 2:
        return {}
    n = runs[0].shape[0]
    for i, run in enumerate(runs):
        if run.shape[0] != n:
            raise ValueError(f"latents[{i}] has {run.shape[0]} rows but latents[0] has {n}; "
                             "every run must be evaluated on the same points")
    n_fit = _split(n, fit_fraction)

    pearson = method == "pearson"
    fit_parts, rest_parts = [], []
    for run in runs:  # centring and whitening: once per run, not per pair
        whitening = _Whitening.fit(run[:n_fit], DEFAULT_RTOL)
        fit_parts.append(_Part.of(whitening.apply(run[:n_fit]), recentre=False, with_gram=pearson))
        rest_parts.append(_Part.of(whitening.apply(run[n_fit:]), recentre=True, with_gram=pearson))

    results: dict[tuple[int, int], CCAMCC] = {}
    for i, j in itertools.combinations(range(len(runs)), 2):
        k = min(runs[i].shape[1], runs[j].shape[1])
        fit_i, fit_j, rest_i, rest_j = fit_parts[i], fit_parts[j], rest_parts[i], rest_parts[j]
        fit_product = fit_i.rows.T @ fit_j.rows  # the same product fit_cca takes
        u, _, v = _canonical_directions(fit_product / n_fit)
        if u.shape[1] == 0:  # a run with no variance at all: every variate is constant
            results[(i, j)] = CCAMCC(in_sample=0.0, out_of_sample=0.0)
            continue
        if pearson:
            in_corr = _abs_pearson(fit_i, fit_j, fit_i.centred_cross(fit_j, fit_product), u, v)
            out_corr = _abs_pearson(rest_i, rest_j, rest_i.centred_cross(rest_j), u, v)
        else:
            in_corr = np.abs(_correlation(fit_i.rows @ u, fit_j.rows @ v, method))
            out_corr = np.abs(_correlation(rest_i.rows @ u, rest_j.rows @ v, method))
        # The k - m variates beyond the common rank have zero weights: they would add zero rows
        # and columns to the correlation matrix, so only the divisor k accounts for them.
        results[(i, j)] = CCAMCC(in_sample=_matched_mean(in_corr, k), out_of_sample=_matched_mean(out_corr, k))
    return results
