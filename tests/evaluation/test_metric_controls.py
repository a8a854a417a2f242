"""Controls and variants of the metrics (issue #28): Spearman's MCC beside Pearson's, the observation control of
the agreement metrics (`cca_mcc`, `consistency_r2`) and the effective rank of each seed's latents."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ica
from ica.components.protocols import DataSplits, Split
from ica.components.registry import registry
from ica.evaluation.affine import consistency_r2
from ica.evaluation.cca_pairs import cca_mcc
from ica.evaluation.correlation import mcc
from ica.evaluation.seeds import Evaluation, SeedOutcome, fixed_order
from ica.plugins.metrics.cca_mcc import CCAMCCOptions, PairwiseCCAMCC
from ica.plugins.metrics.consistency import ConsistencyOptions, PairwiseConsistency
from ica.plugins.metrics.effective_rank import EffectiveRank, EffectiveRankOptions
from ica.plugins.metrics.mcc import MCCOptions, MCCToSources
from ica.running.controls import control_records
from ica.spec.hashing import without_added_fields
from ica.spec.load import accepted_hashes, json_digest, load_spec, spec_json


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _split(x: np.ndarray, s: np.ndarray | None = None) -> Split:
    tensor = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return Split(tensor(x), None, None if s is None else tensor(s))


def _values(records, name: str) -> dict:
    return {r.seed if r.pair is None else r.pair: r.value for r in records if r.metric == name}


# ------------------------------------------------------------------------------------- Spearman beside Pearson
def _monotone_evaluation(seed: int) -> tuple[Evaluation, np.ndarray]:
    """Latents that are a strictly monotone, non-linear function of each source (strongly identified)."""
    s = _rng(seed).laplace(size=(400, 3))
    x = s @ _rng(seed + 1).standard_normal((3, 3))
    split = _split(x, s)
    z = np.sinh(2.0 * s[:, [2, 0, 1]])  # permuted and distorted, but monotone per component
    return Evaluation(DataSplits(split, split), "eval", [SeedOutcome(0, "finished", z)]), s


def test_spearman_forgives_a_monotone_distortion_that_pearson_does_not():
    evaluation, _ = _monotone_evaluation(0)
    records = MCCToSources(MCCOptions())(evaluation)
    assert _values(records, "mcc_spearman")[0] == pytest.approx(1.0, abs=1e-12)
    assert _values(records, "mcc")[0] < 0.9
    cell = {r.metric for r in records if r.seed is None}
    assert cell == {"mcc_observations", "mcc_fastica", "mcc_spearman_observations", "mcc_spearman_fastica"}


def test_spearman_floors_are_the_floors_views_measured_by_rank(monkeypatch):
    """FastICA is fitted once for both correlations, and each floor is its coefficient on the same view."""
    from sklearn.decomposition import FastICA

    fits = []
    original = FastICA.fit
    monkeypatch.setattr(FastICA, "fit", lambda self, X, y=None: fits.append(1) or original(self, X, y))
    evaluation, _ = _monotone_evaluation(31)  # data no other test uses: nothing cached
    records = {r.metric: r.value for r in MCCToSources(MCCOptions())(evaluation) if r.seed is None}
    assert len(fits) == 1
    x, s = evaluation.points.x.numpy(), evaluation.points.s.numpy()
    assert records["mcc_spearman_observations"] == pytest.approx(mcc(x, s, "spearman"), abs=1e-12)
    assert records["mcc_observations"] == pytest.approx(mcc(x, s, "pearson"), abs=1e-12)


def test_spearman_is_not_repeated_when_it_is_the_method_or_turned_off():
    evaluation, _ = _monotone_evaluation(0)
    for options in (MCCOptions(method="spearman"), MCCOptions(spearman=False)):
        names = {r.metric for r in MCCToSources(options)(evaluation)}
        assert not any("spearman" in n for n in names), options
        assert {"mcc", "mcc_observations", "mcc_fastica"} <= names


def test_spearman_has_its_untrained_control_and_no_floors_there():
    evaluation, _ = _monotone_evaluation(0)
    control = Evaluation(evaluation.data, "eval", evaluation.seeds, control="untrained", floors=False)
    names = {r.metric for r in control_records([MCCToSources(MCCOptions())], control)}
    assert names == {"mcc_untrained", "mcc_spearman_untrained"}


# ------------------------------------------------------------------------------------- the observation control
def _agreement_evaluation(dx: int = 3, dz: int = 3, seed: int = 0) -> Evaluation:
    """Three seeds, each a different noisy non-linear function of the same observations; the training split's
    observations have other principal directions than the evaluation points' (so a PCA fitted on the wrong
    split would differ)."""
    x_eval = _rng(seed).standard_normal((300, dx)) * np.linspace(1.0, 3.0, dx)
    x_train = _rng(seed + 1).standard_normal((500, dx)) * np.linspace(3.0, 1.0, dx)
    seeds = []
    for k in range(3):
        z = np.tanh(x_eval @ _rng(seed + 10 + k).standard_normal((dx, dz)))
        seeds.append(SeedOutcome(k, "finished", z + 0.3 * _rng(seed + 20 + k).standard_normal((300, dz))))
    return Evaluation(DataSplits(_split(x_train), _split(x_eval)), "eval", seeds)


def test_the_observation_control_is_the_pair_measure_between_latents_and_observations():
    evaluation = _agreement_evaluation()
    order = fixed_order(300, 0)
    x = evaluation.points.x.numpy()
    cca = PairwiseCCAMCC(CCAMCCOptions())(evaluation)
    consistency = PairwiseConsistency(ConsistencyOptions())(evaluation)
    for outcome in evaluation.seeds:
        z = outcome.latents
        by_hand = cca_mcc(z[order], x[order], 0.5, "pearson", "assignment")
        assert _values(cca, "cca_mcc_in_observations")[outcome.seed] == pytest.approx(by_hand.in_sample, abs=1e-9)
        assert _values(cca, "cca_mcc_out_observations")[outcome.seed] == pytest.approx(by_hand.out_of_sample, abs=1e-9)
        assert _values(consistency, "consistency_r2_observations")[outcome.seed] == pytest.approx(
            consistency_r2(z[order], x[order], 0.5), abs=1e-12
        )
    # the pairs are measured on the same split and order, so the two are comparable
    z0, z1 = evaluation.seeds[0].latents, evaluation.seeds[1].latents
    assert _values(cca, "cca_mcc_out")[(0, 1)] == pytest.approx(cca_mcc(z0[order], z1[order]).out_of_sample, abs=1e-9)
    assert _values(consistency, "consistency_r2")[(0, 1)] == pytest.approx(
        consistency_r2(z0[order], z1[order]), abs=1e-12
    )


def test_the_observation_control_follows_the_metric_options():
    evaluation = _agreement_evaluation()
    options = CCAMCCOptions(fit_fraction=0.3, method="spearman", pairing="index", shuffle_seed=5)
    records = PairwiseCCAMCC(options)(evaluation)
    order = fixed_order(300, 5)
    z, x = evaluation.seeds[2].latents, evaluation.points.x.numpy()
    by_hand = cca_mcc(z[order], x[order], 0.3, "spearman", "index")
    assert _values(records, "cca_mcc_out_observations")[2] == pytest.approx(by_hand.out_of_sample, abs=1e-9)


def test_observations_of_another_width_are_reduced_by_a_pca_fitted_on_the_training_split():
    from sklearn.decomposition import PCA

    evaluation = _agreement_evaluation(dx=6, dz=3)
    order = fixed_order(300, 0)
    x, train = evaluation.points.x.numpy(), evaluation.data.train.x.numpy()
    reduced = PCA(n_components=3, random_state=0).fit(train).transform(x)
    wrong = PCA(n_components=3, random_state=0).fit(x).transform(x)  # fitted on the evaluation points
    z = evaluation.seeds[1].latents
    records = PairwiseConsistency(ConsistencyOptions())(evaluation)
    value = _values(records, "consistency_r2_observations")[1]
    assert value == pytest.approx(consistency_r2(z[order], reduced[order]), abs=1e-9)
    assert value != pytest.approx(consistency_r2(z[order], wrong[order]), abs=1e-6)
    cca = PairwiseCCAMCC(CCAMCCOptions())(evaluation)
    assert _values(cca, "cca_mcc_in_observations")[1] == pytest.approx(
        cca_mcc(z[order], reduced[order]).in_sample, abs=1e-9
    )


@pytest.mark.parametrize("metric", [PairwiseCCAMCC(CCAMCCOptions()), PairwiseConsistency(ConsistencyOptions())])
def test_no_observation_control_on_the_untrained_networks_or_without_the_observations_control(metric):
    evaluation = _agreement_evaluation()
    data, seeds = evaluation.data, evaluation.seeds
    assert any(r.metric.endswith("_observations") for r in metric(evaluation))
    untrained = control_records([metric], Evaluation(data, "eval", seeds, control="untrained", floors=False))
    assert untrained and not any("_observations" in r.metric for r in untrained)
    for quiet in (Evaluation(data, "eval", seeds, control="untrained"), Evaluation(data, "eval", seeds, floors=False)):
        assert not any("_observations" in r.metric for r in metric(quiet))


@pytest.mark.parametrize(
    "metric",
    [PairwiseCCAMCC(CCAMCCOptions(observations=False)), PairwiseConsistency(ConsistencyOptions(observations=False))],
)
def test_the_observation_control_can_be_turned_off(metric):
    assert not any("_observations" in r.metric for r in metric(_agreement_evaluation()))


def test_no_observation_control_on_constant_observations():
    """``ica score`` given no observations puts a constant column in their place: nothing to measure against."""
    evaluation = _agreement_evaluation()
    flat = Split(torch.zeros(300, 1), None, None)
    blank = Evaluation(DataSplits(flat, flat), "eval", evaluation.seeds)
    for metric in (PairwiseCCAMCC(CCAMCCOptions()), PairwiseConsistency(ConsistencyOptions())):
        assert not any("_observations" in r.metric for r in metric(blank))
    stats = ica.score(np.stack([o.latents for o in evaluation.seeds]))["stats"]
    assert not any(name.endswith("_observations") for name in stats)
    assert {"cca_mcc_out", "consistency_r2", "active_dims"} <= set(stats)


def test_a_failed_seed_has_failed_observation_records():
    evaluation = _agreement_evaluation()
    seeds = [*evaluation.seeds[:2], SeedOutcome(2, "failed", error="diverged")]
    records = PairwiseConsistency(ConsistencyOptions())(Evaluation(evaluation.data, "eval", seeds))
    failed = [r for r in records if r.metric == "consistency_r2_observations" and r.seed == 2]
    assert len(failed) == 1 and np.isnan(failed[0].value) and failed[0].error == "diverged"


# ------------------------------------------------------------------------------------- effective rank
def _rank_records(latents: list[np.ndarray], threshold: float | None = None):
    split = _split(np.zeros((len(latents[0]), 2)))
    seeds = [SeedOutcome(k, "finished", z) for k, z in enumerate(latents)]
    options = EffectiveRankOptions() if threshold is None else EffectiveRankOptions(threshold=threshold)
    return EffectiveRank(options)(Evaluation(DataSplits(split, split), "eval", seeds))


def test_a_collapsed_dimension_is_not_active_and_is_noted():
    z = _rng().standard_normal((500, 4))
    z[:, 2] = 1e-3 * z[:, 2] + 5.0  # collapsed: varies a millionth as much as the others
    records = {r.metric: r for r in _rank_records([z])}
    assert records["active_dims"].value == 3.0 and records["latent_dims"].value == 4.0
    assert "1 of 4 latent dimensions collapsed" in records["active_dims"].error
    eigenvalues = np.linalg.eigvalsh(np.cov(z.T, bias=True))
    assert records["participation_ratio"].value == pytest.approx(eigenvalues.sum() ** 2 / (eigenvalues**2).sum())
    assert records["participation_ratio"].value == pytest.approx(3.0, abs=0.1)
    assert records["participation_ratio"].error is None


def test_active_is_relative_to_the_mean_variance_of_a_coordinate_by_the_threshold():
    """Variances 1, 1, 1 and 0.0625 (mean 0.766): the last holds 8% of the mean, inactive by the default 10%."""
    z = _rng().standard_normal((4000, 4))
    z = (z - z.mean(0)) / z.std(0) * [1.0, 1.0, 1.0, 0.25]
    assert {r.metric: r.value for r in _rank_records([z])}["active_dims"] == 3.0
    assert {r.metric: r.value for r in _rank_records([z], threshold=0.05)}["active_dims"] == 4.0
    assert {r.metric: r.value for r in _rank_records([100.0 * z])}["active_dims"] == 3.0  # scale-free


def test_the_participation_ratio_sees_a_copied_dimension_that_active_dims_counts():
    """Two coordinates that are one direction: both vary (active), but the covariance has rank 2 of 3."""
    z = _rng().standard_normal((2000, 3))
    z[:, 2] = z[:, 0]
    records = {r.metric: r for r in _rank_records([z])}
    assert records["active_dims"].value == 3.0 and records["active_dims"].error is None
    assert records["participation_ratio"].value == pytest.approx(1.8, abs=0.05)  # eigenvalues 2, 1, 0: 9/5


def test_every_dimension_of_wide_isotropic_latents_is_active():
    """At d = 200 each coordinate holds 0.5% of the total: the threshold is relative to the mean per dimension."""
    z = _rng().standard_normal((300, 200))
    records = {r.metric: r.value for r in _rank_records([z])}
    assert records["active_dims"] == 200.0
    eigenvalues = np.linalg.eigvalsh(np.cov(z.T, bias=True))  # 200 dimensions, 300 points: not all alike
    assert records["participation_ratio"] == pytest.approx(eigenvalues.sum() ** 2 / (eigenvalues**2).sum(), rel=1e-9)


def test_constant_latents_have_no_active_dimension():
    records = {r.metric: r.value for r in _rank_records([np.ones((50, 3))])}
    assert records == {"active_dims": 0.0, "participation_ratio": 0.0, "latent_dims": 3.0}


def test_effective_rank_on_the_untrained_networks_and_for_failed_seeds():
    z = _rng().standard_normal((100, 3))
    split = _split(np.zeros((100, 2)))
    seeds = [SeedOutcome(0, "finished", z), SeedOutcome(1, "failed", error="diverged")]
    control = Evaluation(DataSplits(split, split), "eval", seeds, control="untrained", floors=False)
    records = control_records([EffectiveRank(EffectiveRankOptions())], control)
    assert {r.metric for r in records} == {"active_dims_untrained", "participation_ratio_untrained"}
    failed = [r for r in records if r.seed == 1]
    assert len(failed) == 2 and all(np.isnan(r.value) and r.error == "diverged" for r in failed)


def test_effective_rank_is_registered_with_a_threshold_option():
    reg = registry()
    assert "effective_rank" in reg.names("metric")
    with pytest.raises(ValueError, match="threshold"):
        EffectiveRankOptions(threshold=0)


# ------------------------------------------------------------------------------------- specs and runs
def test_a_run_that_named_its_metrics_before_these_options_still_resumes():
    """The new options change what is measured, never what is trained: a run directory written before them (by
    a version without any of the options added since, `ica.spec.hashing.ADDED_FIELDS`) resumes."""
    spec = load_spec(
        {**TINY, "evaluation": {"metrics": [{"name": "mcc"}, {"name": "cca_mcc"}, {"name": "consistency_r2"}]}}
    )
    old = without_added_fields(spec_json(spec))
    assert any("spearman" in m or "observations" in m for m in spec_json(spec)["evaluation"]["metrics"])
    assert not any("spearman" in m or "observations" in m for m in old["evaluation"]["metrics"])
    assert json_digest(old) in accepted_hashes(spec)


TINY = {
    "data": {
        "name": "tcl",
        "samples_per_segment": 40,
        "eval_samples_per_segment": 20,
        "segments": 4,
        "dim": 3,
        "mixing": "exact",
    },
    "models": {"ivae": {"name": "ivae"}},
    "seeds": 3,
    "training": {"steps": 30, "log_every": 30, "checkpoint_every": 30, "compile": False},
}


@pytest.mark.slow
def test_a_run_records_the_new_controls_per_seed_and_none_of_them_untrained(tmp_path):
    cell = ica.run(TINY, tmp_path / "run")["cells"]["ivae"]
    stats = cell["stats"]
    for name in (
        "mcc_spearman",
        "mcc_spearman_untrained",
        "cca_mcc_in_observations",
        "cca_mcc_out_observations",
        "consistency_r2_observations",
        "active_dims",
        "participation_ratio",
        "latent_dims",
        "active_dims_untrained",
        "participation_ratio_untrained",
    ):
        assert stats[name]["n"] == 3, name
    assert not any(name.endswith("_observations_untrained") or name == "latent_dims_untrained" for name in stats)
    assert {"mcc_spearman_observations", "mcc_spearman_fastica"} <= set(cell["cell"])
    assert all(set(values) >= {"cca_mcc_in_observations", "active_dims"} for values in cell["seeds"].values())
