"""Seed-batched convolution, batch-norm and dropout against S separate torch layers."""

from __future__ import annotations

import torch
from torch import nn

from ica.nn.conv import SeedBatchNorm2d, SeedConv2d, SeedConvTranspose2d, from_grouped, grouped_flatten, to_grouped
from ica.nn.layers import SeedDropout
from ica.nn.seeding import generator, seed_generators

S, B = 3, 4


def per_seed(x: torch.Tensor, layers: list[nn.Module]) -> torch.Tensor:
    return torch.stack([layer(x[i]) for i, layer in enumerate(layers)])


def test_grouped_layout_round_trips_and_flattens_per_seed():
    x = torch.randn(S, B, 2, 3, 3)
    g = to_grouped(x)
    assert g.shape == (B, S * 2, 3, 3)
    assert torch.equal(from_grouped(g, S), x)
    assert torch.equal(grouped_flatten(g, S), x.flatten(2))


def test_seed_conv_equals_separate_convolutions():
    layer = SeedConv2d(2, 5, 3, seeds=S, stride=2, padding=1)
    refs = []
    for i in range(S):
        ref = nn.Conv2d(2, 5, 3, stride=2, padding=1)
        ref.weight.data, ref.bias.data = layer.weight[i].detach().clone(), layer.bias[i].detach().clone()
        refs.append(ref)
    x = torch.randn(S, B, 2, 8, 8)
    torch.testing.assert_close(from_grouped(layer(to_grouped(x)), S), per_seed(x, refs))


def test_seed_transposed_conv_equals_separate_transposed_convolutions():
    layer = SeedConvTranspose2d(4, 2, 4, seeds=S, stride=2, padding=1)
    refs = []
    for i in range(S):
        ref = nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1)
        ref.weight.data, ref.bias.data = layer.weight[i].detach().clone(), layer.bias[i].detach().clone()
        refs.append(ref)
    x = torch.randn(S, B, 4, 5, 5)
    out = from_grouped(layer(to_grouped(x)), S)
    assert out.shape == (S, B, 2, 10, 10)
    torch.testing.assert_close(out, per_seed(x, refs))


def test_initialisation_bounds_match_torch_layers():
    torch.manual_seed(0)
    conv = SeedConv2d(3, 8, 3, seeds=1)
    bound = 1 / (3 * 9) ** 0.5
    assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.9 * bound
    tconv = SeedConvTranspose2d(8, 3, 4, seeds=1)
    assert tconv.weight.abs().max() <= 1 / (3 * 16) ** 0.5


def test_weight_norm_starts_at_the_plain_weights_and_scales_each_filter():
    layer = SeedConv2d(2, 3, 3, seeds=S, weight_norm=True)
    torch.testing.assert_close(layer.effective_weight(), layer.weight)
    with torch.no_grad():
        layer.gain[1, 2] = 5.0
    w = layer.effective_weight()
    assert torch.allclose(w[1, 2].norm(), torch.tensor(5.0))
    torch.testing.assert_close(w[0], layer.weight[0])
    t = SeedConvTranspose2d(2, 3, 3, seeds=S, weight_norm=True)
    assert t.gain.shape == (S, 3)  # one gain per output channel, which is axis 1 of a transposed weight


def test_seed_batch_norm_keeps_statistics_per_seed():
    bn = SeedBatchNorm2d(2, seeds=S)
    refs = [nn.BatchNorm2d(2) for _ in range(S)]
    x = torch.randn(S, B, 2, 3, 3) * torch.tensor([1.0, 5.0, 0.1]).view(S, 1, 1, 1, 1)
    out = from_grouped(bn(to_grouped(x)), S)
    torch.testing.assert_close(out, per_seed(x, refs))
    for i, ref in enumerate(refs):
        torch.testing.assert_close(bn.running_mean[i], ref.running_mean)
        torch.testing.assert_close(bn.running_var[i], ref.running_var)
    bn.eval()
    for ref in refs:
        ref.eval()
    torch.testing.assert_close(from_grouped(bn(to_grouped(x)), S), per_seed(x, refs))


def test_seed_dropout_masks_do_not_depend_on_the_other_seeds():
    drop = SeedDropout(0.5)
    x = torch.ones(3, 2, 50)
    with seed_generators([generator(s, "noise") for s in (4, 7, 9)]):
        batched = drop(x)
    with seed_generators([generator(7, "noise")]):
        alone = drop(x[1:2])
    assert torch.equal(batched[1:2], alone)
    assert not torch.equal(batched[0], batched[1])
    assert set(batched.unique().tolist()) == {0.0, 2.0}
    drop.eval()
    assert torch.equal(drop(x), x)
