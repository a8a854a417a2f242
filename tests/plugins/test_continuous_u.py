"""A continuous u (issue #30): the npz set's ``u_kind``, the `smooth_u` generator, the conditional prior and
iVAE given a continuous u, the models that need a discrete u refusing it, and the cluster metric skipping what
needs one with its reason."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

import ica
from ica.components.protocols import Batch, BuildContext, DataSplits, Split
from ica.errors import DataError, IcaError, SpecError
from ica.evaluation.seeds import Evaluation, SeedOutcome
from ica.plugins.datasets.npz import NPZOptions, load_npz
from ica.plugins.datasets.smooth_u import SmoothUOptions, binned, generate_smooth_u
from ica.plugins.metrics.clusters import CONTINUOUS_U, ClusterReproducibility, ClustersOptions
from ica.spec.models import spec_models

REG = ica.registry()
D_U, DZ, SEEDS, BATCH = 2, 3, 2, 5


def options(kind: str, name: str, **values):
    return spec_models(REG).tagged[(kind, name)].model_validate({"name": name, **values})


def write(tmp_path: Path, name: str = "data.npz", **arrays) -> str:
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


def refusal(options: NPZOptions, where: str, *fragments: str) -> DataError:
    with pytest.raises(DataError) as info:
        load_npz(options)
    assert info.value.where == where, info.value
    for fragment in fragments:
        assert fragment in info.value.message, info.value.message
    return info.value


# ================================================================================================ npz
@pytest.mark.parametrize("shape", [(10,), (10, 1), (10, 3)])
def test_npz_continuous_u_is_kept_as_float_columns(tmp_path, shape):
    u = np.random.default_rng(0).normal(size=shape)
    data = load_npz(NPZOptions(path=write(tmp_path, x=np.zeros((10, 2)), u=u), u_kind="continuous"))
    columns = shape[1] if len(shape) == 2 else 1
    assert data.u_dim == columns and data.n_u is None
    assert data.train.u.dtype == torch.float32 and data.train.u.shape == (8, columns)
    np.testing.assert_array_equal(data.eval.u.numpy(), u.reshape(10, -1)[8:].astype(np.float32))  # not relabelled
    assert data.info["u_kind"] == "continuous" and data.info["u_dim"] == columns
    assert data.info["n_u"] is None and data.info["u_labels"] is None


def test_npz_continuous_u_of_whole_numbers_stays_continuous(tmp_path):
    u = np.array([0, 5, 5, 0, 9, 0, 5, 9, 0, 5])  # declared, never guessed: whole numbers are values too
    data = load_npz(NPZOptions(path=write(tmp_path, x=np.zeros((10, 2)), u=u), u_kind="continuous"))
    assert data.train.u[:, 0].tolist() == [0.0, 5.0, 5.0, 0.0, 9.0, 0.0, 5.0, 9.0] and data.n_u is None


def test_npz_discrete_u_is_unchanged(tmp_path):
    data = load_npz(NPZOptions(path=write(tmp_path, x=np.zeros((10, 2)), u=np.arange(10) % 3)))
    assert data.u_dim is None and data.n_u == 3 and data.train.u.dtype == torch.int64
    assert "u_kind" not in data.info and "u_dim" not in data.info  # summary.json of a discrete u as it always was


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e300])
def test_npz_continuous_u_must_be_finite(tmp_path, value):
    u = np.linspace(0, 1, 20).reshape(10, 2)
    u[4, 1] = value
    opts = NPZOptions(path=write(tmp_path, x=np.zeros((10, 2)), u=u), u_kind="continuous")
    refusal(opts, "data.u_key", "'u'", "1 non-finite", "row 4")


@pytest.mark.parametrize(
    "u, fragment",
    [(np.zeros((7, 2)), "7 rows"), (np.zeros((10, 2, 2)), "[N] or [N, d_u]"), (np.zeros((10, 0)), "d_u >= 1")],
    ids=["rows", "3-D", "no-columns"],
)
def test_npz_continuous_u_of_the_wrong_shape(tmp_path, u, fragment):
    refusal(NPZOptions(path=write(tmp_path, x=np.zeros((10, 2)), u=u), u_kind="continuous"), "data.u_key", fragment)


def test_npz_continuous_u_needs_the_same_columns_in_the_evaluation_file(tmp_path):
    path = write(tmp_path, x=np.zeros((4, 2)), u=np.zeros((4, 2)))
    eval_path = write(tmp_path, "eval.npz", x=np.zeros((3, 2)), u=np.zeros((3, 3)))
    refusal(NPZOptions(path=path, eval_path=eval_path, u_kind="continuous"), "data.eval_path", "3 columns", "has 2")


def test_npz_discrete_option_on_continuous_values_gives_todays_message_and_the_way_out(tmp_path):
    u = np.linspace(0, 1, 6)
    err = refusal(NPZOptions(path=write(tmp_path, x=np.zeros((6, 2)), u=u)), "data.u_key", "'u'", "whole numbers")
    assert '"u_kind": "continuous"' in err.message


def test_npz_u_kind_is_declared_from_a_closed_list(tmp_path):
    with pytest.raises(ValidationError):
        NPZOptions(path="x.npz", u_kind="auto")


# ================================================================================================ smooth_u
SMALL = dict(samples=200, eval_samples=100, dim=3, u_dim=D_U)


def test_smooth_u_same_options_same_data_and_shapes():
    a, b = generate_smooth_u(SmoothUOptions(**SMALL)), generate_smooth_u(SmoothUOptions(**SMALL))
    for part in ("train", "eval"):
        for field in ("x", "u", "s"):
            assert torch.equal(getattr(getattr(a, part), field), getattr(getattr(b, part), field))
    assert a.u_dim == D_U and a.n_u is None and a.info["u_kind"] == "continuous"
    assert a.train.u.shape == (200, D_U) and a.train.u.dtype == torch.float32 and a.eval.x.shape == (100, 3)
    assert float(a.train.u.min()) >= 0 and float(a.train.u.max()) < 1
    assert not torch.equal(a.train.x, generate_smooth_u(SmoothUOptions(**SMALL, data_seed=1)).train.x)


def test_smooth_u_sources_change_with_u():
    """The sources' spread differs between low and high u: what a model given u can use."""
    data = generate_smooth_u(SmoothUOptions(samples=20_000, eval_samples=2, dim=2, u_dim=1))
    u, s = data.train.u[:, 0], data.train.s
    quartile_stds = [s[(u >= q / 4) & (u < (q + 1) / 4)].std(0) for q in range(4)]
    ratios = torch.stack(quartile_stds).max(0).values / torch.stack(quartile_stds).min(0).values
    assert (ratios > 1.3).all(), ratios


