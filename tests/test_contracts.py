"""Contract tests, parametrised over every registered component of each kind (third-party ones included).

Each kind's contract is checked the same way for every component: shapes with the leading seed axis,
finite values, gradients reaching every parameter, eval-mode determinism, save/load, spec round trip.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from ica.errors import SpecError
from ica.evaluation.seeds import Evaluation, SeedOutcome
from ica.nn.layers import one_hot
from ica.components.protocols import Batch, BuildContext, DataSplits, MetricRecord, Split, is_fitted_peer
from ica.components.registry import registry
from ica.running.building import model_context
from ica.nn.seeding import build_seeded, check_seed_axis, seed_generators
from ica.spec.models import spec_models

REG = registry()
S, B, D, K_U, DZ = 2, 7, 4, 3, 3
CTX = BuildContext(seeds=S, x_shape=(D,), latent_dim=DZ, n_u=K_U, build=REG.build)
# Options that make a component buildable in these tests when its defaults alone are not enough.
TEST_OPTIONS = {("dataset", "tcl"): {"segments": 3, "samples_per_segment": 10, "eval_samples_per_segment": 6,
                                     "dim": 2}}


def names(kind: str) -> list[str]:
    return REG.names(kind)


def options(kind: str, name: str, **extra):
    models = spec_models(REG)
    cls = models.tagged[(kind, name)] if (kind, name) in models.tagged else type(models.default(kind, name))
    return cls.model_validate({"name": name, **TEST_OPTIONS.get((kind, name), {}), **extra})


def assert_grads_reach_every_parameter(module: torch.nn.Module) -> None:
    for pname, p in module.named_parameters():
        assert p.grad is not None, f"no gradient reached {pname}"
        assert torch.isfinite(p.grad).all(), f"non-finite gradient in {pname}"


@pytest.mark.parametrize("kind", ["dataset", "encoder", "decoder", "prior", "likelihood", "model", "metric"])
def test_every_kind_has_components(kind):
    assert names(kind)


@pytest.mark.parametrize("kind, name", [(c.kind, c.name) for c in REG.of_kind()])
def test_default_options_round_trip_through_json(kind, name):
    try:
        opts = options(kind, name)
    except Exception:
        pytest.skip(f"{kind} {name} has required options")
    again = type(opts).model_validate_json(opts.model_dump_json())
    assert again == opts


# Flat data, a grey 8x8 image (digits) and a colour 8x8 image: an architecture may reject some shapes
# with a SpecError at build time (a ConvNet on flat data), but must support at least one.
X_SHAPES = [(D,), (1, 8, 8), (3, 8, 8)]


def build_or_skip(kind: str, name: str, ctx: BuildContext):
    try:
        return REG.build(options(kind, name), ctx)
    except SpecError as exc:
        pytest.skip(f"{kind} {name} does not take x_shape {ctx.x_shape}: {exc}")


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
@pytest.mark.parametrize("name", sorted(set(names("encoder")) | set(names("decoder"))))
def test_every_architecture_supports_some_input_shape(kind, name):
    if name not in names(kind):
        pytest.skip(f"no {kind} named {name}")
    supported = []
    for shape in X_SHAPES:
        try:
            REG.build(options(kind, name), CTX.with_(x_shape=shape))
            supported.append(shape)
        except SpecError:
            pass
    assert supported, f"{kind} {name} builds for none of {X_SHAPES}"


@pytest.mark.parametrize("x_shape", X_SHAPES, ids=str)
@pytest.mark.parametrize("name", names("encoder"))
@pytest.mark.parametrize("cond_dim", [0, K_U])
def test_encoder_contract(name, cond_dim, x_shape):
    enc = build_or_skip("encoder", name, CTX.with_(cond_dim=cond_dim, x_shape=x_shape))
    check_seed_axis(enc, S)
    x = torch.randn(S, B, *x_shape)
    cond = one_hot(torch.randint(0, K_U, (S, B)), K_U) if cond_dim else None
    mean, log_var = enc(x, cond)
    assert mean.shape == log_var.shape == (S, B, DZ)
    (mean.sum() + log_var.sum()).backward()
    assert_grads_reach_every_parameter(enc)
    enc.eval()
    with torch.no_grad():
        assert torch.equal(enc(x, cond)[0], enc(x, cond)[0]), "eval mode must be deterministic"


@pytest.mark.parametrize("x_shape", X_SHAPES, ids=str)
@pytest.mark.parametrize("name", names("decoder"))
@pytest.mark.parametrize("multiplier", [1, 2])
def test_decoder_contract(name, multiplier, x_shape):
    dec = build_or_skip("decoder", name, CTX.with_(out_multiplier=multiplier, x_shape=x_shape))
    check_seed_axis(dec, S)
    out = dec(torch.randn(S, B, DZ))
    assert out.shape == (S, B, x_shape[0] * multiplier, *x_shape[1:])
    out.sum().backward()
    assert_grads_reach_every_parameter(dec)


@pytest.mark.parametrize("name", names("prior"))
def test_prior_contract(name):
    prior = REG.build(options("prior", name), CTX)
    check_seed_axis(prior, S)
    cond = one_hot(torch.randint(0, K_U, (S, B)), K_U) if prior.conditional else None
    dist = prior(cond)
    assert tuple(dist.event_shape) == (DZ,)
    z = torch.randn(S, B, DZ)
    log_p = dist.log_prob(z)
    assert log_p.shape == (S, B) and torch.isfinite(log_p).all()
    log_p.sum().backward()
    assert_grads_reach_every_parameter(prior)


@pytest.mark.parametrize("name", names("likelihood"))
def test_likelihood_contract(name):
    lik = REG.build(options("likelihood", name), CTX)
    check_seed_axis(lik, S)
    x = torch.randn(S, B, D)
    params = torch.randn(S, B, D * lik.multiplier, requires_grad=True)
    log_p = lik.log_prob(x, params)
    assert log_p.shape == (S, B) and torch.isfinite(log_p).all()
    log_p.sum().backward()
    assert torch.isfinite(params.grad).all()
    assert lik.mean(params).shape[:2] == (S, B)


def tiny_data(n: int = 12, x_shape: tuple[int, ...] = (D,)) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    split = lambda m: Split(torch.rand(m, *x_shape, generator=g), torch.arange(m) % K_U, torch.randn(m, DZ, generator=g))  # noqa: E731
    return DataSplits(split(n), split(n), n_u=K_U)


def model_and_data(name: str, seeds: list[int]):
    """The model built on flat data, or on 3x8x8 images when it takes images only (a SpecError on flat data).
    A fitted peer (FastICA, CEBRA) is no torch module: its own contract is in test_peers.py."""
    for x_shape in ((D,), (3, 8, 8)):
        data = tiny_data(x_shape=x_shape)
        ctx = model_context(data)
        build = lambda n: REG.build(options("model", name), ctx.with_(seeds=n))  # noqa: E731
        try:
            if is_fitted_peer(build(1)):
                pytest.skip(f"{name} is a fitted peer, not a module: tests/test_peers.py checks its contract")
            return build_seeded(build, seeds), data, build
        except SpecError:
            continue
    pytest.fail(f"model {name} builds neither on flat data nor on 3x8x8 images")


@pytest.mark.parametrize("name", names("model"))
def test_model_contract(name, tmp_path):
    model, data, build = model_and_data(name, [0, 1])
    check_seed_axis(model, S)
    x = data.train.x[:B].expand(S, B, *data.x_shape)
    u = data.train.u[:B].expand(S, B)
    batch = Batch(x, u)
    shape = model.noise_shape(B)
    noise = None if shape is None else torch.randn(S, *shape)
    out = model.loss(batch, noise)
    assert out.loss.shape == (S, B) and torch.isfinite(out.loss).all()
    for term in out.terms.values():
        assert term.shape == (S, B)
    out.loss.mean(1).sum().backward()
    assert_grads_reach_every_parameter(model)

    model.eval()
    with torch.no_grad():
        first, second = model.represent(batch), model.represent(batch)
    assert first.latents.shape[:2] == (S, B)
    assert torch.equal(first.latents, second.latents), "representations must be deterministic in eval mode"
    if first.assignments is not None:
        assert first.assignments.shape == (S, B)

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = build_seeded(build, [5, 6])
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh.represent(batch).latents, first.latents)


@pytest.mark.parametrize("name", names("model"))
def test_a_model_that_decodes_or_samples_keeps_the_seed_axis_and_each_seeds_stream(name):
    """The optional generative methods `ica.trained.TrainedModel` calls: ``decode(latents)`` gives observations
    ``[S, B, *x_shape]``; ``sample_latents(n, u)`` gives ``[S, n, d_z]`` drawn from each seed's own generator."""
    model, data, _ = model_and_data(name, [0, 1])
    if not hasattr(model, "decode") and not hasattr(model, "sample_latents"):
        pytest.skip(f"{name} neither decodes nor samples (both are optional)")
    model.eval()
    batch = Batch(data.train.x[:B].expand(S, B, *data.x_shape), data.train.u[:B].expand(S, B))
    with torch.no_grad():
        latents = model.represent(batch).latents
        if hasattr(model, "decode"):
            assert model.decode(latents).shape == (S, B, *data.x_shape)
        if hasattr(model, "sample_latents"):
            def draw(streams):
                with seed_generators([torch.Generator().manual_seed(k) for k in streams]):
                    return model.sample_latents(5, None)[0]
            z = draw([1, 2])
            assert z.shape == (S, 5, latents.shape[-1])
            other = draw([9, 2])  # seed 0's stream changed, seed 1's kept
            assert torch.equal(draw([1, 2]), z) and torch.equal(other[1], z[1]) and not torch.equal(other[0], z[0])


