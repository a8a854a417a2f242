"""The layouts that make the step fast (`ica.nn.layers.seed_matmul`, `column_major`, the d-major mixture
prior) change no number: values, gradients (eager, through torch.func, compiled), initialisations and
checkpoints are those of the plain formulas."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal
from torch.func import grad

from ica.nn.distributions import DiagonalGaussianMixture
from ica.nn.layers import SeedLinear, column_major, seed_matmul


def _operands(layout: str):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 8, 12, generator=g)
    w = torch.randn(3, 12, 4, generator=g)
    return x, column_major(w) if layout == "column" else w


def _loss(product):
    def loss(x, w):
        return (product(x, w).tanh() ** 2).sum()

    return loss


@pytest.mark.parametrize("layout", ["row", "column"])
def test_seed_matmul_has_bmms_value_and_gradients(layout):
    x, w = _operands(layout)
    torch.testing.assert_close(seed_matmul(x, w), torch.bmm(x, w))
    xs, ws = x.clone().requires_grad_(), w.clone().requires_grad_()
    _loss(seed_matmul)(xs, ws).backward()
    expected = grad(_loss(torch.bmm), argnums=(0, 1))(x, w)
    torch.testing.assert_close((xs.grad, ws.grad), expected)
    torch.testing.assert_close(grad(_loss(seed_matmul), argnums=(0, 1))(x, w), expected)


def test_seed_matmul_compiled_under_torch_func_gives_the_weights_gradient():
    # Traced by torch.compile under torch.func.grad, the Function was told its weight needs no gradient and
    # returned none: the weight's gradient came out as zeros (the data x is no argument of the gradient).
    x, w = _operands("column")
    first = torch.randn(3, 12, 12, generator=torch.Generator().manual_seed(2))

    def loss(product):
        return lambda p: (product(torch.bmm(x, p["first"]).relu(), p["w"]) ** 2).sum()

    params = {"first": first, "w": w}
    got = torch.compile(grad(loss(seed_matmul)), fullgraph=True, backend="aot_eager")(params)  # traced as inductor is
    expected = grad(loss(torch.bmm))(params)
    assert got["w"].abs().sum() > 0
    torch.testing.assert_close(got, expected)


def test_a_narrowing_layer_stores_its_weight_column_major_with_the_same_initialisation():
    torch.manual_seed(7)
    layer = SeedLinear(12, 4, seeds=3)
    torch.manual_seed(7)
    bound = 1 / math.sqrt(12)
    expected = torch.empty(3, 12, 4).uniform_(-bound, bound)
    assert layer.narrowing and layer.weight.shape == (3, 12, 4) and layer.weight.stride() == (48, 1, 12)
    torch.testing.assert_close(layer.weight.detach(), expected, rtol=0, atol=0)
    assert SeedLinear(4, 12, seeds=3).weight.is_contiguous()


def test_checkpoints_of_either_layout_load_into_the_other():
    column, row = SeedLinear(12, 4, seeds=2), SeedLinear(12, 4, seeds=2)
    row.weight = torch.nn.Parameter(row.weight.detach().contiguous())  # as ica 0.2.0 stored it
    row.load_state_dict(column.state_dict())
    torch.testing.assert_close(row.weight, column.weight, rtol=0, atol=0)
    fresh = SeedLinear(12, 4, seeds=2)
    fresh.load_state_dict(row.state_dict())
    assert fresh.weight.stride() == (48, 1, 12)
    torch.testing.assert_close(fresh.weight, column.weight, rtol=0, atol=0)


@pytest.mark.parametrize("layout", ["row", "column"])
def test_the_mixture_log_density_is_the_textbook_one(layout):
    g = torch.Generator().manual_seed(1)
    seeds, k, d = 2, 6, 3
    mean, log_var = torch.randn(seeds, k, d, generator=g), 0.5 * torch.randn(seeds, k, d, generator=g)
    if layout == "column":
        mean, log_var = column_major(mean), column_major(log_var)
    logits = torch.randn(seeds, 1, k, generator=g)
    z = torch.randn(seeds, 5, d, generator=g)
    ours = DiagonalGaussianMixture(logits, mean.unsqueeze(1), log_var.unsqueeze(1))
    textbook = MixtureSameFamily(
        Categorical(logits=logits), Independent(Normal(mean.unsqueeze(1), torch.exp(0.5 * log_var.unsqueeze(1))), 1)
    )
    torch.testing.assert_close(ours.log_prob(z), textbook.log_prob(z))
