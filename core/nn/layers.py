"""Seed-batched building blocks: layers whose parameters carry a leading seed axis.

One ``SeedLinear`` with ``seeds=S`` is S independent ``nn.Linear`` layers evaluated with one batched
matrix product, which is what makes training many small models together fast. Built with
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


class _NarrowingProduct(torch.autograd.Function):
    """``x @ w`` for a layer narrower out than in, with the weight gradient formed as ``(gy^T x)^T``.

    A batched product ``[B, K] @ [K, N]`` with a small N runs 2-3x slower on this project's CPU (MKL's
    batched sgemm) when its right operand is stored row-major than when it is stored column-major; such a
    layer's weight is therefore stored column-major (`SeedLinear`), which makes the forward product fast,
    and its gradient ``x^T gy`` (again a small N) is computed as ``(gy^T x)^T``, a product with a small M,
    which lands in the weight's own layout. The numbers are those of ``torch.bmm``'s own backward.
    Measured: one 50 -> 5 layer's forward and backward at S = 50, B = 64, 410 -> 205 us
    (benchmarks/README.md).
    """

    @staticmethod
    def forward(x: Tensor, weight: Tensor) -> Tensor:
        return torch.bmm(x, weight)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        # Traced by torch.compile, needs_input_grad says False for a weight under torch.func.grad (torch
        # 2.14): there both gradients are formed and the compiler drops the one nothing uses.
        traced = torch.compiler.is_compiling()
        grad_x = torch.bmm(grad, weight.transpose(1, 2)) if traced or ctx.needs_input_grad[0] else None
        grad_w = torch.bmm(grad.transpose(1, 2), x).transpose(1, 2) if traced or ctx.needs_input_grad[1] else None
        return grad_x, grad_w


def column_major(tensor: Tensor) -> Tensor:
    """``tensor`` ``[S, rows, cols]`` with the same values, each seed's matrix stored column-major: the
    layout `seed_matmul` runs fastest with for a narrow right operand."""
    return tensor.transpose(1, 2).contiguous().transpose(1, 2)


def seed_matmul(x: Tensor, weight: Tensor) -> Tensor:
    """``torch.bmm(x, weight)`` (``[S, B, K] @ [S, K, N]``), formed the fastest way on the CPU for a narrow
    ``weight`` (N < K): see `_NarrowingProduct`; store such a weight with `column_major`."""
    if weight.shape[-1] < weight.shape[-2]:
        return _NarrowingProduct.apply(x, weight)
    return torch.bmm(x, weight)


class SeedLinear(nn.Module):
    """``S`` independent affine maps: ``[S, B, in] -> [S, B, out]``.

    Initialised like ``nn.Linear`` (uniform in ±1/sqrt(in) for weights and biases), per seed. The weight
    has shape ``[S, in, out]`` always; a layer with fewer outputs than inputs stores it column-major (each
    seed's ``[in, out]`` matrix transposed in memory), which its products run fastest with
    (`_NarrowingProduct`). Values, state dicts and checkpoints are the same either way.
    """

    def __init__(self, in_features: int, out_features: int, seeds: int = 1, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features, self.seeds = in_features, out_features, seeds
        self.narrowing = out_features < in_features
        weight = torch.empty(seeds, in_features, out_features)
        self.weight = nn.Parameter(column_major(weight) if self.narrowing else weight)
        self.bias = nn.Parameter(torch.empty(seeds, 1, out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features else 0.0
        with torch.no_grad():  # drawn in logical order whatever the layout: the same numbers as ever
            self.weight.copy_(torch.empty(self.weight.shape).uniform_(-bound, bound))
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        out = seed_matmul(x, self.weight)
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
