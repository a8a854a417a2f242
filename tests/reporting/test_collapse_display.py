"""Collapsed latent dimensions and the agreement metrics' observation control, as `ica results` and the report
show them: in words beside the seeds, and beside the metric they qualify."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ica.cli.app import app
from ica.components.protocols import MetricRecord
from ica.evaluation.seeds import summarise
from ica.reporting.collapse import collapse_text, collapsed
from ica.reporting.experiment import load_experiment
from ica.reporting.render import render_markdown
from ica.reporting.report import document
from ica.reporting.results import results_table
from ica.reporting.finder import find_runs

ACTIVE = [5, 3, 5, 2]


def write_run(directory):
    records = []
    for seed, active in enumerate(ACTIVE):
        records += [
            MetricRecord("active_dims", active, seed=seed),
            MetricRecord("latent_dims", 5, seed=seed),
            MetricRecord("cca_mcc_out_observations", 0.8 + 0.01 * seed, seed=seed),
        ]
    records += [
        MetricRecord("cca_mcc_out", 0.79 + 0.01 * (a + b), pair=(a, b)) for a in range(4) for b in range(a + 1, 4)
    ]
    records += [MetricRecord("cca_mcc_out_untrained", 0.5, pair=(a, b)) for a in range(4) for b in range(a + 1, 4)]
    spec = {
        "name": "r",
        "data": {"name": "tcl"},
        "models": {"vade": {"name": "vade"}},
        "training": {},
        "seeds": 4,
        "evaluation": {"split": "eval"},
        "device": "cpu",
        "spec_hash": "0",
    }
    directory.mkdir()
    (directory / "spec.json").write_text(json.dumps(spec))
    cells = {"vade": {"model": "vade", **summarise(records), "status": {str(s): "finished" for s in range(4)}}}
    for s in range(4):
        (directory / "vade" / "seeds" / str(s)).mkdir(parents=True)
        (directory / "vade" / "seeds" / str(s) / "result.json").write_text(
            json.dumps({"seed": s, "status": "finished", "steps": 3, "elbo": {"train": -1.0, "eval": -1.0}})
        )
    (directory / "summary.json").write_text(
        json.dumps({"name": "r", "spec_hash": "0", "device": "cpu", "split": "eval", "data": {}, "cells": cells})
    )


def test_collapsed_seeds_are_counted_and_said(tmp_path):
    write_run(tmp_path / "run")
    [row] = results_table(find_runs([tmp_path / "run"])).rows
    assert row["collapsed"] == {"seeds": 2, "of": 4, "fewest_active": 2, "latent_dims": 5}
    said = "2 of 4 seeds collapsed: as few as 2 of 5 latent dimensions active"
    assert collapse_text(row["collapsed"]).startswith(said)
    assert collapse_text(collapsed({None: {"seeds": {"0": {"active_dims": 5, "latent_dims": 5}}}})) is None
    assert collapsed({None: {"seeds": {"0": {"mcc": 0.5}}}}) is None  # effective_rank not measured
    out = CliRunner().invoke(app, ["results", str(tmp_path / "run"), "--no-index"], env={"COLUMNS": "400"})
    assert out.exit_code == 0 and "2 of 4 seeds collapsed" in " ".join(out.output.split())
    text = render_markdown(document(load_experiment(tmp_path / "run"), []), "files")
    assert f"vade: {said}" in text


def test_the_observation_control_of_an_agreement_metric_sits_beside_it(tmp_path):
    write_run(tmp_path / "run")
    table = results_table(find_runs([tmp_path / "run"]))
    assert table.controls["cca_mcc_out"] == ["cca_mcc_out_untrained", "cca_mcc_out_observations"]
    text = render_markdown(document(load_experiment(tmp_path / "run"), []), "files")
    [line] = [x for x in text.splitlines() if "| vade | CCA-MCC out of sample" in x]
    assert "| 0.815 |" in line  # the observations' median over seeds, in the observations column
    assert "within 0.05 of the raw observations' 0.815" in text
