"""A third-party metric's measure in every table, with no change to `ica`: `ica run`'s table, `ica results`, the
report's results, controls and comparison tables; a record no metric declares still shows, under its own name and
after the declared ones; a measure without a direction is never compared."""

from __future__ import annotations

import copy

import pytest
import typer
from typer.testing import CliRunner

import ica
import ica.components.registry
from ica.cli import render
from ica.cli.app import user_errors
from ica.cli.results import results_command
from ica.reporting.experiment import load_experiment
from ica.reporting.render import render_markdown
from ica.reporting.report import document
from ica.reporting.results import compare_models, results_table
from ica.reporting.finder import find_runs
from ica.reporting.tables import metrics_table as report_table

from conftest import TINY_SPEC
from third_party_metric import registry_with_plugin, write_run


@pytest.fixture
def plugged(monkeypatch):
    """The loaded registry is one with the third-party metrics, as if their package were installed."""
    reg = registry_with_plugin()
    monkeypatch.setattr(ica.components.registry, "_DEFAULT", reg)
    return reg


def results(*args: str) -> str:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("results")(user_errors(results_command))
    app.command("noop")(lambda: None)
    out = CliRunner().invoke(app, ["results", *map(str, args), "--no-index"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    return out.output


def test_run_table_shows_a_third_party_headline_measure(plugged, tmp_path, capsys, monkeypatch):
    summary = write_run(tmp_path / "run")
    monkeypatch.setattr(render.console, "width", 400)
    render.summary_table(summary)
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "MCC to sources" in line)
    columns = [c.strip() for c in header.strip("┃│ ").split("┃")]
    assert columns == [
        "model",
        "MCC to sources",
        "latent spread",
        "CCA-MCC in",
        "CCA-MCC out",
        "grid MCC in",
        "ELBO (train)",
    ]  # headline measures, by order: spread's 12 puts it after MCC's 10
    spread = summary["cells"]["ivae"]["stats"]["spread"]
    assert f"{spread['median']:.4g} [{spread['q25']:.4g}, {spread['q75']:.4g}] n=4" in out
    assert "legacy_score" not in out and "Spearman" not in out  # not headline measures
    assert "floors (same evaluation points): MCC to sources: observations 0.510, FastICA 0.620" in out


def test_without_the_plugin_the_run_table_leaves_its_record_out(tmp_path, capsys, monkeypatch):
    summary = write_run(tmp_path / "run")
    monkeypatch.setattr(render.console, "width", 400)
    render.summary_table(summary)
    assert "spread" not in capsys.readouterr().out


def test_results_show_a_third_party_measure_by_default_and_an_undeclared_one_when_asked(plugged, tmp_path, monkeypatch):
    write_run(tmp_path / "run")
    monkeypatch.setattr(render.console, "width", 400)
    table = results_table(find_runs([tmp_path / "run"]))
    assert table.metrics == [
        "mcc",
        "mcc_spearman",
        "spread",
        "cca_mcc_in",
        "cca_mcc_out",
        "grid_mcc_in",
        "elbo_train",
        "elbo_eval",
        "legacy_score",
    ]
    assert table.controls["spread"] == ["spread_untrained"]
    out = results(tmp_path / "run")
    spread = table.rows[0]["metrics"]["spread"]
    assert "latent spread" in out and f"q {spread['q25']:.3f} to {spread['q75']:.3f} n=4" in out
    untrained = table.rows[0]["metrics"]["spread_untrained"]
    assert f"untrained {untrained['median']:.3f} (q {untrained['q25']:.3f}" in out
    assert "│ legacy_score" not in out and "also measured: mcc_spearman, elbo_eval, legacy_score" in out
    asked = results(tmp_path / "run", "--metrics", "legacy_score")
    assert "│ legacy_score" in asked and "latent spread" not in asked


def test_the_report_names_a_third_party_measure_and_puts_undeclared_records_last(plugged, tmp_path):
    write_run(tmp_path / "run")
    header, rows = report_table(load_experiment(tmp_path / "run"))
    assert header == [
        "model",
        "seeds",
        "MCC to sources",
        "Spearman MCC to sources",
        "spread of the latents",
        "CCA-MCC in sample",
        "CCA-MCC out of sample",
        "grid MCC in sample",
        "ELBO train (nats/example)",
        "ELBO eval (nats/example)",
        "legacy_score",
    ]
    text = render_markdown(document(load_experiment(tmp_path / "run"), []), "files")
    controls = text.split("## Controls\n", 1)[1].split("\n## ", 1)[0]
    assert "| ivae | spread of the latents |" in controls  # beside its untrained networks
    comparison = text.split("## Model comparison\n", 1)[1].split("\n## ", 1)[0]
    assert "MCC to sources" in comparison and "legacy_score" in comparison  # undeclared: compared, higher better
    assert "spread of the latents" not in comparison  # no direction: described, never compared


def test_a_measure_without_a_direction_is_never_compared(plugged, tmp_path):
    write_run(tmp_path / "run")
    compared = {r["metric"] for r in compare_models(find_runs([tmp_path / "run"]), "ivae", "vade")}
    assert "spread" not in compared and {"mcc", "legacy_score", "elbo_train"} <= compared


@pytest.mark.slow
def test_a_run_with_a_third_party_metric_shows_it_in_its_table(plugged, tmp_path, capsys, monkeypatch):
    spec = copy.deepcopy(TINY_SPEC)
    spec["evaluation"] = {"metrics": [{"name": "mcc"}, {"name": "spread"}, {"name": "legacy_score"}]}
    summary = ica.run(spec, out=tmp_path / "run", reg=plugged)
    monkeypatch.setattr(render.console, "width", 400)
    render.summary_table(summary)
    out = capsys.readouterr().out
    assert "latent spread" in out and "legacy_score" not in out
    spread = summary["cells"]["ivae"]["stats"]["spread"]
    assert f"{spread['median']:.4g} [{spread['q25']:.4g}, {spread['q75']:.4g}] n=2" in out
    assert "latent spread" in results(tmp_path / "run")
    header, _ = report_table(load_experiment(tmp_path / "run"))
    assert header[2:] == ["MCC to sources", "Spearman MCC to sources", "spread of the latents", "legacy_score"]
