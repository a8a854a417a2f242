"""Likelihoods for counts (issue #30): `poisson`, `negative_binomial`, and the Gaussian's learnt per-dimension scale.

Log-probabilities are checked against torch.distributions and scipy.stats on random inputs and edge values,
extreme parameters stay finite, shapes carry the seed axis, and data a likelihood cannot describe are refused
before training (``ica validate``: exit code 2, one message).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from torch.distributions import NegativeBinomial, Normal, Poisson
from typer.testing import CliRunner

import ica
from ica.cli import app
from ica.components.protocols import BuildContext
from ica.nn.seeding import check_seed_axis
from ica.spec.hashing import spec_json
from ica.plugins.likelihoods.gaussian import GaussianLikelihood, GaussianOptions
from ica.plugins.likelihoods.negative_binomial import NegativeBinomialLikelihood, NegativeBinomialOptions
from ica.plugins.likelihoods.poisson import PoissonLikelihood, PoissonOptions

S, B = 2, 5
COUNTS = [0.0, 1.0, 2.0, 7.0, 30.0, 1000.0, 25000.0]


def poisson(link: str = "exp", seeds: int = S, x_shape=(len(COUNTS),)) -> PoissonLikelihood:
    return PoissonLikelihood(PoissonOptions(link=link), BuildContext(seeds=seeds, x_shape=x_shape))


def negative_binomial(dispersion: float = 0.1, seeds: int = S, x_shape=(len(COUNTS),), link: str = "exp"):
    options = NegativeBinomialOptions(dispersion=dispersion, link=link)
    return NegativeBinomialLikelihood(options, BuildContext(seeds=seeds, x_shape=x_shape))


def counts_and_params(seed: int = 0, spread: float = 4.0, x_shape=(len(COUNTS),)):
    """x [S, B, *x_shape]: the edge counts in the first row of each seed, random counts elsewhere; params in
    [-spread, spread] (double precision, so the references can be matched to 1e-9)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.poisson(torch.rand(S, B, *x_shape, generator=g, dtype=torch.float64) * 20, generator=g)
    x.view(S, B, -1)[:, 0, : len(COUNTS)] = torch.tensor(COUNTS[: math.prod(x_shape)], dtype=torch.float64)
    params = (torch.rand(S, B, *x_shape, generator=g, dtype=torch.float64) * 2 - 1) * spread
    return x, params


# ------------------------------------------------------------------------------------------------- poisson
def test_poisson_matches_torch_and_scipy_with_the_log_rate_link():
    x, eta = counts_and_params()
    got = poisson().double().log_prob(x, eta)
    assert got.shape == (S, B)
    reference = Poisson(rate=eta.exp()).log_prob(x).sum(-1)
    torch.testing.assert_close(got, reference, rtol=1e-12, atol=1e-9)
    scipy_values = stats.poisson.logpmf(x.numpy(), np.exp(eta.numpy())).sum(-1)
    np.testing.assert_allclose(got.numpy(), scipy_values, rtol=1e-10, atol=1e-8)


def test_poisson_softplus_link_matches_torch_including_tiny_rates():
    x, eta = counts_and_params(seed=1, spread=25.0)  # rates from softplus(-25) ~ 1e-11 to 25
    got = poisson("softplus").double().log_prob(x, eta)
    reference = Poisson(rate=F.softplus(eta)).log_prob(x).sum(-1)
    torch.testing.assert_close(got, reference, rtol=1e-10, atol=1e-8)


