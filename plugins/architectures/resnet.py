"""`resnet`: the residual encoder and decoder of App. A, Table A.4, seed-batched and weight-normalised.

Encoder: conv 1×1 to 16 channels, then one downsampling block per entry of ``channels`` (32, 64, 128,
256, 512), each halving height and width, ReLU, flatten, and the mean and log-variance heads (one
`SeedLinear` of 2·d_z outputs split in two). When conditioned on u (iVAE), the one-hot u is
concatenated to the flattened features before the heads.

Decoder: FC to 512 × (the encoder's smallest spatial size: 1×1 for 28×28 and 32×32), read as an image;
upsampling blocks to 256, 128, 64, 32, 16 channels that retrace the encoder's spatial sizes exactly in
reverse; ReLU; conv 1×1 to c·multiplier channels.

Block internals (the table leaves them open; ours): pre-activation ``ReLU -> conv 3×3 -> ReLU ->
conv 3×3`` plus a 1×1-conv skip, every convolution of a block weight-normalised (Table A.4's caption).
Downsampling blocks stride their first 3×3 conv and their skip conv by 2 (padding 1 / 0), so a side n
becomes ceil(n / 2): 28 -> 14 -> 7 -> 4 -> 2 -> 1 and 32 -> 16 -> 8 -> 4 -> 2 -> 1 (the table's w/2^k,
rounded up where 28 is not a power of 2). Upsampling blocks resize with nearest-neighbour interpolation
to the recorded encoder size (7 -> 14, but 4 -> 7 too) before their first 3×3 conv and before the skip
conv. The stem and the final 1×1 conv are plain convolutions, as in the table.

Small images: sides stop at 1, so the 8×8 digits go 8 -> 4 -> 2 -> 1 -> 1 -> 1 with the default five
blocks; the last two then act on 1×1 maps (their 3×3 convs see only their centre taps), residual
blocks on a feature vector, and the decoder's first two blocks likewise. Give fewer ``channels``
(e.g. ``[32, 64, 128]``) for exactly one halving per block. Non-square images work too (each side on its own).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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
    SeedConv2d,
    SeedLinear,
    SpecError,
    to_grouped,
)

Size = tuple[int, int]


class ResNetOptions(Options):
    """Widths of Table A.4 (the defaults are the table's)."""

    channels: list[PositiveInt] = Field(
        [32, 64, 128, 256, 512],
        min_length=1,
        description="Output channels of the encoder's downsampling blocks, one block each; the decoder's "
        "upsampling blocks retrace them (and the stem) in reverse.",
    )
    stem: PositiveInt = Field(
        16, description="Channels of the encoder's first 1×1 conv (and of the decoder's last block)."
    )
    weight_norm: bool = Field(True, description="Weight-normalise every convolution inside the residual blocks.")


def halved(n: int) -> int:
    """A side after a 3×3 stride-2 conv with padding 1 (and a 1×1 stride-2 conv): ceil(n / 2)."""
    return (n - 1) // 2 + 1


def encoder_sizes(ctx: BuildContext, blocks: int, where: str) -> tuple[int, list[Size]]:
    """``(channels, [input size, size after block 1, ...])``, or a `SpecError` for data that are not images."""
    shape = tuple(ctx.x_shape)
    if len(shape) != 3:
        raise SpecError(
            f"resnet needs images of shape (channels, height, width), but the data have shape {shape}; "
            "use the mlp architecture for flat data",
            where=where,
        )
    c, h, w = shape
    sizes = [(h, w)]
    for _ in range(blocks):
        sizes.append((halved(sizes[-1][0]), halved(sizes[-1][1])))
    return c, sizes


class DownBlock(nn.Module):
    """``x -> conv(relu(conv_s2(relu(x)))) + conv1x1_s2(x)``: halves height and width."""

    def __init__(self, cin: int, cout: int, seeds: int, weight_norm: bool):
        super().__init__()
        self.conv1 = SeedConv2d(cin, cout, 3, seeds, stride=2, padding=1, weight_norm=weight_norm)
        self.conv2 = SeedConv2d(cout, cout, 3, seeds, padding=1, weight_norm=weight_norm)
        self.skip = SeedConv2d(cin, cout, 1, seeds, stride=2, weight_norm=weight_norm)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv2(F.relu(self.conv1(F.relu(x)))) + self.skip(x)


class UpBlock(nn.Module):
    """``x -> conv(relu(conv(up(relu(x))))) + conv1x1(up(x))``, ``up`` nearest resizing to ``size``."""

    def __init__(self, cin: int, cout: int, size: Size, seeds: int, weight_norm: bool):
        super().__init__()
        self.size = size
        self.conv1 = SeedConv2d(cin, cout, 3, seeds, padding=1, weight_norm=weight_norm)
        self.conv2 = SeedConv2d(cout, cout, 3, seeds, padding=1, weight_norm=weight_norm)
        self.skip = SeedConv2d(cin, cout, 1, seeds, weight_norm=weight_norm)

    def forward(self, x: Tensor) -> Tensor:
        up = F.interpolate(x, size=self.size, mode="nearest")  # relu(up(x)) = up(relu(x)): resize once
        return self.conv2(F.relu(self.conv1(F.relu(up)))) + self.skip(up)

    def extra_repr(self) -> str:
        return f"size={self.size}"


class ResNetEncoder(nn.Module):
    """q(z | x[, u]) of Table A.4."""

    def __init__(self, options: ResNetOptions, ctx: BuildContext):
        super().__init__()
        c, sizes = encoder_sizes(ctx, len(options.channels), "encoder")
        s = ctx.seeds
        widths = [options.stem, *options.channels]
        self.seeds, self.cond_dim = s, ctx.cond_dim
        self.features = nn.Sequential(
            SeedConv2d(c, options.stem, 1, s),
            *[DownBlock(a, b, s, options.weight_norm) for a, b in zip(widths[:-1], widths[1:])],
            nn.ReLU(),
        )
        flat = widths[-1] * math.prod(sizes[-1])
        self.heads = SeedLinear(flat + ctx.cond_dim, 2 * ctx.latent_dim, s)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = grouped_flatten(self.features(to_grouped(x)), self.seeds)
        if self.cond_dim:
            if cond is None:
                raise ValueError("this encoder was built to be conditioned on u, but no u was given")
            h = torch.cat([h, cond], dim=-1)
        mean, log_var = self.heads(h).chunk(2, dim=-1)
        return mean, log_var


class ResNetDecoder(nn.Module):
    """p(x | z)'s parameters of Table A.4: ``[S, B, d_z] -> [S, B, c·multiplier, h, w]``."""

    def __init__(self, options: ResNetOptions, ctx: BuildContext):
        super().__init__()
        c, sizes = encoder_sizes(ctx, len(options.channels), "decoder")
        s = ctx.seeds
        widths = [options.stem, *options.channels]
        self.seeds = s
        self.fc_shape = (widths[-1], *sizes[-1])
        self.fc = SeedLinear(ctx.latent_dim, math.prod(self.fc_shape), s)
        # Block k (from the bottom) maps widths[k+1] channels at sizes[k+1] to widths[k] at sizes[k].
        ups = [
            UpBlock(widths[k + 1], widths[k], sizes[k], s, options.weight_norm)
            for k in reversed(range(len(widths) - 1))
        ]
        self.blocks = nn.Sequential(*ups, nn.ReLU(), SeedConv2d(options.stem, c * ctx.out_multiplier, 1, s))

    def forward(self, z: Tensor) -> Tensor:
        return from_grouped(self.blocks(grouped_unflatten(self.fc(z), self.fc_shape)), self.seeds)


def build_encoder(options: ResNetOptions, ctx: BuildContext) -> ResNetEncoder:
    """Residual encoder (Table A.4)."""
    return ResNetEncoder(options, ctx)


def build_decoder(options: ResNetOptions, ctx: BuildContext) -> ResNetDecoder:
    """Residual decoder (Table A.4)."""
    return ResNetDecoder(options, ctx)


@hookimpl
def ica_register(register):
    register(
        "encoder",
        "resnet",
        ResNetOptions,
        build_encoder,
        description="Weight-normalised residual encoder, five downsampling blocks (Table A.4).",
    )
    register(
        "decoder",
        "resnet",
        ResNetOptions,
        build_decoder,
        description="Weight-normalised residual decoder, upsampling blocks mirrored (Table A.4).",
    )
