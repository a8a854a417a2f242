"""The report's lead table over several data sets: one row per (data set, model), means over draws equal to those
computed here from summary.json, each model's MCC against its controls with a corrected verdict; an experiment
over one data set has no such table."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import ica
from conftest import TINY_SPEC
from ica.reporting.benchmark import benchmark_rows, benchmark_table
from ica.reporting.experiment import load_experiment
from ica.reporting.report import write_report

pytestmark = pytest.mark.slow  # trains a small grid once


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    spec = copy.deepcopy(TINY_SPEC)
    spec["models"] = {"ivae": spec["models"]["ivae"], "fastica": {"name": "fastica"}}
    spec.update(seeds=2, data_draws=3, grid={"data.mixing": ["paper", "ivae"]})
    spec["data"]["data_seed"] = 0
    out = tmp_path_factory.mktemp("benchmark") / "grid"
    ica.run(spec, out)
    return out


def draw_means(root, mixing, label, metric):
    means = []
    for draw in range(3):
        summary = json.loads((root / f"mixing-{mixing}_data_seed-{draw}" / "summary.json").read_text())
        cell = summary["cells"][label]
        if metric == "mcc_observations":
            means.append(cell["cell"]["mcc_observations"])
        else:
            means.append(np.mean([seed[metric] for seed in cell["seeds"].values()]))
    return np.array(means)


def test_one_row_per_data_set_and_model_with_the_means_over_draws(grid):
    rows = benchmark_rows(load_experiment(grid))
    assert [(r["data"], r["label"]) for r in rows] == [
        ("tcl(mixing=paper)", "ivae"),
        ("tcl(mixing=paper)", "fastica"),
        ("tcl(mixing=ivae)", "ivae"),
        ("tcl(mixing=ivae)", "fastica"),
    ]
    for row in rows:
        mixing = row["data"].split("=")[1].rstrip(")")
        for metric in ("mcc", "mcc_spearman", "affine_mcc"):
            assert row[metric]["mean"] == pytest.approx(draw_means(grid, mixing, row["label"], metric).mean())
        assert row["draws"] == 3


def test_each_model_is_compared_with_its_controls_paired_over_draws_and_corrected_together(grid):
    rows = benchmark_rows(load_experiment(grid))
    ivae = rows[0]
    untrained, observations = ivae["controls"]
    mcc = draw_means(grid, "paper", "ivae", "mcc")
    assert untrained["difference"] == pytest.approx(np.mean(mcc - draw_means(grid, "paper", "ivae", "mcc_untrained")))
    floors = draw_means(grid, "paper", "ivae", "mcc_observations")
    assert observations["difference"] == pytest.approx(np.mean(mcc - floors))
    entries = [c for r in rows for c in r["controls"] if c.get("p_value") is not None]
    ordered = sorted(entries, key=lambda c: c["p_value"])
    m = len(entries)
    assert ordered[0]["p_adjusted"] == pytest.approx(min(1.0, m * ordered[0]["p_value"]))  # Holm's first step
    assert all(c["p_adjusted"] >= c["p_value"] for c in entries)
    assert rows[1]["controls"][0]["verdict"] == "no such control"  # FastICA has no untrained network
    assert "p_value" not in rows[1]["controls"][0]  # and that is no comparison to correct for


def test_the_table_and_the_report_lead_with_it(grid, tmp_path):
    header, body, tests = benchmark_table(load_experiment(grid))
    assert header[:3] == ["data", "model", "draws"] and len(body) == 4 and tests == 6
    assert all(cell.count("[") == 1 for cell in body[0][3:6])
    out = tmp_path / "report.md"
    write_report(grid, out)
    text = out.read_text()
    assert text.index("Every model on every data set") < text.index("## Results")


def test_one_data_set_has_no_benchmark_table(grid):
    one = load_experiment(grid / "mixing-paper_data_seed-0")
    assert benchmark_table(one) is None


def test_a_verdict_is_said_in_the_controls_terms():
    from ica.reporting.benchmark import _control_text

    entry = {"a": "pcl", "b": "untrained", "difference": 0.3, "ci_low": 0.2, "ci_high": 0.4}
    assert _control_text({**entry, "verdict": "pcl better"}) == "+0.300 [+0.20, +0.40]: above"
    assert _control_text({**entry, "verdict": "untrained better"}).endswith(": below")
    assert _control_text({**entry, "verdict": "inconclusive"}).endswith(": inconclusive")


def test_a_settings_draws_share_one_box_in_the_figures(grid):
    from ica.reporting.boxplots import Part, box_panels

    exp = load_experiment(grid)
    (panel,) = box_panels(exp, {"ivae": "C0", "fastica": "C1"}, [Part(lambda c: c.seed_values("mcc"))], "t", "y")
    assert panel.groups == ["paper", "ivae"], panel.groups  # one group per setting, not one per draw
    ivae = next(s for s in panel.series if s.label == "ivae")
    assert [len(v) for v in ivae.values] == [6, 6]  # 3 draws x 2 seeds pooled per setting
    pooled = sorted(ivae.values[0])
    assert pooled == pytest.approx(sorted(draw_values(grid, "paper", "ivae", "mcc")))


def draw_values(root, mixing, label, metric):
    found = []
    for draw in range(3):
        summary = json.loads((root / f"mixing-{mixing}_data_seed-{draw}" / "summary.json").read_text())
        found += [seed[metric] for seed in summary["cells"][label]["seeds"].values()]
    return found