def test_poisson_on_images_sums_over_every_observed_value():
    x, eta = counts_and_params(seed=2, x_shape=(1, 2, 3))
    got = poisson(x_shape=(1, 2, 3)).double().log_prob(x, eta)
    reference = Poisson(rate=eta.exp()).log_prob(x).flatten(2).sum(-1)
    assert got.shape == (S, B)
    torch.testing.assert_close(got, reference, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("link", ["exp", "softplus"])
def test_poisson_stays_finite_for_extreme_outputs_and_counts(link):
    eta = torch.tensor([-1e4, -80.0, -30.0, 0.0, 30.0, 80.0, 1e4]).expand(S, B, -1).clone().requires_grad_(True)
    for value in (0.0, 1.0, 1e6):
        x = torch.full_like(eta, value)
        log_p = poisson(link).log_prob(x, eta)
        assert torch.isfinite(log_p).all(), (link, value, log_p)
        (grad,) = torch.autograd.grad(log_p.sum(), eta)
        assert torch.isfinite(grad).all(), (link, value, grad)


@pytest.mark.parametrize("link", ["exp", "softplus"])
def test_poisson_mean_is_the_rate_and_it_has_no_parameters(link):
    eta = torch.linspace(-5, 5, 7).expand(S, B, -1)
    lik = poisson(link)
    rate = eta.exp() if link == "exp" else F.softplus(eta)
    torch.testing.assert_close(lik.mean(eta), rate)
    assert lik.multiplier == 1 and lik.discrete and not list(lik.parameters())


# --------------------------------------------------------------------------------------- negative binomial
def with_dispersions(lik: NegativeBinomialLikelihood, seed: int = 3) -> torch.Tensor:
    """Give every seed and dimension its own dispersion α in [1e-3, 20]; return α [S, D]."""
    g = torch.Generator().manual_seed(seed)
    log_alpha = torch.empty(lik.log_dispersion.shape, dtype=torch.float64).uniform_(math.log(1e-3), 3.0, generator=g)
    with torch.no_grad():
        lik.log_dispersion.copy_(log_alpha)
    return log_alpha.exp()


def test_negative_binomial_matches_torch_and_scipy_per_seed_and_dimension():
    lik = negative_binomial().double()
    alpha = with_dispersions(lik)
    x, eta = counts_and_params(seed=4)
    got = lik.log_prob(x, eta)
    assert got.shape == (S, B)
    r = 1 / alpha[:, None, :]  # [S, 1, D]: each seed's own dispersions, shared over its examples
    mu = eta.exp()
    reference = NegativeBinomial(total_count=r, logits=torch.log(mu / r)).log_prob(x).sum(-1)
    torch.testing.assert_close(got, reference, rtol=1e-10, atol=1e-8)
    scipy_values = stats.nbinom.logpmf(x.numpy(), r.numpy(), (r / (r + mu)).numpy()).sum(-1)
    np.testing.assert_allclose(got.detach().numpy(), scipy_values, rtol=1e-9, atol=1e-7)


def test_negative_binomial_moments_are_the_mean_and_nb2_variance():
    lik = negative_binomial(dispersion=0.5, seeds=1, x_shape=(1,)).double()
    with torch.no_grad():
        lik.log_dispersion.fill_(math.log(0.5))  # in double precision, not float32's rounding of it
    eta = torch.full((1, 1, 1), math.log(4.0), dtype=torch.float64)
    k = torch.arange(0, 3000, dtype=torch.float64).reshape(1, -1, 1)
    with torch.no_grad():
        p = lik.log_prob(k, eta.expand(1, k.shape[1], 1)).exp()
    mean = (k.flatten() * p.flatten()).sum()
    var = ((k.flatten() - mean) ** 2 * p.flatten()).sum()
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-10)
    assert float(mean) == pytest.approx(4.0, rel=1e-9) and float(var) == pytest.approx(4.0 + 0.5 * 16, rel=1e-9)
    assert torch.allclose(lik.mean(eta), torch.tensor(4.0, dtype=torch.float64))


