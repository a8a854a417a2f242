"""Small helpers over ``torch.distributions`` shared by priors and models.

Priors return ordinary distributions; what VaDE needs from a mixture (its responsibilities) is read
off any ``MixtureSameFamily``, so third-party mixture priors work with it unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution, Independent, MixtureSameFamily, Normal

_LOG_2PI = math.log(2 * math.pi)


def diagonal_normal(mean: Tensor, log_var: Tensor) -> Independent:
    """N(mean, diag(exp(log_var))) with the last axis as the event."""
    return Independent(Normal(mean, torch.exp(0.5 * log_var), validate_args=False), 1, validate_args=False)


def xavier_uniform_(tensor: Tensor) -> Tensor:
    """Xavier/Glorot-uniform initialisation of each seed's ``[rows, cols]`` slice (§4.1's GMM init)."""
    with torch.no_grad():
        for block in tensor.reshape(-1, *tensor.shape[-2:]):
            torch.nn.init.xavier_uniform_(block)
    return tensor


class DiagonalGaussianMixture(MixtureSameFamily):
    """Σ_k π_k N(z; μ_k, diag σ²_k) whose log-density is one fused pass over all components.

    It is an ordinary ``MixtureSameFamily`` (sampling, means, responsibilities all work), but the hot
    path, ``log_prob``, skips building per-component distribution objects and their extra tensors.

    Args:
        logits: unnormalised mixture weights ``[..., K]``.
        mean, log_var: component parameters ``[..., K, d]``.
    """

    def __init__(self, logits: Tensor, mean: Tensor, log_var: Tensor):
        super().__init__(Categorical(logits=logits, validate_args=False), diagonal_normal(mean, log_var),
                         validate_args=False)
        self._mean, self._log_var = mean, log_var

    def component_log_prob(self, z: Tensor) -> Tensor:
        """log N(z; μ_k, diag σ²_k) for every k: ``[..., K]``."""
        scaled = (z.unsqueeze(-2) - self._mean) * torch.exp(-0.5 * self._log_var)
        return -0.5 * (scaled.square().sum(-1) + self._log_var.sum(-1) + self._mean.shape[-1] * _LOG_2PI)

    def log_prob(self, z: Tensor) -> Tensor:
        return torch.logsumexp(joint_log_prob(self, z), dim=-1)


def is_mixture(dist: Distribution) -> bool:
    return isinstance(dist, MixtureSameFamily)


def joint_log_prob(mixture: MixtureSameFamily, z: Tensor) -> Tensor:
    """log p(z, u = k) = log π_k + log p(z | u = k) for every component k: ``[..., K]``."""
    if isinstance(mixture, DiagonalGaussianMixture):
        component_log_prob = mixture.component_log_prob(z)
    else:
        component_log_prob = mixture.component_distribution.log_prob(z.unsqueeze(-1 - len(mixture.event_shape)))
    return component_log_prob + torch.log_softmax(mixture.mixture_distribution.logits, dim=-1)


def responsibilities(mixture: MixtureSameFamily, z: Tensor) -> Tensor:
    """log p(u = k | z) for every component k: ``[..., K]``.

    This is VaDE's Bayes-optimal q(u|x) evaluated at z (§3, following Falck et al., 2021).
    """
    return torch.log_softmax(joint_log_prob(mixture, z), dim=-1)
