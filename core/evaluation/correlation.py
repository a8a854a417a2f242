"""Correlation and MCC against ground truth, with the input checks every measure of this room shares.

What the paper measures (Willetts & Paige, §4.1, Fig. 2):

* **MCC**: the absolute correlation between every learnt dimension and every true
  source, the optimal one-to-one matching of the two sets (Hungarian algorithm, maximising the sum),
  and the mean of the matched values. It is 1 exactly when every source is recovered up to
  permutation, sign and scale (Pearson) or up to a strictly monotone map (Spearman).

Why this module is written the way it is:

* Everything is computed in float64 with numpy/scipy; numpy arrays and torch tensors are accepted.
* Degenerate latents are common (collapsed dimensions, posterior collapse). A column with zero
  variance carries no information: it correlates 0 with everything (never NaN, never a warning).
* Invalid input (non-finite values, mismatched lengths) raises ``ValueError`` rather than silently
  producing NaN, so a failed run stays visible to the caller.

CCA and MCC between runs after CCA (§4.2) build on these: `ica.evaluation.cca`, `ica.evaluation.cca_pairs`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["METHODS", "correlation_matrix", "mcc"]

METHODS = ("pearson", "spearman")

#: A column counts as constant when its centred sum of squares is at most ``_CONSTANT_RTOL**2``
#: times its raw sum of squares, i.e. its standard deviation is below 1e-12 of its RMS value:
#: what is left there is rounding error, not signal.
_CONSTANT_RTOL = 1e-12


# ----------------------------------------------------------------------------------------------
# Input handling
# ----------------------------------------------------------------------------------------------


def as_matrix(a: Any, name: str) -> np.ndarray:
    """``a`` as a finite float64 matrix ``[N, d]`` with N, d >= 1 (a vector becomes one column), or a ValueError
    naming it."""
    if hasattr(a, "detach"):  # torch.Tensor, without importing torch
        a = a.detach().cpu().numpy()
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} cannot be read as numbers: {exc}") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a matrix [N, d], got an array of shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} has no {'rows' if arr.shape[0] == 0 else 'columns'}: its shape is {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{name} has {int(bad.sum())} non-finite value(s) (NaN or inf)")
    return arr


def _as_pair(a: Any, b: Any, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two matrices over the same N >= 2 rows."""
    x, y = as_matrix(a, names[0]), as_matrix(b, names[1])
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{names[0]} has {x.shape[0]} rows but {names[1]} has {y.shape[0]}; "
            "correlations need the same points in both"
        )
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