def test_negative_binomial_stays_finite_at_the_bounds_of_its_dispersion_and_mean():
    eta = torch.tensor([-1e4, -30.0, 0.0, 30.0, 1e4]).expand(S, B, -1).clone().requires_grad_(True)
    for dispersion in (1e-4, 1.0, 1e4):
        lik = negative_binomial(dispersion=dispersion, x_shape=(5,))
        with torch.no_grad():  # beyond the bounds: clamped, still finite
            lik.log_dispersion[0].fill_(-50.0 if dispersion < 1 else 50.0)
        for value in (0.0, 3.0, 1e6):
            log_p = lik.log_prob(torch.full_like(eta, value), eta)
            assert torch.isfinite(log_p).all(), (dispersion, value, log_p)
            grads = torch.autograd.grad(log_p.sum(), [eta, lik.log_dispersion])
            assert all(torch.isfinite(g).all() for g in grads), (dispersion, value)


def test_negative_binomial_learns_one_dispersion_per_seed_and_dimension_and_logs_their_mean():
    lik = negative_binomial(dispersion=0.3, seeds=3, x_shape=(2, 4))
    check_seed_axis(lik, 3)
    assert lik.log_dispersion.shape == (3, 2, 4) and lik.log_dispersion.requires_grad
    torch.testing.assert_close(lik.logged()["likelihood_dispersion"], torch.full((3,), 0.3))
    with torch.no_grad():
        lik.log_dispersion[1, 0].fill_(math.log(2.0))
    assert lik.logged()["likelihood_dispersion"][1].item() == pytest.approx((4 * 2.0 + 4 * 0.3) / 8, rel=1e-6)
    x = torch.ones(3, B, 2, 4)
    log_p = lik.log_prob(x, torch.zeros(3, B, 2, 4))
    assert log_p.shape == (3, B)
    log_p[0].sum().backward()
    grad = lik.log_dispersion.grad
    assert grad is not None and grad[0].abs().sum() > 0 and grad[1:].abs().sum() == 0, "seeds must not mix"


def test_negative_binomial_refuses_a_dispersion_outside_its_bounds():
    for bad in (0.0, 1e-5, 1e5):
        with pytest.raises(ValueError, match="dispersion"):
            NegativeBinomialOptions(dispersion=bad)


# ------------------------------------------------------------------------------ gaussian, scale per dimension
def test_gaussian_per_dimension_scale_matches_torch_normal():
    ctx = BuildContext(seeds=S, x_shape=(3,))
    lik = GaussianLikelihood(GaussianOptions(learn_scale=True, scale_per="dimension", scale=0.5), ctx).double()
    assert lik.log_scale.shape == (S, 3) and lik.log_scale.requires_grad
    check_seed_axis(lik, S)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        lik.log_scale.copy_(torch.randn(S, 3, generator=g, dtype=torch.float64))
    x = torch.randn(S, B, 3, generator=g, dtype=torch.float64)
    loc = torch.randn(S, B, 3, generator=g, dtype=torch.float64)
    reference = Normal(loc, lik.log_scale.exp()[:, None, :]).log_prob(x).sum(-1)
    torch.testing.assert_close(lik.log_prob(x, loc), reference, rtol=1e-12, atol=1e-12)
    scipy_values = stats.norm.logpdf(x.numpy(), loc.numpy(), lik.log_scale.detach().exp()[:, None, :].numpy())
    np.testing.assert_allclose(lik.log_prob(x, loc).detach().numpy(), scipy_values.sum(-1), rtol=1e-12)
    torch.testing.assert_close(lik.logged()["likelihood_scale"], lik.log_scale.detach().exp().mean(1))


def test_gaussian_per_dimension_scale_on_images_and_its_gradients():
    ctx = BuildContext(seeds=S, x_shape=(2, 3, 3))
    lik = GaussianLikelihood(GaussianOptions(learn_scale=True, scale_per="dimension"), ctx)
    assert lik.log_scale.shape == (S, 2, 3, 3)
    x, loc = torch.randn(S, B, 2, 3, 3), torch.randn(S, B, 2, 3, 3)
    log_p = lik.log_prob(x, loc)
    expected = Normal(loc, lik.log_scale.detach().exp().unsqueeze(1)).log_prob(x).flatten(2).sum(-1)
    torch.testing.assert_close(log_p.detach(), expected, rtol=1e-5, atol=1e-4)
    log_p.sum().backward()
    assert lik.log_scale.grad is not None and torch.isfinite(lik.log_scale.grad).all()
    assert (lik.log_scale.grad != 0).all(), "every dimension's scale is learnt"