def test_smooth_u_bins_give_a_discrete_u_of_the_same_data():
    continuous = generate_smooth_u(SmoothUOptions(**SMALL))
    coarse = generate_smooth_u(SmoothUOptions(**SMALL, u_bins=2))
    assert torch.equal(continuous.train.x, coarse.train.x) and torch.equal(continuous.eval.s, coarse.eval.s)
    assert coarse.n_u == 4 and coarse.u_dim is None and coarse.train.u.dtype == torch.int64
    assert coarse.train.u.tolist() == binned(continuous.train.u.double().numpy(), 2).tolist()
    assert binned(np.array([[0.1, 0.9], [0.6, 0.2], [0.99, 0.5]]), 2).tolist() == [1, 2, 3]


def test_smooth_u_refuses_too_many_bins():
    with pytest.raises(ValidationError, match="at most"):
        SmoothUOptions(u_dim=5, u_bins=10)


def test_smooth_u_passes_the_dataset_contract():
    ica.testing.check_component("dataset", "smooth_u", options=SMALL)


# ================================================================================================ the prior
def continuous_ctx(**more) -> BuildContext:
    return BuildContext(seeds=SEEDS, x_shape=(4,), latent_dim=DZ, u_dim=D_U, build=REG.build, **more)


@pytest.mark.parametrize("parameterisation", ["table", "mlp"])
def test_conditional_prior_of_a_continuous_u_has_shapes_and_gradients(parameterisation):
    prior = REG.build(options("prior", "conditional", parameterisation=parameterisation), continuous_ctx())
    u = torch.rand(SEEDS, BATCH, D_U, requires_grad=True)
    dist = prior(u)
    assert tuple(dist.batch_shape) == (SEEDS, BATCH) and tuple(dist.event_shape) == (DZ,)
    log_p = dist.log_prob(torch.randn(SEEDS, BATCH, DZ))
    assert log_p.shape == (SEEDS, BATCH) and torch.isfinite(log_p).all()
    log_p.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in prior.parameters())
    assert u.grad is not None and u.grad.abs().sum() > 0  # the parameters are a function of u
    assert not hasattr(prior, "component_parameters")  # no finite set of components: L is not built
    other = prior(torch.rand(SEEDS, BATCH, D_U))
    assert not torch.allclose(dist.mean, other.mean)
    with pytest.raises(ValueError, match="columns"):
        prior(torch.rand(SEEDS, BATCH, D_U + 1))


