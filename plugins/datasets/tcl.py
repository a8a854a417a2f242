"""`tcl`: the Time-Contrastive-Learning data of the paper's §4.1, generated reproducibly from one seed.

Sources are piecewise-stationary: segment ``k`` holds independent Gaussians ``s_j ~ N(m_kj, σ_kj²)`` with
means uniform on ``mean_range`` and standard deviations uniform on ``std_range``; they are mixed by a
random, invertible LeakyReLU MLP. ``u`` is the segment index (Hyvärinen & Morioka, 2016).

Random draws, all from ``numpy.random.Generator(PCG64(data_seed))`` in this fixed order:

1. means ``[segments, dim]`` ~ U[mean_range], then standard deviations ``[segments, dim]`` ~ U[std_range],
   from the root generator;
2. ``train, eval, mixing = root.spawn(3)``: three independent child streams. Spawning depends only on
   ``data_seed`` and the order of the spawn, never on how much was drawn, so changing
   ``eval_samples_per_segment`` leaves the training data (and the mixing) bit-identical, and changing
   ``samples_per_segment`` leaves the segment parameters and the mixing unchanged;
3. training sources from ``train``: one ``standard_normal([segments, samples_per_segment, dim])`` draw,
   scaled and shifted per segment; evaluation sources likewise from ``eval``. Rows are segment-major
   (all samples of segment 0, then segment 1, ...);
4. the mixing from ``mixing``: for each layer, in order, U's Gaussian matrix, V's Gaussian matrix, then
   the log singular values (see ``mixing_matrices``).

Conditioning. Each weight is ``W = U diag(σ) Vᵀ`` with ``U, V`` Haar-random orthogonal matrices (QR of a
Gaussian matrix, columns sign-corrected by the signs of R's diagonal) and ``log σ_i ~ U[-½ log κ, ½ log κ]``
with ``κ = max_condition``; when ``dim ≥ 2`` the largest ``σ`` is then set to ``√κ`` and the smallest to
``1/√κ``. Every ``W`` is therefore full rank with condition number exactly ``κ`` (orthogonal when κ = 1).

Mixing. ``h_0 = s``, ``h_l = W_l h_{l-1}``, with LeakyReLU(``negative_slope``) after every layer except the
last, and ``x = h_L``. ``mixing_layers`` counts weight matrices (so 1 layer is a linear mixing). No bias and
no activation after the last layer: every layer is a bijection of R^d, so the mixing is invertible and its
range is all of R^d. Arithmetic is float64; the tensors returned are float32.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from pydantic import field_validator

from ica.plugin import BuildContext, DatasetOptions, DataSplits, Field, hookimpl, Split


GENERATION_TEMPORARIES = 3
"""float64 arrays of one split's size alive at once while drawing or mixing it (the noise, ``h`` and
``h @ Wᵀ`` or the LeakyReLU's output)."""

MATRIX_TEMPORARIES = 4
"""``dim × dim`` float64 arrays alive at once while one mixing matrix is made (Gaussian, Q, R, U·σ)."""


