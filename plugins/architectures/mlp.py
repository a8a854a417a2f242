"""`mlp`: fully connected encoder and decoder (the synthetic-data networks of §4.1).

The paper's synthetic models use "3-layer MLPs with LeakyReLU": three linear maps, so two hidden
layers; the hidden width is not stated, and 50 (as in the public iVAE code's defaults for TCL) is ours.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import PositiveInt
from torch import Tensor, nn

from ica.nn import SeedMLP
from ica.plugin import Field, Options, hookimpl
from ica.protocols import BuildContext


class MLPOptions(Options):
    """Hidden widths and activation of a fully connected network."""

    hidden: list[PositiveInt] = Field([50, 50], description="Widths of the hidden layers, input side first.")
    activation: Literal["leaky_relu", "relu", "elu", "tanh", "gelu", "silu"] = Field(
        "leaky_relu", description="Activation between layers (none after the last)."
    )
    negative_slope: float = Field(0.2, gt=0, lt=1, description="Slope of leaky_relu for negative inputs.")


class MLPEncoder(nn.Module):
    """q(z | x[, u]): flattened x (and one-hot u when conditioned) to the posterior mean and log-variance."""

    def __init__(self, options: MLPOptions, ctx: BuildContext):
        super().__init__()
        in_features = math.prod(ctx.x_shape) + ctx.cond_dim
        self.cond_dim = ctx.cond_dim
        self.net = SeedMLP(
            in_features, options.hidden, 2 * ctx.latent_dim, ctx.seeds, options.activation, options.negative_slope
        )

    def forward(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = x.flatten(2)
        if self.cond_dim:
            if cond is None:
                raise ValueError("this encoder was built to be conditioned on u, but no u was given")
            h = torch.cat([h, cond], dim=-1)
        mean, log_var = self.net(h).chunk(2, dim=-1)
        return mean, log_var


class MLPDecoder(nn.Module):
    """p(x | z)'s parameters from z, through the hidden widths in reverse (a mirrored encoder)."""

    def __init__(self, options: MLPOptions, ctx: BuildContext):
        super().__init__()
        first, *rest = ctx.x_shape or (1,)
        self.out_shape = (first * ctx.out_multiplier, *rest)
        self.net = SeedMLP(
            ctx.latent_dim,
            list(reversed(options.hidden)),
            math.prod(self.out_shape),
            ctx.seeds,
            options.activation,
            options.negative_slope,
        )

    def forward(self, z: Tensor) -> Tensor:
        out = self.net(z)
        return out.reshape(*out.shape[:2], *self.out_shape)


def build_encoder(options: MLPOptions, ctx: BuildContext) -> MLPEncoder:
    """Fully connected encoder."""
    return MLPEncoder(options, ctx)


def build_decoder(options: MLPOptions, ctx: BuildContext) -> MLPDecoder:
    """Fully connected decoder."""
    return MLPDecoder(options, ctx)


@hookimpl
def ica_register(register):
    register("encoder", "mlp", MLPOptions, build_encoder, description="Fully connected encoder (§4.1).")
    register("decoder", "mlp", MLPOptions, build_decoder, description="Fully connected decoder, mirrored (§4.1).")
