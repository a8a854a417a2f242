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
4. the mixing from ``mixing``, layer by layer in order, by the recipe ``mixing`` names (below).

Two mixing recipes (option ``mixing``); both draw only from the ``mixing`` child stream, so identical options
give bit-identical data, and neither touches the sources' streams.

``"original"`` (the default): the recipe of the code the paper's "same generating mechanism as previous works"
points to. Read from ilkhem/iVAE ``data/data.py`` (``generate_data`` calling ``generate_mixing_matrix`` with
``lin_type="uniform"``, ``n_iter_4_cond=1e4``) and hmorioka/TCL ``subfunc/generate_artificial_data.py``
(``apply_MLP_to_source``, ``iter4condthresh=10000``, ``cond_thresh_ratio=0.25``); our own implementation.
Both draw weights uniform on [-1, 1), scale every column of the drawn matrix to unit Euclidean norm, estimate
a threshold as the 25th percentile of the condition numbers of 10,000 such matrices, then redraw each
layer's matrix until its condition number is at most the threshold (about 4 tries on average). No bias, a
LeakyReLU between layers and none after the last, as here. Where the two differ we follow iVAE, whose data
(Gaussian sources with per-segment means and variances) the paper's §4.1 describes:

- threshold per layer: iVAE re-estimates it for every layer (each ``generate_mixing_matrix`` call); TCL
  estimates one for all layers. Here, per layer ``l``: ``condition_draws`` matrices (unset: 10,000), then
  candidates until one is accepted, so layer ``l+1``'s draws follow layer ``l``'s accepted matrix;
- percentile: iVAE takes ``np.percentile(conds, 25)`` (linear interpolation); TCL the order statistic
  ``sorted(conds)[int(0.25 n)]``. Here ``np.percentile(conds, condition_percentile)`` (unset: 25);
- orientation: iVAE mixes rows, ``X @ A``, with unit columns of ``A``; TCL mixes columns, ``A @ h``, with
  unit columns of ``A``. Here the drawn ``dim × dim`` matrix is iVAE's ``A`` (row-major draw order, unit
  columns) and ``W = Aᵀ`` (unit rows), so ``x = h_{L-1} A`` exactly as iVAE; TCL's would be ``W = A``;
- precision: iVAE draws and mixes in float32, TCL in float64; here float64 throughout. iVAE's candidates are
  ``uniform(0, 2) - 1`` and its threshold draws ``uniform(-1, 1)``, the same law; here ``uniform(-1, 1)``
  for both. A candidate is accepted when ``cond <= threshold``, as both (a NaN condition, which only a zero
  column could give, is refused rather than accepted);
- LeakyReLU slope: iVAE's default is 0.1, TCL's 0.2; it stays the separate option ``negative_slope`` (0.2).

The threshold draws are made ``CONDITION_CHUNK_ELEMENTS`` entries at a time to bound memory; the stream is
consumed in the same order, so the chunk size changes no value. ``max_condition`` is refused with
``"original"`` (its bound is estimated, not set: a fixed κ would be a different recipe, iVAE's unused
``cond_threshold`` path); ``condition_draws`` and ``condition_percentile`` are refused with ``"exact"``.

