"""`conditional`: the iVAE prior p(z|u), a diagonal Gaussian whose mean and log-variance depend on u.

Eq. 1 with k = 2: the natural parameters are functions of u. For a discrete u they are a lookup table (one row
per value of u) or an MLP of one-hot u. For a continuous u ``[.., d_u]`` (position, speed, time) they are an MLP
of u itself, whatever ``parameterisation`` says (a table has no row for a value it has not seen), as in
Khemakhem et al.'s own code, where p(z|u) is a Gaussian whose log-variance is an MLP of the auxiliary variable
(ilkhem/iVAE, ``models/nets.py``, class ``iVAE``: ``self.logl = MLP(aux_dim, latent_dim, ...)``); here the mean
is learnt too, as for a discrete u. Both the mean and the variance are learnt.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import PositiveInt
from torch import Tensor, nn
from torch.distributions import Distribution

from ica.plugin import (
    BuildContext,
    DataError,
    diagonal_normal,
    Field,
    hookimpl,
    Options,
    SeedMLP,
    column_major,
    seed_matmul,
    xavier_uniform_,
)


class ConditionalOptions(Options):
    """How p(z|u)'s parameters depend on u."""

    parameterisation: Literal["table", "mlp"] = Field(
        "table",
        description="For a discrete u: 'table', a learnt mean and log-variance per value of u; 'mlp', an MLP of "
        "one-hot u. A continuous u always goes through an MLP of u itself.",
    )
    hidden: list[PositiveInt] = Field(
        [50],
        description="Hidden widths of the MLP (parameterisation 'mlp', or a continuous u, for which Khemakhem et "
        "al. use [50, 50]).",
    )


class ConditionalPrior(nn.Module):
    """p(z|u) = N(μ(u), diag σ²(u)) for a discrete u, given one-hot."""

    conditional = True

    def __init__(self, options: ConditionalOptions, ctx: BuildContext):
        super().__init__()
        if not ctx.n_u:
            raise DataError("the conditional prior needs u, and the data set provides none", where="prior")
        self.n_u, self.latent_dim = ctx.n_u, ctx.latent_dim
        self.parameterisation = options.parameterisation
        if options.parameterisation == "table":
            # Column-major where d_z < n_u: the layout `seed_matmul`'s products run fastest with.
            table = column_major if ctx.latent_dim < ctx.n_u else (lambda t: t)
            self.mean = nn.Parameter(table(xavier_uniform_(torch.empty(ctx.seeds, ctx.n_u, ctx.latent_dim))))
            self.log_var = nn.Parameter(table(xavier_uniform_(torch.empty(ctx.seeds, ctx.n_u, ctx.latent_dim))))
        else:
            self.net = SeedMLP(ctx.n_u, options.hidden, 2 * ctx.latent_dim, ctx.seeds)

    def parameters_for(self, cond: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance for one-hot u ``[S, B, n_u]``."""
        if self.parameterisation == "table":
            return seed_matmul(cond, self.mean), seed_matmul(cond, self.log_var)
        mean, log_var = self.net(cond).chunk(2, dim=-1)
        return mean, log_var

    def component_parameters(self) -> tuple[Tensor, Tensor]:
        """Means and log-variances of p(z|u) for every value of u, each ``[S, n_u, d_z]`` (for L, Eq. 2)."""
        if self.parameterisation == "table":
            return self.mean, self.log_var
        seeds = next(self.parameters()).shape[0]
        every_u = torch.eye(self.n_u, device=next(self.parameters()).device).expand(seeds, -1, -1)
        return self.parameters_for(every_u)

    def forward(self, cond: Tensor | None = None) -> Distribution:
        if cond is None:
            raise ValueError("the conditional prior p(z|u) needs u")
        return diagonal_normal(*self.parameters_for(cond))


class ContinuousConditionalPrior(nn.Module):
    """p(z|u) = N(μ(u), diag σ²(u)) for a continuous u ``[S, B, d_u]``: μ and log σ² from one MLP of u.

    It has no finite set of components, so L (Eq. 2) is not built from it (no ``component_parameters``).
    """

    conditional = True

    def __init__(self, options: ConditionalOptions, ctx: BuildContext):
        super().__init__()
        if not ctx.u_dim:
            raise DataError("the conditional prior needs u, and the data set provides none", where="prior")
        self.u_dim, self.latent_dim = ctx.u_dim, ctx.latent_dim
        self.net = SeedMLP(ctx.u_dim, options.hidden, 2 * ctx.latent_dim, ctx.seeds)

    def parameters_for(self, cond: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance for u ``[S, B, d_u]``."""
        if cond.shape[-1] != self.u_dim:
            raise ValueError(f"u has {cond.shape[-1]} columns; this prior was built for d_u = {self.u_dim}")
        mean, log_var = self.net(cond).chunk(2, dim=-1)
        return mean, log_var

    def forward(self, cond: Tensor | None = None) -> Distribution:
        if cond is None:
            raise ValueError("the conditional prior p(z|u) needs u")
        return diagonal_normal(*self.parameters_for(cond))


def build(options: ConditionalOptions, ctx: BuildContext) -> ConditionalPrior | ContinuousConditionalPrior:
    """Conditional Gaussian prior p(z|u) (iVAE): per value of a discrete u, or an MLP of a continuous one."""
    if ctx.u_dim is not None:
        return ContinuousConditionalPrior(options, ctx)
    return ConditionalPrior(options, ctx)


@hookimpl
def ica_register(register):
    register(
        "prior",
        "conditional",
        ConditionalOptions,
        build,
        description="iVAE's p(z|u): Gaussian per u (Eq. 1), or an MLP of a continuous u.",
    )
