"""App. C's Rademacher-hashed u: the hash itself, its use in VaDE's ELBO, and its fixedness."""

from __future__ import annotations

import math

import pytest
import torch

import ica
from ica.nn.layers import one_hot
from ica.components.protocols import Batch, BuildContext
from ica.running.building import build_model, prepare_data
from ica.nn.seeding import build_seeded
from ica.spec.load import load_spec
from ica.spec.models import spec_models

REG = ica.registry()


def prior(bits: int, seeds: list[int], x_shape=(6,), latent_dim=2):
    options = spec_models(REG).tagged[("prior", "rademacher")].model_validate({"name": "rademacher", "bits": bits})
    ctx = BuildContext(x_shape=x_shape, latent_dim=latent_dim, build=REG.build)
    return build_seeded(lambda n: REG.build(options, ctx.with_(seeds=n)), seeds)


def test_hash_is_the_binary_code_of_the_projection_signs():
    p = prior(3, [0])
    x = torch.randn(1, 50, 6)
    a = p.projection[0].T  # A, [N, d_x]
    h = x[0] @ a.T
    expected = sum((2**i) * (h[:, i] > 0).long() for i in range(3))
    assert torch.equal(p.assign(x)[0], expected)
    assert set(p.projection.unique().tolist()) == {-1.0, 1.0}


def test_hash_is_fixed_per_seed_and_differs_between_seeds():
    x = torch.randn(2, 100, 6)
    first, again = prior(4, [3, 8]), prior(4, [3, 8])
    assert torch.equal(first.projection, again.projection)
    assert torch.equal(first.assign(x), again.assign(x))
    assert not torch.equal(first.projection[0], first.projection[1])
    alone = prior(4, [8])
    assert torch.equal(alone.projection[0], first.projection[1])


def test_every_code_is_used_on_random_data():
    p = prior(3, [0], x_shape=(20,))
    codes = p.assign(torch.randn(1, 4000, 20))
    assert sorted(codes.unique().tolist()) == list(range(8))


def test_the_hashed_elbo_terms_match_a_hand_computation():
    spec = load_spec(
        {
            "data": {"name": "tcl", "segments": 3, "samples_per_segment": 20, "dim": 3},
            "model": {"name": "vade", "prior": {"name": "rademacher", "bits": 2}},
        }
    )
    data = prepare_data(spec, REG)
    model = build_model(REG, spec.models["vade"], data, [0, 1], "vade")
    x = data.train.x[:5].expand(2, 5, 3)
    noise = torch.randn(2, 5, 3)
    out = model.loss(Batch(x), noise)
    u = model.prior.assign(x)
    mean, log_var = model.encoder(x)
    z = mean + (0.5 * log_var).exp() * noise
    mu, lv = model.prior.mean, model.prior.log_var  # [S, K, d]
    mu_u = torch.stack([mu[s, u[s]] for s in range(2)])
    lv_u = torch.stack([lv[s, u[s]] for s in range(2)])
    log_p = (-0.5 * ((z - mu_u) ** 2 / lv_u.exp() + lv_u + math.log(2 * math.pi))).sum(-1)
    log_q = (-0.5 * (noise**2 + log_var + math.log(2 * math.pi))).sum(-1)
    torch.testing.assert_close(out.terms["kl"], log_q - log_p)
    torch.testing.assert_close(out.terms["kl_u"], torch.full((2, 5), math.log(4)))
    torch.testing.assert_close(out.loss, out.terms["kl"] + math.log(4) - out.terms["log_likelihood"])
    rep = model.represent(Batch(x))
    assert torch.equal(rep.assignments, u)
    assert one_hot(u, 4).shape == (2, 5, 4)


@pytest.mark.slow
def test_training_never_changes_the_projection(tiny_spec, tmp_path):
    tiny_spec["models"] = {"rad": {**tiny_spec["models"]["vade"], "prior": {"name": "rademacher", "bits": 2}}}
    spec = load_spec(tiny_spec)
    data = prepare_data(spec, REG)
    before = build_model(REG, spec.models["rad"], data, [0, 1], "rad").prior.projection.clone()
    ica.run(tiny_spec, out=tmp_path)
    from safetensors.torch import load_file

    after = load_file(tmp_path / "rad" / "seeds" / "1" / "model.safetensors")["prior.projection"]
    assert torch.equal(after, before[1:2])
