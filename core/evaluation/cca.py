"""Closed-form canonical correlation analysis between two views (Hotelling, 1936).

What the paper uses it for (Willetts & Paige, §4.2, Fig. 4): representations of two runs (seeds) are
identifiable only up to a linear map, so before their MCC is measured they are aligned by canonical
correlation analysis (`ica.evaluation.cca_pairs`).

Why this module is written the way it is:

* Everything is computed in float64 with numpy; numpy arrays and torch tensors are accepted.
* CCA is the exact closed form (whitening by a pseudo-inverse square root, then an SVD), not an
  iterative solver, so results are deterministic and reproducible.
* Degenerate latents are common (collapsed dimensions, posterior collapse): directions of
  (numerically) zero variance get weight 0 instead of being amplified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ica.evaluation.correlation import as_matrix, _as_pair

__all__ = ["DEFAULT_RTOL", "CCA", "fit_cca"]

#: Default relative eigenvalue cut-off of the CCA whitening (see :func:`fit_cca`).
DEFAULT_RTOL = 1e-10


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
        x, y = as_matrix(z1, "z1"), as_matrix(z2, "z2")
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
