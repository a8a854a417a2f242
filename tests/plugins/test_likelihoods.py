"""Discrete likelihoods for images (issue #4): `bernoulli` and the discretised `logistic`.

Checked against independent references: probabilities of every value of one pixel sum to 1, values
match plain formulas / scipy's logistic distribution, extreme inputs stay finite, shapes carry the seed
axis, and seeds do not leak into each other.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import logistic as scipy_logistic

from ica.components.registry import registry
from ica.plugins.likelihoods.bernoulli import BernoulliLikelihood, BernoulliOptions
from ica.plugins.likelihoods.logistic import LogisticLikelihood, LogisticOptions
from ica.components.protocols import BuildContext
from ica.nn.seeding import check_seed_axis
from ica.spec.models import spec_models

LEVELS = np.arange(256)
MODES = ["shared", "per_channel", "decoder"]


def bernoulli(seeds: int = 1, x_shape=(1,)) -> BernoulliLikelihood:
    return BernoulliLikelihood(BernoulliOptions(), BuildContext(seeds=seeds, x_shape=x_shape))


def logistic(mode: str = "shared", seeds: int = 1, x_shape=(1,), init_log_scale: float = math.log(0.1)):
    options = LogisticOptions(scale=mode, init_log_scale=init_log_scale)
    return LogisticLikelihood(options, BuildContext(seeds=seeds, x_shape=x_shape))


def reference_log_bin(k: int, loc: float, scale: float) -> float:
    """log P(level k) from scipy's logistic, in log space on the side of the bin away from loc (no cancellation)."""
    lo, hi = (k - 0.5) / 255, (k + 0.5) / 255
    if k == 0:
        return float(scipy_logistic.logcdf(hi, loc, scale))
    if k == 255:
        return float(scipy_logistic.logsf(lo, loc, scale))
    if lo >= loc:  # upper tail: sf(lo) - sf(hi)
        big, small = scipy_logistic.logsf(lo, loc, scale), scipy_logistic.logsf(hi, loc, scale)
    else:  # lower tail (or straddling): cdf(hi) - cdf(lo)
        big, small = scipy_logistic.logcdf(hi, loc, scale), scipy_logistic.logcdf(lo, loc, scale)
    return float(big + np.log1p(-np.exp(small - big)))


# --------------------------------------------------------------------------------------- bernoulli
def test_bernoulli_probabilities_of_one_pixel_sum_to_one():
    logits = torch.tensor([-50.0, -7.0, -1.0, 0.0, 0.3, 4.0, 60.0], dtype=torch.float64).reshape(1, -1, 1)
    lik = bernoulli().double()
    p0 = lik.log_prob(torch.zeros_like(logits), logits).exp()
    p1 = lik.log_prob(torch.ones_like(logits), logits).exp()
    torch.testing.assert_close(p0 + p1, torch.ones_like(p0), atol=1e-12, rtol=0)


def test_bernoulli_matches_plain_formula():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 3, 2, 2, generator=g, dtype=torch.float64) * 3
    x = (torch.rand(2, 3, 3, 2, 2, generator=g) > 0.5).double()
    expected = np.zeros((2, 3))
    for idx in np.ndindex(*logits.shape):
        p = 1 / (1 + math.exp(-float(logits[idx])))
        expected[idx[:2]] += math.log(p) if x[idx] == 1 else math.log(1 - p)
    got = bernoulli(2, (3, 2, 2)).double().log_prob(x, logits)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_bernoulli_grey_values_give_the_cross_entropy():
    logits = torch.tensor([[[0.7, -2.0]]], dtype=torch.float64)
    x = torch.tensor([[[0.25, 0.9]]], dtype=torch.float64)
    expected = sum(
        xi * math.log(1 / (1 + math.exp(-li))) + (1 - xi) * math.log(1 - 1 / (1 + math.exp(-li)))
        for xi, li in [(0.25, 0.7), (0.9, -2.0)]
    )
    got = bernoulli(1, (2,)).double().log_prob(x, logits)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_bernoulli_extreme_logits_are_finite_with_finite_gradients():
    logits = torch.tensor([[[-1e4, 1e4, -1e4, 1e4, 0.0, 88.0, -104.0]]], requires_grad=True)
    x = torch.tensor([[[0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0]]])
    log_p = bernoulli(1, (7,)).log_prob(x, logits)
    assert torch.isfinite(log_p).all()
    assert log_p.item() == pytest.approx(-2e4 - math.log(2) - 88 - 104, rel=1e-4)  # wrong-side logits cost |l|
    log_p.sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_bernoulli_mean_is_sigmoid():
    logits = torch.tensor([[[-2.0, 0.0, 3.0]]])
    torch.testing.assert_close(
        bernoulli(1, (3,)).mean(logits), torch.tensor([[[1 / (1 + math.e**2), 0.5, 1 / (1 + math.e**-3)]]])
    )