def test_gaussian_defaults_are_unchanged_and_a_fixed_per_dimension_scale_is_refused():
    options = GaussianOptions()
    assert (options.scale, options.learn_scale, options.scale_per) == (0.1, False, "seed")
    lik = GaussianLikelihood(options, BuildContext(seeds=S, x_shape=(3,)))
    assert list(lik.state_dict()) == ["log_scale"] and lik.log_scale.shape == (S, 1) and not list(lik.parameters())
    learnt = GaussianLikelihood(GaussianOptions(learn_scale=True), BuildContext(seeds=S, x_shape=(3,)))
    assert learnt.log_scale.shape == (S, 1)
    with pytest.raises(ValueError, match="learn_scale"):
        GaussianOptions(scale_per="dimension")


def test_spec_json_of_a_seed_scale_is_what_it_was_so_earlier_runs_resume():
    def written(likelihood: dict) -> dict:
        spec = ica.load_spec({"data": {"name": "tcl"}, "models": {"m": {"name": "ivae", "likelihood": likelihood}}})
        return spec_json(spec)["models"]["m"]["likelihood"]

    assert written({"name": "gaussian"}) == {"name": "gaussian", "scale": 0.1, "learn_scale": False}
    per_dimension = written({"name": "gaussian", "learn_scale": True, "scale_per": "dimension"})
    assert per_dimension["scale_per"] == "dimension"
    again = ica.load_spec({"data": {"name": "tcl"}, "models": {"m": {"name": "ivae", "likelihood": per_dimension}}})
    assert again.models["m"].likelihood.scale_per == "dimension"


# ------------------------------------------------------------------------------------ refused at validation
runner = CliRunner()
MLP = {"name": "mlp", "hidden": [8]}


def npz_spec(tmp_path, x: np.ndarray, likelihood: dict, **data) -> str:
    rng = np.random.default_rng(0)
    n = len(x)
    np.savez(tmp_path / "counts.npz", x=x.astype(np.float32), u=np.arange(n) % 4, s=rng.normal(size=(n, 2)))
    spec = {
        "data": {"name": "npz", "path": str(tmp_path / "counts.npz"), **data},
        "models": {"m": {"name": "ivae", "encoder": MLP, "decoder": MLP, "likelihood": likelihood}},
        "training": {"steps": 5, "batch_size": 8},
        "seeds": 1,
        "device": "cpu",
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return str(path)


def counts(n: int = 60, d: int = 4) -> np.ndarray:
    return np.random.default_rng(1).poisson(3.0, size=(n, d)).astype(np.float32)


def refused(result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].lower().startswith("error"), result.output  # one message
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)
    return result.output


@pytest.mark.parametrize("name", ["poisson", "negative_binomial"])
def test_counts_validate_and_negative_values_are_refused_naming_likelihood_and_data(tmp_path, name):
    good = runner.invoke(app, ["validate", npz_spec(tmp_path, counts(), {"name": name})])
    assert good.exit_code == 0, good.output
    x = counts()
    x[:37, 0] = -1.0
    out = refused(
        runner.invoke(app, ["validate", npz_spec(tmp_path, x, {"name": name})]),
        "models.m.likelihood",
        f"likelihood '{name}' needs counts (whole numbers >= 0)",
        "'npz'",
        "37 negative",
    )
    assert "standardize" not in out


