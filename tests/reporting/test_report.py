"""`ica report`: real tiny runs (one run, a grid of two, a run with a NaN-failing seed) turned into reports;
files, figure counts and references, table numbers against summary.json, failures shown, the regression
band against independent computations, and clean errors (issue #5)."""

from __future__ import annotations

import base64
import copy
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from scipy import stats
from typer.testing import CliRunner

import ica
from ica.reporting import line_fit
from ica.cli.app import user_errors
from ica.cli.report import report_command
from ica.errors import IcaError
from ica.evaluation.seeds import quartiles
from ica.components.registry import Registry
from ica.reporting.boxplots import Part, box_panels
from ica.reporting.settings import Placement
from ica.reporting.experiment import load_experiment
from ica.reporting.report import resolve_output, write_report

from conftest import TINY_SPEC
from failing_model import failing_plugin

pytestmark = pytest.mark.slow  # most tests read the runs trained by the module fixture made

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BASE_FIGURES = {"mcc.png", "pairwise_mcc.png", "elbo_vs_mcc.png", "embedding.png", "training.png"}


def spec_with(samples: int = 40, seeds: int = 3) -> dict:
    spec = copy.deepcopy(TINY_SPEC)
    spec["seeds"] = seeds
    spec["data"]["samples_per_segment"] = samples
    spec["evaluation"] = {"metrics": [{"name": "mcc"}, {"name": "cca_mcc"}, {"name": "elbo"}]}
    return spec


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """A finished run (iVAE + VaDE, 3 seeds), a grid of two such runs, and a run with one failed seed."""
    root = tmp_path_factory.mktemp("report")
    ica.run(spec_with(), out=root / "run")
    cells = []
    for samples in (40, 60):
        directory = f"samples_per_segment-{samples}"
        ica.run(spec_with(samples), out=root / "grid" / directory)
        cells.append(
            {
                "name": f"samples_per_segment={samples}",
                "dir": directory,
                "settings": {"data.samples_per_segment": samples},
            }
        )
    (root / "grid" / "grid.json").write_text(
        json.dumps(
            {"name": "tiny grid", "spec_hash": "0", "axes": {"data.samples_per_segment": [40, 60]}, "cells": cells}
        )
    )
    failing = spec_with()
    failing["models"] = {"ivae": failing["models"]["ivae"], "failing": {"name": "failing", "fail_index": 1}}
    reg = Registry.load(entry_points=False, extra=[("tests", failing_plugin())])
    ica.run(failing, out=root / "failed", reg=reg)
    return root


@pytest.fixture
def fresh(made, tmp_path) -> Path:
    """A copy of the made directories for a test that writes into or edits them."""
    shutil.copytree(made, tmp_path / "made")
    return tmp_path / "made"


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def referenced(markdown: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)


def table_rows(markdown: str) -> list[list[str]]:
    """Every row of the first Markdown table (the results), cells split."""
    table = re.search(r"^\|.*?(?=\n\n)", markdown.split("## Results", 1)[1], flags=re.M | re.S).group(0)
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in table.splitlines()]


STAT = re.compile(r"^(\S+) \[(\S+), (\S+)\] n=(\d+)(?: \((\d+) failed\))?$")


def assert_same_stats(text: str, expected: dict) -> None:
    """A table cell 'median [q25, q75] n=k (f failed)' against summary.json's numbers (4 significant digits)."""
    match = STAT.match(text)
    assert match, text
    median, q25, q75, n, failed = match.groups()
    for shown, key in ((median, "median"), (q25, "q25"), (q75, "q75")):
        assert float(shown) == pytest.approx(expected[key], rel=6e-4, abs=1e-12), (text, key)
    assert int(n) == expected["n"] and int(failed or 0) == expected["n_failed"]