# ---------------------------------------------------------------------------------------- logistic
LOCS = [-0.7, 0.0, 0.3 / 255, 0.5, 1.0 - 0.2 / 255, 1.0, 1.9]
LOG_SCALES = [-10.0, -7.0, -4.0, -1.5, 0.0, 3.0, 10.0]


@pytest.mark.parametrize("loc", LOCS)
def test_logistic_probabilities_of_all_256_levels_sum_to_one(loc):
    # One seed per log-scale (shared mode), the 256 levels of one pixel along the batch axis.
    lik = logistic("shared", seeds=len(LOG_SCALES)).double()
    with torch.no_grad():
        lik.log_scale.copy_(torch.tensor(LOG_SCALES, dtype=torch.float64).unsqueeze(1))
    x = torch.tensor(LEVELS / 255.0).reshape(1, 256, 1).expand(len(LOG_SCALES), 256, 1)
    params = torch.full_like(x, loc)
    log_p = lik.log_prob(x, params)
    assert torch.isfinite(log_p).all()
    torch.testing.assert_close(log_p.exp().sum(1), torch.ones(len(LOG_SCALES), dtype=torch.float64), atol=1e-5, rtol=0)


def test_logistic_matches_scipy_reference():
    cases = [
        (k, loc, ls)
        for k in (0, 1, 7, 128, 200, 254, 255)
        for loc in (-0.3, 0.02, 0.5, 0.8, 1.0, 1.4)
        for ls in (-8.0, -5.0, -2.0, 0.5)
    ]
    k, loc, ls = (np.array(c, dtype=np.float64) for c in zip(*cases))
    lik = logistic("decoder", seeds=1, x_shape=(1,), init_log_scale=0.0).double()
    params = torch.tensor(np.stack([loc, ls], -1)).reshape(1, -1, 2)  # [μ, log s] per pixel
    got = lik.log_prob(torch.tensor(k / 255).reshape(1, -1, 1), params)[0].numpy()
    expected = np.array([reference_log_bin(int(ki), li, math.exp(si)) for ki, li, si in cases])
    assert np.isfinite(expected).all() and expected.min() < -1000  # the far tails are in the test
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_logistic_float32_matches_reference_in_far_tails():
    # The tiny-probability case: bins hundreds of scales away from the location, where CDF differences vanish.
    cases = [(0, 1.0, -6.0), (3, 0.9, -7.0), (250, 0.01, -6.5), (255, 0.0, -8.0), (128, 0.2, -9.0)]
    lik = logistic("decoder", seeds=1, init_log_scale=0.0)
    params = torch.tensor([[loc, ls] for _, loc, ls in cases], dtype=torch.float32).reshape(1, -1, 2)
    x = torch.tensor([k / 255 for k, _, _ in cases], dtype=torch.float32).reshape(1, -1, 1)
    got = lik.log_prob(x, params)[0].double().numpy()
    expected = np.array([reference_log_bin(k, loc, math.exp(ls)) for k, loc, ls in cases])
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_logistic_snaps_x_to_the_nearest_level_and_clamps_to_the_range():
    lik = logistic("shared", seeds=1, x_shape=(5,))
    params = torch.full((1, 1, 5), 0.4)
    exact = torch.tensor([[[0.0, 3 / 255, 0.5 + 0.5 / 255, 1.0, 1.0]]])
    perturbed = torch.tensor([[[-2.0, 3 / 255 + 1e-4, 128 / 255 - 1e-4, 1.0 + 1e-6, 5.0]]])
    torch.testing.assert_close(lik.log_prob(perturbed, params), lik.log_prob(exact, params))