class TCLOptions(DatasetOptions):
    """The TCL generator of §4.1 (defaults: the paper's d = 5, 20 segments, 4-layer mixing)."""

    segments: int = Field(20, ge=2, description="Number of segments, i.e. distinct values of u.")
    samples_per_segment: int = Field(1000, ge=1, description="Training samples per segment.")
    eval_samples_per_segment: int = Field(
        500, ge=1, description="Held-out samples per segment, drawn from the same segments' distributions."
    )
    dim: int = Field(5, ge=1, description="Number of sources and of observed dimensions (d_x = d_z).")
    mixing_layers: int = Field(4, ge=1, description="Weight matrices of the mixing MLP (1 is a linear mixing).")
    negative_slope: float = Field(0.2, gt=0, le=1, description="Slope of the mixing MLP's LeakyReLU for x < 0.")
    max_condition: float = Field(2.0, ge=1, description="Condition number of every mixing matrix (exactly).")
    mean_range: tuple[float, float] = Field((-3.0, 3.0), description="Source means are uniform on [low, high).")
    std_range: tuple[float, float] = Field(
        (0.01, 3.0), description="Source standard deviations are uniform on [low, high), low > 0."
    )
    data_seed: int = Field(0, ge=0, description="Seed of the data (independent of the models' seeds).")

    def estimated_bytes(self) -> int | None:
        """Memory `generate_tcl` takes at its peak, from the options alone (nothing is drawn): the segment
        parameters, both splits' float64 sources and labels, the temporaries of drawing and mixing the larger
        split (`GENERATION_TEMPORARIES` float64 copies), the mixing matrices and the float32 tensors returned."""
        n_train = self.segments * self.samples_per_segment
        n_eval = self.segments * self.eval_samples_per_segment
        rows, dim = n_train + n_eval, self.dim
        parameters = 2 * self.segments * dim * 8
        sources = rows * (dim * 8 + 8)
        temporaries = GENERATION_TEMPORARIES * max(n_train, n_eval) * dim * 8
        matrices = (self.mixing_layers + MATRIX_TEMPORARIES) * dim * dim * 8
        returned = rows * dim * 4 * 2
        return parameters + sources + temporaries + matrices + returned

    @field_validator("mean_range", "std_range")
    @classmethod
    def _low_below_high(cls, v: tuple[float, float]) -> tuple[float, float]:
        low, high = v
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError("both ends must be finite")
        if not low < high:
            raise ValueError(f"low must be below high, got ({low}, {high})")
        return v

    @field_validator("std_range")
    @classmethod
    def _positive_std(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not v[0] > 0:
            raise ValueError(f"standard deviations must be positive, got low = {v[0]}")
        return v


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


def mix(sources: np.ndarray, matrices: list[np.ndarray], negative_slope: float) -> np.ndarray:
    """``x = h_L``: ``h_l = W_l h_{l-1}``, LeakyReLU after every layer but the last; rows are examples."""
    h = np.asarray(sources, dtype=np.float64)
    for layer, w in enumerate(matrices):
        h = h @ w.T
        if layer < len(matrices) - 1:
            h = np.where(h >= 0, h, negative_slope * h)
    return h


def _sources(rng: np.random.Generator, means: np.ndarray, stds: np.ndarray, per_segment: int):
    segments, dim = means.shape
    noise = rng.standard_normal((segments, per_segment, dim))
    s = (noise * stds[:, None, :] + means[:, None, :]).reshape(segments * per_segment, dim)
    u = np.repeat(np.arange(segments, dtype=np.int64), per_segment)
    return s, u


def generate_tcl(options: TCLOptions) -> DataSplits:
    """The TCL data set of ``options``: bit-identical for identical options (see the module docstring)."""
    root = np.random.Generator(np.random.PCG64(options.data_seed))
    shape = (options.segments, options.dim)
    means = root.uniform(*options.mean_range, size=shape)
    stds = root.uniform(*options.std_range, size=shape)
    train_rng, eval_rng, mixing_rng = root.spawn(3)
    s_train, u_train = _sources(train_rng, means, stds, options.samples_per_segment)
    s_eval, u_eval = _sources(eval_rng, means, stds, options.eval_samples_per_segment)
    matrices = mixing_matrices(mixing_rng, options.dim, options.mixing_layers, options.max_condition)

    def split(s: np.ndarray, u: np.ndarray) -> Split:
        x = mix(s, matrices, options.negative_slope)
        return Split(
            x=torch.from_numpy(x.astype(np.float32)),
            u=torch.from_numpy(u),
            s=torch.from_numpy(s.astype(np.float32)),
        )

    info = {
        "generator": "tcl",
        "options": options.model_dump(mode="json"),
        "segment_means": means.tolist(),
        "segment_stds": stds.tolist(),
        "condition_numbers": [float(np.linalg.cond(w)) for w in matrices],
        "n_train": int(u_train.shape[0]),
        "n_eval": int(u_eval.shape[0]),
    }
    return DataSplits(train=split(s_train, u_train), eval=split(s_eval, u_eval), n_u=options.segments, info=info)


def build(options: TCLOptions, ctx: BuildContext) -> DataSplits:
    """The TCL data set; ``ctx`` is not needed."""
    return generate_tcl(options)


@hookimpl
def ica_register(register):
    register("dataset", "tcl", TCLOptions, build, description="Synthetic TCL sources mixed by a random MLP (§4.1).")