# ----------------------------------------------------------------------------------- one run
def test_markdown_report_of_a_run_has_every_figure_as_a_valid_png(fresh):
    run = fresh / "run"
    (run / "report_files").mkdir()
    (run / "report_files" / "cluster_agreement.png").write_bytes(b"from an earlier report")
    (run / "report_files" / "mine.txt").write_text("not the report's")
    written = write_report(run)
    assert written.path == run / "report.md" and written.count == 5
    assert (run / "report_files" / "mine.txt").exists()
    (run / "report_files" / "mine.txt").unlink()
    text = written.path.read_text()
    files = {p.name for p in (run / "report_files").iterdir()}
    assert files == BASE_FIGURES
    assert sorted(referenced(text)) == sorted(f"report_files/{name}" for name in BASE_FIGURES)
    for name in files:
        data = (run / "report_files" / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
    captions = re.findall(r"^\*Figure (\d+)\. (.+)\*$", text, flags=re.M)
    assert [int(n) for n, _ in captions] == [1, 2, 3, 4, 5]
    mcc_caption = captions[0][1]
    assert "ivae n=3 seeds" in mcc_caption and "vade n=3 seeds" in mcc_caption
    assert "ivae n=3 pairs" in captions[1][1]  # 3 seeds: 3 pairs
    # Written last, so a reader never finds a document whose figures are missing.
    assert written.path.stat().st_mtime_ns >= max((run / "report_files" / f).stat().st_mtime_ns for f in files)


def test_table_numbers_and_pearson_r_equal_summary_json(made, tmp_path):
    summary = load(made / "run" / "summary.json")
    out = tmp_path / "elsewhere" / "r.md"
    written = write_report(made / "run", out=out)
    assert written.path == out and (tmp_path / "elsewhere" / "r_files" / "mcc.png").exists()
    rows = table_rows(out.read_text())
    header, body = rows[0], rows[2:]
    assert header[:2] == ["model", "seeds"]
    assert len(body) == 2
    names = {
        "MCC to sources": "mcc",
        "CCA-MCC in sample": "cca_mcc_in",
        "CCA-MCC out of sample": "cca_mcc_out",
        "ELBO train (nats/example)": "elbo_train",
        "ELBO eval (nats/example)": "elbo_eval",
        "Spearman MCC to sources": "mcc_spearman",
    }
    assert set(header[2:]) == set(names)
    for row in body:
        cell = summary["cells"][row[0]]
        assert row[1] == "3: 3 finished"
        for column, text in zip(header[2:], row[2:]):
            assert_same_stats(text, cell["stats"][names[column]])
    # Fig. 3's caption states the Pearson r of each model's seeds.
    text = out.read_text()
    caption = re.search(r"\*Figure 3\. (.+)\*", text).group(1)
    for label in ("ivae", "vade"):
        seeds = summary["cells"][label]["seeds"]
        x = [seeds[s]["elbo_train"] for s in sorted(seeds)]
        y = [seeds[s]["mcc"] for s in sorted(seeds)]
        r = stats.pearsonr(x, y).statistic
        assert f"{label}: r={r:.2f}, n=3 seeds" in caption


def test_html_report_is_one_self_contained_file(made, tmp_path):
    out = tmp_path / "report.html"
    written = write_report(made / "run", out=out)  # html from the suffix
    assert written.figures == [] and not (tmp_path / "report_files").exists()
    assert list(tmp_path.iterdir()) == [out]
    text = out.read_text()
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 5 == len(re.findall(r"<figcaption>", text))
    for data in images:
        assert base64.b64decode(data).startswith(PNG_SIGNATURE)
    assert "report_files" not in text and 'src="http' not in text
    assert text.startswith("<!DOCTYPE html>")
    assert resolve_output(tmp_path, tmp_path / "x.md", "html") == (tmp_path / "x.md", "html")  # --format wins
    assert resolve_output(tmp_path, None, None) == (tmp_path / "report.md", "md")


# --------------------------------------------------------------------------------------- grid
def test_grid_report_has_a_box_per_setting_and_curves_per_run(made, tmp_path):
    exp = load_experiment(made / "grid")
    assert exp.kind == "grid" and [r.group for r in exp.runs] == ["40", "60"] and exp.axis == "samples_per_segment"
    written = write_report(made / "grid", out=tmp_path / "report.md")
    names = {p.name for p in written.figures}
    assert names == {
        "phase.png",
        "mcc.png",
        "pairwise_mcc.png",
        "elbo_vs_mcc.png",  # a numeric axis: the phase diagram
        "embedding_samples_per_segment-40.png",
        "embedding_samples_per_segment-60.png",
        "training_samples_per_segment-40.png",
        "training_samples_per_segment-60.png",
    }
    text = written.path.read_text()
    assert sorted(referenced(text)) == sorted(f"report_files/{n}" for n in names)
    assert "ivae n=6 seeds" in text and "vade n=6 pairs" in text  # 2 settings x 3 seeds (x 3 pairs)
    rows = table_rows(text)
    assert rows[0][:3] == ["setting", "model", "seeds"] and len(rows) == 2 + 4
    for row in rows[2:]:
        samples = row[0].split("=")[1]
        cell = load(made / "grid" / f"samples_per_segment-{samples}" / "summary.json")["cells"][row[1]]
        assert_same_stats(row[3], cell["stats"]["mcc"])
    caption = re.search(r"\*Figure 4\. (.+)\*", text).group(1)  # after the phase diagram, MCC and CCA-MCC
    assert caption.count("n=3 seeds") == 4  # one ELBO/MCC panel per model and setting


def test_a_second_grid_axis_gives_a_panel_per_value_of_the_first(fresh):
    """Figs. 4-6 layout: one panel per data set (a linked axis here), d_z along the x axis."""
    axes = [["data.samples_per_segment", "models.vade.prior.components"], ["models.*.latent_dim"]]
    settings = {"data.samples_per_segment": 40, "models.vade.prior.components": 3, "models.*.latent_dim": 2}
    assert Placement.of(axes, settings) == Placement("samples_per_segment=40 components=3", "2")
    assert Placement.axis_name(axes) == "latent_dim"
    grid = load(fresh / "grid" / "grid.json")
    grid["axes"] = {"data.samples_per_segment": [40, 60], "models.*.latent_dim": [None]}
    for cell in grid["cells"]:
        cell["settings"]["models.*.latent_dim"] = None
    (fresh / "grid" / "grid.json").write_text(json.dumps(grid))
    exp = load_experiment(fresh / "grid")
    assert [(r.panel, r.group) for r in exp.runs] == [
        ("samples_per_segment=40", "None"),
        ("samples_per_segment=60", "None"),
    ]
    panels = box_panels(exp, {"ivae": "C0", "vade": "C1"}, [Part(lambda c: c.seed_values("mcc"))], "t", "y")
    assert [p.title for p in panels] == ["samples_per_segment=40: t", "samples_per_segment=60: t"]
    assert [len(s.values[0]) for s in panels[0].series] == [3, 3]


def test_runs_side_by_side_without_grid_json_are_told_apart_by_their_specs(fresh):
    (fresh / "grid" / "grid.json").unlink()
    exp = load_experiment(fresh / "grid")
    assert exp.kind == "runs" and exp.axis == "samples_per_segment"
    assert [r.setting for r in exp.runs] == ["samples_per_segment=40", "samples_per_segment=60"]


# -------------------------------------------------------------------------------------- failures
def test_a_failed_seed_is_shown_in_captions_table_and_list(made, tmp_path):
    summary = load(made / "failed" / "summary.json")
    assert summary["cells"]["failing"]["status"]["1"] == "failed"
    text = write_report(made / "failed", out=tmp_path / "r.md").path.read_text()
    caption = re.search(r"\*Figure 1\. (.+)\*", text).group(1)
    assert "failing n=2 of 3 seeds, 1 failed" in caption and "ivae n=3 seeds" in caption
    assert "failing n=1 of 3 pairs, 2 failed" in re.search(r"\*Figure 2\. (.+)\*", text).group(1)
    rows = {row[0]: row for row in table_rows(text)[2:]}
    assert rows["failing"][1] == "3: 2 finished, 1 failed"
    header = table_rows(text)[0]
    assert_same_stats(rows["failing"][header.index("MCC to sources")], summary["cells"]["failing"]["stats"]["mcc"])
    assert "(1 failed)" in rows["failing"][header.index("MCC to sources")]
    assert "## Failed seeds" in text and "- failing seed 1: loss became non-finite by step 10" in text


def test_a_run_still_training_is_reported_from_what_is_there(fresh, tmp_path):
    run = fresh / "run"
    (run / "summary.json").unlink()
    (run / "vade" / "summary.json").unlink()
    for seed in (1, 2):
        (run / "vade" / "seeds" / str(seed) / "result.json").unlink()
    text = write_report(run).path.read_text()
    rows = {row[0]: row for row in table_rows(text)[2:]}
    assert rows["vade"][1] == "3: 1 finished, 2 running" and rows["vade"][2] == "(no summary yet)"
    assert "vade n=" not in re.search(r"\*Figure 1\. (.+)\*", text).group(1)
    assert "vade: 3 seeds" in text  # its training curves are still drawn


# ------------------------------------------------------------------------------------ clusters
def test_cluster_metrics_add_a_boxplot_and_an_ari_against_cca_scatter(fresh):
    run = fresh / "run"
    summary = load(run / "summary.json")
    ari = {"0-1": 0.9, "0-2": 0.5, "1-2": None}  # one pair failed
    for pair in summary["cells"]["vade"]["pairs"]:
        key = "-".join(map(str, pair["seeds"]))
        pair["cluster_ari"] = ari[key]
        pair["cluster_nmi"] = None if ari[key] is None else ari[key] + 0.05
    summary["cells"]["vade"]["stats"]["cluster_ari"] = quartiles([0.9, 0.5, math.nan])
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "vade" / "summary.json").write_text(json.dumps(summary["cells"]["vade"]))  # as ica writes them: alike
    written = write_report(run)
    assert {p.name for p in written.figures} == BASE_FIGURES | {"cluster_agreement.png", "cluster_ari_vs_cca_mcc.png"}
    text = written.path.read_text()
    assert len(referenced(text)) == 7
    assert "vade n=2 of 3 pairs, 1 failed" in text
    assert "ivae" not in re.search(r"\*Figure \d\. Cluster ARI and NMI(.+)\*", text).group(1)
    rows = {row[0]: row for row in table_rows(text)[2:]}
    header = table_rows(text)[0]
    assert_same_stats(rows["vade"][header.index("cluster ARI")], summary["cells"]["vade"]["stats"]["cluster_ari"])
    assert rows["ivae"][header.index("cluster ARI")] == "-"


