"""The parts every TCL recipe mixes with: random matrices, and the LeakyReLU MLP they make of the sources.

Apart from `ica.plugins.datasets.tcl_recipes` so that each recipe there reads as a choice among these parts
(which matrices, how many, where the nonlinearity sits) and the parts can be checked on their own. Rows are
examples; everything is float64. Not a plugin itself.
"""

from __future__ import annotations

import math

import numpy as np


def haar_orthogonal(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A Haar-distributed random orthogonal matrix: QR of a Gaussian matrix, Q's columns sign-corrected."""
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    return q * signs


def mixing_matrices(rng: np.random.Generator, dim: int, layers: int, max_condition: float) -> list[np.ndarray]:
    """``layers`` full-rank ``dim × dim`` matrices ``U diag(σ) Vᵀ``, each with condition number ``max_condition``.

    Per layer, draws in this order: U (Haar), V (Haar), then ``log σ ~ U[-½ log κ, ½ log κ]``; for ``dim ≥ 2``
    the largest σ becomes ``√κ`` and the smallest ``1/√κ`` so that ``cond(W) = κ`` exactly.
    """
    half_log = 0.5 * math.log(max_condition)
    matrices = []
    for _ in range(layers):
        u = haar_orthogonal(rng, dim)
        v = haar_orthogonal(rng, dim)
        sigma = np.exp(rng.uniform(-half_log, half_log, size=dim))
        if dim >= 2:
            order = np.argsort(sigma, kind="stable")
            sigma[order[-1]] = math.sqrt(max_condition)
            sigma[order[0]] = 1.0 / math.sqrt(max_condition)
        matrices.append((u * sigma) @ v.T)
    return matrices


def uniform_unit_columns(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Entries uniform on [-1, 1), each column (axis -2) scaled to unit Euclidean norm: the iVAE/TCL draw."""
    a = rng.uniform(-1.0, 1.0, size=shape)
    a /= np.sqrt((a * a).sum(axis=-2, keepdims=True))
    return a


def leaky_relu(h: np.ndarray, negative_slope: float) -> np.ndarray:
    """``h`` for ``h >= 0``, ``negative_slope · h`` below (iVAE's and icebeem's ``x > 0`` test agrees at 0)."""
    return np.where(h >= 0, h, negative_slope * h)


def mix(sources: np.ndarray, matrices: list[np.ndarray], negative_slope: float) -> np.ndarray:
    """Linear first: ``h_l = W_l h_{l-1}``, LeakyReLU after every layer but the last; rows are examples."""
    h = np.asarray(sources, dtype=np.float64)
    for layer, w in enumerate(matrices):
        h = h @ w.T
        if layer < len(matrices) - 1:
            h = leaky_relu(h, negative_slope)
    return h


def mix_nonlinearity_first(sources: np.ndarray, matrices: list[np.ndarray], negative_slope: float) -> np.ndarray:
    """Nonlinearity first: ``h_l = W_l LeakyReLU(h_{l-1})``, so the sources themselves pass a LeakyReLU."""
    h = np.asarray(sources, dtype=np.float64)
    for w in matrices:
        h = leaky_relu(h, negative_slope) @ w.T
    return h


def conditions(matrices: list[np.ndarray]) -> list[float]:
    return [float(np.linalg.cond(w)) for w in matrices]
