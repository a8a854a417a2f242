"""The ELBO pieces against hand-written formulas: likelihood, priors, KL, VaDE's q(u|x), the VAE loss."""

from __future__ import annotations

import math

import torch
from torch.distributions import Normal

from ica.nn.distributions import responsibilities
from ica.nn.layers import one_hot
from ica.components.registry import registry
from ica.components.protocols import Batch, BuildContext
from ica.spec.models import spec_models

REG = registry()


def opts(kind: str, name: str, **values):
    return spec_models(REG).tagged[(kind, name)].model_validate({"name": name, **values})


def test_gaussian_likelihood_is_the_sum_of_per_dimension_normal_log_densities():
    lik = REG.build(opts("likelihood", "gaussian", scale=0.5), BuildContext(seeds=2, x_shape=(3,)))
    x, mean = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    expected = (-0.5 * ((x - mean) / 0.5) ** 2 - math.log(0.5) - 0.5 * math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(lik.log_prob(x, mean), expected)


def test_conditional_prior_table_picks_the_row_of_u():
    prior = REG.build(opts("prior", "conditional"), BuildContext(seeds=1, latent_dim=2, n_u=3))
    u = torch.tensor([[2, 0]])
    dist = prior(one_hot(u, 3))
    torch.testing.assert_close(dist.mean, prior.mean[0, [2, 0]].unsqueeze(0))
    torch.testing.assert_close(dist.variance, prior.log_var[0, [2, 0]].exp().unsqueeze(0))


def test_gmm_log_density_and_responsibilities_match_the_formulas():
    prior = REG.build(opts("prior", "gmm", components=3), BuildContext(seeds=1, latent_dim=2))
    with torch.no_grad():
        prior.logits.copy_(torch.tensor([[0.0, 1.0, -1.0]]))
    z = torch.randn(1, 5, 2)
    dist = prior()
    weights = torch.softmax(prior.logits[0], -1)
    comp = torch.stack(
        [Normal(prior.mean[0, k], prior.log_var[0, k].mul(0.5).exp()).log_prob(z[0]).sum(-1) for k in range(3)], -1
    )  # [5, 3]
    joint = comp + weights.log()
    torch.testing.assert_close(dist.log_prob(z)[0], torch.logsumexp(joint, -1))
    torch.testing.assert_close(responsibilities(dist, z)[0], joint - torch.logsumexp(joint, -1, keepdim=True))


def vae(name: str, **model_options):
    ctx = BuildContext(seeds=1, x_shape=(3,), latent_dim=2, n_u=4, build=REG.build)
    return REG.build(opts("model", name, **model_options), ctx)


def test_ivae_loss_is_the_negative_elbo_of_eq_3_with_the_closed_form_kl():
    model = vae("ivae")
    x, u = torch.randn(1, 6, 3), torch.randint(0, 4, (1, 6))
    noise = torch.randn(1, 6, 2)
    out = model.loss(Batch(x, u), noise)
    cond = one_hot(u, 4)
    mean, log_var = model.encoder(x, cond)
    z = mean + (0.5 * log_var).exp() * noise
    log_lik = model.likelihood.log_prob(x, model.decoder(z))
    p_mean, p_log_var = model.prior.parameters_for(cond)
    kl = 0.5 * (p_log_var - log_var + (log_var.exp() + (mean - p_mean) ** 2) / p_log_var.exp() - 1).sum(-1)
    torch.testing.assert_close(out.loss, kl - log_lik)
    torch.testing.assert_close(out.terms["kl"], kl)


def test_vade_loss_is_the_single_sample_estimator_of_eq_6():
    model = vae("vade", prior={"name": "gmm", "components": 3})
    x = torch.randn(1, 6, 3)
    noise = torch.randn(1, 6, 2)
    out = model.loss(Batch(x), noise)
    mean, log_var = model.encoder(x)
    z = mean + (0.5 * log_var).exp() * noise
    log_q = Normal(mean, (0.5 * log_var).exp()).log_prob(z).sum(-1)
    log_p = model.prior().log_prob(z)
    log_lik = model.likelihood.log_prob(x, model.decoder(z))
    torch.testing.assert_close(out.loss, -(log_lik + log_p - log_q))


def test_vade_assignments_are_the_most_responsible_component_at_the_posterior_mean():
    model = vae("vade", prior={"name": "gmm", "components": 3})
    model.eval()
    x = torch.randn(1, 10, 3)
    rep = model.represent(Batch(x))
    expected = responsibilities(model.prior(), rep.latents).argmax(-1)
    assert torch.equal(rep.assignments, expected)


def test_ivae_assignments_are_the_given_u():
    model = vae("ivae")
    u = torch.randint(0, 4, (1, 10))
    assert torch.equal(model.represent(Batch(torch.randn(1, 10, 3), u)).assignments, u)