# ------------------------------------------------------------------------------ regression math
def test_fit_line_matches_linregress_and_the_matrix_form_of_the_band():
    rng = np.random.default_rng(3)
    x = rng.normal(size=12) * 30 - 250
    y = 0.002 * x + rng.normal(scale=0.05, size=12) + 1.2
    fit = line_fit.fit_line(x, y)
    reference = stats.linregress(x, y)
    assert fit.slope == pytest.approx(reference.slope, rel=1e-12)
    assert fit.intercept == pytest.approx(reference.intercept, rel=1e-12)
    assert fit.r == pytest.approx(reference.rvalue, rel=1e-12)
    # Var(ŷ(x0)) = s² [1 x0] (XᵀX)⁻¹ [1 x0]ᵀ: the same band without the centred-sum formula.
    design = np.column_stack([np.ones_like(x), x])
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    s2 = ((y - design @ beta) ** 2).sum() / (len(x) - 2)
    at = np.array([-300.0, -250.0, -180.0])
    rows = np.column_stack([np.ones_like(at), at])
    se = np.sqrt(s2 * np.einsum("ij,jk,ik->i", rows, np.linalg.inv(design.T @ design), rows))
    t = stats.t.ppf(0.975, len(x) - 2)
    lower, upper = fit.band(at)
    np.testing.assert_allclose(lower, rows @ beta - t * se, rtol=1e-10)
    np.testing.assert_allclose(upper, rows @ beta + t * se, rtol=1e-10)


