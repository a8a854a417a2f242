"""`quantised`: a VQ-VAE's codebook read as the mixture it is in disguise (App. B).

p(z) = (1/K) Σ_k N(z; e_k, I): K codebook vectors e_k ∈ R^d as means, identity covariances, uniform
weights. Its responsibilities p(k | z) = softmax_k(-||z - e_k||² / 2) are the relaxed posterior q(k|x)
of Sønderby et al. (2017) when z is the encoder's output, and their argmax is the nearest codebook
entry, the hard VQ-VAE's one-hot posterior (van den Oord et al., 2017).

The codebook ``[S, K, d]`` is learnt by gradient descent (the relaxed VQ-VAE), or, once a model calls
`QuantisedPrior.learn_by_ema`, held in buffers and learnt by exponential moving averages of the
encoder outputs assigned to each code (the hard VQ-VAE; van den Oord et al., 2017, App. A.1).

Initialisation: entries uniform in ±``init_bound`` (default 1/K, as van den Oord et al.'s codebook is
commonly initialised), per seed from the seed's own RNG.
"""

from __future__ import annotations

import torch
from pydantic import PositiveInt
from torch import Tensor, nn

from ica.plugin import BuildContext, DiagonalGaussianMixture, Field, hookimpl, Options


class QuantisedOptions(Options):
    """Size and initial spread of the codebook."""

    codebook_size: PositiveInt = Field(512, description="Number of codebook vectors K (mixture components).")
    init_bound: float | None = Field(
        None, gt=0, description="Codebook entries start uniform in ±init_bound; null means 1/K."
    )


class QuantisedPrior(nn.Module):
    """(1/K) Σ_k N(z; e_k, I) with a learnt codebook ``e`` of shape ``[S, K, d]``."""

    conditional = False
    codebook: Tensor  # a Parameter, or a buffer once `learn_by_ema` is called
    ema_count: Tensor
    ema_sum: Tensor

    def __init__(self, options: QuantisedOptions, ctx: BuildContext):
        super().__init__()
        k, d = options.codebook_size, ctx.latent_dim
        bound = options.init_bound or 1.0 / k
        self.codebook = nn.Parameter(torch.empty(ctx.seeds, k, d).uniform_(-bound, bound))
        self.ema_decay: float | None = None
        self.ema_epsilon = 0.0

    @property
    def components(self) -> int:
        return int(self.codebook.shape[1])

    def forward(self, cond=None) -> DiagonalGaussianMixture:
        # Batch shape [S, 1] (broadcasts over each seed's examples), event shape [d].
        s, k, d = self.codebook.shape
        mean = self.codebook.unsqueeze(1)
        log_var = mean.new_zeros(1, 1, 1, 1).expand(s, 1, k, d)  # identity covariance, nothing to learn
        logits = mean.new_zeros(1, 1, 1).expand(s, 1, k)  # uniform weights 1/K
        return DiagonalGaussianMixture(logits, mean, log_var)

    # ----------------------------------------------------------------------- hard VQ-VAE: EMA
    def learn_by_ema(self, decay: float, epsilon: float) -> None:
        """Hold the codebook in buffers and learn it by exponential moving averages (the hard VQ-VAE).

        Buffers (all with the seed axis, so each seed keeps its own averages, like batch-norm statistics):
        ``ema_count`` [S, K], the moving average of how many encoder outputs each code was given, and
        ``ema_sum`` [S, K, d], of their sum. Both start as one pseudo-observation at the initial codebook
        (count 1, sum e_k), so a code that is never chosen stays where it started instead of being divided
        by a near-zero count.
        """
        if self.ema_decay is not None:
            return
        codebook = self.codebook.detach().clone()
        del self.codebook
        self.register_buffer("codebook", codebook)
        self.register_buffer("ema_count", torch.ones(codebook.shape[:2]))
        self.register_buffer("ema_sum", codebook.clone())
        self.ema_decay, self.ema_epsilon = float(decay), float(epsilon)

    @torch.no_grad()
    def ema_update(self, z: Tensor, codes: Tensor) -> None:
        """One EMA step from encoder outputs ``z`` [S, N, d] and their nearest codes ``codes`` [S, N].

        With n_k the number of outputs given code k and m_k their sum (van den Oord et al., 2017, Eqs. 6-8):
        N_k ← γ N_k + (1-γ) n_k,  M_k ← γ M_k + (1-γ) m_k,  e_k = M_k / Ñ_k, where the cluster size is
        Laplace-smoothed, Ñ_k = (N_k + ε) / (Σ_j N_j + K ε) · Σ_j N_j, only for the division (the stored
        N_k stay the plain moving averages).
        """
        if self.ema_decay is None:
            raise RuntimeError("ema_update needs learn_by_ema() first: this codebook is learnt by gradients")
        gamma, eps, k = self.ema_decay, self.ema_epsilon, self.components
        one_hot = torch.nn.functional.one_hot(codes, k).to(z.dtype)  # [S, N, K]
        self.ema_count.mul_(gamma).add_(one_hot.sum(1), alpha=1 - gamma)
        self.ema_sum.mul_(gamma).add_(torch.bmm(one_hot.transpose(1, 2), z), alpha=1 - gamma)
        total = self.ema_count.sum(1, keepdim=True)
        smoothed = (self.ema_count + eps) / (total + k * eps) * total
        self.codebook.copy_(self.ema_sum / smoothed.unsqueeze(-1))


def build(options: QuantisedOptions, ctx: BuildContext) -> QuantisedPrior:
    """The VQ-VAE codebook as a uniform mixture of identity-covariance Gaussians (App. B)."""
    return QuantisedPrior(options, ctx)


@hookimpl
def ica_register(register):
    register(
        "prior",
        "quantised",
        QuantisedOptions,
        build,
        description="VQ-VAE codebook as a mixture: (1/K) Σ_k N(z; e_k, I) (App. B).",
    )