@pytest.mark.parametrize("name", names("model"))
def test_model_seeds_are_initialised_independently_and_reproducibly(name):
    pair, _, build = model_and_data(name, [3, 5])
    alone = build_seeded(build, [5])
    for (pname, both), (_, single) in zip(pair.state_dict().items(), alone.state_dict().items()):
        assert torch.equal(both[1:2], single), f"{pname}: seed 5 in a pair differs from seed 5 alone"
    weights = [p for p in pair.parameters() if p[0].numel() > 1]
    assert any(not torch.equal(p[0], p[1]) for p in weights), "two seeds got the same initialisation"


@pytest.mark.parametrize("name", names("dataset"))
def test_dataset_contract(name):
    if name == "npz":
        pytest.skip("needs a file; covered in test_datasets")
    if "root" in type(spec_models(REG).default("dataset", name)).model_fields:
        pytest.skip("reads files from its root; covered offline on tiny real-format files in test_image_datasets")
    data = REG.build(options("dataset", name), BuildContext())
    assert isinstance(data, DataSplits)
    for split in (data.train, data.eval):
        assert split.x.dtype == torch.float32 and torch.isfinite(split.x).all()
        assert split.u is None or (split.u.dtype == torch.int64 and len(split.u) == len(split))
        assert split.s is None or len(split.s) == len(split)
    assert data.eval.x.shape[1:] == data.train.x.shape[1:]