def test_fit_line_by_hand():
    # x = 0, 1, 2; y = 0, 1, 3: slope 3/2, intercept -1/6, residuals 1/6, -1/3, 1/6, s² = (1/6)/1,
    # at x̄ = 1 the standard error of the mean is s/sqrt(3) = sqrt(1/18); t(0.975, 1 df) = 12.7062 (tables).
    fit = line_fit.fit_line([0, 1, 2], [0, 1, 3])
    assert fit.slope == pytest.approx(1.5) and fit.intercept == pytest.approx(-1 / 6)
    assert fit.r == pytest.approx(3 / math.sqrt(2 * 14 / 3))  # Sxy / sqrt(Sxx Syy), Syy = 14/3
    lower, upper = fit.band(np.array([1.0]))
    half = 12.706204736174703 * math.sqrt(1 / 18)
    assert lower[0] == pytest.approx(4 / 3 - half, rel=1e-9) and upper[0] == pytest.approx(4 / 3 + half, rel=1e-9)
    two = line_fit.fit_line([0, 1], [1, 2])
    assert two.slope == pytest.approx(1.0) and np.isnan(two.band(np.array([0.5]))[0]).all()  # no df left
    assert line_fit.fit_line([1, 1, 1], [0, 1, 2]) is None and line_fit.fit_line([1], [1]) is None


