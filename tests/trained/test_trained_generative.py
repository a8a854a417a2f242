"""Decoding and sampling with a loaded model: known answers (a flow decodes its own latents back to x; many
draws of a mixture prior have the mixture's mean and weights; a conditional prior's draws at u have p(z|u)'s
mean), draws that do not depend on which seeds are loaded together, and clear errors."""

from __future__ import annotations


import numpy as np
import pytest
import torch

import ica
from ica.errors import DataError
from ica.running.building import raw_data

pytestmark = pytest.mark.slow  # every test reads the runs of conftest.trained_runs


@pytest.fixture
def runs(trained_runs):
    """The runs test_trained reads too (`conftest.trained_runs`: trained once per session)."""
    return trained_runs


def eval_x(model):
    return raw_data(model.spec, ica.registry()).eval.x.numpy()


def test_a_flow_decodes_its_own_latents_back_to_the_data_in_the_datas_units(runs):
    model = ica.load(runs / "tcl", model="flow")
    x = eval_x(model)  # raw units: load standardises them, decode must undo it
    np.testing.assert_allclose(model.decode(model.transform(x)), np.broadcast_to(x, (2, *x.shape)), atol=2e-4)


@pytest.mark.parametrize("label", ["vade", "hashed", "flow"])
def test_many_draws_of_a_mixture_prior_have_its_weights_and_mean(runs, label):
    model = ica.load(runs / "tcl", model=label, seeds=[1])
    module = model.groups[0][1]
    mixture = module.prior(None)
    weights = torch.softmax(mixture.mixture_distribution.logits, -1).reshape(-1).double().detach()
    means = mixture.component_distribution.base_dist.loc.reshape(len(weights), -1).double().detach()
    z, u = model.sample_latents(40_000, seed=3)
    counts = np.bincount(u, minlength=len(weights)) / len(u)
    np.testing.assert_allclose(counts, weights.numpy(), atol=0.01)
    np.testing.assert_allclose(z.mean(0), (weights[:, None] * means).sum(0).numpy(), atol=0.05)


def test_a_conditional_prior_draws_at_the_given_u_from_p_z_given_u(runs):
    model = ica.load(runs / "tcl", model="ivae", seeds=[0])
    mean, log_var = model.groups[0][1].prior.component_parameters()
    z, u = model.sample_latents(20_000, seed=0, u=np.full(20_000, 2))
    assert (u == 2).all()
    np.testing.assert_allclose(z.mean(0), mean[0, 2].detach().numpy(), atol=0.05)
    np.testing.assert_allclose(z.var(0), log_var[0, 2].exp().detach().numpy(), rtol=0.05)
    _, drawn = model.sample_latents(4000, seed=0)  # no u: uniform over its 4 values (iVAE learns no p(u))
    np.testing.assert_allclose(np.bincount(drawn, minlength=4) / 4000, 0.25, atol=0.03)


@pytest.mark.parametrize("run, label", [("tcl", "ivae"), ("tcl", "vade"), ("tcl", "flow"), ("digits", "vqvae")])
def test_draws_are_reproducible_and_do_not_depend_on_the_seeds_loaded_beside_them(runs, run, label):
    both = ica.load(runs / run, model=label)
    alone = ica.load(runs / run, model=label, seeds=[1])
    x = both.sample(6, seed=4)
    np.testing.assert_array_equal(x, both.sample(6, seed=4))
    np.testing.assert_array_equal(alone.sample_latents(6, seed=4)[0], both.sample_latents(6, seed=4)[0][1])
    # The same latents decode alike, up to rounding: a batched product or grouped convolution of two seeds
    # rounds differently from one (3e-8 seen for a convolution, 6e-8 for the flow's products).
    np.testing.assert_allclose(alone.sample(6, seed=4), x[1], rtol=0, atol=1e-6)
    assert not np.array_equal(both.sample(6, seed=5), x)
    assert x.shape == (2, 6, *both.x_shape)


def test_vq_vae_draws_grids_of_its_codes(runs):
    model = ica.load(runs / "digits", model="vqvae", seeds=[0])
    codebook = model.groups[0][1].prior.codebook[0].detach().numpy()  # [K, d]
    z, u = model.sample_latents(3)
    assert u is None
    vectors = z.reshape(-1, codebook.shape[1])
    assert all(any(np.array_equal(v, c) for c in codebook) for v in vectors)


@pytest.mark.parametrize("label", ["ae", "vqvae"])
def test_decoding_grid_latents_is_the_reconstruction_the_loss_scores(runs, label):
    model = ica.load(runs / "digits", model=label)
    module = model.groups[0][1]
    x = torch.from_numpy(eval_x(model)[:5])
    with torch.no_grad():  # the ELBO's path: encode, quantise (VQ-VAE, evaluation mode), decode, mean of p(x|z)
        expected = module.likelihood.mean(module.decoder(module.quantised(module.encode(x.expand(2, -1, -1, -1, -1)))))
    images = model.decode(model.transform(x))
    assert images.shape == (2, 5, 1, 8, 8)
    np.testing.assert_allclose(images, expected.numpy(), rtol=0, atol=1e-6)


def test_what_cannot_be_decoded_or_sampled_is_one_clear_error(runs):
    ae = ica.load(runs / "digits", model="ae")
    with pytest.raises(DataError, match="cannot sample"):
        ae.sample(3)
    vade = ica.load(runs / "tcl", model="vade")
    for z, fragment in [
        (np.zeros((3, 3, 3)), r"\[2 seeds, N, d_z\]"),
        (np.full((2, 3), np.nan), "non-finite"),
        (np.zeros((4, 7)), "does not fit the decoder"),
    ]:
        with pytest.raises(DataError, match=fragment):
            vade.decode(z)
    for kwargs, fragment in [
        ({"n": 0}, "n must be"),
        ({"n": 2, "seed": -1}, "seed must be"),
        ({"n": 2, "u": [0, 1]}, "conditional prior"),
    ]:
        with pytest.raises(DataError, match=fragment):
            vade.sample_latents(**kwargs)
    ivae = ica.load(runs / "tcl", model="ivae")
    with pytest.raises(DataError, match="0..3"):
        ivae.sample_latents(2, u=[0, 9])