def test_conditional_prior_of_a_discrete_u_is_as_before():
    prior = REG.build(options("prior", "conditional"), BuildContext(seeds=1, latent_dim=2, n_u=3))
    assert prior.mean.shape == (1, 3, 2) and hasattr(prior, "component_parameters")


def test_the_contract_kit_checks_a_conditional_prior_with_a_continuous_u_too():
    report = ica.testing.check_component("prior", "conditional")
    assert "prior_contract" in report.passed


class RowPerValuePrior(torch.nn.Module):
    """A conditional prior written for a discrete u only: one row of means per value of u."""

    conditional = True
    refuse = False

    def __init__(self, options, ctx: BuildContext):
        super().__init__()
        if self.refuse and not ctx.n_u:
            raise SpecError("needs a discrete u", where="prior")
        self.loc = torch.nn.Parameter(torch.zeros(ctx.seeds, ctx.n_u, ctx.latent_dim))

    def forward(self, cond=None):
        loc = torch.bmm(cond, self.loc)
        return torch.distributions.Independent(torch.distributions.Normal(loc, torch.ones_like(loc)), 1)


class RefusingPrior(RowPerValuePrior):
    refuse = True


def test_the_contract_kit_fails_a_conditional_prior_that_breaks_on_a_continuous_u_and_passes_one_that_refuses():
    import types

    from ica.components.registry import Registry
    from ica.plugin import Options, hookimpl
    from ica.testing import ContractError

    class NoOptions(Options):
        pass

    @hookimpl
    def ica_register(register):
        register("prior", "row_per_value", NoOptions, RowPerValuePrior)
        register("prior", "refusing", NoOptions, RefusingPrior)

    reg = Registry.load(entry_points=False, extra=[("rows", types.SimpleNamespace(ica_register=ica_register))])
    with pytest.raises(ContractError, match="built for a continuous u .* raised TypeError"):
        ica.testing.check_component("prior", "row_per_value", reg=reg)
    assert "prior_contract" in ica.testing.check_component("prior", "refusing", reg=reg).passed


# ================================================================================================ iVAE
def test_ivae_takes_a_continuous_u_in_its_encoder_and_prior():
    model = REG.build(options("model", "ivae"), continuous_ctx())
    assert model.needs_u and model.u_dim == D_U
    first = next(model.encoder.parameters())  # the MLP's first layer takes x and u's d_u columns
    assert first.shape[1] == 4 + D_U
    batch = Batch(torch.randn(SEEDS, BATCH, 4), torch.rand(SEEDS, BATCH, D_U))
    out = model.loss(batch, torch.randn(SEEDS, BATCH, DZ))
    assert out.loss.shape == (SEEDS, BATCH) and torch.isfinite(out.loss).all()
    out.loss.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    rep = model.represent(batch)
    assert rep.latents.shape == (SEEDS, BATCH, DZ) and rep.assignments is None  # a continuous u is no cluster


