"""`gaussian`: p(x|z) = N(x; decoder(z), σ² I), with σ fixed or learnt per seed (a learnt σ is logged as
``likelihood_scale`` in metrics.jsonl: `ica.components.protocols.LogsValues`).

The iVAE theory assumes p(x|z) = p_ε(x - f(z)) with additive noise (§2): this is that model.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ica.plugin import BuildContext, Field, hookimpl, Options

_LOG_2PI = math.log(2 * math.pi)


class GaussianOptions(Options):
    """Observation noise of the decoder."""

    scale: float = Field(0.1, gt=0, description="Noise standard deviation (initial value when learnt).")
    learn_scale: bool = Field(False, description="Learn one log-scale per seed with the other parameters.")


class GaussianLikelihood(nn.Module):
    """Isotropic Gaussian noise around the decoder output."""

    multiplier = 1
    discrete = False  # a density, not a probability: no bits per dimension

    def __init__(self, options: GaussianOptions, ctx: BuildContext):
        super().__init__()
        self.learn_scale = options.learn_scale
        log_scale = torch.full((ctx.seeds, 1), math.log(options.scale))
        if options.learn_scale:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        log_scale = self.log_scale.reshape(-1, *([1] * (x.dim() - 1)))
        z = (x - params) * torch.exp(-log_scale)
        per_dim = -0.5 * z.square() - log_scale - 0.5 * _LOG_2PI
        return per_dim.flatten(2).sum(-1)

    def mean(self, params: Tensor) -> Tensor:
        return params

    def logged(self) -> dict[str, Tensor]:
        """The learnt σ of each seed (one per seed: the noise is isotropic), for metrics.jsonl; nothing when
        σ is fixed, as the spec already says it."""
        return {"likelihood_scale": self.log_scale.detach().exp()[:, 0]} if self.learn_scale else {}


def build(options: GaussianOptions, ctx: BuildContext) -> GaussianLikelihood:
    """Gaussian observation noise."""
    return GaussianLikelihood(options, ctx)


@hookimpl
def ica_register(register):
    register("likelihood", "gaussian", GaussianOptions, build, description="Gaussian noise, fixed or learnt scale.")
