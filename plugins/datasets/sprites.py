"""`sprites`: rendered images whose sources are known, with TCL's segments, so that image models can be scored
against ground truth offline (the idea of dSprites and 3DIdent, which need downloads).

Each image is drawn from ``dim`` (3 to 8) sources, the first ``dim`` of eight factors: the triangle's x, y,
scale, rotation and brightness, then the background's grey level (``"28x28x1"``) or the triangle's hue
(``"32x32x3"``), then a disc's x and y (the table, the shapes and the anti-aliasing:
`ica.plugins.datasets.sprites_render`). ``"28x28x1"`` matches MNIST's networks and the Bernoulli likelihood,
``"32x32x3"`` CIFAR10's and the discretised logistic likelihood; both give ``x`` float32 ``[N, C, W, W]``
with pixels ``k/255`` in [0, 1] (option ``levels``), valid for both likelihoods, binarised as the image sets
do (option ``binarize``, `ica.plugins.datasets.images`). ``"threshold"`` is refused from five sources on: the
triangle's brightness (0.55 to 1) and the background (0 to 0.3) lie on either side of 0.5, so thresholding
would erase both sources; the Bernoulli likelihood scores the grey levels as they are, or use ``"sample"``.

Sources, as `tcl` draws them (`ica.plugins.datasets.tcl`): segment k holds independent latents
``g_j ~ N(m_kj, σ_kj²)``, means uniform on ``mean_range``, standard deviations on ``std_range``; each is mapped
into its factor's range by the fixed, smooth, increasing ``s_j = low_j + (high_j - low_j) · sigmoid(g_j)``.
The stored sources ``s`` are these factor values, in the factors' own units: a monotone map of each g_j, so a
rank (Spearman) MCC is the same against s as against g (``g = logit((s - low) / (high - low))``). ``u`` is the segment
(int64, ``n_u`` = ``segments``); rows are segment-major.

Random draws, all from ``numpy.random.Generator(PCG64(data_seed))`` in this order: means ``[segments, dim]``,
then standard deviations ``[segments, dim]``; then ``train, eval = root.spawn(2)``, and each split's
``standard_normal([segments, per_segment, dim])`` from its own child. Changing ``eval_samples_per_segment``
therefore leaves the training data bit-identical, and changing ``samples_per_segment`` leaves the segments'
parameters unchanged. Rendering draws nothing.

Speed (rendering only, one thread, ``OMP_NUM_THREADS=1``, 20,000 images of random sources, best of 3, on this
project's shared 2-core CPU machine under load): about 190,000 images per second at 28x28x1 with 5 sources
(100,000 with 8, the disc included) and 69,000 at 32x32x3 with 5 (44,000 with 8). The default data set
(12,000 images) builds in about 0.06 s (28x28x1) or 0.15 s (32x32x3).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from pydantic import field_validator, ValidationInfo

from ica.plugin import binarized, BuildContext, DataSplits, Field, hookimpl, Split
from ica.plugins.datasets.images import ImageOptions
from ica.plugins.datasets.tcl_options import TCLOptions
from ica.plugins.datasets.sprites_render import (
    CHUNK,
    DISC_FROM,
    FACTORS,
    RENDER_TEMPORARIES,
    SHAPES,
    full_factors,
    render,
)

MAX_SOURCES = len(FACTORS["28x28x1"])
"""Factors a scene has, hence the most sources."""


class SpritesOptions(ImageOptions):
    """Rendered triangle (and disc) scenes of ``dim`` known sources, in TCL's segments (u = the segment)."""

    image: Literal["28x28x1", "32x32x3"] = Field(
        "28x28x1",
        description="Image format: '28x28x1' grey, as MNIST (Bernoulli likelihood); '32x32x3' colour, as "
        "CIFAR10 (discretised logistic likelihood). The sixth factor is the background's grey level or the hue.",
    )
    dim: int = Field(
        5,
        ge=3,
        le=MAX_SOURCES,
        validate_default=True,  # so that binarize='threshold' is checked against the default too
        description="Number of sources: the first dim of x, y, scale, rotation, brightness, background (grey) "
        "or hue (colour), disc x, disc y; the others stay fixed (no disc below 7).",
    )
    segments: int = Field(20, ge=2, description="Number of segments, i.e. distinct values of u.")
    samples_per_segment: int = Field(500, ge=1, description="Training images per segment.")
    eval_samples_per_segment: int = Field(
        100, ge=1, description="Held-out images per segment, drawn from the same segments' distributions."
    )
    mean_range: tuple[float, float] = Field(
        (-2.0, 2.0),
        description="Segment means of the latents g (before the sigmoid into each factor's range) are uniform "
        "on [low, high).",
    )
    std_range: tuple[float, float] = Field(
        (0.25, 1.0), description="Segment standard deviations of the latents g are uniform on [low, high), low > 0."
    )
    levels: int | None = Field(
        256,
        ge=2,
        le=65536,
        description="Pixels are quantised to k/(levels-1): 256 gives the 8-bit k/255 the discretised logistic "
        "expects; null keeps the continuous rendering.",
    )
    data_seed: int = Field(0, ge=0, description="Seed of the sources (independent of the models' seeds).")

    @field_validator("mean_range", "std_range")
    @classmethod
    def _finite_ordered(cls, v: tuple[float, float], info: ValidationInfo) -> tuple[float, float] | None:
        return TCLOptions._finite_ordered(v, info)

    @field_validator("std_range")
    @classmethod
    def _positive_std(cls, v: tuple[float, float]) -> tuple[float, float] | None:
        return TCLOptions._positive_std(v)

    @field_validator("dim")
    @classmethod
    def _threshold_keeps_the_sources(cls, v: int, info: ValidationInfo) -> int:
        if v >= 5 and info.data.get("binarize") == "threshold":  # binarize comes first: ImageOptions holds it
            raise ValueError(
                f"binarize='threshold' would erase sources with dim={v}: the triangle's brightness and the "
                "background lie on either side of 0.5; use binarize 'none' (Bernoulli scores grey levels) or "
                "'sample', or dim 3 or 4"
            )
        return v

    @property
    def x_shape(self) -> tuple[int, int, int]:
        channels, width = SHAPES[self.image]
        return channels, width, width

    def estimated_bytes(self) -> int | None:
        """Memory `generate_sprites` takes at its peak, from the options alone: both splits' sources (float64
        latents and factors, float32 copies) and labels, a chunk's render temporaries (`RENDER_TEMPORARIES`),
        and the float32 images (twice when binarised)."""
        rows = self.segments * (self.samples_per_segment + self.eval_samples_per_segment)
        pixels = math.prod(self.x_shape)
        sources = rows * (self.dim * (8 + 8 + 4) + MAX_SOURCES * 8 + 8)
        chunk = min(CHUNK, rows) * pixels * 4 * RENDER_TEMPORARIES
        images = rows * pixels * 4 * (1 if self.binarize == "none" else 2)
        return 2 * self.segments * self.dim * 8 + sources + chunk + images


