"""`gmm`: VaDE's learnt Gaussian-mixture prior p(z) = Σ_u p(u) N(z; μ_u, diag σ²_u).

§4.1: 40 components, means and log-variances Xavier-uniform initialised; mixture weights are learnt
through a softmax of free logits (initially uniform).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution

from ica.plugin import BuildContext, DiagonalGaussianMixture, Field, hookimpl, Options, column_major, xavier_uniform_


class GMMOptions(Options):
    """Size of the mixture."""

    components: int = Field(40, ge=1, description="Number of mixture components K (the paper: 40 on TCL).")
    learn_weights: bool = Field(True, description="Learn the mixture weights p(u); else keep them uniform.")


class GMMPrior(nn.Module):
    """A mixture of K diagonal Gaussians with learnt weights, means and variances."""

    conditional = False

    def __init__(self, options: GMMOptions, ctx: BuildContext):
        super().__init__()
        k, d = options.components, ctx.latent_dim
        # Stored d-major (`column_major`): the mixture's log-density then runs along K (DiagonalGaussianMixture).
        self.mean = nn.Parameter(column_major(xavier_uniform_(torch.empty(ctx.seeds, k, d))))
        self.log_var = nn.Parameter(column_major(xavier_uniform_(torch.empty(ctx.seeds, k, d))))
        logits = torch.zeros(ctx.seeds, k)
        if options.learn_weights:
            self.logits = nn.Parameter(logits)
        else:
            self.register_buffer("logits", logits)

    def component_parameters(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Means and log-variances of p(z|u) for every u, each ``[S, K, d_z]`` (for the matrix L of Eq. 2)."""
        return self.mean, self.log_var

    def forward(self, cond=None) -> Distribution:
        # Batch shape [S, 1]: broadcasts over the examples of each seed.
        return DiagonalGaussianMixture(self.logits.unsqueeze(1), self.mean.unsqueeze(1), self.log_var.unsqueeze(1))


def build(options: GMMOptions, ctx: BuildContext) -> GMMPrior:
    """Learnt Gaussian-mixture prior (VaDE)."""
    return GMMPrior(options, ctx)


@hookimpl
def ica_register(register):
    register("prior", "gmm", GMMOptions, build, description="VaDE's learnt Gaussian mixture p(z) (§3, §4.1).")
