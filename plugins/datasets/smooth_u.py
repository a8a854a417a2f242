"""`smooth_u`: sources whose distribution varies smoothly with a continuous u, mixed by the TCL generator's MLP.

What it is for: data on which a continuous u (a position, a speed, a time) carries what a discrete u cannot,
so that iVAE given the continuous u can be compared with iVAE given a coarse label of it (``u_bins``) or a u that
says nothing (``shuffle_u``), as ``specs/continuous-u.json`` does. TCL's segments are the discrete special case:
piecewise-constant parameters.

The model, per example:

- ``u ~ Uniform[0, 1]^u_dim``;
- each source j is Gaussian given u, independently of the others:
  ``s_j | u ~ N(mean_amplitude · tanh g_j(u), exp(std_amplitude · tanh f_j(u))²)``, so its log standard deviation
  and its mean are smooth, bounded functions of u (the standard deviation within ``exp(±std_amplitude)``);
- ``f_j`` and ``g_j`` are random Fourier features of u (Rahimi & Recht, 2007):
  ``f_j(u) = sqrt(2/K) Σ_k a_jk cos(2π ω_jk·u + φ_jk)`` with ``a_jk ~ N(0, 1)``, ``ω_jk ~ N(0, frequency² I)``,
  ``φ_jk ~ U[0, 2π)`` and K = ``features``: a smooth random function of variance 1 over draws, whose wiggles
  grow with ``frequency`` (1: about one rise and fall over [0, 1]);
- ``x = mix(s)``: the ``"paper"`` recipe of the ``tcl`` data set (`ica.plugins.datasets.tcl_recipes`):
  ``mixing_layers`` Haar-random orthogonal matrices with a LeakyReLU of slope ``negative_slope`` after every
  layer but the last, an invertible map of R^dim (`ica.plugins.datasets.tcl_mixing`).

``u_bins`` gives u as the index of its bin instead of its value: each coordinate cut into ``u_bins`` equal bins
of [0, 1], the bins numbered row-major (``u_bins^u_dim`` values, a discrete u); x and s stay exactly the same.

Random draws, all from ``numpy.random.Generator(PCG64(data_seed))`` in this fixed order: the features of f
(a, ω, φ), then those of g, from the root generator; then ``train, eval, mixing = root.spawn(3)``; each split
draws its u, then its standard-normal noise, from its own stream; the mixing matrices come from ``mixing``. So
changing a split's size leaves the other split, the features and the mixing unchanged. Arithmetic is float64;
the tensors returned are float32 (u too where it is continuous).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from pydantic import model_validator

from ica.plugin import BuildContext, DatasetOptions, DataSplits, Field, hookimpl, Split
from ica.plugins.datasets.tcl_mixing import conditions, haar_orthogonal, mix

MAX_BIN_VALUES = 10_000
"""``u_bins^u_dim`` at most: a label with more values than that is no longer a coarse one."""


class SmoothUOptions(DatasetOptions):
    """Sources modulated smoothly by a continuous u ~ U[0, 1]^u_dim, mixed by an invertible LeakyReLU MLP."""

    dim: int = Field(5, ge=1, le=1000, description="Number of sources and of observed dimensions (d_x = d_z).")
    u_dim: int = Field(2, ge=1, le=100, description="Columns of u, each uniform on [0, 1].")
    samples: int = Field(5000, ge=2, le=10**8, description="Training examples.")
    eval_samples: int = Field(2000, ge=2, le=10**8, description="Held-out examples, drawn from the same law.")
    features: int = Field(8, ge=1, le=1000, description="Random Fourier features per smooth function of u.")
    frequency: float = Field(
        1.0, gt=0, le=100, description="Spread of the features' frequencies: how fast the sources change with u."
    )
    std_amplitude: float = Field(
        2.0, ge=0, le=10, description="Each source's log standard deviation varies with u within ± this."
    )
    mean_amplitude: float = Field(0.0, ge=0, le=100, description="Each source's mean varies with u within ± this.")
    mixing_layers: int = Field(
        3, ge=1, le=100, description="Layers of the mixing MLP (orthogonal weights; 1 is a linear mixing)."
    )
    negative_slope: float = Field(0.2, gt=0, le=1, description="Slope of the mixing MLP's LeakyReLU for x < 0.")
    u_bins: int | None = Field(
        None,
        ge=2,
        description="Give u as the index of its bin (each coordinate cut into this many equal bins of [0, 1]), a "
        "discrete u that cannot follow the smooth changes; null: u as it is, continuous.",
    )
    data_seed: int = Field(0, ge=0, description="Seed of the data (independent of the models' seeds).")

    @model_validator(mode="after")
    def _few_bins(self) -> "SmoothUOptions":
        if self.u_bins is not None and self.u_bins**self.u_dim > MAX_BIN_VALUES:
            raise ValueError(
                f"u_bins = {self.u_bins} over u_dim = {self.u_dim} column(s) makes {self.u_bins**self.u_dim} values "
                f"of u; at most {MAX_BIN_VALUES}"
            )
        return self

    def estimated_bytes(self) -> int | None:
        """Memory `generate_smooth_u` takes at its peak, from the options alone: float64 u, noise, sources and
        two mixing temporaries per row, the features, and the float32 tensors returned."""
        rows = self.samples + self.eval_samples
        per_row = 8 * (self.u_dim + 4 * self.dim) + 4 * (self.u_dim + 2 * self.dim)
        features = 2 * self.dim * self.features * (self.u_dim + 2) * 8
        return rows * per_row + features + self.mixing_layers * self.dim * self.dim * 8


def fourier_features(rng: np.random.Generator, options: SmoothUOptions) -> dict[str, np.ndarray]:
    """The amplitudes ``a`` [dim, K], frequencies ``omega`` [dim, K, u_dim] and phases ``phi`` [dim, K] of one
    smooth random function of u per source."""
    shape = (options.dim, options.features)
    return {
        "a": rng.standard_normal(shape),
        "omega": options.frequency * rng.standard_normal((*shape, options.u_dim)),
        "phi": rng.uniform(0.0, 2.0 * math.pi, size=shape),
    }


def smooth(features: dict[str, np.ndarray], u: np.ndarray) -> np.ndarray:
    """The functions' values at u ``[N, u_dim]``: ``[N, dim]``, each of variance 1 over the features' draws."""
    k = features["a"].shape[1]
    angles = 2.0 * math.pi * np.einsum("nd,jkd->njk", u, features["omega"]) + features["phi"]
    return math.sqrt(2.0 / k) * np.einsum("njk,jk->nj", np.cos(angles), features["a"])


def binned(u: np.ndarray, bins: int) -> np.ndarray:
    """Each row's bin: every coordinate cut into ``bins`` equal bins of [0, 1], numbered row-major (int64)."""
    index = np.minimum((u * bins).astype(np.int64), bins - 1)
    return np.ravel_multi_index(tuple(index.T), (bins,) * u.shape[1]).astype(np.int64)


