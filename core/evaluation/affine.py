"""Affine recovery and linear consistency: identifiability "up to a linear map", measured out of sample.

The permutation MCC (`ica.evaluation.correlation.mcc`) asks for the *strong* identifiability of the paper
(each latent one source, up to permutation, sign and scale). Khemakhem et al. (2020) prove the *weak* kind
for iVAEs: the latents equal the sources up to an affine map. Two measures of that, both fitted on one part
of the evaluation points and scored on the rest, so that a flexible map cannot flatter a representation:

* **affine recovery** (`affine_recovery`): the least-squares affine map from latents to sources; the
  out-of-sample R² of each source (1 - residual / total sum of squares about the held-out mean), their
  mean, and the MCC of the mapped latents with the sources.
* **consistency R²** (`consistency_r2`): the same map from one seed's latents to another's (CEBRA's
  consistency score); the R² of the targets' informative dimensions, averaged, in both directions.

Which rows are fitted: the first ``round(N * fit_fraction)`` of the order given (callers shuffle once with a
fixed seed: data sets are often stored sorted by segment or class). The map is ``numpy.linalg.lstsq`` on
``[z, 1]``: exact, deterministic, and defined for collapsed (constant) latent dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ica.evaluation.cca_pairs import _split
from ica.evaluation.correlation import _as_pair, mcc

__all__ = ["AffineRecovery", "affine_recovery", "consistency_r2", "linear_r2"]

#: A target dimension counts as constant (nothing to explain) when its held-out standard deviation is
#: below this fraction of its RMS value; it is left out of a consistency R² rather than scored as 0 or NaN.
CONSTANT_RTOL = 1e-12


@dataclass(frozen=True)
class AffineRecovery:
    """Sources recovered by an affine map of the latents, on held-out points."""

    r2: tuple[float, ...]  # per source
    r2_mean: float
    mcc: float  # MCC of the mapped latents with the sources (held out)


def _fit_predict(z: np.ndarray, y: np.ndarray, n_fit: int) -> np.ndarray:
    """The least-squares affine prediction of ``y`` from ``z``, fitted on the first ``n_fit`` rows, for the rest."""
    design = np.hstack([z, np.ones((z.shape[0], 1))])
    weights, *_ = np.linalg.lstsq(design[:n_fit], y[:n_fit], rcond=None)
    return design[n_fit:] @ weights


def _r2(predicted: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column out-of-sample R², and which columns vary at all (constant ones get R² 0)."""
    centred = target - target.mean(axis=0)
    total = np.einsum("ij,ij->j", centred, centred)
    raw = np.einsum("ij,ij->j", target, target)
    varies = total > CONSTANT_RTOL**2 * np.maximum(raw, np.finfo(float).tiny)
    residual = np.einsum("ij,ij->j", target - predicted, target - predicted)
    r2 = np.zeros(target.shape[1])
    r2[varies] = 1.0 - residual[varies] / total[varies]
    return r2, varies


def affine_recovery(z: Any, s: Any, fit_fraction: float = 0.5, method: str = "pearson") -> AffineRecovery:
    """How well an affine map of ``z`` recovers the sources ``s`` on held-out rows (weak identifiability).

    Args:
        z: latents ``[N, d_z]``; s: sources ``[N, d_s]`` at the same points, in the same order.
        fit_fraction: the leading fraction of rows the map is fitted on; it is scored on the rest.
        method: correlation of the MCC after the map (``"pearson"`` or ``"spearman"``).

    Raises:
        ValueError: non-finite values, different N, or a part with fewer than 2 rows.
    """
    x, y = _as_pair(z, s, ("z", "s"))
    n_fit = _split(x.shape[0], fit_fraction)
    predicted = _fit_predict(x, y, n_fit)
    r2, _ = _r2(predicted, y[n_fit:])
    return AffineRecovery(tuple(float(v) for v in r2), float(r2.mean()), mcc(predicted, y[n_fit:], method))


def linear_r2(source: Any, target: Any, fit_fraction: float = 0.5) -> float:
    """Out-of-sample R² of ``target`` predicted affinely from ``source``, averaged over the target's dimensions
    that vary on the held-out rows (0 when none does)."""
    x, y = _as_pair(source, target, ("source", "target"))
    n_fit = _split(x.shape[0], fit_fraction)
    r2, varies = _r2(_fit_predict(x, y, n_fit), y[n_fit:])
    return float(r2[varies].mean()) if varies.any() else 0.0


def consistency_r2(z1: Any, z2: Any, fit_fraction: float = 0.5) -> float:
    """Consistency of two seeds up to an affine map: the mean of `linear_r2` in both directions (the map
    from 1 to 2 and from 2 to 1 differ when one representation holds what the other lacks)."""
    return 0.5 * (linear_r2(z1, z2, fit_fraction) + linear_r2(z2, z1, fit_fraction))
