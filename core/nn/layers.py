"""Seed-batched building blocks: layers whose parameters carry a leading seed axis.

One ``SeedLinear`` with ``seeds=S`` is S independent ``nn.Linear`` layers evaluated with one batched
matrix product, which is what makes training many small models together fast (issue #3). Built with
``seeds=1`` under a seed's own RNG and then stacked (``ica.nn.seeding.stack_modules``), every seed gets
exactly the initialisation it would get alone.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from ica.nn.seeding import seed_rand

ACTIVATIONS = ("leaky_relu", "relu", "elu", "tanh", "gelu", "silu")


def activation(name: str, negative_slope: float = 0.2) -> nn.Module:
    """An activation module by name (the names in ``ACTIVATIONS``)."""
    if name == "leaky_relu":
        return nn.LeakyReLU(negative_slope)
    table = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}
    if name not in table:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    return table[name]()


class SeedLinear(nn.Module):
    """``S`` independent affine maps: ``[S, B, in] -> [S, B, out]``.

    Initialised like ``nn.Linear`` (uniform in ±1/sqrt(in) for weights and biases), per seed.
    """

    def __init__(self, in_features: int, out_features: int, seeds: int = 1, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features, self.seeds = in_features, out_features, seeds
        self.weight = nn.Parameter(torch.empty(seeds, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(seeds, 1, out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features else 0.0
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.bmm(x, self.weight)
        # bmm then add: with a broadcast bias, baddbmm is about twice as slow on the CPU.
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, seeds={self.seeds}"


class SeedMLP(nn.Module):
    """A multilayer perceptron of ``SeedLinear`` layers with one activation between them, none after."""

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        seeds: int = 1,
        act: str = "leaky_relu",
        negative_slope: float = 0.2,
    ):
        super().__init__()
        sizes = [in_features, *hidden, out_features]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(SeedLinear(a, b, seeds))
            if i < len(sizes) - 2:
                layers.append(activation(act, negative_slope))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class SeedDropout(nn.Module):
    """Dropout on ``[S, ...]`` whose masks come from each seed's own generator (`ica.nn.seeding.seed_rand`).

    ``nn.Dropout`` draws from the global RNG, so a seed's masks would depend on which seeds share its
    batch; drawing per seed keeps a batched seed identical to the seed trained alone.
    """

    def __init__(self, p: float):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = seed_rand(x.shape[0], tuple(x.shape[1:]), x.device) >= self.p
        return x * keep / (1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def one_hot(u: Tensor, n: int) -> Tensor:
    """Float one-hot of integer labels ``[...]`` -> ``[..., n]``."""
    return torch.nn.functional.one_hot(u, n).to(torch.get_default_dtype())