# ---------------------------------------------------------------------------------------- errors
def report_app() -> typer.Typer:
    """`report` registered exactly as cli/app.py registers it (plus a second command, so typer keeps the name)."""
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("report")(user_errors(report_command))
    app.command("noop")(lambda: None)
    return app


def test_a_directory_without_runs_is_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(IcaError, match="no run found here"):
        write_report(tmp_path / "empty")
    result = CliRunner().invoke(report_app(), ["report", str(tmp_path / "empty")], catch_exceptions=False)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "no run found here" in result.output
    missing = CliRunner().invoke(report_app(), ["report", str(tmp_path / "nope")], catch_exceptions=False)
    assert missing.exit_code == 2 and "no such directory" in missing.output


def test_cli_writes_the_report_and_refuses_an_unknown_format(made, tmp_path):
    out = tmp_path / "r.html"
    result = CliRunner().invoke(report_app(), ["report", str(made / "run"), "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0 and out.exists() and str(out) in result.output.replace("\n", "")
    bad = CliRunner().invoke(report_app(), ["report", str(made / "run"), "--format", "pdf"], catch_exceptions=False)
    assert bad.exit_code == 2 and "unknown format 'pdf'" in bad.output


def test_components_that_differ_only_in_an_option_get_their_own_figure_groups():
    """Two Gaussian likelihood scales are two groups in the figures, named as their grid cells are; a component
    unique along its axis keeps its plain name."""
    from ica.reporting.settings import axis_texts

    axes = [["models.*.likelihood"]]
    every = [{"models.*.likelihood": {"name": "gaussian", "scale": scale}} for scale in (0.1, 1.0)]
    every.append({"models.*.likelihood": {"name": "bernoulli"}})
    texts = axis_texts(axes, every)
    groups = [Placement.of(axes, settings, texts).group for settings in every]
    assert groups == ["gaussian(scale=0.1)", "gaussian(scale=1.0)", "bernoulli"]
    assert Placement.of(axes, every[0]).group == "gaussian"  # what the figures drew before: both as one
