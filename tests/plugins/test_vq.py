"""App. B: the quantised mixture prior, relaxed and hard VQ-VAEs, the autoencoder baseline, grid-position MCC.

Everything is checked against hand computations (numpy loops over codes and positions) or independent
references (Gumbel moments, the Gumbel-max property, `cca_mcc`), on tiny images and codebooks.
"""

from __future__ import annotations

import itertools
import json
import math
import types

import numpy as np
import pytest
import torch

import ica
from ica.nn.conv import from_grouped, to_grouped
from ica.nn.distributions import responsibilities
from ica.errors import SpecError
from ica.evaluation.seeds import Evaluation, SeedOutcome, representation, summarise
from ica.training.optim import SeedAdam
from ica.plugin import DatasetOptions, hookimpl
from ica.components.registry import Registry, registry
from ica.plugins.metrics.cca_mcc import CCAMCCOptions, PairwiseCCAMCC
from ica.plugins.metrics.grid_mcc import GridMCC, GridMCCOptions
from ica.plugins.models.vqvae import (
    code_log_posterior,
    gumbel_from_normal,
    kl_categorical,
    nearest_codes,
    relaxed_weights,
    straight_through,
)
from ica.components.protocols import Batch, BuildContext, DataSplits, Split
from ica.rundir.layout import RunLayout
from ica.running.outcomes import load_outcome
from ica.nn.seeding import build_seeded, check_seed_axis, generator, seed_generators
from ica.spec.models import spec_models

REG = registry()
TINY_NETS = {"channels": 4, "latent_dim": 2, "residual_blocks": 1}


def opts(kind: str, name: str, **values):
    return spec_models(REG).tagged[(kind, name)].model_validate({"name": name, **values})


def build(kind: str, name: str, seeds: int = 1, x_shape=(1, 8, 8), ctx_latent_dim: int = 2, **values):
    ctx = BuildContext(seeds=seeds, x_shape=x_shape, latent_dim=ctx_latent_dim)
    return REG.build(opts(kind, name, **values), ctx)


def tiny_model(name: str, seeds: list[int], x_shape=(1, 8, 8), **values):
    """A model with tiny networks and codebook, each seed initialised as if alone."""
    values = {**TINY_NETS, **values}
    if name == "vqvae":
        values.setdefault("prior", {"name": "quantised", "codebook_size": 5, "init_bound": 1.0})
    make = lambda n: build("model", name, n, x_shape, **values)  # noqa: E731
    return build_seeded(make, seeds)


def set_codebook(prior, codebook: torch.Tensor) -> None:
    with torch.no_grad():
        prior.codebook.copy_(codebook)


# ------------------------------------------------------------------------------------- the prior
CODEBOOK = torch.tensor([[[0.0, 0.0], [1.0, 2.0], [-1.5, 0.5]]])  # [S=1, K=3, d=2]
POINTS = torch.tensor([[[0.2, 0.1], [0.9, 1.5], [-2.0, 1.0], [5.0, -3.0]]])  # [S=1, N=4, d=2]


