"""Small helpers over ``torch.distributions`` shared by priors and models.

Priors return ordinary distributions; what VaDE needs from a mixture (its responsibilities) is read
off any ``MixtureSameFamily``, so third-party mixture priors work with it unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, MixtureSameFamily, Normal


def diagonal_normal(mean: Tensor, log_var: Tensor) -> Independent:
    """N(mean, diag(exp(log_var))) with the last axis as the event."""
    return Independent(Normal(mean, torch.exp(0.5 * log_var), validate_args=False), 1, validate_args=False)


def xavier_uniform_(tensor: Tensor) -> Tensor:
    """Xavier/Glorot-uniform initialisation of each seed's ``[rows, cols]`` slice (§4.1's GMM init)."""
    with torch.no_grad():
        for block in tensor.reshape(-1, *tensor.shape[-2:]):
            torch.nn.init.xavier_uniform_(block)
    return tensor


def is_mixture(dist: Distribution) -> bool:
    return isinstance(dist, MixtureSameFamily)


def responsibilities(mixture: MixtureSameFamily, z: Tensor) -> Tensor:
    """log p(u = k | z) for every component k: ``[..., K]``.

    This is VaDE's Bayes-optimal q(u|x) evaluated at z (§3, following Falck et al., 2021).
    """
    component_log_prob = mixture.component_distribution.log_prob(z.unsqueeze(-1 - len(mixture.event_shape)))
    log_weights = torch.log_softmax(mixture.mixture_distribution.logits, dim=-1)
    return torch.log_softmax(component_log_prob + log_weights, dim=-1)
