"""Fig. 2 as a phase diagram (issue #15): drawn for a grid over a numeric axis, with floors, controls and tests."""

from __future__ import annotations

import pytest

import ica
from ica.reporting import plots
from ica.evaluation.inference import compare
from ica.evaluation.significance import metric_values
from ica.reporting.phase import applies, floor_value, numeric_group, phase_figure, verdicts
from ica.reporting.experiment import load_experiment

pytestmark = pytest.mark.slow  # every test here trains

GRID = {
    "data": {
        "name": "tcl",
        "samples_per_segment": 30,
        "eval_samples_per_segment": 20,
        "segments": 4,
        "dim": 3,
        "mixing": "exact",
    },
    "models": {"ivae": {"name": "ivae"}, "vade": {"name": "vade"}},
    "seeds": 3,
    "training": {"steps": 20, "log_every": 20, "checkpoint_every": 20, "compile": False},
    "grid": {"data.mixing": ["exact", "original"], "data.mixing_layers": [1, 3]},
}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("phase") / "grid"
    ica.run(GRID, root)
    return load_experiment(root)


def test_the_phase_diagram_applies_to_a_grid_over_a_numeric_axis(experiment):
    assert applies(experiment)
    assert sorted({numeric_group(r) for r in experiment.runs}) == [1.0, 3.0]
    assert {r.panel for r in experiment.runs} == {"mixing=exact", "mixing=original"}


def test_the_phase_figure_is_drawn_with_its_floors(experiment):
    figure = phase_figure(experiment, plots.colours_for(experiment.labels))
    assert figure is not None and figure.name == "phase.png"
    assert figure.png.startswith(b"\x89PNG")
    assert "untrained" in figure.caption and "Holm over the 12 comparisons" in figure.caption  # 4 settings x 3 metrics
    run = experiment.runs[0]
    assert floor_value(run, "mcc", "observations") == pytest.approx(run.cells[0].summary["cell"]["mcc_observations"])
    assert floor_value(run, "mcc", "pca") is None  # d_x = d_s: no PCA floor


def test_the_figure_marks_verdicts_corrected_over_every_setting_and_metric_drawn(experiment):
    found = verdicts(experiment, ["mcc", "affine_mcc"])
    assert len(found) == 8  # 4 settings x 2 metrics, one family
    run = experiment.runs[0]
    ivae, vade = run.cells
    row = found[(str(run.directory), "mcc")]
    p = compare(metric_values(ivae.summary, "mcc"), metric_values(vade.summary, "mcc")).p_value
    raw = sorted(r["p_value"] for r in found.values())
    assert row["p_value"] == pytest.approx(p) and row["p_adjusted"] >= p
    assert min(r["p_adjusted"] for r in found.values()) == pytest.approx(min(1.0, 8 * raw[0]))
    assert row["verdict"] in ("ivae better", "vade better", "equivalent within ±0.05", "inconclusive")


def test_a_lone_run_gets_no_phase_diagram(tmp_path):
    spec = {k: v for k, v in GRID.items() if k != "grid"}
    ica.run(spec, tmp_path / "run")
    assert not applies(load_experiment(tmp_path / "run"))
