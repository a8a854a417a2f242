"""An example third-party `ica` plugin: a conditional Laplace prior p(z|u) with learnt location and scale.

It is written exactly as an outside author would: it imports only `ica.plugin`, the surface for plugin authors,
and its package declares ``[project.entry-points.ica] laplace = "ica_example_laplace"``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Independent, Laplace

from ica.plugin import BuildContext, Field, Options, SpecError, hookimpl


class LaplaceOptions(Options):
    """Initial scale of every component."""

    init_scale: float = Field(1.0, gt=0, description="Initial scale b of each Laplace(μ_u, b_u).")


class ConditionalLaplace(nn.Module):
    """p(z|u) = Π_i Laplace(z_i; μ_i(u), b_i(u)), one row of parameters per value of u."""

    conditional = True

    def __init__(self, options: LaplaceOptions, ctx: BuildContext):
        super().__init__()
        if not ctx.n_u:  # one row per value of u: a continuous u (ctx.u_dim) has none
            raise SpecError("the laplace prior needs a discrete u", where="prior")
        shape = (ctx.seeds, ctx.n_u, ctx.latent_dim)
        self.loc = nn.Parameter(0.1 * torch.randn(shape))
        self.log_scale = nn.Parameter(torch.full(shape, math.log(options.init_scale)))

    def forward(self, cond=None):
        loc = torch.bmm(cond, self.loc)
        scale = torch.bmm(cond, self.log_scale).exp()
        return Independent(Laplace(loc, scale, validate_args=False), 1, validate_args=False)


@hookimpl
def ica_register(register):
    register(
        "prior",
        "laplace",
        LaplaceOptions,
        lambda options, ctx: ConditionalLaplace(options, ctx),
        description="Conditional Laplace p(z|u) (example third-party plugin).",
    )
