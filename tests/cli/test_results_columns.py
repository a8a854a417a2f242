"""`ica results` in a terminal: one row per model and metric, the headline metrics by default, ``--metrics`` and
``--all`` for the others, readable in 120 columns; ``--json`` and ``--csv`` keep every metric whatever is shown."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from ica.cli import render
from ica.cli.app import app

from third_party_metric import write_run

runner = CliRunner()


@pytest.fixture
def run(tmp_path, monkeypatch):
    """A run of two models with 16 grid positions, so that every metric is dozens of columns."""
    monkeypatch.setattr(render.console, "width", 400)
    summary = write_run(tmp_path / "run", positions=16)
    return tmp_path / "run", summary


def results(*args) -> str:
    out = runner.invoke(app, ["results", *map(str, args), "--no-index"])
    assert out.exit_code == 0, out.output
    return out.output


def metric_lines(output: str) -> list[str]:
    """The metric column of each table line: its fourth cell (run, model, seeds, metric)."""
    return [cells[4].strip() for line in output.splitlines() if len(cells := line.split("│")) > 5 and cells[4].strip()]


def test_the_headline_metrics_are_shown_by_default_one_row_each(run):
    directory, summary = run
    out = results(directory)
    assert metric_lines(out) == ["MCC to sources", "CCA-MCC in", "CCA-MCC out", "grid MCC in", "ELBO (train)"] * 2
    assert "also measured: mcc_spearman, elbo_eval, legacy_score, spread, grid_mcc_in<index> (16 values)" in out
    mcc = summary["cells"]["vade"]["stats"]["mcc"]
    assert f"q {mcc['q25']:.3f} to {mcc['q75']:.3f} n=4" in out and "observations 0.510, FastICA 0.620" in out


def test_metrics_picks_and_all_shows_every_one(run):
    directory, _ = run
    picked = results(directory, "--metrics", "mcc_spearman, elbo_eval")
    assert metric_lines(picked) == ["Spearman MCC", "ELBO (eval)"] * 2
    everything = metric_lines(results(directory, "--all"))
    assert len(everything) == 2 * (9 + 16) and "grid MCC in [0,15]" in everything and "legacy_score" in everything
    assert "also measured" not in results(directory, "--all")


@pytest.mark.parametrize(
    "args, words",
    [
        (["--metrics", "mcc_spearmann"], "did you mean 'mcc_spearman'?"),
        (["--metrics", "mcc_untrained"], "no metric 'mcc_untrained'"),
        (["--metrics", ","], "name at least one metric"),
        (["--metrics", "mcc", "--all"], "choose one of --metrics and --all"),
    ],
)
def test_a_metric_these_runs_lack_is_a_clear_error(run, args, words):
    directory, _ = run
    out = runner.invoke(app, ["results", str(directory), "--no-index", *args])
    assert out.exit_code == 2 and "--metrics" in out.output and words in out.output, out.output
    assert "Traceback" not in out.output


def test_json_and_csv_hold_every_metric_whatever_the_table_shows(run):
    directory, summary = run
    rows = json.loads(results(directory, "--json", "--metrics", "mcc"))
    assert rows[0]["metrics"] == summary["cells"]["ivae"]["stats"]
    header = next(csv.reader(io.StringIO(results(directory, "--csv"))))
    assert {"legacy_score_median", "grid_mcc_in[0,15]_median", "spread_untrained_median", "mcc_fastica"} <= set(header)


@pytest.mark.slow
def test_a_small_run_reads_in_120_columns(run):
    """Through the installed command, in a pipe with COLUMNS=120 as a narrow terminal would set it: no line is
    wider, and no header or number is folded."""
    directory, summary = run
    env = {**os.environ, "COLUMNS": "120", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "ica", "results", str(directory), "--no-index"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= 120 and max(len(line) for line in lines if "│" in line) > 100
    text = out.stdout
    for label in ("ivae", "vade"):
        stats = summary["cells"][label]["stats"]
        for metric in ("mcc", "cca_mcc_out", "elbo_train"):
            digits = 2 if metric == "elbo_train" else 3
            assert f"q {stats[metric]['q25']:.{digits}f} to {stats[metric]['q75']:.{digits}f} n=" in text, metric
    assert metric_lines(text)[:5] == ["MCC to sources", "CCA-MCC in", "CCA-MCC out", "grid MCC in", "ELBO (train)"]