def test_fractions_are_refused_and_the_message_counts_each_reason(tmp_path):
    x = counts()
    x[:3, 1] = 0.5
    x[3:5, 2] = -2.0
    refused(
        runner.invoke(app, ["validate", npz_spec(tmp_path, x, {"name": "poisson"})]),
        "5 values (of 192) that are not: 2 negative, 3 not whole numbers",
    )


def test_standardized_counts_are_refused_saying_standardize_is_the_cause(tmp_path):
    spec = npz_spec(tmp_path, counts(), {"name": "poisson"}, standardize=True)
    refused(runner.invoke(app, ["validate", spec]), "likelihood 'poisson'", "data.standardize", "false")
    with pytest.raises(ica.SpecError) as caught:
        ica.check(spec)
    assert caught.value.where == "models.m.likelihood"


def test_bernoulli_refuses_data_outside_the_unit_interval(tmp_path):
    grey = np.random.default_rng(2).uniform(0, 1, size=(60, 4))
    assert runner.invoke(app, ["validate", npz_spec(tmp_path, grey, {"name": "bernoulli"})]).exit_code == 0
    grey[0, :2] = [1.5, 2.0]
    refused(
        runner.invoke(app, ["validate", npz_spec(tmp_path, grey, {"name": "bernoulli"})]),
        "likelihood 'bernoulli' needs values in [0, 1]",
        "2 above 1",
    )


def test_the_evaluation_split_is_checked_too(tmp_path):
    x = counts()
    x[-1, 0] = 2.5  # the last rows are the evaluation split
    with pytest.raises(ica.DataError, match="evaluation split.*1 not whole numbers"):
        ica.check(npz_spec(tmp_path, x, {"name": "poisson"}))


# -------------------------------------------------------------------------------------------- it trains
def simulated_spikes(n_per_state: int = 150, states: int = 5, neurons: int = 20, seed: int = 0):
    """Poisson counts of ``neurons`` driven by 2 latents whose scale depends on a behavioural state u."""
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(states), n_per_state)
    scales = rng.uniform(0.3, 2.0, size=(states, 2))
    s = rng.laplace(size=(len(u), 2)) * scales[u]
    mixing = rng.normal(size=(2, neurons)) * 0.6
    log_rate = np.tanh(s) @ mixing + 0.5
    order = rng.permutation(len(u))
    return rng.poisson(np.exp(log_rate))[order].astype(np.float32), u[order], s[order]


@pytest.mark.slow
def test_ivae_with_a_poisson_likelihood_trains_on_simulated_spikes(tmp_path):
    x, u, s = simulated_spikes()
    np.savez(tmp_path / "spikes.npz", x=x, u=u, s=s)
    spec = {
        "data": {"name": "npz", "path": str(tmp_path / "spikes.npz")},
        "models": {
            "poisson": {
                "name": "ivae",
                "encoder": {"name": "mlp", "hidden": [32]},
                "decoder": {"name": "mlp", "hidden": [32]},
                "likelihood": {"name": "poisson"},
            }
        },
        "training": {"steps": 300, "batch_size": 64, "lr": 3e-3},
        "evaluation": {"metrics": [{"name": "mcc"}, {"name": "elbo"}]},
        "seeds": 2,
        "device": "cpu",
    }
    ica.check(spec)
    summary = ica.run(spec, out=tmp_path / "run")
    cell = summary["cells"]["poisson"]
    assert set(cell["status"].values()) == {"finished"}, cell["status"]
    stats_ = cell["stats"]
    assert stats_["mcc"]["median"] > stats_["mcc_untrained"]["median"] + 0.1, stats_  # about 0.70 against 0.41
    first, last = [], []
    for seed in (0, 1):
        lines = (tmp_path / "run" / "poisson" / "seeds" / str(seed) / "metrics.jsonl").read_text().splitlines()
        losses = [json.loads(line)["loss"] for line in lines if "loss" in json.loads(line)]
        first.append(losses[0])
        last.append(losses[-1])
    assert all(b < a for a, b in zip(first, last)), (first, last)  # the negative ELBO went down
