"""Which two or three directions of an embedding a picture shows (`ica.plot_embedding`, the report's embedding
figures), when the embedding has more dimensions than the picture has axes.

A scatter of the first two latents of a 10-dimensional embedding shows whatever those two happen to hold; the
question a reader asks is what the embedding holds *of the sources* (or of the labels). So the axes are chosen
to answer it, and each axis says how it was chosen:

* ``"sources"``: least-squares readouts. For each true source j, the affine map of z that best predicts s_j
  (ordinary least squares on the points shown); the axes are the readouts ``ŝ_j = z w_j + b_j`` of the two or
  three sources read best (highest R²). An identifiable model shows its sources' own joint distribution here.
* ``"labels"``: for discrete labels, canonical directions between z and the labels' one-hot coding (CCA,
  `ica.evaluation.cca.fit_cca`; with a one-hot coding these are Fisher's discriminant directions, the
  directions that separate the labels best), ranked by canonical correlation. Continuous labels (u of one or
  more columns) are read out by least squares, as sources are.
* ``"pca"``: the first principal components of z.

Where fewer matched directions exist than axes (two classes have one discriminant; one source has one
readout), the remaining axes are the principal components of what z holds beyond them: z less its
least-squares regression on the found axes, so the new axes are uncorrelated with those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ica.evaluation.cca import fit_cca
from ica.evaluation.correlation import as_matrix as matrix

METHODS = ("auto", "sources", "labels", "pca")


@dataclass(frozen=True)
class Projection:
    """The coordinates drawn and what each axis is."""

    coords: np.ndarray  # [N, k]
    names: list[str]  # one axis label per column
    method: str  # sources | labels | pca | none (the embedding's own coordinates)
    description: str  # one sentence for a caption: how the axes were chosen


def as_matrix(values: Any, name: str, rows: int | None = None) -> np.ndarray:
    """``values`` as a finite float matrix ``[N, d]`` (`ica.evaluation.correlation.as_matrix`), with ``rows``
    rows where given (one per point of z), or a ValueError naming it."""
    arr = matrix(values, name)
    if rows is not None and arr.shape[0] != rows:
        raise ValueError(f"{name} has {arr.shape[0]} rows but z has {rows}: one row per point of z is needed")
    return arr


def is_discrete(values: Any) -> bool:
    """Integers, booleans and strings are categories; floating-point values are continuous."""
    return np.asarray(values).dtype.kind in "biuUSO"


def as_labels(values: Any, name: str, rows: int) -> np.ndarray:
    """Labels with one row per point: discrete ones as a vector ``[N]`` (categories), continuous ones as a
    finite float matrix ``[N, c]``; a ValueError naming ``name`` otherwise."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if is_discrete(arr) and arr.ndim == 1:
        if arr.shape[0] != rows:
            raise ValueError(f"{name} has {arr.shape[0]} values but z has {rows} rows: one per point is needed")
        return arr
    return as_matrix(arr, name, rows)


