"""`bernoulli`: p(x|z) = Π_d Bernoulli(x_d; sigmoid(logit_d)), for binarised images (x in {0, 1}).

The decoder emits one logit per observed value (multiplier 1), and the log-probability is computed from
the logits (``binary_cross_entropy_with_logits``), never from sigmoid probabilities, so saturated logits
give finite values and gradients.

Data in [0, 1] that are not binary (grey levels) are accepted: the score is then the cross-entropy
x·log p + (1-x)·log(1-p), the usual "Bernoulli" loss of image VAEs, which is *not* a normalised density
over [0, 1] (the continuous Bernoulli would add its normaliser). Binarise the data when the number must be
a log-likelihood (e.g. to report bits per dimension). Data outside [0, 1] are refused before training (its
``support``): the cross-entropy is unbounded there, and standardised images land there.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import constraints

from ica.plugin import BuildContext, hookimpl, Options


class BernoulliOptions(Options):
    """The Bernoulli likelihood has no options: the decoder's logits are its only parameters."""


class BernoulliLikelihood(nn.Module):
    """Independent Bernoulli pixels with logits from the decoder."""

    multiplier = 1
    discrete = True
    support = constraints.unit_interval  # grey levels are scored too (see above); other data are refused

    def __init__(self, options: BernoulliOptions, ctx: BuildContext):
        super().__init__()

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        """Σ_d log Bernoulli(x_d; sigmoid(params_d)), ``[S, B]``."""
        per_dim = -F.binary_cross_entropy_with_logits(params, x.to(params.dtype), reduction="none")
        return per_dim.flatten(2).sum(-1)

    def mean(self, params: Tensor) -> Tensor:
        """E[x] = sigmoid(logits), ``[S, B, *x_shape]``."""
        return params.sigmoid()


def build(options: BernoulliOptions, ctx: BuildContext) -> BernoulliLikelihood:
    """Bernoulli pixels for binarised images."""
    return BernoulliLikelihood(options, ctx)


@hookimpl
def ica_register(register):
    register(
        "likelihood",
        "bernoulli",
        BernoulliOptions,
        build,
        description="Bernoulli pixels from decoder logits, for binarised images (x in {0,1}).",
    )
