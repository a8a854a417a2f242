"""`negative_binomial`: p(x|z) = Π_d NB(x_d; mean μ_d, dispersion α_d), for over-dispersed counts.

Var[x_d] = μ_d + α_d·μ_d² (the "NB2" form of count regression; α → 0 is the Poisson). The mean comes from the
decoder through the same link as `poisson` (option ``link``); the dispersion is learnt, one per observed value
and seed (``log_dispersion``, ``[S, *x_shape]``), starting at the option ``dispersion``, and its mean over the
values is logged per seed as ``likelihood_dispersion`` (`ica.components.protocols.LogsValues`).

With r = 1/α (torch's ``total_count``) and the logit ℓ = log(μ/r) = log μ + log α, the log-probability is

    log p(x) = lgamma(x + r) - lgamma(r) - lgamma(x + 1) + r·logσ(-ℓ) + x·logσ(ℓ),

torch's own `NegativeBinomial` form: every term is computed from logs, so no probability near 0 or 1 is ever
subtracted from 1. α is kept within [1e-4, 1e4]: below it lgamma(x + r) - lgamma(r) loses float32 precision
(about 0.005 nats per value at the bound, where the counts are Poisson to within 1e-4·μ² of their variance),
above it nearly all the mass sits at 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import constraints

from ica.plugin import BuildContext, Field, hookimpl, Options

from .poisson import Link, count_log_rate

DISPERSION_MIN, DISPERSION_MAX = 1e-4, 1e4
LOG_DISPERSION_MIN, LOG_DISPERSION_MAX = math.log(DISPERSION_MIN), math.log(DISPERSION_MAX)


def negative_binomial_log_prob(x: Tensor, log_mean: Tensor, log_dispersion: Tensor) -> Tensor:
    """Elementwise log NB(x; mean e^log_mean, dispersion e^log_dispersion), the lgamma form above."""
    x = x.to(log_mean.dtype)
    total_count = torch.exp(-log_dispersion)
    logits = log_mean + log_dispersion
    return (
        torch.lgamma(x + total_count)
        - torch.lgamma(total_count)
        - torch.lgamma(x + 1)
        + total_count * F.logsigmoid(-logits)
        + x * F.logsigmoid(logits)
    )


class NegativeBinomialOptions(Options):
    """The link of the mean and where the learnt dispersion starts."""

    link: Link = Field(
        "exp", description="Mean from the decoder output η: 'exp' (μ = e^η) or 'softplus' (μ = log(1 + e^η))."
    )
    dispersion: float = Field(
        0.1,
        ge=DISPERSION_MIN,
        le=DISPERSION_MAX,
        description="Initial dispersion α (Var = μ + α·μ²; small α is nearly Poisson), learnt per observed "
        "dimension and seed.",
    )


class NegativeBinomialLikelihood(nn.Module):
    """Independent negative binomial counts: the mean from the decoder, a learnt dispersion per dimension."""

    multiplier = 1
    discrete = True  # a probability of whole numbers: bits per dimension are meaningful
    support = constraints.nonnegative_integer  # other data are refused before training

    def __init__(self, options: NegativeBinomialOptions, ctx: BuildContext):
        super().__init__()
        self.link: Link = options.link
        shape = (ctx.seeds, *ctx.x_shape)
        self.log_dispersion = nn.Parameter(torch.full(shape, math.log(options.dispersion)))

    def _log_dispersion(self) -> Tensor:
        """log α within its bounds, ``[S, 1, *x_shape]``: it broadcasts over a batch."""
        return self.log_dispersion.clamp(LOG_DISPERSION_MIN, LOG_DISPERSION_MAX).unsqueeze(1)

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        """Σ_d log NB(x_d; μ_d, α_d), ``[S, B]``."""
        per_value = negative_binomial_log_prob(x, count_log_rate(params, self.link), self._log_dispersion())
        return per_value.flatten(2).sum(-1)

    def mean(self, params: Tensor) -> Tensor:
        """E[x] = μ, ``[S, B, *x_shape]``."""
        return count_log_rate(params, self.link).exp()

    def logged(self) -> dict[str, Tensor]:
        """The mean learnt dispersion α of each seed, for metrics.jsonl."""
        alpha = self.log_dispersion.detach().clamp(LOG_DISPERSION_MIN, LOG_DISPERSION_MAX).exp()
        return {"likelihood_dispersion": alpha.flatten(1).mean(1)}


def build(options: NegativeBinomialOptions, ctx: BuildContext) -> NegativeBinomialLikelihood:
    """Negative binomial counts."""
    return NegativeBinomialLikelihood(options, ctx)


@hookimpl
def ica_register(register):
    register(
        "likelihood",
        "negative_binomial",
        NegativeBinomialOptions,
        build,
        description="Negative binomial counts (x whole numbers >= 0): mean from the decoder, learnt dispersion "
        "per dimension.",
    )
