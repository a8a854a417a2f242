"""`convnet`: the convolutional encoder and decoder of App. A, Table A.3, seed-batched.

For a w×w×c image (w divisible by 4: MNIST's 28, CIFAR10's and SVHN's 32, the 8×8 digits):

- encoder: [conv 3×3 + BatchNorm + ELU] × 2 (8, 16 channels), max-pool, [conv 3×3 + BN + ELU] × 2
  (32, 64), max-pool, conv with a w/4 filter and no padding to 1×1×64 (no activation, as in the table),
  FC 64 + LeakyReLU(0.1), then the mean and log-variance heads (one `SeedLinear` of 2·d_z outputs,
  split in two: the same parameters and initialisation as two FC d_z heads). When the encoder is
  conditioned on u (iVAE), the one-hot u is concatenated to the 64 flattened features before FC 64;
- decoder: FC 64 + LeakyReLU(0.1), FC 64, read as a 1×1×64 image, transposed conv (w/4 filter) to
  w/4×w/4×64, transposed conv (4×4, stride 2, padding 1) to w/2×w/2×32, transposed conv (3×3,
  padding 1) to 16 channels, transposed conv (4×4, stride 2, padding 1) to w×w×8, each followed by
  BatchNorm + ELU, then conv 3×3 (padding 1) to c·multiplier channels, no activation.

Every layer holds S seeds side by side on the channel axis (`ica.nn.conv`'s grouped layout), so the
S networks run as one grouped convolution and batch-norm keeps statistics per seed.
"""

from __future__ import annotations

import torch
from pydantic import PositiveInt
from torch import Tensor, nn

from ica.plugin import (
    BuildContext,
    Field,
    from_grouped,
    grouped_flatten,
    grouped_unflatten,
    hookimpl,
    Options,
    SeedBatchNorm2d,
    SeedConv2d,
    SeedConvTranspose2d,
    SeedLinear,
    SpecError,
    to_grouped,
)


class ConvNetOptions(Options):
    """Channel widths of Table A.3 (the defaults are the table's)."""

    channels: tuple[PositiveInt, PositiveInt, PositiveInt, PositiveInt] = Field(
        (8, 16, 32, 64),
        description="Channels of the four 3×3 convolutions (two before each max-pool); the decoder's transposed "
        "convolutions use them in reverse.",
    )
    features: PositiveInt = Field(64, description="Channels of the w/4-filter convolution to 1×1 (decoder: FC 64).")
    hidden: PositiveInt = Field(64, description="Width of the fully connected layer with LeakyReLU.")
    negative_slope: float = Field(0.1, gt=0, lt=1, description="Slope of the LeakyReLU after the hidden FC layer.")


def square_image_width(ctx: BuildContext, where: str) -> tuple[int, int]:
    """``(channels, w)`` of a square image whose width is divisible by 4, or a `SpecError` saying why not."""
    shape = tuple(ctx.x_shape)
    if len(shape) != 3:
        raise SpecError(
            f"convnet needs images of shape (channels, height, width), but the data have shape {shape}; "
            "use the mlp architecture for flat data",
            where=where,
        )
    c, h, w = shape
    if h != w or w % 4 or w < 4:
        raise SpecError(
            f"convnet (Table A.3) needs square images whose width is a multiple of 4 (e.g. 8, 28, 32), got {h}×{w}",
            where=where,
        )
    return c, w


def conv_bn_elu(conv: nn.Module, channels: int, seeds: int) -> list[nn.Module]:
    return [conv, SeedBatchNorm2d(channels, seeds), nn.ELU()]


class ConvNetEncoder(nn.Module):
    """q(z | x[, u]) of Table A.3."""

    def __init__(self, options: ConvNetOptions, ctx: BuildContext):
        super().__init__()
        c, w = square_image_width(ctx, "encoder")
        s = ctx.seeds
        c1, c2, c3, c4 = options.channels
        self.seeds, self.cond_dim = s, ctx.cond_dim
        self.features = nn.Sequential(
            *conv_bn_elu(SeedConv2d(c, c1, 3, s, padding=1), c1, s),
            *conv_bn_elu(SeedConv2d(c1, c2, 3, s, padding=1), c2, s),
            nn.MaxPool2d(2),
            *conv_bn_elu(SeedConv2d(c2, c3, 3, s, padding=1), c3, s),
            *conv_bn_elu(SeedConv2d(c3, c4, 3, s, padding=1), c4, s),
            nn.MaxPool2d(2),
            SeedConv2d(c4, options.features, w // 4, s),
        )
        self.hidden = nn.Sequential(
            SeedLinear(options.features + ctx.cond_dim, options.hidden, s), nn.LeakyReLU(options.negative_slope)
        )
        self.heads = SeedLinear(options.hidden, 2 * ctx.latent_dim, s)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = grouped_flatten(self.features(to_grouped(x)), self.seeds)
        if self.cond_dim:
            if cond is None:
                raise ValueError("this encoder was built to be conditioned on u, but no u was given")
            h = torch.cat([h, cond], dim=-1)
        mean, log_var = self.heads(self.hidden(h)).chunk(2, dim=-1)
        return mean, log_var


class ConvNetDecoder(nn.Module):
    """p(x | z)'s parameters of Table A.3: ``[S, B, d_z] -> [S, B, c·multiplier, w, w]``."""

    def __init__(self, options: ConvNetOptions, ctx: BuildContext):
        super().__init__()
        c, w = square_image_width(ctx, "decoder")
        s = ctx.seeds
        c1, c2, c3, c4 = options.channels
        self.seeds, self.fc_shape = s, (options.features, 1, 1)  # FC 64 read as a 1×1×64 image
        self.fc = nn.Sequential(
            SeedLinear(ctx.latent_dim, options.hidden, s),
            nn.LeakyReLU(options.negative_slope),
            SeedLinear(options.hidden, options.features, s),
        )
        self.deconv = nn.Sequential(
            *conv_bn_elu(SeedConvTranspose2d(options.features, c4, w // 4, s), c4, s),
            *conv_bn_elu(SeedConvTranspose2d(c4, c3, 4, s, stride=2, padding=1), c3, s),
            *conv_bn_elu(SeedConvTranspose2d(c3, c2, 3, s, padding=1), c2, s),
            *conv_bn_elu(SeedConvTranspose2d(c2, c1, 4, s, stride=2, padding=1), c1, s),
            SeedConv2d(c1, c * ctx.out_multiplier, 3, s, padding=1),
        )

    def forward(self, z: Tensor) -> Tensor:
        return from_grouped(self.deconv(grouped_unflatten(self.fc(z), self.fc_shape)), self.seeds)


def build_encoder(options: ConvNetOptions, ctx: BuildContext) -> ConvNetEncoder:
    """Convolutional encoder (Table A.3)."""
    return ConvNetEncoder(options, ctx)


def build_decoder(options: ConvNetOptions, ctx: BuildContext) -> ConvNetDecoder:
    """Transposed-convolutional decoder (Table A.3)."""
    return ConvNetDecoder(options, ctx)


@hookimpl
def ica_register(register):
    register(
        "encoder",
        "convnet",
        ConvNetOptions,
        build_encoder,
        description="Convolutional encoder with batch-norm, for w×w images, w divisible by 4 (Table A.3).",
    )
    register(
        "decoder",
        "convnet",
        ConvNetOptions,
        build_decoder,
        description="Transposed-convolutional decoder with batch-norm, mirrored (Table A.3).",
    )