@pytest.mark.parametrize("mode", MODES)
def test_logistic_extreme_inputs_are_finite_with_finite_gradients(mode):
    lik = logistic(mode, seeds=2, x_shape=(3,))
    if mode != "decoder":
        with torch.no_grad():
            lik.log_scale.copy_(torch.tensor([[-50.0], [50.0]]).expand_as(lik.log_scale))
    loc = torch.tensor([-1e4, 0.0, 1e4, 0.5, 1.0, -3.0]).reshape(1, 6, 1).expand(2, 6, 3)
    raw_log_scale = torch.tensor([-1e3, 1e3, 0.0]).reshape(1, 1, 3).expand(2, 6, 3)
    params = (torch.cat([loc, raw_log_scale], 2) if mode == "decoder" else loc).clone().requires_grad_(True)
    x = torch.tensor([0.0, 1.0, 0.5]).reshape(1, 1, 3).expand(2, 6, 3)
    log_p = lik.log_prob(x, params)
    assert torch.isfinite(log_p).all()
    log_p.sum().backward()
    assert torch.isfinite(params.grad).all()
    for p in lik.parameters():
        assert torch.isfinite(p.grad).all()


def test_logistic_gradients_match_finite_differences():
    g = torch.Generator().manual_seed(3)
    lik = logistic("decoder", seeds=1, x_shape=(4,), init_log_scale=0.0).double()
    loc = torch.rand(1, 5, 4, generator=g, dtype=torch.float64) * 1.4 - 0.2
    log_scale = torch.rand(1, 5, 4, generator=g, dtype=torch.float64) * 6 - 7
    params = torch.cat([loc, log_scale], 2).requires_grad_(True)
    x = torch.tensor([0, 1, 100, 255] * 5, dtype=torch.float64).reshape(1, 5, 4) / 255
    assert torch.autograd.gradcheck(lambda p: lik.log_prob(x, p), (params,))


@pytest.mark.parametrize("x_shape", [(1, 4, 4), (3, 2, 2), (5,)])
@pytest.mark.parametrize("mode", MODES)
def test_logistic_shapes_carry_the_seed_axis(x_shape, mode):
    S, B = 3, 2
    lik = logistic(mode, seeds=S, x_shape=x_shape)
    check_seed_axis(lik, S)
    assert lik.multiplier == (2 if mode == "decoder" else 1)
    if mode != "decoder":
        assert lik.log_scale.shape == (S, 1 if mode == "shared" else x_shape[0])
    params = torch.randn(S, B, x_shape[0] * lik.multiplier, *x_shape[1:])
    x = torch.randint(0, 256, (S, B, *x_shape)) / 255
    assert lik.log_prob(x, params).shape == (S, B)
    assert lik.mean(params).shape == (S, B, *x_shape)


@pytest.mark.parametrize("x_shape", [(1, 4, 4), (3, 2, 2), (5,)])
def test_bernoulli_shapes_carry_the_seed_axis(x_shape):
    S, B = 3, 2
    lik = bernoulli(S, x_shape)
    check_seed_axis(lik, S)
    assert lik.multiplier == 1
    params = torch.randn(S, B, *x_shape)
    x = (torch.rand(S, B, *x_shape) > 0.5).float()
    assert lik.log_prob(x, params).shape == (S, B)
    assert lik.mean(params).shape == (S, B, *x_shape)