``"exact"`` (``ica``'s earlier recipe, bit-for-bit: ``"mixing": "exact"`` reproduces the data ``ica``
generated before the option existed). Each weight is ``W = U diag(σ) Vᵀ`` with ``U, V`` Haar-random
orthogonal matrices (QR of a Gaussian matrix, columns sign-corrected by the signs of R's diagonal) and
``log σ_i ~ U[-½ log κ, ½ log κ]`` with ``κ = max_condition`` (unset: 2); when ``dim ≥ 2`` the largest ``σ``
is then set to ``√κ`` and the smallest to ``1/√κ``. Every ``W`` is therefore full rank with condition number
exactly ``κ`` (orthogonal when κ = 1). Per layer: U's Gaussian matrix, V's, then the log singular values.

Mixing. ``h_0 = s``, ``h_l = W_l h_{l-1}``, with LeakyReLU(``negative_slope``) after every layer except the
last, and ``x = h_L``. ``mixing_layers`` counts weight matrices (so 1 layer is a linear mixing). No bias and
no activation after the last layer: every layer is a bijection of R^d, so the mixing is invertible and its
range is all of R^d. Arithmetic is float64; the tensors returned are float32.

``info`` records ``mixing``, every layer's ``condition_numbers`` and, for ``"original"``, each layer's
``condition_thresholds`` and ``draws_per_layer`` (candidates drawn until one was accepted, threshold draws
not counted).
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import numpy as np
import torch
from pydantic import ValidationInfo, field_validator

from ica.plugin import BuildContext, DataError, DatasetOptions, DataSplits, Field, hookimpl, Split


GENERATION_TEMPORARIES = 3
"""float64 arrays of one split's size alive at once while drawing or mixing it (the noise, ``h`` and
``h @ Wᵀ`` or the LeakyReLU's output)."""

MATRIX_TEMPORARIES = 4
"""``dim × dim`` float64 arrays alive at once while one mixing matrix is made (Gaussian, Q, R, U·σ)."""

EXACT_CONDITION = 2.0
"""``max_condition`` when it is unset with ``mixing="exact"`` (the value ``ica`` always used before)."""

ORIGINAL_DRAWS = 10_000
"""``condition_draws`` when unset: iVAE's ``n_iter_4_cond=1e4`` and TCL's ``iter4condthresh=10000``."""

ORIGINAL_PERCENTILE = 25.0
"""``condition_percentile`` when unset: iVAE's ``np.percentile(..., 25)`` and TCL's ``cond_thresh_ratio=0.25``."""

CONDITION_CHUNK_ELEMENTS = 1 << 20
"""float64 entries of threshold draws made at once (8 MiB): bounds memory for large ``dim``, changes no value."""

CONDITION_TEMPORARIES = 3
"""Chunk-sized float64 arrays alive at once while estimating a threshold (the draws, their squares, and
the copy the SVD makes)."""

MAX_LAYERS = 1_000
"""``mixing_layers`` at most: the paper mixes with up to 5; each layer is a matrix drawn (under "original", after
``condition_draws`` more), so a count far beyond any study is a typo that would generate for days."""

MAX_DRAWS = 10**9
"""``condition_draws`` at most: 100,000 times the original code's 10,000 (each draw a matrix's SVD, per layer;
their condition numbers alone take 8 GB, which the memory estimate weighs)."""

MAX_CANDIDATES = 1_000_000
"""Candidates one layer may draw before ``generate_tcl`` gives up: far beyond the ~100/percentile expected."""


class TCLOptions(DatasetOptions):
    """The TCL generator of §4.1 (defaults: the paper's d = 5, 20 segments, 4-layer mixing)."""

    segments: int = Field(20, ge=2, description="Number of segments, i.e. distinct values of u.")
    samples_per_segment: int = Field(1000, ge=1, description="Training samples per segment.")
    eval_samples_per_segment: int = Field(
        500, ge=1, description="Held-out samples per segment, drawn from the same segments' distributions."
    )
    dim: int = Field(5, ge=1, description="Number of sources and of observed dimensions (d_x = d_z).")
    mixing_layers: int = Field(4, ge=1, le=MAX_LAYERS,
                               description="Weight matrices of the mixing MLP (1 is a linear mixing).")
    negative_slope: float = Field(0.2, gt=0, le=1, description="Slope of the mixing MLP's LeakyReLU for x < 0.")
    mixing: Literal["exact", "original"] = Field(
        "original",
        description="How the mixing matrices are drawn. 'original': as the iVAE/TCL code, uniform weights with "
        "unit-norm columns, redrawn until the condition number is at most a percentile of random draws' "
        "(condition_draws, condition_percentile). 'exact': ica's earlier recipe, condition number exactly "
        "max_condition; reproduces ica's earlier data bit-for-bit.",
    )
    max_condition: float | None = Field(
        None, ge=1, description="mixing='exact' only: condition number of every mixing matrix, exactly "
        "(unset: 2). Refused with 'original', whose bound is estimated (see condition_percentile).",
    )
    condition_draws: int | None = Field(
        None, ge=1, le=MAX_DRAWS, description="mixing='original' only: random matrices drawn per layer to estimate "
        "the condition-number threshold (unset: 10000, as the original code).",
    )
    condition_percentile: float | None = Field(
        None, gt=0, le=100, description="mixing='original' only: the threshold is this percentile of the "
        "draws' condition numbers (unset: 25, as the original code; lower is better conditioned).",
    )
    mean_range: tuple[float, float] = Field((-3.0, 3.0), description="Source means are uniform on [low, high).")
    std_range: tuple[float, float] = Field(
        (0.01, 3.0), description="Source standard deviations are uniform on [low, high), low > 0."
    )
    data_seed: int = Field(0, ge=0, description="Seed of the data (independent of the models' seeds).")

    def estimated_bytes(self) -> int | None:
        """Memory `generate_tcl` takes at its peak, from the options alone (nothing is drawn): the segment
        parameters, both splits' float64 sources and labels, the temporaries of drawing and mixing the larger
        split (`GENERATION_TEMPORARIES` float64 copies), the mixing matrices (with, for "original", the
        threshold draws' condition numbers and `CONDITION_TEMPORARIES` chunks) and the float32 tensors returned."""
        n_train = self.segments * self.samples_per_segment
        n_eval = self.segments * self.eval_samples_per_segment
        rows, dim = n_train + n_eval, self.dim
        parameters = 2 * self.segments * dim * 8
        sources = rows * (dim * 8 + 8)
        temporaries = GENERATION_TEMPORARIES * max(n_train, n_eval) * dim * 8
        matrices = (self.mixing_layers + MATRIX_TEMPORARIES) * dim * dim * 8
        if self.mixing == "original":
            chunk = min(self.threshold_draws, max(1, CONDITION_CHUNK_ELEMENTS // (dim * dim)))
            matrices += self.threshold_draws * 8 + CONDITION_TEMPORARIES * chunk * dim * dim * 8
        returned = rows * dim * 4 * 2
        return parameters + sources + temporaries + matrices + returned

    @property
    def exact_condition(self) -> float:
        """The condition number of every matrix under ``mixing="exact"``."""
        return EXACT_CONDITION if self.max_condition is None else self.max_condition

    @property
    def threshold_draws(self) -> int:
        """Draws per layer of the threshold estimate under ``mixing="original"``."""
        return ORIGINAL_DRAWS if self.condition_draws is None else self.condition_draws

    @property
    def threshold_percentile(self) -> float:
        """The percentile the threshold is taken at under ``mixing="original"``."""
        return ORIGINAL_PERCENTILE if self.condition_percentile is None else self.condition_percentile

    @field_validator("max_condition")
    @classmethod
    def _exact_only(cls, v: float | None, info: ValidationInfo) -> float | None:
        if v is not None and info.data.get("mixing") == "original":
            raise ValueError("applies to mixing='exact' only: mixing='original' estimates its bound from random "
                             "draws (condition_draws, condition_percentile); add \"mixing\": \"exact\" to set it")
        return v

    @field_validator("condition_draws", "condition_percentile")
    @classmethod
    def _original_only(cls, v: float | None, info: ValidationInfo) -> float | None:
        if v is not None and info.data.get("mixing") == "exact":
            raise ValueError("applies to mixing='original' only: mixing='exact' sets the condition number "
                             "itself (max_condition)")
        return v

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


def uniform_unit_columns(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Entries uniform on [-1, 1), each column (axis -2) scaled to unit Euclidean norm: the originals' draw."""
    a = rng.uniform(-1.0, 1.0, size=shape)
    a /= np.sqrt((a * a).sum(axis=-2, keepdims=True))
    return a


def condition_threshold(rng: np.random.Generator, dim: int, draws: int, percentile: float) -> float:
    """The ``percentile`` (numpy's linear interpolation) of the condition numbers of ``draws`` matrices from
    `uniform_unit_columns`: the originals' bound on a "well-conditioned" layer, drawn in chunks."""
    chunk = max(1, CONDITION_CHUNK_ELEMENTS // (dim * dim))
    conditions = np.empty(draws)
    for start in range(0, draws, chunk):
        n = min(chunk, draws - start)
        conditions[start:start + n] = np.linalg.cond(uniform_unit_columns(rng, (n, dim, dim)))
    return float(np.percentile(conditions, percentile))


class OriginalMixing(NamedTuple):
    """What `original_mixing_matrices` drew: the weights and, per layer, what ``info`` records."""

    matrices: list[np.ndarray]
    conditions: list[float]
    thresholds: list[float]
    draws: list[int]


def original_mixing_matrices(rng: np.random.Generator, dim: int, layers: int, draws: int,
                             percentile: float) -> OriginalMixing:
    """``layers`` matrices by the iVAE recipe (module docstring): per layer, a threshold from ``draws`` random
    matrices, then candidates until ``cond <= threshold``; the weight is the accepted ``A`` transposed."""
    drawn = OriginalMixing([], [], [], [])
    for _ in range(layers):
        threshold = condition_threshold(rng, dim, draws, percentile)
        for tries in range(1, MAX_CANDIDATES + 1):
            a = uniform_unit_columns(rng, (dim, dim))
            condition = float(np.linalg.cond(a))
            if condition <= threshold:
                break
        else:
            raise DataError(f"no matrix of {MAX_CANDIDATES} drawn had a condition number at most {threshold:.4g} "
                            f"(percentile {percentile} of {draws} draws): raise it", where="condition_percentile")
        drawn.matrices.append(np.ascontiguousarray(a.T))  # iVAE's x = h A is h_l = W h_{l-1} with W = Aᵀ
        drawn.conditions.append(condition)
        drawn.thresholds.append(threshold)
        drawn.draws.append(tries)
    return drawn


def draw_mixing(rng: np.random.Generator, options: TCLOptions) -> tuple[list[np.ndarray], dict]:
    """The mixing matrices of ``options.mixing``'s recipe and what ``info`` records of them."""
    if options.mixing == "exact":
        matrices = mixing_matrices(rng, options.dim, options.mixing_layers, options.exact_condition)
        return matrices, {"condition_numbers": [float(np.linalg.cond(w)) for w in matrices]}
    drawn = original_mixing_matrices(rng, options.dim, options.mixing_layers, options.threshold_draws,
                                     options.threshold_percentile)
    return drawn.matrices, {"condition_numbers": drawn.conditions, "condition_thresholds": drawn.thresholds,
                            "draws_per_layer": drawn.draws}


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
    matrices, mixing_info = draw_mixing(mixing_rng, options)

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
        "mixing": options.mixing,
        **mixing_info,
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