def factor_ranges(options: SpritesOptions) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper ends ``[dim]`` of the factors the sources take."""
    factors = FACTORS[options.image][: options.dim]
    return np.array([f.low for f in factors]), np.array([f.high for f in factors])


def to_factors(g: np.ndarray, options: SpritesOptions) -> np.ndarray:
    """The latents ``g`` ``[N, dim]`` mapped into the factors' ranges: ``low + (high - low) · sigmoid(g)``."""
    low, high = factor_ranges(options)
    return low + (high - low) / (1.0 + np.exp(-g))


def images(sources: np.ndarray, options: SpritesOptions) -> np.ndarray:
    """Images ``[N, C, W, W]`` (float32, quantised as ``levels`` says, not binarised) of sources ``[N, dim]``."""
    return render(full_factors(sources, options.image), options.image, options.dim >= DISC_FROM, options.levels)


def _latents(rng: np.random.Generator, means: np.ndarray, stds: np.ndarray, per_segment: int):
    segments, dim = means.shape
    g = rng.standard_normal((segments, per_segment, dim)) * stds[:, None, :] + means[:, None, :]
    return g.reshape(segments * per_segment, dim), np.repeat(np.arange(segments, dtype=np.int64), per_segment)


def generate_sprites(options: SpritesOptions) -> DataSplits:
    """The sprites data set of ``options``: bit-identical for identical options (see the module docstring)."""
    root = np.random.Generator(np.random.PCG64(options.data_seed))
    shape = (options.segments, options.dim)
    means = root.uniform(*options.mean_range, size=shape)
    stds = root.uniform(*options.std_range, size=shape)
    train_rng, eval_rng = root.spawn(2)
    bin_train, bin_eval = np.random.Generator(np.random.PCG64(options.binarize_seed)).spawn(2)

    def split(rng: np.random.Generator, per_segment: int, bin_rng: np.random.Generator) -> Split:
        g, u = _latents(rng, means, stds, per_segment)
        s = to_factors(g, options)
        x = binarized(torch.from_numpy(images(s, options)), options.binarize, bin_rng)
        return Split(x=x, u=torch.from_numpy(u), s=torch.from_numpy(s.astype(np.float32)))

    train = split(train_rng, options.samples_per_segment, bin_train)
    evaluation = split(eval_rng, options.eval_samples_per_segment, bin_eval)
    info = {
        "generator": "sprites",
        "options": options.model_dump(mode="json"),
        "factors": factor_info(options),
        "fixed_factors": {f.name: f.rest for f in FACTORS[options.image][options.dim :]},
        "disc": options.dim >= DISC_FROM,
        "sources": "s_j = low_j + (high_j - low_j) * sigmoid(g_j), g_j ~ N(segment_means, segment_stds^2)",
        "segment_means": means.tolist(),
        "segment_stds": stds.tolist(),
        "x_shape": list(options.x_shape),
        "n_train": len(train),
        "n_eval": len(evaluation),
        "n_u": options.segments,
        "pixels": "continuous in [0, 1]" if options.levels is None else f"k/{options.levels - 1} in [0, 1]",
        "binarize": options.binarize,
        "binarize_seed": options.binarize_seed if options.binarize == "sample" else None,
    }
    return DataSplits(train=train, eval=evaluation, n_u=options.segments, info=info)