def test_ivae_samples_a_continuous_u_only_where_it_is_given():
    model = REG.build(options("model", "ivae"), continuous_ctx())
    with pytest.raises(DataError, match="no p\\(u\\)"):
        model.sample_latents(4)
    u = torch.rand(SEEDS, 4, D_U)
    z, drawn = model.sample_latents(4, u)
    assert z.shape == (SEEDS, 4, DZ) and drawn is u


def test_a_prior_that_breaks_on_a_continuous_u_is_refused_naming_it():
    from ica.plugins.models.vae import built_prior

    class Opts:
        prior = options("prior", "conditional")

    def broken(_options, _ctx):
        raise TypeError("'NoneType' object cannot be interpreted as an integer")

    ctx = continuous_ctx().with_(build=broken)
    with pytest.raises(SpecError, match="continuous u") as info:
        built_prior(Opts, ctx, "ivae")
    assert info.value.where == "ivae.prior"
    with pytest.raises(TypeError):  # a discrete u: the prior's own error, as ever
        built_prior(Opts, ctx.with_(u_dim=None, n_u=3), "ivae")


def test_models_that_need_a_discrete_u_refuse_a_continuous_one():
    with pytest.raises(IcaError, match="continuous"):
        REG.build(options("model", "cebra"), continuous_ctx())


def test_vade_trains_beside_a_continuous_u_it_does_not_use():
    model = REG.build(options("model", "vade", prior={"name": "gmm", "components": 3}), continuous_ctx())
    batch = Batch(torch.randn(SEEDS, BATCH, 4), torch.rand(SEEDS, BATCH, D_U))
    assert not model.needs_u and model.represent(batch).assignments.shape == (SEEDS, BATCH)


# ================================================================================================ metrics
def evaluation(assignments: bool, control: str | None = None) -> Evaluation:
    rng = np.random.default_rng(0)
    split = Split(torch.zeros(12, 2), torch.rand(12, D_U), torch.zeros(12, 2))
    seeds = [
        SeedOutcome(s, "finished", rng.normal(size=(12, 2)), rng.integers(0, 3, 12) if assignments else None)
        for s in range(3)
    ]
    return Evaluation(DataSplits(split, split, u_dim=D_U), "eval", seeds, control=control, floors=control is None)


def test_cluster_metric_skips_the_truth_of_a_continuous_u_with_its_reason():
    records = ClusterReproducibility(ClustersOptions())(evaluation(assignments=True))
    pairs = [r for r in records if r.pair is not None]
    assert {r.metric for r in pairs} == {"cluster_ari", "cluster_nmi"} and all(math.isfinite(r.value) for r in pairs)
    skipped = [r for r in records if r.pair is None]
    assert {r.metric for r in skipped} == {"cluster_ari_truth", "cluster_nmi_truth"}
    assert all(r.seed is None and math.isnan(r.value) and r.error == CONTINUOUS_U for r in skipped)
    assert "needs discrete u" in CONTINUOUS_U and "continuous" in CONTINUOUS_U


def test_cluster_metric_without_assignments_of_a_continuous_u_says_why():
    records = ClusterReproducibility(ClustersOptions())(evaluation(assignments=False))
    assert {r.metric for r in records} == {"cluster_ari", "cluster_nmi", "cluster_ari_truth", "cluster_nmi_truth"}
    assert all(r.error == CONTINUOUS_U and r.seed is None and r.pair is None for r in records)
    assert ClusterReproducibility(ClustersOptions())(evaluation(assignments=False, control="untrained")) == []