def hand_log_q(points: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """softmax_k(-||z - e_k||² / 2), one point and one code at a time."""
    out = np.empty((len(points), len(codebook)))
    for n, z in enumerate(points):
        logits = np.array([-0.5 * sum((z[j] - e[j]) ** 2 for j in range(len(z))) for e in codebook])
        out[n] = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
    return out


def test_quantised_prior_is_a_uniform_identity_covariance_mixture():
    prior = build("prior", "quantised", codebook_size=3)
    set_codebook(prior, CODEBOOK)
    mixture = prior(None)
    expected = hand_log_q(POINTS[0].numpy(), CODEBOOK[0].numpy())
    np.testing.assert_allclose(responsibilities(mixture, POINTS)[0].detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    # log p(z) = log (1/K) Σ_k N(z; e_k, I)
    z, e = POINTS[0].double().numpy(), CODEBOOK[0].double().numpy()
    density = [np.mean([np.exp(-0.5 * np.sum((p - c) ** 2)) / (2 * np.pi) for c in e]) for p in z]
    np.testing.assert_allclose(mixture.log_prob(POINTS)[0].detach().numpy(), np.log(density), rtol=1e-5)


def test_codebook_initialisation_is_uniform_within_the_bound():
    torch.manual_seed(0)
    small = build("prior", "quantised", codebook_size=400)
    assert small.codebook.shape == (1, 400, 2)
    assert small.codebook.abs().max() <= 1 / 400 and small.codebook.abs().max() > 0.9 / 400
    wide = build("prior", "quantised", codebook_size=400, init_bound=3.0)
    assert 2.7 < wide.codebook.abs().max() <= 3.0


@pytest.mark.parametrize("prior_name", ["quantised", "gmm"])
def test_code_posterior_without_the_dense_difference_tensor_equals_the_responsibilities(prior_name):
    torch.manual_seed(1)
    prior = build(
        "prior",
        prior_name,
        seeds=2,
        ctx_latent_dim=3,
        **({"codebook_size": 6} if prior_name == "quantised" else {"components": 6}),
    )
    if prior_name == "quantised":
        set_codebook(prior, torch.randn(2, 6, 3))
    z = torch.randn(2, 9, 3)
    mixture = prior(None)
    torch.testing.assert_close(code_log_posterior(mixture, z), responsibilities(mixture, z), rtol=1e-4, atol=1e-5)


def test_kl_to_the_uniform_code_prior_against_a_hand_computation():
    q = torch.tensor([[[0.7, 0.2, 0.1], [1.0, 0.0, 0.0]]])
    log_p = torch.full((1, 1, 3), -math.log(3))
    expected = [0.7 * math.log(0.7 * 3) + 0.2 * math.log(0.2 * 3) + 0.1 * math.log(0.1 * 3), math.log(3)]
    torch.testing.assert_close(kl_categorical(q.log(), log_p), torch.tensor([expected]))


# ------------------------------------------------------------------------------- relaxed quantiser
def test_gumbel_noise_from_standard_normal_noise():
    assert gumbel_from_normal(torch.tensor(0.0)).item() == pytest.approx(-math.log(math.log(2)), rel=1e-6)
    g = gumbel_from_normal(torch.randn(400_000, generator=torch.Generator().manual_seed(0)))
    assert torch.isfinite(g).all()
    assert g.mean().item() == pytest.approx(0.5772157, abs=0.01)  # Euler-Mascheroni: the mean of Gumbel(0, 1)
    assert g.var().item() == pytest.approx(math.pi**2 / 6, rel=0.02)
    assert torch.isfinite(gumbel_from_normal(torch.tensor([-40.0, 40.0]))).all()


def test_gumbel_max_of_the_converted_noise_samples_the_code_posterior():
    q = torch.tensor([0.6, 0.3, 0.1])
    noise = torch.randn(60_000, 3, generator=torch.Generator().manual_seed(1))
    picks = (q.log() + gumbel_from_normal(noise)).argmax(-1)
    frequencies = torch.bincount(picks, minlength=3).double() / len(picks)
    torch.testing.assert_close(frequencies, q.double(), atol=0.01, rtol=0)


def test_relaxed_sample_approaches_one_hot_at_low_temperature_and_its_expectation_is_the_mean_code():
    log_q = torch.log_softmax(torch.tensor([[[0.5, 0.1, -0.3, 0.2]] * 50]), -1)
    gumbel = gumbel_from_normal(torch.randn(1, 50, 4, generator=torch.Generator().manual_seed(2)))
    cold = relaxed_weights(log_q, gumbel, 0.01)
    top2 = (log_q + gumbel).topk(2, dim=-1).values
    clear = top2[..., 0] - top2[..., 1] > 0.1  # no near-tie: the winner's weight is >= 1/(1 + 3e^-10)
    assert clear.sum() >= 40 and (cold.max(-1).values[clear] > 0.999).all()
    assert torch.equal(cold.argmax(-1), (log_q + gumbel).argmax(-1))
    warm = relaxed_weights(log_q, gumbel, 100.0)
    assert ((warm - 0.25).abs() < 0.05).all()
    torch.testing.assert_close(relaxed_weights(log_q, None, 0.01), log_q.exp())


def test_relaxed_model_decodes_the_expected_code_and_charges_the_kl_in_eval_mode():
    model = tiny_model("vqvae", [0], prior={"name": "quantised", "codebook_size": 3})
    set_codebook(model.prior, CODEBOOK)
    model.eval()
    x = torch.rand(1, 3, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        z_e = model.encode(x)  # [1, 3, P=4, 2]
        flat = z_e.reshape(1, -1, 2)
        z_q, terms = model._relaxed(flat, None)
        out = model.loss(Batch(x), None)
    log_q = hand_log_q(flat[0].double().numpy(), CODEBOOK[0].double().numpy())
    q = np.exp(log_q)
    np.testing.assert_allclose(z_q[0].numpy(), q @ CODEBOOK[0].double().numpy(), rtol=1e-5, atol=1e-6)
    kl = (q * (log_q + math.log(3))).sum(-1).reshape(3, 4).sum(-1)  # summed over the 4 grid positions
    np.testing.assert_allclose(out.terms["kl"][0].numpy(), kl, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out.loss, out.terms["kl"] - out.terms["log_likelihood"])


def test_relaxed_model_draws_its_gumbel_noise_from_the_given_normal_noise():
    model = tiny_model("vqvae", [0])
    assert model.noise_shape(6) == (6, 4, 5)  # batch, 2×2 grid positions, 5 codes
    x = torch.rand(1, 6, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    noise = torch.randn(1, 6, 4, 5, generator=torch.Generator().manual_seed(5))
    model.train()
    first, again = model.loss(Batch(x), noise).loss, model.loss(Batch(x), noise).loss
    other = model.loss(Batch(x), torch.randn(1, 6, 4, 5, generator=torch.Generator().manual_seed(6))).loss
    torch.testing.assert_close(first, again)
    assert not torch.allclose(first, other)
    with pytest.raises(ValueError, match="noise"):
        model.loss(Batch(x), None)
    assert tiny_model("vqvae", [0], relaxed_sample="expectation").noise_shape(6) is None
    assert tiny_model("vqvae", [0], quantiser="hard").noise_shape(6) is None


# ---------------------------------------------------------------------------------- hard quantiser
def test_nearest_codes_against_brute_force():
    torch.manual_seed(7)
    z, codebook = torch.randn(2, 30, 3), torch.randn(2, 8, 3)
    expected = [
        [int(np.argmin([np.sum((p - c) ** 2) for c in codebook[s].numpy()])) for p in z[s].numpy()] for s in range(2)
    ]
    assert nearest_codes(z, codebook).tolist() == expected
    assert nearest_codes(POINTS, CODEBOOK).tolist() == [[0, 1, 2, 0]]


def test_straight_through_passes_the_codes_forward_and_the_gradient_back_unchanged():
    z_e = torch.randn(1, 4, 2, requires_grad=True)
    e = torch.randn(1, 4, 2)
    out = straight_through(z_e, e)
    assert torch.equal(out, z_e + (e - z_e))
    upstream = torch.randn(1, 4, 2)
    (out * upstream).sum().backward()
    torch.testing.assert_close(z_e.grad, upstream)


def test_hard_model_decodes_the_nearest_code_and_its_gradient_reaches_the_encoder():
    model = tiny_model("vqvae", [0, 1], quantiser="hard")
    assert "prior.codebook" in dict(model.named_buffers()) and "prior.codebook" not in dict(model.named_parameters())
    model.eval()  # no EMA step: the codebook is the one the codes were picked from
    x = torch.rand(2, 5, 1, 8, 8, generator=torch.Generator().manual_seed(8))
    out = model.loss(Batch(x), None)
    out.loss.sum().backward()
    for name, p in model.encoder.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    with torch.no_grad():
        flat = model.encode(x).reshape(2, -1, 2)
        codes = nearest_codes(flat, model.prior.codebook)
        chosen = torch.stack([model.prior.codebook[s, codes[s]] for s in range(2)])
        z_q, terms = model._hard(flat)
    torch.testing.assert_close(z_q, chosen)
    torch.testing.assert_close(terms["commitment"], (flat - chosen).square().sum(-1))
    commitment = terms["commitment"].reshape(2, 5, 4).sum(-1)
    torch.testing.assert_close(out.terms["commitment"].detach(), commitment)
    # eval mode: the ELBO with a one-hot q(k|x), log p(x|z_q) - P log K; training adds β·commitment
    torch.testing.assert_close(out.loss.detach(), -out.terms["log_likelihood"].detach() + 4 * math.log(5))
    model.train()
    train_out = model.loss(Batch(x), None)
    expected = -train_out.terms["log_likelihood"] + 4 * math.log(5) + 0.25 * train_out.terms["commitment"]
    torch.testing.assert_close(train_out.loss, expected)


def test_ema_codebook_step_against_a_hand_computation():
    prior = build("prior", "quantised", seeds=2, codebook_size=3)
    start = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [2.0, -1.0]], [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]])
    set_codebook(prior, start)
    prior.learn_by_ema(decay=0.9, epsilon=0.1)
    check_seed_axis(prior, 2)
    z = torch.tensor(
        [[[0.5, 0.5], [0.7, 0.9], [0.1, -0.2], [2.5, -1.5]], [[3.0, 3.0], [1.0, 2.0], [0.0, 0.0], [1.0, 1.0]]]
    )
    codes = torch.tensor([[1, 1, 0, 2], [1, 1, 1, 0]])
    prior.ema_update(z, codes)
    for s in range(2):
        counts = [0.9 * 1 + 0.1 * sum(int(c == k) for c in codes[s]) for k in range(3)]
        sums = [
            0.9 * start[s, k].numpy() + 0.1 * sum(z[s, n].numpy() for n in range(4) if codes[s, n] == k)
            for k in range(3)
        ]
        total = sum(counts)
        smoothed = [(counts[k] + 0.1) / (total + 3 * 0.1) * total for k in range(3)]
        np.testing.assert_allclose(prior.ema_count[s].numpy(), counts, rtol=1e-6)
        np.testing.assert_allclose(prior.codebook[s].numpy(), [sums[k] / smoothed[k] for k in range(3)], rtol=1e-5)


def test_hard_model_moves_its_codebook_only_in_training():
    model = tiny_model("vqvae", [0], quantiser="hard")
    x = torch.rand(1, 6, 1, 8, 8, generator=torch.Generator().manual_seed(9))
    before = model.prior.codebook.clone()
    model.eval()
    model.loss(Batch(x), None)
    assert torch.equal(model.prior.codebook, before)
    model.train()
    model.loss(Batch(x), None)
    assert not torch.equal(model.prior.codebook, before)


def test_hard_quantiser_needs_the_quantised_prior_and_the_model_needs_a_mixture():
    with pytest.raises(SpecError, match="quantised"):
        tiny_model("vqvae", [0], quantiser="hard", prior={"name": "gmm", "components": 4})
    relaxed_gmm = tiny_model("vqvae", [0], prior={"name": "gmm", "components": 4})
    x = torch.rand(1, 3, 1, 8, 8)
    assert torch.isfinite(relaxed_gmm.loss(Batch(x), torch.randn(1, 3, 4, 4)).loss).all()


# ------------------------------------------------------------------------------ grid networks
@pytest.mark.parametrize(
    "x_shape, grid", [((3, 32, 32), (8, 8)), ((1, 28, 28), (7, 7)), ((1, 8, 8), (2, 2)), ((3, 8, 8), (2, 2))]
)
@pytest.mark.parametrize("name", ["ae", "vqvae"])
def test_images_map_to_the_grid_of_the_reference_implementation_and_back(name, x_shape, grid):
    model = tiny_model(name, [0, 1], x_shape=x_shape)
    x = torch.rand(2, 3, *x_shape)
    model.eval()
    with torch.no_grad():
        rep = model.represent(Batch(x))
        assert rep.grid_shape == (*grid, 2) and rep.latents.shape == (2, 3, grid[0] * grid[1] * 2)
        assert model.decoder(model.encode(x)).shape == (2, 3, *x_shape)


@pytest.mark.parametrize(
    "x_shape, values, match",
    [((4,), {}, "images"), ((1, 10, 10), {}, "divisible by 4"), ((1, 12, 12), {"downsamples": 3}, "divisible by 8")],
)
@pytest.mark.parametrize("name", ["ae", "vqvae"])
def test_unsupported_shapes_are_spec_errors_at_build_time(name, x_shape, values, match):
    with pytest.raises(SpecError, match=match):
        tiny_model(name, [0], x_shape=x_shape, **values)


def test_latents_are_the_encoder_grid_flattened_position_major():
    model = tiny_model("ae", [0, 1], x_shape=(1, 8, 8), latent_dim=3)
    model.eval()
    x = torch.rand(2, 4, 1, 8, 8)
    with torch.no_grad():
        conv = from_grouped(model.encoder.net(to_grouped(x)), 2)  # [S, B, d, h, w]
        latents = model.represent(Batch(x)).latents
    for row, col in itertools.product(range(2), range(2)):
        p = row * 2 + col
        torch.testing.assert_close(latents[:, :, p * 3 : (p + 1) * 3], conv[:, :, :, row, col])


def test_batch_norm_and_no_batch_norm_both_build_and_train():
    model = tiny_model("ae", [0], batch_norm=False, residual_blocks=0, downsamples=1)
    assert not any("running_mean" in k for k in model.state_dict())
    out = model.loss(Batch(torch.rand(1, 3, 1, 8, 8)), None)
    out.loss.sum().backward()
    assert model.represent(Batch(torch.rand(1, 3, 1, 8, 8))).grid_shape == (4, 4, 2)


# ------------------------------------------------------------------------------- seed batching
@pytest.mark.parametrize(
    "name, values",
    [("vqvae", {"quantiser": "relaxed"}), ("vqvae", {"quantiser": "hard"}), ("ae", {})],
    ids=["relaxed", "hard", "ae"],
)
def test_a_seed_trained_in_a_batch_equals_the_seed_trained_alone(name, values):
    seeds = [3, 5, 7]
    models = {"batch": tiny_model(name, seeds, **values), "alone": tiny_model(name, [5], **values)}
    x = torch.rand(3, 6, 1, 8, 8, generator=torch.Generator().manual_seed(10))
    data = {"batch": x, "alone": x[1:2]}
    for key, model in models.items():
        group = seeds if key == "batch" else [5]
        check_seed_axis(model, len(group))
        model.train()
        adam = SeedAdam(model.parameters(), len(group), lr=0.01)
        noise_generators = [generator(s, "noise") for s in group]
        for _ in range(3):
            shape = model.noise_shape(6)
            noise = None if shape is None else torch.stack([torch.randn(shape, generator=g) for g in noise_generators])
            with seed_generators(noise_generators):
                loss = model.loss(Batch(data[key]), noise).loss.mean(1).sum()
            adam.zero_grad()
            loss.backward()
            adam.step()
    batch, alone = models["batch"].state_dict(), models["alone"].state_dict()
    assert batch.keys() == alone.keys()
    for key in batch:  # parameters, batch-norm statistics and the EMA codebook state alike
        torch.testing.assert_close(batch[key][1:2], alone[key], rtol=1e-4, atol=1e-5, msg=key)
    assert not torch.allclose(batch["encoder.net.0.weight"][0], batch["encoder.net.0.weight"][1])


# --------------------------------------------------------------------------------------- grid_mcc
N, GRID = 400, (2, 3, 2)  # 400 evaluation points, a 2×3 grid of 2-vectors
P, D = 6, 2


def grid_outcomes(latents: list[np.ndarray | None], grid=GRID) -> Evaluation:
    outcomes = [
        SeedOutcome(s, "finished", z, None, {}, None, grid)
        if z is not None
        else SeedOutcome(s, "failed", error="diverged")
        for s, z in enumerate(latents)
    ]
    data = DataSplits(Split(torch.zeros(N, 1)), Split(torch.zeros(N, 1)))
    return Evaluation(data, "eval", outcomes)


def values_by_name(records) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for r in records:
        out.setdefault(r.metric, []).append(r.value)
    return out


def rotated(z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each grid position's vector through its own random invertible linear map (and a shift)."""
    grid = z.reshape(N, P, D).copy()
    for p in range(P):
        q, _ = np.linalg.qr(rng.normal(size=(D, D)))
        grid[:, p] = grid[:, p] @ (q * rng.uniform(0.5, 2.0, size=D)) + rng.normal(size=D)
    return grid.reshape(N, P * D)


def test_grid_mcc_is_one_at_every_position_for_identical_or_linearly_mixed_grids():
    rng = np.random.default_rng(0)
    base = rng.laplace(size=(N, P * D))
    metric = GridMCC(GridMCCOptions())
    for latents in ([base, base.copy(), base.copy()], [base, rotated(base, rng), rotated(base, rng)]):
        by_name = values_by_name(metric(grid_outcomes(latents)))
        names = [f"grid_mcc_{side}[{r},{c}]" for side in ("in", "out") for r in range(2) for c in range(3)]
        assert set(by_name) == {"grid_mcc_in", "grid_mcc_out", *names}
        for name, values in by_name.items():
            assert len(values) == 3 and np.allclose(values, 1.0, atol=1e-6), name


def test_grid_mcc_compares_each_position_with_the_same_position_only():
    rng = np.random.default_rng(1)
    shared = rng.normal(size=(N, D))
    latents = []
    for _ in range(3):
        z = rng.normal(size=(N, P, D))  # independent everywhere ...
        z[:, 1] = shared  # ... except at position [0,1]
        latents.append(z.reshape(N, P * D))
    by_name = values_by_name(GridMCC(GridMCCOptions())(grid_outcomes(latents)))
    assert np.allclose(by_name["grid_mcc_out[0,1]"], 1.0)
    for r, c in itertools.product(range(2), range(3)):
        if (r, c) != (0, 1):
            assert max(by_name[f"grid_mcc_out[{r},{c}]"]) < 0.3 and max(by_name[f"grid_mcc_in[{r},{c}]"]) < 0.3
    assert max(by_name["grid_mcc_out"]) < 0.3  # the median over positions: one shared position in six


def test_grid_mcc_failed_seeds_give_failed_records_that_are_counted():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(N, P * D))
    latents = [base, None, rotated(base, rng), base.copy()]  # seed 1 failed: 3 of the 6 pairs fail
    records = GridMCC(GridMCCOptions())(grid_outcomes(latents))
    assert len(records) == 6 * 2 * (1 + P)
    failed = [r for r in records if 1 in r.pair]
    assert len(failed) == 3 * 2 * (1 + P) and all(math.isnan(r.value) and r.error for r in failed)
    assert all(math.isfinite(r.value) and r.error is None for r in records if 1 not in r.pair)
    stats = summarise(records)["stats"]
    assert stats["grid_mcc_out"]["n"] == 6 and stats["grid_mcc_out"]["n_failed"] == 3
    assert stats["grid_mcc_in[1,2]"]["n"] == 6 and stats["grid_mcc_in[1,2]"]["n_failed"] == 3
    assert stats["grid_mcc_out"]["median"] == pytest.approx(1.0)


def test_grid_mcc_without_a_grid_is_cca_mcc_of_the_whole_vector():
    rng = np.random.default_rng(3)
    latents = [rng.normal(size=(N, 4)) for _ in range(3)]
    latents[1] = latents[0] @ rng.normal(size=(4, 4)) + 0.3 * rng.normal(size=(N, 4))
    ev = grid_outcomes(latents, grid=None)
    ours = {(r.metric, r.pair): r.value for r in GridMCC(GridMCCOptions())(ev)}
    theirs = {(r.metric.replace("cca", "grid"), r.pair): r.value for r in PairwiseCCAMCC(CCAMCCOptions())(ev)}
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key] == pytest.approx(theirs[key], abs=1e-12), key


