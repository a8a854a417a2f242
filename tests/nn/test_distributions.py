"""`ica.nn.distributions.gives_mixture`: a model's check that its prior gives a mixture evaluates the prior for
real, and is left to the real build on the meta device (where evaluating would import torch._dynamo)."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Normal

from ica.nn.distributions import DiagonalGaussianMixture, gives_mixture


class Counted(nn.Module):
    """An unconditional prior that counts its calls; a mixture or not."""

    def __init__(self, mixture: bool):
        super().__init__()
        self.mixture, self.calls = mixture, 0
        self.mean = nn.Parameter(torch.zeros(1, 3, 2))

    def forward(self, cond=None):
        self.calls += 1
        logits = torch.zeros(1, 1, 3)
        if self.mixture:
            return DiagonalGaussianMixture(logits, self.mean.unsqueeze(1), torch.zeros(1, 1, 3, 2))
        return Normal(torch.zeros(2), torch.ones(2))


def test_a_prior_is_evaluated_to_tell_a_mixture_from_another_distribution():
    assert gives_mixture(Counted(mixture=True))
    plain = Counted(mixture=False)
    assert not gives_mixture(plain) and plain.calls == 1


def test_built_on_the_meta_device_the_prior_is_not_evaluated():
    with torch.device("meta"):
        prior = Counted(mixture=False)
        assert gives_mixture(prior) and prior.calls == 0
    assert prior.mean.is_meta
