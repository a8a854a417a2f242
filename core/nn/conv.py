"""Seed-batched convolutional building blocks: S independent networks as one grouped convolution.

Inside a convolutional stack the S seeds live side by side on the channel axis, ``[B, S*C, H, W]`` (the
*grouped layout*): a convolution with ``groups=S`` is then S independent convolutions, batch-norm over
``S*C`` channels keeps separate statistics per seed, and pooling, activations and resizing act per
channel anyway. `to_grouped` and `from_grouped` convert at the edges of a stack, where the rest of
`ica` uses ``[S, B, ...]``. Every parameter and buffer has the seed axis first, as the batching
contract requires, and is initialised per seed exactly as the matching ``torch.nn`` layer would be.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def to_grouped(x: Tensor) -> Tensor:
    """``[S, B, C, H, W]`` -> ``[B, S*C, H, W]``."""
    s, b, c, h, w = x.shape
    return x.transpose(0, 1).reshape(b, s * c, h, w)


def from_grouped(x: Tensor, seeds: int) -> Tensor:
    """``[B, S*C, H, W]`` -> ``[S, B, C, H, W]``."""
    b, sc, h, w = x.shape
    return x.reshape(b, seeds, sc // seeds, h, w).transpose(0, 1)


def grouped_flatten(x: Tensor, seeds: int) -> Tensor:
    """``[B, S*C, H, W]`` -> ``[S, B, C*H*W]``, ready for `ica.nn.layers.SeedLinear` heads."""
    b = x.shape[0]
    return x.reshape(b, seeds, -1).transpose(0, 1)


def grouped_unflatten(x: Tensor, shape: tuple[int, int, int]) -> Tensor:
    """``[S, B, C*H*W]`` -> ``[B, S*C, H, W]``, the inverse of `grouped_flatten`."""
    s, b, _ = x.shape
    c, h, w = shape
    return x.transpose(0, 1).reshape(b, s * c, h, w)


class _SeedConvBase(nn.Module):
    """Weights ``[S, *per_seed_shape]``, optional bias ``[S, out]`` and optional weight normalisation.

    Weight normalisation (Salimans & Kingma, 2016) re-parameterises each output filter as
    ``g * v / ||v||``; ``g`` starts at ``||v||`` so the initial weights equal the plain layer's.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        fan_in: int,
        out_channels: int,
        seeds: int,
        bias: bool,
        weight_norm: bool,
        out_axis: int,
    ):
        super().__init__()
        self.seeds, self.out_axis, self.weight_norm = seeds, out_axis, weight_norm
        bound = 1.0 / math.sqrt(fan_in)  # nn.Conv2d's kaiming_uniform(a=√5) bound, and its bias bound
        self.weight = nn.Parameter(torch.empty(seeds, *shape).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(seeds, out_channels).uniform_(-bound, bound)) if bias else None
        if weight_norm:
            self.gain = nn.Parameter(self._filter_norms(self.weight.detach()))

    def _filter_norms(self, v: Tensor) -> Tensor:
        """``[S, out]``: the norm of each output filter."""
        dims = [d for d in range(1, v.dim()) if d != self.out_axis + 1]
        return v.square().sum(dim=dims).sqrt()

    def effective_weight(self) -> Tensor:
        if not self.weight_norm:
            return self.weight
        v = self.weight
        scale = self.gain / self._filter_norms(v).clamp_min(1e-12)  # [S, out]
        view = [v.shape[0]] + [1] * (v.dim() - 1)
        view[self.out_axis + 1] = v.shape[self.out_axis + 1]
        return v * scale.reshape(view)

    def flat_bias(self) -> Tensor | None:
        return None if self.bias is None else self.bias.reshape(-1)


class SeedConv2d(_SeedConvBase):
    """S independent ``nn.Conv2d`` layers on the grouped layout ``[B, S*in, H, W] -> [B, S*out, H', W']``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        seeds: int = 1,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        weight_norm: bool = False,
    ):
        k = kernel_size
        super().__init__(
            (out_channels, in_channels, k, k), in_channels * k * k, out_channels, seeds, bias, weight_norm, out_axis=0
        )
        self.stride, self.padding = stride, padding

    def forward(self, x: Tensor) -> Tensor:
        w = self.effective_weight()
        w = w.reshape(-1, *w.shape[2:])
        return F.conv2d(x, w, self.flat_bias(), self.stride, self.padding, groups=self.seeds)

    def extra_repr(self) -> str:
        s, o, i, k, _ = self.weight.shape
        return f"{i}->{o}, kernel={k}, stride={self.stride}, padding={self.padding}, seeds={s}"


class SeedConvTranspose2d(_SeedConvBase):
    """S independent ``nn.ConvTranspose2d`` layers on the grouped layout."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        seeds: int = 1,
        stride: int = 1,
        padding: int = 0,
        output_padding: int = 0,
        bias: bool = True,
        weight_norm: bool = False,
    ):
        k = kernel_size
        # nn.ConvTranspose2d's weight is [in, out, k, k] and torch takes its fan-in from dim 1: out·k·k.
        super().__init__(
            (in_channels, out_channels, k, k), out_channels * k * k, out_channels, seeds, bias, weight_norm, out_axis=1
        )
        self.stride, self.padding, self.output_padding = stride, padding, output_padding

    def forward(self, x: Tensor) -> Tensor:
        w = self.effective_weight()
        w = w.reshape(-1, *w.shape[2:])
        return F.conv_transpose2d(
            x, w, self.flat_bias(), self.stride, self.padding, self.output_padding, groups=self.seeds
        )

    def extra_repr(self) -> str:
        s, i, o, k, _ = self.weight.shape
        return f"{i}->{o}, kernel={k}, stride={self.stride}, padding={self.padding}, seeds={s}"


class SeedBatchNorm2d(nn.Module):
    """Batch normalisation with statistics, scale and shift per seed, on the grouped layout.

    Each seed's channels are normalised over that seed's mini-batch only, so seeds never see each
    other's data. Running statistics use a fixed momentum (no step counter, which would be a buffer
    without a seed axis).
    """

    running_mean: Tensor  # buffers [S, C], registered in __init__
    running_var: Tensor

    def __init__(self, channels: int, seeds: int = 1, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(seeds, channels))
        self.bias = nn.Parameter(torch.zeros(seeds, channels))
        self.register_buffer("running_mean", torch.zeros(seeds, channels))
        self.register_buffer("running_var", torch.ones(seeds, channels))

    def forward(self, x: Tensor) -> Tensor:
        # Views of the [S, C] buffers: batch_norm updates the running statistics through them in place.
        return F.batch_norm(
            x,
            self.running_mean.view(-1),
            self.running_var.view(-1),
            self.weight.reshape(-1),
            self.bias.reshape(-1),
            self.training,
            self.momentum,
            self.eps,
        )

    def extra_repr(self) -> str:
        return f"channels={self.weight.shape[1]}, seeds={self.weight.shape[0]}"