def readouts(z: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares affine readouts of every target column from z: ``(predictions [N, t], R² [t])``; a constant
    target has R² 0."""
    design = np.column_stack([z, np.ones(len(z))])
    beta, *_ = np.linalg.lstsq(design, targets, rcond=None)
    predicted = design @ beta
    total = ((targets - targets.mean(0)) ** 2).sum(0)
    residual = ((targets - predicted) ** 2).sum(0)
    r2 = np.where(total > 0, 1 - residual / np.where(total > 0, total, 1), 0.0)
    return predicted, r2


def one_hot(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """The labels' one-hot coding, less one column (the codes sum to one), and how many categories there are."""
    _, codes = np.unique(labels, return_inverse=True)
    count = int(codes.max()) + 1
    return np.eye(count)[codes.ravel()][:, :-1], count


def pca_rest(z: np.ndarray, found: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` principal components of what centred z holds beyond the coordinates ``found`` ``[N, m]``
    (z less its least-squares regression on them, so the new axes are uncorrelated with theirs): ``(coordinates
    [N, k], fraction of z's variance each holds [k])``; zero columns where z holds nothing more."""
    centred = z - z.mean(0)
    rest = centred
    if found.size:
        basis = found - found.mean(0)
        rest = centred - basis @ np.linalg.lstsq(basis, centred, rcond=None)[0]
    _, singular, vt = np.linalg.svd(rest, full_matrices=False)
    total = float((centred**2).sum()) or 1.0
    coords = rest @ vt[:k].T
    fractions = singular[:k] ** 2 / total
    if coords.shape[1] < k:  # z has fewer dimensions than axes left: nothing more to show
        coords = np.column_stack([coords, np.zeros((len(z), k - coords.shape[1]))])
        fractions = np.concatenate([fractions, np.zeros(k - len(fractions))])
    return coords, fractions


def project(z: np.ndarray, k: int, method: str = "auto", sources: Any = None, labels: Any = None) -> Projection:
    """``k`` coordinates of ``z`` ``[N, d]`` chosen by ``method`` (see the module docstring); ``"auto"`` is
    ``"sources"`` when sources are given, else ``"labels"`` when labels are, else ``"pca"``."""
    if method not in METHODS:
        raise ValueError(f"directions must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "auto":
        method = "sources" if sources is not None else "labels" if labels is not None else "pca"
    if method == "sources":
        if sources is None:
            raise ValueError("directions='sources' needs the true sources: pass sources=[N, d_s]")
        return _read_out(z, k, as_matrix(sources, "sources", len(z)), "source", "sources")
    if method == "labels":
        if labels is None:
            raise ValueError("directions='labels' needs the labels: pass labels=[N]")
        found = as_labels(labels, "labels", len(z))
        if found.ndim == 1:
            return _discriminants(z, k, found)
        return _read_out(z, k, found, "u", "labels")
    coords, fractions = pca_rest(z, np.zeros((len(z), 0)), k)
    names = [f"PC{i + 1} ({f:.0%} of variance)" for i, f in enumerate(fractions)]
    return Projection(coords, names, "pca", f"the first {k} principal components of the embedding")


def _read_out(z: np.ndarray, k: int, targets: np.ndarray, word: str, method: str) -> Projection:
    predicted, r2 = readouts(z, targets)
    best = [int(j) for j in np.argsort(-r2, kind="stable")[:k]]
    several = targets.shape[1] > 1
    names = [f"{word}{f' {j}' if several else ''} read out (R²={r2[j]:.2f})" for j in best]
    coords = [predicted[:, best]]
    what = f"the {len(best)} {method} read best (highest R²)" if several else f"the {word}"
    description = f"least-squares readouts of {what} from the embedding"
    if len(best) < k:
        rest, fractions = pca_rest(z, predicted[:, best], k - len(best))
        coords.append(rest)
        names += [f"PC{i + 1} beyond ({f:.0%} of variance)" for i, f in enumerate(fractions)]
        description += ", then principal components of the rest"
    return Projection(np.column_stack(coords), names, method, description)


def _discriminants(z: np.ndarray, k: int, labels: np.ndarray) -> Projection:
    coding, count = one_hot(labels)
    m = min(k, count - 1, z.shape[1])
    coords, names, found = [], [], np.zeros((len(z), 0))
    if m > 0:
        cca = fit_cca(z, coding)
        keep = [i for i in range(m) if cca.correlations[i] > 1e-9]
        found = (z - cca.mean1) @ cca.weights1[:, keep]
        coords.append(found)
        names = [f"discriminant {i + 1} (canonical r={cca.correlations[i]:.2f})" for i in keep]
    description = f"canonical directions of the embedding with the {count} labels (Fisher's discriminants)"
    if len(names) < k:
        rest, fractions = pca_rest(z, found, k - len(names))
        coords.append(rest)
        names += [f"PC{i + 1} beyond ({f:.0%} of variance)" for i, f in enumerate(fractions)]
        description += ", then principal components of the rest"
    return Projection(np.column_stack(coords), names, "labels", description)