def factor_info(options: SpritesOptions) -> list[dict[str, Any]]:
    """The factors the sources take, in order: name, range and meaning."""
    return [
        {"name": f.name, "range": [f.low, f.high], "meaning": f.meaning} for f in FACTORS[options.image][: options.dim]
    ]


def example_grid(options: SpritesOptions | dict[str, Any], steps: int = 7) -> np.ndarray:
    """Images ``[dim, steps, C, W, W]``: row j varies source j alone across its whole range (evenly, ends
    included), every other source at the middle of its range; quantised as ``levels`` says, not binarised."""
    given = options
    if isinstance(given, dict):
        given = SpritesOptions.model_validate({k: v for k, v in given.items() if k != "name"})
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    low, high = factor_ranges(given)
    sources = np.tile((low + high) / 2, (given.dim, steps, 1))
    for j in range(given.dim):
        sources[j, :, j] = np.linspace(low[j], high[j], steps)
    pictures = images(sources.reshape(-1, given.dim), given)
    return pictures.reshape(given.dim, steps, *pictures.shape[1:])


def build(options: SpritesOptions, ctx: BuildContext) -> DataSplits:
    """The sprites data set; ``ctx`` is not needed."""
    return generate_sprites(options)


@hookimpl
def ica_register(register):
    register(
        "dataset",
        "sprites",
        SpritesOptions,
        build,
        description="Rendered shapes of 3-8 known sources [1,28,28] or [3,32,32], in TCL segments (u = segment).",
    )
