"""The convolutional encoder and decoder of App. B's VQ-VAE and autoencoder: images to a grid of vectors.

App. B used "a standard implementation" (github.com/bshall/VectorQuantizedVAE) that maps a 32×32×3
image to an 8×8 grid of d-dimensional vectors. This is our own seed-batched network of that shape:

- encoder: ``downsamples`` × [conv 4×4, stride 2, padding 1 (halves the sides) + BN + ReLU], then
  ``residual_blocks`` residual blocks, then ReLU and a 1×1 conv to d channels: the grid ``[h, w, d]``
  with ``h = H / 2^downsamples`` (32×32 → 8×8, 28×28 → 7×7, 8×8 → 2×2 with the default 2);
- decoder, the mirror image: a 1×1 conv from d channels, the residual blocks, ReLU, then
  ``downsamples`` transposed convs 4×4 / stride 2 (doubling the sides), each but the last followed by
  BN + ReLU, the last giving ``c · multiplier`` channels (the likelihood's parameters).

A residual block is x + BN(conv 1×1(ReLU(BN(conv 3×3(ReLU(x)))))). Convolutions followed by batch-norm
have no bias. One deliberate difference from the reference: the decoder's first 1×1 conv has a bias and
no batch-norm. With batch-norm there, a shift of the decoder's input is normalised away, so in the
autoencoder the encoder's last bias gets exactly zero gradient; Adam turns the rounding noise in such a
gradient into steps of the full learning rate, and a seed trained beside others would drift from the
same seed trained alone. All S seeds run as one grouped convolution (`ica.nn.conv`); batch-norm keeps its
statistics per seed. This module is a helper of the `vqvae` and `ae` models, not a plugin.
"""

from __future__ import annotations

import math

from pydantic import PositiveInt
from torch import Tensor, nn

from ica.plugin import (
    Field,
    from_grouped,
    Options,
    SeedBatchNorm2d,
    SeedConv2d,
    SeedConvTranspose2d,
    SpecError,
    to_grouped,
)


class GridNetOptions(Options):
    """The grid networks' sizes (defaults: the reference implementation's CIFAR10 setting)."""

    latent_dim: PositiveInt = Field(64, description="d: the size of the vector at each grid position.")
    channels: PositiveInt = Field(256, description="Channels of every hidden convolution.")
    residual_blocks: int = Field(2, ge=0, description="Residual blocks after the downsampling (and in the decoder).")
    downsamples: PositiveInt = Field(
        2, description="Stride-2 convolutions: the grid is the image's sides divided by 2^downsamples."
    )
    batch_norm: bool = Field(True, description="Batch normalisation (per seed) after the hidden convolutions.")


def grid_size(x_shape: tuple[int, ...], downsamples: int, where: str) -> tuple[int, int, int]:
    """``(channels, h, w)``: the image's channels and the latent grid's sides, or a `SpecError` saying why not."""
    shape = tuple(x_shape)
    if len(shape) != 3:
        raise SpecError(
            f"this model needs images of shape (channels, height, width), but the data have shape {shape}: "
            "its latents are a spatial grid (App. B)",
            where=where,
        )
    c, height, width = shape
    factor = 2**downsamples
    if height % factor or width % factor:
        raise SpecError(
            f"{downsamples} stride-2 downsamplings need image sides divisible by {factor}, got {height}×{width}; "
            "change 'downsamples'",
            where=where,
        )
    return c, height // factor, width // factor


def _norm(channels: int, seeds: int, batch_norm: bool) -> nn.Module:
    return SeedBatchNorm2d(channels, seeds) if batch_norm else nn.Identity()


class SeedResidual(nn.Module):
    """x + BN(conv 1×1(ReLU(BN(conv 3×3(ReLU(x)))))) for S seeds on the grouped layout."""

    def __init__(self, channels: int, seeds: int, batch_norm: bool):
        super().__init__()
        bias = not batch_norm
        self.block = nn.Sequential(
            nn.ReLU(),
            SeedConv2d(channels, channels, 3, seeds, padding=1, bias=bias),
            _norm(channels, seeds, batch_norm),
            nn.ReLU(),
            SeedConv2d(channels, channels, 1, seeds, bias=bias),
            _norm(channels, seeds, batch_norm),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class GridEncoder(nn.Module):
    """``[S, B, c, H, W]`` images -> ``[S, B, P, d]``: the vector at each of the P = h·w grid positions (row-major)."""

    def __init__(self, options: GridNetOptions, x_shape: tuple[int, ...], seeds: int, where: str = "encoder"):
        super().__init__()
        c, h, w = grid_size(x_shape, options.downsamples, where)
        ch, s, bn = options.channels, seeds, options.batch_norm
        self.seeds, self.grid = s, (h, w)
        layers: list[nn.Module] = []
        for i in range(options.downsamples):
            layers += [
                SeedConv2d(c if i == 0 else ch, ch, 4, s, stride=2, padding=1, bias=not bn),
                _norm(ch, s, bn),
                nn.ReLU(),
            ]
        layers += [SeedResidual(ch, s, bn) for _ in range(options.residual_blocks)]
        layers += [nn.ReLU(), SeedConv2d(ch, options.latent_dim, 1, s)]
        self.net = nn.Sequential(*layers)

    @property
    def positions(self) -> int:
        return math.prod(self.grid)

    def forward(self, x: Tensor) -> Tensor:
        grid = from_grouped(self.net(to_grouped(x)), self.seeds)  # [S, B, d, h, w]
        s, b, d = grid.shape[:3]
        return grid.permute(0, 1, 3, 4, 2).reshape(s, b, -1, d)


class GridDecoder(nn.Module):
    """``[S, B, P, d]`` grid -> ``[S, B, c·multiplier, H, W]``, the likelihood's parameters."""

    def __init__(
        self, options: GridNetOptions, x_shape: tuple[int, ...], seeds: int, multiplier: int, where: str = "decoder"
    ):
        super().__init__()
        c, h, w = grid_size(x_shape, options.downsamples, where)
        ch, s, bn = options.channels, seeds, options.batch_norm
        self.seeds, self.grid = s, (h, w)
        layers: list[nn.Module] = [SeedConv2d(options.latent_dim, ch, 1, s)]  # bias, no batch-norm: see above
        layers += [SeedResidual(ch, s, bn) for _ in range(options.residual_blocks)]
        layers.append(nn.ReLU())
        for i in range(options.downsamples):
            last = i == options.downsamples - 1
            out = c * multiplier if last else ch
            layers.append(SeedConvTranspose2d(ch, out, 4, s, stride=2, padding=1, bias=last or not bn))
            if not last:
                layers += [_norm(ch, s, bn), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        s, b, _, d = z.shape
        h, w = self.grid
        image = z.reshape(s, b, h, w, d).permute(0, 1, 4, 2, 3)  # [S, B, d, h, w]
        return from_grouped(self.net(to_grouped(image)), self.seeds)
