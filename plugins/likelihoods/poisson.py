"""`poisson`: p(x|z) = Π_d Poisson(x_d; λ_d), for counts (spikes, reads, events per bin).

The decoder emits one number η per observed value (multiplier 1) and the log-probability is computed from the
log-rate, log p = x·log λ - λ - log x!, never from a rate that was first exponentiated and then logged. Two links
from η to the rate (option ``link``):

* ``exp`` (the default): log λ = η, the canonical link of the Poisson GLM. The log-likelihood is concave in η
  with gradient x - λ, and a decoder reaches rates spanning orders of magnitude (neurons firing at 0.1 and at
  50 spikes per bin) linearly in its output. η is clamped to [-30, 30] (λ from 1e-13 to 1e13, beyond any
  count), so an untrained decoder's large outputs give a large loss, never an overflow.
* ``softplus``: λ = log(1 + e^η), linear for large η: a large decoder output makes a large rate, not an
  enormous one, and the gradient in η stays bounded. For η < -15, where softplus(η) ≈ e^η, log λ is its
  series η - e^η/2, so small rates keep their log to double precision and no branch takes the log of 0.

`count_log_rate` is shared with `negative_binomial`, which models the mean the same way.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import constraints

from ica.plugin import BuildContext, Field, hookimpl, Options

Link = Literal["exp", "softplus"]
LOG_RATE_MIN, LOG_RATE_MAX = -30.0, 30.0
SOFTPLUS_SMALL = -15.0
"""Below this η, log softplus(η) = η - e^η/2 to within e^(2η)/4 (< 3e-14): computed so, not as the log of a rate
that underflows."""


def count_log_rate(params: Tensor, link: Link) -> Tensor:
    """log λ of the decoder's output under ``link``, finite for every finite input."""
    if link == "exp":
        return params.clamp(LOG_RATE_MIN, LOG_RATE_MAX)
    eta = params.clamp(min=LOG_RATE_MIN)
    large = F.softplus(eta.clamp(min=SOFTPLUS_SMALL)).log()  # clamped: the branch not taken has a finite gradient
    small = eta - 0.5 * eta.clamp(max=SOFTPLUS_SMALL).exp()
    return torch.where(eta < SOFTPLUS_SMALL, small, large)


def poisson_log_prob(x: Tensor, log_rate: Tensor) -> Tensor:
    """Elementwise log Poisson(x; e^log_rate) = x·log λ - λ - lgamma(x + 1)."""
    x = x.to(log_rate.dtype)
    return x * log_rate - log_rate.exp() - torch.lgamma(x + 1)


class PoissonOptions(Options):
    """How the decoder's output becomes a rate."""

    link: Link = Field(
        "exp",
        description="Rate from the decoder output η: 'exp' (λ = e^η, the canonical link) or 'softplus' "
        "(λ = log(1 + e^η), bounded gradients for large counts).",
    )


class PoissonLikelihood(nn.Module):
    """Independent Poisson counts with rates from the decoder; no parameters of its own."""

    multiplier = 1
    discrete = True  # a probability of whole numbers: bits per dimension are meaningful
    support = constraints.nonnegative_integer  # other data are refused before training

    def __init__(self, options: PoissonOptions, ctx: BuildContext):
        super().__init__()
        self.link: Link = options.link

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        """Σ_d log Poisson(x_d; λ_d), ``[S, B]``."""
        return poisson_log_prob(x, count_log_rate(params, self.link)).flatten(2).sum(-1)

    def mean(self, params: Tensor) -> Tensor:
        """E[x] = λ, ``[S, B, *x_shape]``."""
        return count_log_rate(params, self.link).exp()


def build(options: PoissonOptions, ctx: BuildContext) -> PoissonLikelihood:
    """Poisson counts."""
    return PoissonLikelihood(options, ctx)


@hookimpl
def ica_register(register):
    register(
        "likelihood",
        "poisson",
        PoissonOptions,
        build,
        description="Poisson counts (x whole numbers >= 0), rate e^η or softplus(η) of the decoder output.",
    )