@pytest.mark.parametrize("name", names("metric"))
def test_metric_contract(name):
    data = tiny_data(40)
    rng = np.random.default_rng(0)
    outcomes = [SeedOutcome(s, "finished", rng.normal(size=(40, DZ)), rng.integers(0, 3, 40),
                            {"train": -1.0, "eval": -1.5}) for s in range(3)]
    outcomes.append(SeedOutcome(3, "failed", error="diverged"))
    records = REG.build(options("metric", name), BuildContext())(Evaluation(data, "eval", outcomes))
    assert records and all(isinstance(r, MetricRecord) for r in records)
    failed = [r for r in records if r.seed == 3 or (r.pair and 3 in r.pair)]
    assert failed and all(np.isnan(r.value) and r.error for r in failed), "a failed seed must give failed records"
    finished = [r for r in records if r not in failed]
    assert all(np.isfinite(r.value) for r in finished)


def test_cca_mcc_fits_on_a_fixed_random_half_not_the_first_rows():
    """Sorted evaluation points (here: two regimes, one per half, related by different linear maps) must
    not put the fit and test halves in different regimes; the permutation is fixed, so values repeat."""
    from ica.plugins.metrics.cca_mcc import CCAMCCOptions, PairwiseCCAMCC

    rng = np.random.default_rng(0)
    z1 = rng.normal(size=(400, 2))
    c = np.sqrt(0.5)
    z2 = np.vstack([z1[:200], z1[200:] @ [[c, -c], [c, c]]])  # the second half is rotated by 45 degrees
    outcomes = [SeedOutcome(0, "finished", z1), SeedOutcome(1, "finished", z2)]
    ev = Evaluation(tiny_data(), "eval", outcomes)
    shuffled = PairwiseCCAMCC(CCAMCCOptions())(ev)
    ordered = PairwiseCCAMCC(CCAMCCOptions(shuffle_seed=None))(ev)
    out = {r.metric: r.value for r in shuffled}
    assert out == {r.metric: r.value for r in PairwiseCCAMCC(CCAMCCOptions())(ev)}
    assert abs(out["cca_mcc_out"] - out["cca_mcc_in"]) < 0.1
    ordered_out = {r.metric: r.value for r in ordered}
    assert ordered_out["cca_mcc_out"] < out["cca_mcc_out"] - 0.1
