"""`logistic`: the discretised logistic likelihood of 8-bit images (Kingma et al. 2016, IAF §5.2;
Salimans et al. 2017, PixelCNN++ §2.1).

Conventions (stated once, used throughout):

* Observations live in [0, 1]: x = k/255 for the 256 levels k = 0..255. Each x is snapped to the nearest
  level (values outside [0, 1] fall into the edge levels), so data that went through float32 arithmetic
  still hit their bin; data must therefore be *unstandardised* 8-bit images scaled by 1/255.
* Level k owns the bin [x - 1/510, x + 1/510] (half-width h = 1/510 in [0, 1] units; the same bins as
  half-width 1/255 on the [-1, 1] scale of PixelCNN++). The edge bins reach to ±∞: level 0 gets
  CDF(1/510) and level 255 gets 1 - CDF(1 - 1/510), so the 256 probabilities sum to exactly 1.
* The location μ comes from the decoder, in the same [0, 1] units. The log-scale is learnt
  (option ``scale``): one per seed ("shared", ``[S, 1]``), one per channel — the first axis of x_shape,
  each dimension for flat data — ("per_channel", ``[S, C]``), or one per pixel from the decoder
  ("decoder", multiplier 2: the first C output channels are μ, the next C the log-scale, to which
  ``init_log_scale`` is added so a decoder whose outputs start near 0 starts at that scale).
  The log-scale is clamped to [-10, 10]: beyond that the central bin already holds all the mass
  (or none of it), and the clamp keeps every quantity finite.

Stability: with a = (x - h - μ)/s and b = (x + h - μ)/s, σ(b) - σ(a) = σ(b)·σ(-a)·(1 - e^{-(b-a)}), so

    log P(bin) = logσ(b) + logσ(-a) + log(1 - e^{-(b-a)}),   b - a = 2h/s > 0,

an identity (not an approximation) with no cancellation anywhere: each term is finite for finite inputs,
so the tiny-probability case that Salimans et al. patch with "density × bin width" never arises.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ica.plugin import BuildContext, Field, hookimpl, Options

LEVELS = 256
HALF_BIN = 1.0 / (2 * (LEVELS - 1))
LOG_SCALE_MIN, LOG_SCALE_MAX = -10.0, 10.0


class LogisticOptions(Options):
    """Where the scale of the discretised logistic comes from."""

    scale: Literal["shared", "per_channel", "decoder"] = Field(
        "per_channel",
        description="Learnt log-scale: one per seed ('shared'), one per channel ('per_channel'), "
        "or one per pixel emitted by the decoder ('decoder', doubles the decoder's channels).",
    )
    init_log_scale: float = Field(
        math.log(0.1),
        description="Initial log-scale in [0,1] pixel units (with 'decoder': an offset added to its output).",
    )


def discretised_logistic_log_prob(x: Tensor, loc: Tensor, log_scale: Tensor) -> Tensor:
    """Elementwise log P(x's 8-bit bin) under Logistic(loc, exp(log_scale)), everything in [0, 1] units."""
    level = torch.round(x.to(loc.dtype).clamp(0.0, 1.0) * (LEVELS - 1))
    centre = level / (LEVELS - 1)
    log_scale = log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)
    inv_scale = torch.exp(-log_scale)
    lower = (centre - HALF_BIN - loc) * inv_scale
    upper = (centre + HALF_BIN - loc) * inv_scale
    log_cdf_upper = F.logsigmoid(upper)
    log_survival_lower = F.logsigmoid(-lower)
    log_width_factor = torch.log(-torch.expm1(-2 * HALF_BIN * inv_scale))  # log(1 - e^{-(b-a)})
    interior = log_cdf_upper + log_survival_lower + log_width_factor
    return torch.where(level == 0, log_cdf_upper, torch.where(level == LEVELS - 1, log_survival_lower, interior))


class LogisticLikelihood(nn.Module):
    """Discretised logistic pixels: location from the decoder, learnt scale."""

    discrete = True

    def __init__(self, options: LogisticOptions, ctx: BuildContext):
        super().__init__()
        self.mode = options.scale
        self.channels = ctx.x_shape[0] if ctx.x_shape else 1
        self.multiplier = 2 if self.mode == "decoder" else 1
        if self.mode == "decoder":
            self.log_scale_offset = options.init_log_scale
        else:
            width = 1 if self.mode == "shared" else self.channels
            self.log_scale = nn.Parameter(torch.full((ctx.seeds, width), options.init_log_scale))

    def _loc_and_log_scale(self, params: Tensor) -> tuple[Tensor, Tensor]:
        if self.mode == "decoder":
            loc, raw = params.split(params.shape[2] // 2, dim=2)
            return loc, raw + self.log_scale_offset
        extra = params.dim() - 3  # axes after [S, B, C]
        log_scale = self.log_scale.reshape(self.log_scale.shape[0], 1, self.log_scale.shape[1], *([1] * extra))
        return params, log_scale

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        """Σ_d log P(x_d's bin), ``[S, B]``."""
        loc, log_scale = self._loc_and_log_scale(params)
        return discretised_logistic_log_prob(x, loc, log_scale).flatten(2).sum(-1)

    def mean(self, params: Tensor) -> Tensor:
        """The location clamped to [0, 1] (close to E[x] when the scale is small next to the range)."""
        loc, _ = self._loc_and_log_scale(params)
        return loc.clamp(0.0, 1.0)


def build(options: LogisticOptions, ctx: BuildContext) -> LogisticLikelihood:
    """Discretised logistic for 8-bit images in [0, 1]."""
    return LogisticLikelihood(options, ctx)


@hookimpl
def ica_register(register):
    register(
        "likelihood",
        "logistic",
        LogisticOptions,
        build,
        description="Discretised logistic for 8-bit images x=k/255 (IAF / PixelCNN++), learnt scale.",
    )
