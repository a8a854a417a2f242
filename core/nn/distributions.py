"""Small helpers over ``torch.distributions`` shared by priors and models.

Priors return ordinary distributions; what VaDE needs from a mixture (its responsibilities) is read
off any ``MixtureSameFamily``, so third-party mixture priors work with it unchanged.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution, Independent, MixtureSameFamily, Normal

from ica.nn.seeding import seed_rand, seed_randn

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
        super().__init__(
            Categorical(logits=logits, validate_args=False), diagonal_normal(mean, log_var), validate_args=False
        )
        self._mean, self._log_var = mean, log_var

    def component_log_prob(self, z: Tensor) -> Tensor:
        """log N(z; μ_k, diag σ²_k) for every k: ``[..., K]``.

        Formed as ``[..., d, K]``, components innermost: with the parameters stored d-major
        (`ica.nn.layers.column_major`, as the built-in priors store them) the compiled step's kernels then
        run along K rather than along a handful of latent dimensions, 3x faster for K = 40, d = 5.
        """
        mean, log_var = self._mean.transpose(-1, -2), self._log_var.transpose(-1, -2)
        scaled = (z.unsqueeze(-1) - mean) * torch.exp(-0.5 * log_var)
        return -0.5 * (scaled.square().sum(-2) + log_var.sum(-2) + mean.shape[-2] * _LOG_2PI)

    def log_prob(self, z: Tensor) -> Tensor:
        return torch.logsumexp(joint_log_prob(self, z), dim=-1)


def is_mixture(dist: Distribution) -> bool:
    return isinstance(dist, MixtureSameFamily)


def gives_mixture(prior: Callable[[None], Distribution]) -> bool:
    """Whether the unconditional ``prior`` gives a mixture (``prior(None)``), for models that need one. Built on
    the meta device (memory estimates: shapes only) it is taken on trust and the real build checks it:
    arithmetic on meta tensors runs torch's Python meta kernels, whose first call imports torch._dynamo, about
    a second of every process's start-up."""
    if torch.get_default_device().type == "meta":
        return True
    return is_mixture(prior(None))


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


def seed_sample(dist: Distribution, n: int) -> tuple[Tensor, Tensor | None]:
    """``n`` draws per seed of a seed-batched prior, from each seed's own generator (`seed_rand`, `seed_randn`).

    ``dist`` is a diagonal Gaussian with batch shape ``[S, n]`` (a conditional prior given u) or a mixture of
    diagonal Gaussians with batch shape ``[S, 1]`` (every mixture prior of `ica`): returns z ``[S, n, d]`` and,
    for a mixture, the component each draw came from ``[S, n]`` (inverse CDF of the weights at a uniform).
    Anything else is a TypeError: its draws could not be made per seed.
    """
    if (
        isinstance(dist, MixtureSameFamily)
        and (normal := _diagonal(dist.component_distribution)) is not None
        and len(dist.batch_shape) == 2
        and dist.batch_shape[1] == 1
    ):
        weights = torch.softmax(dist.mixture_distribution.logits, -1)
        seeds, k = weights.shape[0], weights.shape[-1]
        cdf = weights.reshape(seeds, k).cumsum(-1)
        uniform = seed_rand(seeds, (n,), cdf.device)
        component = torch.searchsorted(cdf, uniform.contiguous()).clamp_(max=k - 1)
        loc, scale = (
            t.expand(*dist.batch_shape, k, t.shape[-1]).reshape(seeds, k, -1) for t in (normal.loc, normal.scale)
        )
        index = component.unsqueeze(-1).expand(-1, -1, loc.shape[-1])
        eps = seed_randn(seeds, (n, loc.shape[-1]), loc.device)
        return loc.gather(1, index) + scale.gather(1, index) * eps, component
    if (normal := _diagonal(dist)) is not None and len(dist.batch_shape) == 2 and dist.batch_shape[1] == n:
        return normal.loc + normal.scale * seed_randn(
            normal.loc.shape[0], tuple(normal.loc.shape[1:]), normal.loc.device
        ), None
    raise TypeError(f"cannot draw per seed from a {type(dist).__name__} with batch shape {tuple(dist.batch_shape)}")


def _diagonal(dist: Distribution) -> Normal | None:
    """The Normal of a diagonal Gaussian (``Independent(Normal, 1)``); None for any other distribution."""
    if isinstance(dist, Independent) and isinstance(dist.base_dist, Normal) and dist.reinterpreted_batch_ndims == 1:
        return dist.base_dist
    return None
