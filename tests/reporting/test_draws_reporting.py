"""What `ica results`, `--compare`, the report and the phase figure make of data draws: one row per setting with
every draw's seeds together, intervals over draws, and comparisons paired by draw."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import ica
from ica.evaluation.corrections import adjust
from ica.evaluation.significance import metric_values
from ica.reporting.comparisons import ComparisonOptions
from ica.reporting.experiment import load_experiment
from ica.reporting.results import compare_models, results_table
from ica.reporting.finder import find_runs
from ica.reporting.tables import comparison_table

SPEC = {
    "data": {
        "name": "tcl",
        "segments": 4,
        "samples_per_segment": 40,
        "eval_samples_per_segment": 20,
        "dim": 3,
        "mixing_layers": 2,
    },
    "models": {"ivae": {"name": "ivae"}, "vade": {"name": "vade", "prior": {"name": "gmm", "components": 4}}},
    "seeds": 3,
    "data_draws": [4, 9, 11],
    "training": {"steps": 20, "log_every": 20, "checkpoint_every": 20, "compile": False},
    "evaluation": {"controls": []},
}


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    root = tmp_path_factory.mktemp("draws") / "grid"
    ica.run(SPEC, root)
    return root


def per_draw_means(root, label, metric):
    means = []
    for run in load_experiment(root).runs:
        cell = next(c for c in run.cells if c.label == label)
        means.append(np.nanmean(list(metric_values(cell.summary, metric).values())))
    return np.array(means)


@pytest.mark.slow
def test_one_row_per_model_pools_every_draws_seeds(drawn):
    table = results_table(find_runs([drawn]))
    assert [r["label"] for r in table.rows] == ["ivae", "vade"] and "data.data_seed" not in table.settings
    ivae = table.rows[0]
    assert ivae["draws"] == [4, 9, 11] and ivae["seeds"]["total"] == 9 and ivae["metrics"]["mcc"]["n"] == 9
    means = per_draw_means(drawn, "ivae", "mcc")
    ci = ivae["ci"]["mcc"]
    half = stats.t.ppf(0.975, 2) * means.std(ddof=1) / np.sqrt(3)
    assert ci["n_draws"] == 3 and ci["mean"] == pytest.approx(means.mean())
    assert (ci["low"], ci["high"]) == pytest.approx((means.mean() - half, means.mean() + half))


@pytest.mark.slow
def test_comparisons_are_paired_over_draws_and_corrected_over_what_is_shown(drawn):
    rows = compare_models(find_runs([drawn]), "ivae", "vade", ComparisonOptions(metrics=("mcc", "cca_mcc_out")))
    assert [r["metric"] for r in rows] == ["mcc", "cca_mcc_out"]
    mcc = rows[0]
    d = per_draw_means(drawn, "ivae", "mcc") - per_draw_means(drawn, "vade", "mcc")
    assert mcc["test"] == "paired t over draws" and mcc["n_draws"] == 3 and (mcc["n_a"], mcc["n_b"]) == (9, 9)
    assert mcc["p_value"] == pytest.approx(stats.ttest_1samp(d, 0).pvalue)
    assert [r["p_adjusted"] for r in rows] == pytest.approx(adjust([r["p_value"] for r in rows], "holm"))
    header, table = comparison_table(load_experiment(drawn))
    assert len(table) == len({r[2] for r in table}) and all("(3 draws)" in r[0] for r in table)


@pytest.mark.slow
def test_the_phase_figure_pools_draws_at_each_setting(tmp_path):
    from ica.reporting import plots
    from ica.reporting.phase import applies, numeric_group, phase_figure, verdicts

    spec = {**SPEC, "data_draws": 2, "grid": {"data.mixing_layers": [1, 2]}}
    ica.run(spec, tmp_path / "grid")
    exp = load_experiment(tmp_path / "grid")
    assert applies(exp) and sorted({numeric_group(r) for r in exp.runs}) == [1.0, 2.0]  # x is the depth, not the draw
    found = verdicts(exp, ["mcc", "affine_mcc"])
    assert len(found) == 4 and {r["test"] for r in found.values()} == {"paired t over draws"}
    figure = phase_figure(exp, plots.colours_for(exp.labels))
    assert "Holm over the 6 comparisons" in figure.caption  # 2 depths x (mcc, mcc_spearman, affine_mcc)


@pytest.mark.slow
def test_the_reports_results_table_pools_each_settings_draws(drawn):
    from ica.reporting.tables import metrics_table as report_table

    header, rows = report_table(load_experiment(drawn))
    assert [r[1] for r in rows] == ["ivae", "vade"] and all(r[0] == "(3 draws)" for r in rows)
    mcc = rows[0][header.index("MCC to sources")]
    assert rows[0][2].startswith("3 draws × 3: 3 finished") and mcc.endswith("n=9")
