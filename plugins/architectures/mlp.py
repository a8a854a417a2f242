"""`mlp`: fully connected encoder and decoder (the synthetic-data networks of §4.1, and Table A.2).

The paper's synthetic models use "3-layer MLPs with LeakyReLU": three linear maps, so two hidden
layers; the hidden width is not stated, and 50 (as in the public iVAE code's defaults for TCL) is ours.

The image MLP of App. A, Table A.2 (encoder 512-384-Dropout(0.1)-256-256, decoder mirrored
256-256-Dropout(0.1)-384-512, LeakyReLU(0.1) throughout) is::

    {"name": "mlp", "hidden": [512, 384, 256, 256], "negative_slope": 0.1, "dropout": 0.1, "dropout_after": [2]}

Dropout uses `ica.nn.layers.SeedDropout`, whose masks come from each seed's own generator, so a seed trained
beside others sees exactly the masks it would see alone.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import PositiveInt, model_validator
from torch import Tensor, nn

from ica.plugin import BuildContext, Field, hookimpl, Options, SeedDropout, SeedMLP


class MLPOptions(Options):
    """Hidden widths, activation and dropout of a fully connected network."""

    hidden: list[PositiveInt] = Field([50, 50], description="Widths of the hidden layers, input side first.")
    activation: Literal["leaky_relu", "relu", "elu", "tanh", "gelu", "silu"] = Field(
        "leaky_relu", description="Activation between layers (none after the last)."
    )
    negative_slope: float = Field(0.2, gt=0, lt=1, description="Slope of leaky_relu for negative inputs.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout probability at the positions in dropout_after.")
    dropout_after: list[PositiveInt] = Field(
        [],
        description="1-based indices of the encoder's hidden layers followed by dropout (after their activation); "
        "the decoder mirrors them: with n hidden layers, encoder index i is decoder index n - i (0: on z).",
    )

    @model_validator(mode="after")
    def _dropout_positions_exist(self) -> "MLPOptions":
        n = len(self.hidden)
        bad = [i for i in self.dropout_after if not 1 <= i <= n]
        if bad:
            raise ValueError(f"dropout_after {bad} must be hidden-layer indices between 1 and {n} (len(hidden))")
        if len(set(self.dropout_after)) != len(self.dropout_after):
            raise ValueError(f"dropout_after {self.dropout_after} names a layer twice")
        return self


def dropout_mlp(
    in_features: int, hidden: list[int], out_features: int, seeds: int, options: MLPOptions, after: list[int]
) -> SeedMLP:
    """A `SeedMLP` with `SeedDropout` after the activation of each hidden layer in ``after`` (0: on the input).

    Without dropout the module is exactly a plain `SeedMLP` (same parameter names, same initialisation).
    """
    mlp = SeedMLP(in_features, hidden, out_features, seeds, options.activation, options.negative_slope)
    if options.dropout == 0 or not after:
        return mlp
    layers = list(mlp.net)  # [Linear, act, Linear, act, ..., Linear]: hidden layer i's activation is at 2i - 1
    for i in sorted(after, reverse=True):
        layers.insert(2 * i, SeedDropout(options.dropout))
    mlp.net = nn.Sequential(*layers)
    return mlp


class MLPEncoder(nn.Module):
    """q(z | x[, u]): flattened x (and one-hot u when conditioned) to the posterior mean and log-variance."""

    def __init__(self, options: MLPOptions, ctx: BuildContext):
        super().__init__()
        in_features = math.prod(ctx.x_shape) + ctx.cond_dim
        self.cond_dim = ctx.cond_dim
        self.net = dropout_mlp(
            in_features, list(options.hidden), 2 * ctx.latent_dim, ctx.seeds, options, list(options.dropout_after)
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
    """p(x | z)'s parameters from z, through the hidden widths in reverse (a mirrored encoder).

    Dropout mirrors too: the encoder's gap between hidden layers i and i + 1 is the decoder's gap between
    its hidden layers n - i and n - i + 1, so encoder index i becomes decoder index n - i (Table A.2:
    encoder 512-384-drop-256-256, decoder 256-256-drop-384-512). Encoder index n (dropout before the
    heads) mirrors to dropout on z itself.
    """

    def __init__(self, options: MLPOptions, ctx: BuildContext):
        super().__init__()
        first, *rest = ctx.x_shape or (1,)
        self.out_shape = (first * ctx.out_multiplier, *rest)
        n = len(options.hidden)
        self.net = dropout_mlp(
            ctx.latent_dim,
            list(reversed(options.hidden)),
            math.prod(self.out_shape),
            ctx.seeds,
            options,
            [n - i for i in options.dropout_after],
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
    register("encoder", "mlp", MLPOptions, build_encoder, description="Fully connected encoder (§4.1, Table A.2).")
    register(
        "decoder", "mlp", MLPOptions, build_decoder, description="Fully connected decoder, mirrored (§4.1, Table A.2)."
    )