def test_grid_mcc_per_position_records_can_be_left_out():
    rng = np.random.default_rng(4)
    latents = [rng.normal(size=(N, P * D)) for _ in range(2)]
    records = GridMCC(GridMCCOptions(per_position=False))(grid_outcomes(latents))
    assert [r.metric for r in records] == ["grid_mcc_in", "grid_mcc_out"]


# ------------------------------------------------------------------------------------- end to end
def tiny_images_plugin() -> types.ModuleType:
    """A dataset of 48 + 40 random 1×8×8 'images' (smooth blobs), for runs that take a second."""
    module = types.ModuleType("tiny_images")

    def load(options, ctx):
        g = torch.Generator().manual_seed(0)
        centres = torch.rand(88, 2, generator=g) * 8
        grid = torch.stack(torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij"))  # [2, 8, 8]
        images = torch.exp(-((grid[None] - centres[:, :, None, None]) ** 2).sum(1) / 8).unsqueeze(1)
        return DataSplits(Split(images[:48]), Split(images[48:]))

    @hookimpl
    def ica_register(register):
        register("dataset", "tiny_images", DatasetOptions, load, description="Test images.")

    module.ica_register = ica_register
    return module


@pytest.mark.slow
def test_vqvae_and_ae_run_end_to_end_with_grid_mcc_and_keep_the_grid_shape(tmp_path):
    reg = Registry.load(entry_points=False, extra=[("tests", tiny_images_plugin())])
    prior = {"name": "quantised", "codebook_size": 6}
    spec = {
        "name": "vq",
        "data": {"name": "tiny_images"},
        "models": {
            "rvq": {"name": "vqvae", **TINY_NETS, "prior": prior},
            "vq": {"name": "vqvae", **TINY_NETS, "prior": prior, "quantiser": "hard"},
            "ae": {"name": "ae", **TINY_NETS},
        },
        "training": {"steps": 4, "batch_size": 8, "log_every": 2, "checkpoint_every": 4, "scheduler": None},
        "seeds": 3,
        "device": "cpu",
        "evaluation": {"metrics": [{"name": "grid_mcc"}]},
    }
    summary = ica.run(spec, out=tmp_path, reg=reg)
    layout = RunLayout(tmp_path)
    for label, cell in summary["cells"].items():
        assert cell["status"] == {"0": "finished", "1": "finished", "2": "finished"}, label
        stats = cell["stats"]
        assert stats["grid_mcc_out"]["n"] == 3 and stats["grid_mcc_out"]["n_failed"] == 0, label
        assert {f"grid_mcc_out[{r},{c}]" for r in range(2) for c in range(2)} <= set(stats), label
        trained = [[k for k in pair if not k.endswith("_untrained")] for pair in cell["pairs"]]
        assert all(len(keys) == 1 + 2 * 5 for keys in trained), label  # "seeds", (median + 4 positions) × 2
        assert all(
            f"{k}_untrained" in pair for pair, keys in zip(cell["pairs"], trained) for k in keys if k != "seeds"
        ), label
        files = layout.seed(label, 1)
        with np.load(files.latents) as saved:
            assert saved["grid_shape"].tolist() == [2, 2, 2] and saved["latents"].shape == (40, 8)
        outcome = load_outcome(files)
        assert outcome.grid_shape == (2, 2, 2) and outcome.latents.shape == (40, 8)
    metrics = [json.loads(line) for line in layout.seed("vq", 0).metrics.read_text().splitlines()]
    assert {"log_likelihood", "kl", "commitment"} <= set(metrics[-1])
    # Resuming evaluates again from the saved latents and grid shapes: the same records.
    again = ica.run(spec, out=tmp_path, reg=reg)
    for label in summary["cells"]:
        assert again["cells"][label]["pairs"] == summary["cells"][label]["pairs"]


def test_representation_of_a_split_carries_the_grid_shape():
    model = tiny_model("ae", [0, 1])
    split = Split(torch.rand(10, 1, 8, 8))
    rep = representation(model, split, chunk=4)
    assert rep.grid_shape == (2, 2, 2) and rep.latents.shape == (2, 10, 8) and rep.assignments is None
    assert model.training, "representation restores the training mode"
