"""The `statistics` metric: MCC and affine recovery of the sources' sufficient statistics (s², |s|, centred s²)
against known answers, its floors and untrained control, failures as NaN records, its options, and a run through
`ica run` and `ica results`."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import ica
from ica.cli import app
from ica.errors import SpecError
from ica.plugin import DataSplits, Evaluation, SeedOutcome, Split
from ica.plugins.metrics.statistics import MEASURES, StatisticsOptions, SufficientStatistics
from ica.spec.load import load_spec

from conftest import TINY_DATA

ALL = ["square", "abs", "centred_square"]


def sources(n: int = 1000, d: int = 3, mean: float = 0.0) -> np.ndarray:
    """Symmetric Laplace sources: s and s² are uncorrelated about a zero mean."""
    return np.random.default_rng(0).laplace(size=(n, d)) + mean


def evaluation(s: np.ndarray, *latents, x: np.ndarray | None = None, **kwargs) -> Evaluation:
    """The seeds' latents (one array per seed, None for a failed one) on points with sources ``s`` and
    observations ``x`` (a linear mixing of s by default)."""
    if x is None:
        x = s @ np.random.default_rng(1).standard_normal((s.shape[1], s.shape[1]))
    split = Split(torch.tensor(x, dtype=torch.float32), None, torch.tensor(s, dtype=torch.float32))
    outcomes = [
        SeedOutcome(i, "finished", z) if z is not None else SeedOutcome(i, "failed", None, error="diverged")
        for i, z in enumerate(latents)
    ]
    return Evaluation(DataSplits(split, split), "eval", outcomes, **kwargs)


def measured(evaluation: Evaluation, **options) -> dict[tuple[str, int | None], tuple[float, str | None]]:
    records = SufficientStatistics(StatisticsOptions(**options))(evaluation)
    return {(r.metric, r.seed): (r.value, r.error) for r in records}


def value(found, name: str, seed: int | None = 0) -> float:
    return found[(name, seed)][0]


# ------------------------------------------------------------------------------------------------ known answers
def test_latents_equal_to_the_squared_sources_recover_s2_exactly():
    s = sources()
    found = measured(evaluation(s, s**2))
    assert value(found, "mcc_square") == pytest.approx(1.0, abs=1e-9)
    assert value(found, "affine_r2_square") == pytest.approx(1.0, abs=1e-9)
    assert value(found, "affine_mcc_square") == pytest.approx(1.0, abs=1e-9)
    assert 0.85 < value(found, "mcc_abs") < 0.95  # measured 0.903: s² is a monotone, not linear, function of |s|


def test_latents_equal_to_the_sources_miss_their_squares():
    """Symmetric sources: s is uncorrelated with s², so the latents s score near 0 on it (measured mcc_square
    0.072, affine R² -0.043); the joint [s, s²] is half recovered (measured 0.479: R² 1 on s, about 0 on s²)."""
    s = sources()
    found = measured(evaluation(s, s))
    assert value(found, "mcc_square") < 0.1
    assert value(found, "affine_r2_square") < 0.05
    assert 0.4 < value(found, "affine_r2_sufficient") < 0.6


def test_latents_holding_s_and_s2_recover_the_sufficient_statistics():
    s = sources()
    found = measured(evaluation(s, np.hstack([s, s**2])))  # a latent of 2 d_s dimensions
    assert value(found, "affine_r2_sufficient") == pytest.approx(1.0, abs=1e-9)
    assert value(found, "mcc_square") == pytest.approx(1.0, abs=1e-9)


def test_centred_square_centres_on_the_evaluation_points_mean():
    """Sources with a mean of 2: (s - mean)² is not an affine function of s², so latents equal to one score
    below 1 on the other."""
    s = sources(mean=2.0)
    centred = (s - s.mean(axis=0)) ** 2
    found = measured(evaluation(s, centred), statistics=ALL)
    assert value(found, "mcc_centred_square") == pytest.approx(1.0, abs=1e-9)
    assert value(found, "affine_r2_centred_square") == pytest.approx(1.0, abs=1e-9)
    assert value(found, "mcc_square") < 0.9


def test_spearman_reads_a_monotone_function_of_the_statistic_as_it():
    s = sources()
    pearson = value(measured(evaluation(s, s**2)), "mcc_abs")
    spearman = value(measured(evaluation(s, s**2), method="spearman"), "mcc_abs")
    assert spearman == pytest.approx(1.0, abs=1e-9) and pearson < 0.95


def test_only_the_chosen_statistics_are_reported():
    s = sources()
    names = {name for name, seed in measured(evaluation(s, s)) if seed == 0}
    assert names == {
        "mcc_square",
        "affine_r2_square",
        "affine_mcc_square",
        "mcc_abs",
        "affine_r2_abs",
        "affine_mcc_abs",
        "affine_r2_sufficient",
    }
    names = {name for name, seed in measured(evaluation(s, s), statistics=["centred_square"]) if seed == 0}
    assert names == {
        "mcc_centred_square",
        "affine_r2_centred_square",
        "affine_mcc_centred_square",
        "affine_r2_sufficient",
    }


def test_the_affine_maps_are_scored_out_of_sample_on_the_fixed_order():
    """100 random dimensions fit 100 points exactly; held out, they predict s² worse than its mean."""
    s = sources(n=200)
    noise = np.random.default_rng(5).standard_normal((200, 100))
    assert value(measured(evaluation(s, noise)), "affine_r2_square") < 0.0
    ordered = measured(evaluation(s, noise), shuffle_seed=None)
    assert value(ordered, "affine_r2_square") != value(measured(evaluation(s, noise)), "affine_r2_square")


# ------------------------------------------------------------------------------------------------ floors, control
def test_floors_of_the_observations_are_on_the_same_points():
    """A linear mixing of symmetric sources: the observations' affine R² to [s, s²] is about one half (s exactly,
    s² not at all), and they correlate little with s²."""
    s = sources()
    found = measured(evaluation(s, s**2))
    cell = {name for name, seed in found if seed is None}
    assert cell == {
        f"{name}_observations"
        for name in ("mcc_square", "mcc_abs", "affine_r2_square", "affine_mcc_square", "affine_r2_abs")
        + ("affine_mcc_abs", "affine_r2_sufficient")
    }
    assert 0.4 < value(found, "affine_r2_sufficient_observations", None) < 0.6
    assert value(found, "mcc_square_observations", None) < 0.1
    assert not any(error for _, error in found.values())


def test_the_pca_floors_where_the_observations_have_another_width():
    s = sources()
    x = np.hstack([s, s]) @ np.random.default_rng(2).standard_normal((6, 6))  # d_x = 6, d_s = 3
    cell = {name for name, seed in measured(evaluation(s, s, x=x)) if seed is None}
    assert {"mcc_square_pca", "affine_r2_square_pca", "affine_r2_sufficient_pca"} <= cell
    assert {"affine_r2_square_observations", "affine_r2_sufficient_observations"} <= cell
    assert "mcc_square_observations" not in cell  # MCC reads the observations as `mcc` does: their PCA to d_s


def test_no_floors_when_turned_off_or_for_the_untrained_control():
    s = sources()
    assert all(seed is not None for _, seed in measured(evaluation(s, s), floors=False))
    untrained = evaluation(s, s, control="untrained", floors=False)
    assert all(seed is not None for _, seed in measured(untrained))


def test_the_metric_is_controlled_and_needs_sources():
    metric = SufficientStatistics(StatisticsOptions())
    assert metric.controlled and metric.requires_sources
    split = Split(torch.zeros(10, 3))
    with pytest.raises(ValueError, match="sources"):
        metric(Evaluation(DataSplits(split, split), "eval", [SeedOutcome(0, "finished", np.zeros((10, 3)))]))


# ------------------------------------------------------------------------------------------------ failures
def test_a_failed_seed_gives_nan_records_with_its_error():
    s = sources()
    found = measured(evaluation(s, s, None))
    failed = {name: entry for (name, seed), entry in found.items() if seed == 1}
    assert set(failed) == {name for name, seed in found if seed == 0}
    assert all(math.isnan(v) and error == "diverged" for v, error in failed.values())
    assert not math.isnan(value(found, "mcc_square", 0))


def test_non_finite_latents_give_nan_records_naming_the_reason():
    s = sources()
    z = s.copy()
    z[3, 0] = np.nan
    found = measured(evaluation(s, z))
    per_seed = [entry for (_, seed), entry in found.items() if seed == 0]
    assert len(per_seed) == 7 and all(math.isnan(v) and "finite" in error for v, error in per_seed)


# ------------------------------------------------------------------------------------------------ options, measures
@pytest.mark.parametrize(
    "options, words",
    [
        ({"statistics": ["cube"]}, "'square', 'abs' or 'centred_square'"),
        ({"statistics": []}, "at least 1"),
        ({"statistics": ["abs", "abs"]}, "abs is given more than once"),
        ({"fit_fraction": 1.0}, "less than 1"),
        ({"method": "kendall"}, "'pearson' or 'spearman'"),
    ],
)
def test_bad_options_are_spec_errors_naming_the_field(options, words):
    spec = {
        "data": TINY_DATA,
        "models": {"ivae": {"name": "ivae"}},
        "evaluation": {"metrics": [{"name": "statistics", **options}]},
    }
    with pytest.raises(SpecError) as raised:
        load_spec(spec)
    text = str(raised.value)
    assert words in text and next(iter(options)) in text, text


def test_defaults():
    o = StatisticsOptions()
    assert (o.statistics, o.method, o.fit_fraction, o.shuffle_seed, o.floors) == (
        ["square", "abs"],
        "pearson",
        0.5,
        0,
        True,
    )


def test_every_record_is_declared_between_affine_and_consistency():
    measures = ica.registry().measures()
    s = sources()
    x = np.hstack([s, s])
    for name, _ in measured(evaluation(s, s, x=x), statistics=ALL):
        base = name.removesuffix("_observations").removesuffix("_pca")
        assert measures.get(base).key == base and measures.get(base).order < math.inf, name
        assert measures.get(base).declares(name), name
    orders = [m.order for m in MEASURES]
    assert all(63 < order < 64 for order in orders) and len(set(orders)) == len(orders)
    assert not any(m.headline for m in MEASURES)


# ------------------------------------------------------------------------------------------------ end to end
SPEC = {
    "data": TINY_DATA,
    "models": {
        "ivae": {"name": "ivae", "encoder": {"name": "mlp", "hidden": [8]}, "decoder": {"name": "mlp", "hidden": [8]}}
    },
    "training": {"steps": 4, "batch_size": 16, "log_every": 4, "checkpoint_every": 4, "compile": False},
    "seeds": 2,
    "device": "cpu",
    "evaluation": {"metrics": [{"name": "statistics", "statistics": ALL}]},
}


@pytest.mark.slow
def test_ica_run_writes_the_records_and_ica_results_shows_them(tmp_path):
    path, out = tmp_path / "spec.json", tmp_path / "run"
    path.write_text(json.dumps(copy.deepcopy(SPEC)))
    runner = CliRunner()
    result = runner.invoke(app, ["run", str(path), "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    cell = json.loads((out / "summary.json").read_text())["cells"]["ivae"]
    for t in ALL:
        for name in (f"mcc_{t}", f"affine_r2_{t}", f"affine_mcc_{t}"):
            assert cell["stats"][name]["n"] == 2 and cell["stats"][f"{name}_untrained"]["n"] == 2, name
            assert f"{name}_observations" in cell["cell"], name
    assert cell["stats"]["affine_r2_sufficient"]["n"] == 2 and "affine_r2_sufficient_observations" in cell["cell"]
    shown = runner.invoke(
        app, ["results", str(out), "--no-index", "--metrics", "mcc_square,affine_r2_sufficient"], env={"COLUMNS": "300"}
    )
    assert shown.exit_code == 0, shown.output
    rows = [line for line in shown.output.splitlines() if "MCC to s²" in line or "affine R² s,s²" in line]
    assert len(rows) == 2 and "MCC to s²" in rows[0], shown.output  # the headers, in the measures' order
    median = cell["stats"]["mcc_square"]["median"]
    assert f"{median:.4g}" in shown.output or f"{median:.3f}" in shown.output, shown.output


def test_it_runs_only_where_a_spec_names_it():
    from ica.components.registry import registry
    from ica.running.building import default_metric_options

    names = [o.name for o in default_metric_options(registry())]
    assert "statistics" not in names and "mcc" in names and "affine" in names
