"""`rademacher`: App. C's mixture prior whose component u is read off x by a fixed random hash.

A Rademacher matrix A ∈ {±1}^{N×d_x} (Eq. C.1), drawn from the model seed and never trained, projects x
to h = A·x; the signs give N bits b_i = ½(sign(h_i) + 1) (Eq. C.2) and u is the one-hot of the code
Σ 2^i b_i (Eq. C.3), one of K = 2^N components. q(u|x) is that one-hot, so the model is VaDE with the
Bayes-optimal q(u|x) replaced by the hash: ELBO = E_q log p(x|z) - KL[q(z|x) || p(z|u(x))] + log p(u(x)).
Each component p(z|u) is a learnt diagonal Gaussian (Xavier-uniform initialised, as `gmm`); p(u) is
uniform. The hash acts on x as the model sees it (after any standardisation of the data set).

Use it as VaDE's prior: ``{"name": "vade", "prior": {"name": "rademacher", "bits": 7}}`` (App. C: N = 7,
K = 128). A value of exactly 0 in h counts as a 0 bit (sign(0) = 0 gives b = ½, which Eq. C.2 leaves open).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from ica.plugin import (
    BuildContext,
    diagonal_normal,
    DiagonalGaussianMixture,
    Field,
    hookimpl,
    Options,
    column_major,
    seed_matmul,
    xavier_uniform_,
)


class RademacherOptions(Options):
    """Number of hash bits N (K = 2^N components)."""

    bits: int = Field(7, ge=1, le=16, description="N: bits of the hash; the mixture has K = 2^N components.")


class RademacherPrior(nn.Module):
    """p(z) = Σ_u p(u) N(z; μ_u, diag σ²_u) with u = hash(x) given by a fixed Rademacher projection."""

    conditional = False  # u does not come from the data set: the prior computes it from x (`assign`)
    projection: Tensor
    powers: Tensor

    def __init__(self, options: RademacherOptions, ctx: BuildContext):
        super().__init__()
        k, d, n = 2**options.bits, ctx.latent_dim, options.bits
        d_x = math.prod(ctx.x_shape) if ctx.x_shape else 1
        self.components = k
        # Stored d-major (`column_major`): the mixture's log-density then runs along K (DiagonalGaussianMixture).
        self.mean = nn.Parameter(column_major(xavier_uniform_(torch.empty(ctx.seeds, k, d))))
        self.log_var = nn.Parameter(column_major(xavier_uniform_(torch.empty(ctx.seeds, k, d))))
        signs = torch.randint(0, 2, (ctx.seeds, d_x, n)).float() * 2 - 1  # from the seed's init RNG
        self.register_buffer("projection", signs)  # Aᵀ, [S, d_x, N]: a buffer, so never trained
        self.register_buffer("powers", (2 ** torch.arange(n)).expand(ctx.seeds, n).clone())

    def assign(self, x: Tensor) -> Tensor:
        """u(x) of Eq. C.3 as an integer code ``[S, B]`` for x ``[S, B, *x_shape]``."""
        h = torch.bmm(x.flatten(2).to(self.projection.dtype), self.projection)  # [S, B, N]
        bits = (h > 0).long()
        return (bits * self.powers.unsqueeze(1)).sum(-1)

    def log_weights(self) -> Tensor:
        """log p(u) for every component, ``[S, K]`` (uniform)."""
        return torch.full(self.mean.shape[:2], -math.log(self.components), device=self.mean.device)

    def component_parameters(self) -> tuple[Tensor, Tensor]:
        """Means and log-variances of p(z|u) for every u, each ``[S, K, d_z]``."""
        return self.mean, self.log_var

    def forward(self, cond: Tensor | None = None) -> Distribution:
        if cond is None:
            logits = self.log_weights().unsqueeze(1)
            return DiagonalGaussianMixture(logits, self.mean.unsqueeze(1), self.log_var.unsqueeze(1))
        return diagonal_normal(seed_matmul(cond, self.mean), seed_matmul(cond, self.log_var))


def build(options: RademacherOptions, ctx: BuildContext) -> RademacherPrior:
    """Rademacher-hashed mixture prior (App. C)."""
    return RademacherPrior(options, ctx)


@hookimpl
def ica_register(register):
    register(
        "prior",
        "rademacher",
        RademacherOptions,
        build,
        description="App. C: mixture prior, u = fixed random-projection hash of x.",
    )
