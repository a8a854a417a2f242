"""`ica results` and `ica report` with intervals, controls and model comparisons (issue #15), on small run
directories written by hand: summaries made by `ica.evaluation.seeds.summarise` from chosen values, so what
each table must say is known, and an old run without controls or enough seeds still reads."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from ica.cli import render
from ica.cli.app import user_errors
from ica.cli.results import results_command
from ica.components.protocols import MetricRecord
from ica.evaluation.seeds import summarise
from ica.evaluation.inference import compare, estimate
from ica.reporting.experiment import load_experiment
from ica.reporting.render import render_markdown
from ica.reporting.report import document, write_report
from ica.reporting.results import metric_order, results_table, split_control
from ica.reporting.finder import find_runs
from ica.reporting.tables import FLOOR_TOLERANCE

runner = CliRunner()
SEEDS = 8
FLOORS = {"mcc_observations": 0.5, "mcc_pca": 0.48, "mcc_fastica": 0.62}


def results_app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("results")(user_errors(results_command))
    app.command("noop")(lambda: None)
    return app


def invoke(*args: str):
    return runner.invoke(results_app(), ["results", *map(str, args), "--no-index"], catch_exceptions=False)


def model_values(label: str, seeds: int, controls: bool) -> dict[str, dict]:
    """Chosen values per seed and pair: 'good' recovers the sources (MCC ~0.9, far above its untrained networks
    and the floors) but its CCA-MCC is no better than its untrained networks'; 'poor' sits at the observations'
    floor. Fixed generators, so every number below is known."""
    rng = np.random.default_rng({"good": 1, "poor": 2}[label])
    centre = {"good": 0.9, "poor": 0.5}[label]
    effects = rng.normal(0, 0.02, size=seeds)
    values = {
        "mcc": {s: centre + 0.02 * rng.normal() for s in range(seeds)},
        "elbo_train": {s: -10 + rng.normal() for s in range(seeds)},
        "cca_mcc_out": {(i, j): 0.97 + effects[i] + effects[j] for i in range(seeds) for j in range(i + 1, seeds)},
    }
    if controls:
        values["mcc_untrained"] = {s: 0.3 + 0.02 * rng.normal() for s in range(seeds)}
        values["cca_mcc_out_untrained"] = {p: v + 0.001 * rng.normal() for p, v in values["cca_mcc_out"].items()}
    return values


def write_run(
    directory: Path,
    labels=("good", "poor"),
    seeds: int = SEEDS,
    controls: bool = True,
    failed: dict[str, int] | None = None,
) -> dict[str, dict]:
    """A finished run: spec.json, each seed's result.json and the run's summary.json (no per-model summaries, as a
    run of an older version may have); ``failed`` makes one seed of a label fail (its values NaN)."""
    models = {"good": {"name": "ivae"}, "poor": {"name": "vade"}}
    spec = {
        "name": "fake",
        "data": {"name": "tcl"},
        "models": {label: models[label] for label in labels},
        "training": {},
        "seeds": seeds,
        "evaluation": {"split": "eval"},
        "device": "cpu",
        "spec_hash": "0",
    }
    directory.mkdir(parents=True)
    (directory / "spec.json").write_text(json.dumps(spec))
    cells, chosen = {}, {}
    for label in labels:
        values = model_values(label, seeds, controls)
        bad = (failed or {}).get(label)
        records = []
        for metric, by in values.items():
            for key, value in by.items():
                where = {"pair": key} if isinstance(key, tuple) else {"seed": key}
                broken = bad is not None and (key == bad or (isinstance(key, tuple) and bad in key))
                records.append(MetricRecord(metric, math.nan if broken else value, **where))
        if controls:
            records += [MetricRecord(name, value) for name, value in FLOORS.items()]
        cells[label] = {
            "model": models[label]["name"],
            **summarise(records),
            "status": {str(s): "failed" if s == bad else "finished" for s in range(seeds)},
        }
        for s in range(seeds):
            folder = directory / label / "seeds" / str(s)
            folder.mkdir(parents=True)
            result = (
                {"seed": s, "status": "failed", "steps": 3, "error": "non-finite loss"}
                if s == bad
                else {"seed": s, "status": "finished", "steps": 3, "elbo": {"train": -10.0, "eval": -11.0}}
            )
            (folder / "result.json").write_text(json.dumps(result))
        chosen[label] = {
            m: {
                k: (math.nan if bad is not None and (k == bad or (isinstance(k, tuple) and bad in k)) else v)
                for k, v in by.items()
            }
            for m, by in values.items()
        }
    summary = {"name": "fake", "spec_hash": "0", "device": "cpu", "split": "eval", "data": {}, "cells": cells}
    (directory / "summary.json").write_text(json.dumps(summary, allow_nan=False))
    return chosen


@pytest.fixture
def run(tmp_path) -> tuple[Path, dict]:
    chosen = write_run(tmp_path / "run", failed={"poor": 3})
    return tmp_path / "run", chosen


# --------------------------------------------------------------------------------- ordering
def test_controls_are_grouped_beside_their_metric():
    names = {
        "cca_mcc_out_untrained",
        "mcc_untrained",
        "affine_r2",
        "affine_r2_pca",
        "mcc",
        "cca_mcc_out",
        "mcc_fastica",
        "mcc_observations",
        "elbo_train",
        "mcc_pca",
    }
    assert metric_order(names) == [
        "mcc",
        "mcc_untrained",
        "mcc_observations",
        "mcc_pca",
        "mcc_fastica",
        "cca_mcc_out",
        "cca_mcc_out_untrained",
        "elbo_train",
        "affine_r2",
        "affine_r2_pca",
    ]
    assert split_control("cca_mcc_out_untrained") == ("cca_mcc_out", "untrained")
    assert split_control("mcc") == ("mcc", None) and split_control("_pca") == ("_pca", None)


# ---------------------------------------------------------------------------------- results
def test_rows_carry_each_median_interval_and_the_floors(run):
    directory, chosen = run
    table = results_table(find_runs([directory]))
    assert table.metrics == ["mcc", "cca_mcc_out", "elbo_train"]  # controls add no metrics of their own
    assert table.controls["mcc"] == ["mcc_untrained", "mcc_observations", "mcc_pca", "mcc_fastica"]
    assert table.controls["cca_mcc_out"] == ["cca_mcc_out_untrained"] and table.controls["elbo_train"] == []
    good, poor = table.rows
    summary = json.loads((directory / "summary.json").read_text())
    assert good["metrics"] == summary["cells"]["good"]["stats"]  # the statistics stay summary.json's
    for row, label in ((good, "good"), (poor, "poor")):
        for metric in ("mcc", "cca_mcc_out", "mcc_untrained", "cca_mcc_out_untrained"):
            expected = estimate(chosen[label][metric])
            ci = row["ci"][metric]
            assert (ci["mean"], ci["low"], ci["high"]) == pytest.approx((expected.mean, expected.low, expected.high))
            assert ci["level"] == 0.95 and ci["of"] == "mean" and ci["low"] <= ci["mean"] <= ci["high"]
        assert row["floors"] == FLOORS
    assert poor["metrics"]["mcc"]["n_failed"] == 1


def test_json_and_csv_give_the_intervals_in_full(run):
    directory, _ = run
    rows = json.loads(invoke(directory, "--json").stdout)
    good = next(r for r in rows if r["label"] == "good")
    out = invoke(directory, "--csv")
    assert out.exit_code == 0, out.output
    header = next(csv.reader(io.StringIO(out.stdout)))
    records = list(csv.DictReader(io.StringIO(out.stdout)))
    row = next(r for r in records if r["label"] == "good")
    assert float(row["mcc_ci_low"]) == good["ci"]["mcc"]["low"]
    assert float(row["mcc_ci_high"]) == good["ci"]["mcc"]["high"]
    assert (
        float(row["mcc_observations"]) == 0.5
        and float(row["mcc_untrained_median"]) == good["metrics"]["mcc_untrained"]["median"]
    )
    at = header.index
    assert (
        at("mcc_median")
        < at("mcc_ci_high")
        < at("mcc_untrained_median")
        < at("mcc_observations")
        < at("mcc_fastica")
        < at("cca_mcc_out_median")
        < at("cca_mcc_out_untrained_median")
        < at("elbo_train_median")
    )


def test_the_table_shows_intervals_and_controls_in_the_metric_column(run, monkeypatch):
    directory, _ = run
    monkeypatch.setattr(render.console, "width", 1000)
    out = invoke(directory)
    assert out.exit_code == 0, out.output
    rows = results_table(find_runs([directory])).rows
    ci = rows[0]["ci"]["mcc"]
    assert f"mean {ci['mean']:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]" in out.output
    untrained = rows[0]["metrics"]["mcc_untrained"]
    assert f"untrained {untrained['median']:.3f} (q {untrained['q25']:.3f} to {untrained['q75']:.3f})" in out.output
    assert "observations 0.500, PCA 0.480, FastICA 0.620" in out.output
    assert "n=8 (1 failed)" in out.output
    assert "mcc_untrained" not in out.output and "cca_mcc_out_untrained" not in out.output  # no column of its own


def test_compare_two_models_of_each_run(run, monkeypatch):
    directory, chosen = run
    found = json.loads(invoke(directory, "--compare", "good", "poor", "--json").stdout)
    by_metric = {r["metric"]: r for r in found}
    assert set(by_metric) == {"mcc", "cca_mcc_out", "elbo_train"}  # controls are no result of either model
    mcc = by_metric["mcc"]
    expected = compare(chosen["good"]["mcc"], chosen["poor"]["mcc"], margin=0.05)
    assert mcc["test"].startswith("Welch") and mcc["p_value"] == pytest.approx(expected.p_value)
    assert mcc["p_value"] < 0.01 and mcc["difference"] > 0.3 and (mcc["n_a"], mcc["n_b"]) == (8, 7)
    assert mcc["verdict"] == "good better" and mcc["correction"] == "Holm"
    cca = by_metric["cca_mcc_out"]
    expected = compare(chosen["good"]["cca_mcc_out"], chosen["poor"]["cca_mcc_out"], margin=0.05)
    assert cca["p_value"] == pytest.approx(expected.p_value) and cca["p_value"] > 0.05  # same distribution
    assert cca["p_equivalent"] == pytest.approx(expected.p_equivalent)
    raw = sorted(r["p_value"] for r in found)  # Holm over the three comparisons shown
    assert min(r["p_adjusted"] for r in found) == pytest.approx(min(1.0, 3 * raw[0]))
    assert cca["verdict"] in ("equivalent within ±0.05", "inconclusive")
    rows = list(csv.DictReader(io.StringIO(invoke(directory, "--compare", "good", "poor", "--csv").stdout)))
    assert [r["metric"] for r in rows] == [r["metric"] for r in found]
    assert float(rows[0]["p_value"]) == found[0]["p_value"]
    monkeypatch.setattr(render.console, "width", 1000)
    out = invoke(directory, "--compare", "good", "poor")
    assert out.exit_code == 0, out.output
    assert "good against poor" in out.output and f"{mcc['p_value']:.2g}" in out.output
    assert "Holm over the 3 comparisons shown" in out.output and "good better" in out.output
    margin = json.loads(
        invoke(
            directory,
            "--compare",
            "good",
            "poor",
            "--json",
            "--margin",
            "0.5",
            "--correction",
            "bh",
            "--metric",
            "cca_mcc_out",
        ).stdout
    )
    assert [r["metric"] for r in margin] == ["cca_mcc_out"] and margin[0]["margin"] == 0.5
    assert margin[0]["verdict"] == "equivalent within ±0.5" and margin[0]["correction"] == "Benjamini-Hochberg"
    bad = invoke(directory, "--compare", "good", "poor", "--correction", "bonferoni")
    assert bad.exit_code == 2 and "--correction" in bad.output


@pytest.mark.parametrize("labels, said", [(("good", "good"), "itself"), (("good", "nobody"), "nobody")])
def test_compare_needs_two_labels_a_run_has(run, labels, said):
    directory, _ = run
    out = invoke(directory, "--compare", *labels)
    assert out.exit_code == 2 and "--compare" in out.output and said in out.output, out.output


def test_old_runs_without_controls_or_enough_seeds_still_read(tmp_path, monkeypatch):
    write_run(tmp_path / "old", labels=("good",), seeds=2, controls=False)
    table = results_table(find_runs([tmp_path / "old"]))
    [row] = table.rows
    assert set(row["ci"]) == {"mcc", "elbo_train"} and row["floors"] == {}  # 2 seeds: one pair, no jackknife
    assert table.controls == {"mcc": [], "cca_mcc_out": [], "elbo_train": []}
    monkeypatch.setattr(render.console, "width", 1000)
    out = invoke(tmp_path / "old")
    assert out.exit_code == 0, out.output
    mcc = row["metrics"]["mcc"]
    assert f"{mcc['median']:.3f}" in out.output and f"q {mcc['q25']:.3f} to {mcc['q75']:.3f} n=2" in out.output
    assert "mean: too few seeds for an interval" in out.output  # CCA-MCC's single pair
    assert "untrained 0." not in out.output and "observations 0." not in out.output


def test_a_model_still_training_has_no_interval(run):
    directory, _ = run
    (directory / "summary.json").unlink()
    rows = results_table(find_runs([directory])).rows
    assert all(r["ci"] == {} and r["floors"] == {} for r in rows)


# ----------------------------------------------------------------------------------- report
def report_text(directory: Path) -> str:
    return render_markdown(document(load_experiment(directory), []), "files")


def section(text: str, heading: str) -> str:
    return text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_report_shows_controls_beside_each_metric_and_says_what_is_at_a_control(run):
    directory, chosen = run
    text = report_text(directory)
    results = section(text, "Results")
    assert "untrained" not in results.split("\n\n")[2]  # the results table keeps its columns
    controls = section(text, "Controls")
    good_cca = np.median(list(chosen["good"]["cca_mcc_out"].values()))
    untrained = json.loads((directory / "summary.json").read_text())["cells"]["good"]["stats"]["cca_mcc_out_untrained"]
    assert untrained["q25"] <= good_cca <= untrained["q75"]
    assert (
        f"- good: median cca_mcc_out {good_cca:.4g} is within the untrained networks' range (q25–q75 "
        f"{untrained['q25']:.4g}–{untrained['q75']:.4g})"
    ) in controls
    poor_mcc = np.nanmedian(list(chosen["poor"]["mcc"].values()))
    assert abs(poor_mcc - 0.5) <= FLOOR_TOLERANCE
    assert f"- poor: median mcc {poor_mcc:.4g} is within {FLOOR_TOLERANCE:g} of the raw observations' 0.5" in controls
    assert "PCA's 0.48" in controls  # 0.48 is within 0.05 of poor's median too
    assert "good: median mcc " not in controls  # 0.9 is far from every control
    rows = [line for line in controls.splitlines() if line.startswith("| good (ivae) | MCC to sources")]
    ci = estimate(chosen["good"]["mcc"])
    assert len(rows) == 1 and f"; {ci.mean:.4g} [{ci.low:.4g}, {ci.high:.4g}]" in rows[0]
    assert "| 0.5 | 0.48 | 0.62 |" in rows[0]


def test_report_compares_the_models_of_a_run(run):
    directory, chosen = run
    comparison = section(report_text(directory), "Model comparison")
    [row] = [line for line in comparison.splitlines() if "good − poor | MCC to sources" in line]
    p = compare(chosen["good"]["mcc"], chosen["poor"]["mcc"]).p_value
    cells = [c.strip() for c in row.split("|")]
    assert cells[5] == f"{p:.2g}" and cells[6] == f"{min(1, 3 * p):.2g}" and cells[8] == "good better"
    assert "corrected by Holm" in comparison and "jackknife over seeds" in comparison


def test_report_of_an_old_single_model_run_has_neither(tmp_path):
    write_run(tmp_path / "old", labels=("good",), seeds=3, controls=False)
    text = report_text(tmp_path / "old")
    assert "## Controls" not in text and "## Model comparison" not in text
    assert "## Results" in text


@pytest.mark.slow
def test_report_file_is_written_with_the_new_sections(run):
    directory, _ = run
    written = write_report(directory)
    text = written.path.read_text()
    assert "## Controls" in text and "## Model comparison" in text
    assert re.search(r"good − poor \| MCC to sources \| \+0\.\d+ \[", text)


@pytest.mark.slow
def test_report_comparisons_take_the_margin_correction_and_metrics_given(run):
    from ica.cli.app import app
    from ica.reporting.comparisons import ComparisonOptions

    directory, _ = run
    options = ComparisonOptions(margin=0.5, correction="bh", metrics=("cca_mcc_out",))
    comparison = section(
        render_markdown(document(load_experiment(directory), [], options), "files"), "Model comparison"
    )
    rows = [line for line in comparison.splitlines() if "good − poor" in line]
    assert len(rows) == 1 and "CCA-MCC out of sample" in rows[0] and "equivalent within ±0.5" in rows[0]
    assert "Benjamini-Hochberg" in comparison and "±0.5" in comparison and "Only cca_mcc_out compared" in comparison
    bad = runner.invoke(app, ["report", str(directory), "--correction", "bonferoni"])
    assert bad.exit_code == 2 and "--correction" in bad.output
    out = runner.invoke(app, ["report", str(directory), "--margin", "0", "--metric", "mcc"])
    assert out.exit_code == 0, out.output
    written = (directory / "report.md").read_text()
    assert "no equivalence margin" in section(written, "Model comparison")