def test_logistic_per_channel_scales_apply_to_their_own_channel():
    lik = logistic("per_channel", seeds=1, x_shape=(3, 2, 2)).double()
    log_scales = [-5.0, -3.0, -1.0]
    with torch.no_grad():
        lik.log_scale.copy_(torch.tensor([log_scales], dtype=torch.float64))
    g = torch.Generator().manual_seed(1)
    loc = torch.rand(1, 1, 3, 2, 2, generator=g, dtype=torch.float64)
    k = torch.randint(0, 256, (1, 1, 3, 2, 2), generator=g)
    expected = sum(
        reference_log_bin(int(k[0, 0, c, i, j]), float(loc[0, 0, c, i, j]), math.exp(log_scales[c]))
        for c in range(3)
        for i in range(2)
        for j in range(2)
    )
    assert lik.log_prob(k.double() / 255, loc).item() == pytest.approx(expected, rel=1e-10)


def test_logistic_decoder_mode_takes_location_then_log_scale_offset_by_init():
    # Channels [0:C] are μ, [C:2C] are log s - init_log_scale: equal to shared mode at the same scale.
    x_shape, init = (3, 2, 2), -2.0
    g = torch.Generator().manual_seed(2)
    loc = torch.rand(1, 4, *x_shape, generator=g, dtype=torch.float64)
    x = torch.randint(0, 256, (1, 4, *x_shape), generator=g).double() / 255
    decoder_mode = logistic("decoder", x_shape=x_shape, init_log_scale=init).double()
    shared = logistic("shared", x_shape=x_shape, init_log_scale=init - 0.5).double()
    params = torch.cat([loc, torch.full_like(loc, -0.5)], 2)
    torch.testing.assert_close(decoder_mode.log_prob(x, params), shared.log_prob(x, loc))
    torch.testing.assert_close(decoder_mode.mean(params), loc)


def test_logistic_mean_is_location_clamped_to_the_range():
    lik = logistic("shared", x_shape=(4,))
    loc = torch.tensor([[[-0.3, 0.2, 0.9, 1.7]]])
    torch.testing.assert_close(lik.mean(loc), torch.tensor([[[0.0, 0.2, 0.9, 1.0]]]))


# ------------------------------------------------------------------------------------- both
def per_seed_cases():
    for mode in MODES:
        yield f"logistic-{mode}", logistic(mode, seeds=2, x_shape=(3, 2, 2)), 255
    yield "bernoulli", bernoulli(2, (3, 2, 2)), 1


@pytest.mark.parametrize("case", list(per_seed_cases()), ids=lambda c: c[0])
def test_seed_zero_is_independent_of_seed_one(case):
    _, lik, top = case
    g = torch.Generator().manual_seed(4)
    params = torch.randn(2, 3, 3 * lik.multiplier, 2, 2, generator=g).requires_grad_(True)
    x = torch.randint(0, top + 1, (2, 3, 3, 2, 2), generator=g) / top
    before = lik.log_prob(x, params)[0].detach().clone()
    lik.log_prob(x, params)[0].sum().backward()
    assert (params.grad[1] == 0).all()
    for p in lik.parameters():
        assert (p.grad[1] == 0).all()
    with torch.no_grad():
        changed = params.clone()
        changed[1] = changed[1] * 3 + 1
        for p in lik.parameters():
            p[1] += 2.0
        x_changed = x.clone()
        x_changed[1] = 1 - x_changed[1]
    torch.testing.assert_close(lik.log_prob(x_changed, changed)[0], before, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["bernoulli", "logistic"])
def test_registered_and_marked_discrete(name):
    reg = registry()
    assert name in reg.names("likelihood")
    lik = reg.build(
        type(spec_models(reg).default("likelihood", name)).model_validate({"name": name}),
        BuildContext(seeds=2, x_shape=(3, 2, 2)),
    )
    assert lik.discrete is True