def _sources(rng: np.random.Generator, n: int, options: SmoothUOptions, f: dict, g: dict):
    u = rng.uniform(0.0, 1.0, size=(n, options.u_dim))
    noise = rng.standard_normal((n, options.dim))
    mean = options.mean_amplitude * np.tanh(smooth(g, u))
    s = mean + np.exp(options.std_amplitude * np.tanh(smooth(f, u))) * noise
    return u, s


def generate_smooth_u(options: SmoothUOptions) -> DataSplits:
    """The data set of ``options``: bit-identical for identical options (see the module docstring)."""
    root = np.random.Generator(np.random.PCG64(options.data_seed))
    f, g = fourier_features(root, options), fourier_features(root, options)
    train_rng, eval_rng, mixing_rng = root.spawn(3)
    u_train, s_train = _sources(train_rng, options.samples, options, f, g)
    u_eval, s_eval = _sources(eval_rng, options.eval_samples, options, f, g)
    matrices = [haar_orthogonal(mixing_rng, options.dim) for _ in range(options.mixing_layers)]

    def split(u: np.ndarray, s: np.ndarray) -> Split:
        x = mix(s, matrices, options.negative_slope)
        given = torch.from_numpy(binned(u, options.u_bins) if options.u_bins else u.astype(np.float32))
        return Split(torch.from_numpy(x.astype(np.float32)), given, torch.from_numpy(s.astype(np.float32)))

    bins = options.u_bins
    info: dict[str, Any] = {
        "generator": "smooth_u",
        "options": options.model_dump(mode="json"),
        "u_kind": "continuous" if bins is None else "discrete",
        "mixing": "paper",
        "condition_numbers": conditions(matrices),
        "n_train": options.samples,
        "n_eval": options.eval_samples,
    }
    return DataSplits(
        train=split(u_train, s_train),
        eval=split(u_eval, s_eval),
        n_u=None if bins is None else bins**options.u_dim,
        info=info,
        u_dim=options.u_dim if bins is None else None,
    )


def build(options: SmoothUOptions, ctx: BuildContext) -> DataSplits:
    """The smooth-u data set; ``ctx`` is not needed."""
    return generate_smooth_u(options)


@hookimpl
def ica_register(register):
    register(
        "dataset",
        "smooth_u",
        SmoothUOptions,
        build,
        description="Synthetic sources whose scales vary smoothly with a continuous u, mixed by a random MLP.",
    )
