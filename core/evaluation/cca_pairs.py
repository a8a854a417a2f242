"""MCC between two runs after CCA alignment (CCA-MCC), for one pair of runs and for every pair.

What the paper measures (Willetts & Paige, §4.2 and the Fig. 4 caption):

* **CCA-MCC**: without ground truth, two runs (seeds) are compared with each other.
  Their representations are identifiable only up to a linear map, so they are first aligned by
  canonical correlation analysis fitted on one part of the evaluation points; MCC of the canonical
  variates is then reported on those points ("in sample", optimistic: CCA can overfit) and on the
  rest ("out of sample").

Pairing the canonical variates (``pairing``). The paper does not say. ``"assignment"`` (the default, icebeem's
convention, used for every CCA-MCC `ica` reports) matches the variates of the two runs one-to-one by optimal
assignment on their absolute correlations, as the MCC to ground truth does; ``"index"`` pairs variate i of
one run with variate i of the other (CCA's own pairing). Out of sample the two differ: assignment can pick a
better partner than CCA's pairing, so it reads higher for unrelated data (measured out of sample at d = 23,
N = 2000 of independent Gaussians: 0.069 vs 0.024). Compare numbers only under the same pairing.

The CCA is `ica.evaluation.cca`'s exact closed form and the MCC `ica.evaluation.correlation`'s, with their
input checks: invalid input raises ``ValueError``, a run without variance scores 0, never NaN.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ica.evaluation.cca import DEFAULT_RTOL, _canonical_directions, _Whitening, fit_cca
from ica.evaluation.correlation import (
    as_matrix,
    _as_pair,
    _check_method,
    _correlation,
    _inverse_scale,
    _matched_mean,
    mcc,
)

__all__ = ["CCAMCC", "cca_mcc", "pairwise_cca_mcc", "PAIRINGS"]

PAIRINGS = ("assignment", "index")


@dataclass(frozen=True)
class CCAMCC:
    """MCC between two runs after CCA alignment (§4.2, Fig. 4).

    ``in_sample`` is measured on the rows CCA was fitted on (optimistic), ``out_of_sample`` on the
    held-out rest.
    """

    in_sample: float
    out_of_sample: float


PART_POINTS = 2
"""Points each part of a fit/score split needs: a map fitted on one point, or scored on one, says nothing."""


def fewest_points(fractions: list[float]) -> int:
    """The fewest evaluation points that every ``fit_fraction`` of ``fractions`` splits into two parts of
    `PART_POINTS` or more (4 for the default 0.5), so a run or ``ica score`` can refuse fewer up front."""

    def splits(n: int, f: float) -> bool:
        return min(int(round(n * f)), n - int(round(n * f))) >= PART_POINTS

    return next(n for n in range(2 * PART_POINTS, 10**6) if all(splits(n, f) for f in fractions))


def _split(n: int, fit_fraction: float) -> int:
    """Number of leading rows CCA is fitted on; both parts must hold at least 2 rows."""
    if not 0.0 < fit_fraction < 1.0:
        raise ValueError(f"fit_fraction must be strictly between 0 and 1, got {fit_fraction}")
    n_fit = int(round(n * fit_fraction))
    if n_fit < PART_POINTS or n - n_fit < PART_POINTS:
        raise ValueError(
            f"fit_fraction={fit_fraction} splits {n} rows into {n_fit} and {n - n_fit}; both parts need at least 2 rows"
        )
    return n_fit


def _check_pairing(pairing: str) -> None:
    if pairing not in PAIRINGS:
        raise ValueError(f"unknown pairing {pairing!r}; expected one of {', '.join(PAIRINGS)}")


def _paired_mean(abs_corr: np.ndarray, k: int, pairing: str) -> float:
    """Mean correlation of the paired variates: optimal assignment, or variate i with variate i."""
    if pairing == "index":
        return float(np.trace(abs_corr) / k)
    return _matched_mean(abs_corr, k)


def cca_mcc(
    z1: Any, z2: Any, fit_fraction: float = 0.5, method: str = "pearson", pairing: str = "assignment"
) -> CCAMCC:
    """MCC between two runs after CCA alignment, in and out of sample (§4.2, Fig. 4 caption).

    CCA is fitted on the first ``round(N * fit_fraction)`` rows, in the given order (no shuffling:
    the caller fixes the evaluation set and its order). Both views are transformed; in-sample MCC is
    that of the canonical variates on the fitted rows, out-of-sample MCC on the remaining rows.

    Args:
        z1: ``[N, d1]`` latents of one run (array or tensor).
        z2: ``[N, d2]`` latents of another run at the same N points.
        fit_fraction: fraction of rows CCA is fitted on, strictly between 0 and 1.
        method: ``"pearson"`` or ``"spearman"`` correlation for the MCC.
        pairing: ``"assignment"`` (optimal one-to-one matching of the variates) or ``"index"`` (variate i
            with variate i); see the module docstring.

    Returns:
        :class:`CCAMCC` with ``in_sample`` and ``out_of_sample``.

    Raises:
        ValueError: bad method or fit_fraction, a part with fewer than 2 rows, non-finite values,
            or different N.
    """
    _check_method(method)
    _check_pairing(pairing)
    x, y = _as_pair(z1, z2, ("z1", "z2"))
    n_fit = _split(x.shape[0], fit_fraction)
    c1, c2 = fit_cca(x[:n_fit], y[:n_fit]).transform(x, y)
    if pairing == "assignment":
        return CCAMCC(in_sample=mcc(c1[:n_fit], c2[:n_fit], method), out_of_sample=mcc(c1[n_fit:], c2[n_fit:], method))
    k = c1.shape[1]
    diagonal = lambda a, b: float(np.abs(np.diag(_correlation(a, b, method))).sum() / k)  # noqa: E731
    return CCAMCC(in_sample=diagonal(c1[:n_fit], c2[:n_fit]), out_of_sample=diagonal(c1[n_fit:], c2[n_fit:]))


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


def pairwise_cca_mcc(
    latents: Sequence[Any], fit_fraction: float = 0.5, method: str = "pearson", pairing: str = "assignment"
) -> dict[tuple[int, int], CCAMCC]:
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
        pairing: ``"assignment"`` or ``"index"`` (see the module docstring).

    Returns:
        ``{(i, j): CCAMCC}`` for every ``0 <= i < j < S`` (empty when S < 2).

    Raises:
        ValueError: a run that is non-finite, not a matrix or of a different N (its index is named),
            a bad method or fit_fraction.
    """
    _check_method(method)
    _check_pairing(pairing)
    if hasattr(latents, "detach"):
        latents = latents.detach().cpu().numpy()
    runs = [as_matrix(z, f"latents[{i}]") for i, z in enumerate(latents)]
    if len(runs) < 2:
        return {}
    n = runs[0].shape[0]
    for i, run in enumerate(runs):
        if run.shape[0] != n:
            raise ValueError(
                f"latents[{i}] has {run.shape[0]} rows but latents[0] has {n}; "
                "every run must be evaluated on the same points"
            )
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
        results[(i, j)] = CCAMCC(
            in_sample=_paired_mean(in_corr, k, pairing), out_of_sample=_paired_mean(out_corr, k, pairing)
        )
    return results
