"""`ica report`'s embedding figures and several directories in one report (issue #30), on two tiny real runs:
an embedding image per setting with every model in its caption, axes matched to the sources, panels coloured by
source, label and cluster; a data set that cannot be built again here, and subsampling, said in the caption;
the HTML's tables in scrolling wrappers; the runs of two directories placed side by side."""

from __future__ import annotations

import base64
import copy
import re
import struct
from pathlib import Path

import pytest

import ica
import ica.running.building
from ica.errors import DataError, IcaError
from ica.reporting import embedding_figure
from ica.reporting.experiment import load_experiments
from ica.reporting.report import write_report

from conftest import TINY_SPEC, built_once

pytestmark = pytest.mark.slow  # the module's runs are trained once per session


def _train(root: Path) -> None:
    for samples in (40, 60):
        spec = copy.deepcopy(TINY_SPEC)
        spec["data"]["samples_per_segment"] = samples
        spec["evaluation"] = {"metrics": [{"name": "mcc"}, {"name": "cca_mcc"}, {"name": "elbo"}]}
        ica.run(spec, out=root / f"runs-{samples}" / "run")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Two finished runs (iVAE + VaDE on 3-dimensional TCL data, 2 seeds) that differ in samples per segment,
    each in a folder of its own but named alike (``runs-40/run``, ``runs-60/run``)."""
    return built_once(tmp_path_factory, "report_embedding_runs", _train)


def png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def figure_html(text: str, name: str) -> str:
    return re.search(rf'<figure id="{re.escape(name)}">.*?</figure>', text, flags=re.S).group(0)


def test_the_html_report_shows_each_models_embedding_and_scrolls_its_tables(runs, tmp_path):
    out = write_report(runs / "runs-40" / "run", out=tmp_path / "r.html").path
    text = out.read_text()
    figure = figure_html(text, "embedding.png")
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', figure).group(1))
    width, height = png_size(png)
    assert width <= 1200 and height <= 800  # modest: two models, three colourings at most
    caption = re.search(r"<figcaption>(.*?)</figcaption>", figure, flags=re.S).group(1)
    assert "first finished seed of each model on the eval split, 80 of 80 points" in caption
    assert "least-squares readouts of the 2 sources read best" in caption  # d_z = 3 > 2 and TCL has sources
    assert "the true source that best matches the x axis" in caption and "label u" in caption
    assert "cluster assignment" in caption  # VaDE's clusters are not u
    tables = text.count("<table>")
    assert tables >= 3 and text.count('<div class="table-wrap"><table>') == tables


def test_each_model_gets_a_row_of_panels_coloured_by_source_label_and_cluster(runs):
    exp = load_experiments([runs / "runs-40" / "run"])
    run = exp.runs[0]
    truth = embedding_figure.run_truth(run, {})
    assert truth.note == "" and truth.sources.shape == (80, 3) and truth.labels.shape == (80,)
    by_label = {}
    for cell in run.cells:
        seed, latents = embedding_figure.first_latents(cell)
        assert seed.seed == 0
        shown = embedding_figure.embedding_axes(latents.latents, 2, "sources", truth.sources, truth.labels)
        by_label[cell.label] = [c[0].split(" (")[0] for c in embedding_figure.colourings(shown, truth, latents)]
    assert by_label["vade"][1:] == ["label u", "cluster"] and by_label["vade"][0].startswith("true source ")
    assert "cluster" not in by_label["ivae"]  # an iVAE's clusters are its u: one panel would repeat the other


def test_a_data_set_that_cannot_be_built_here_and_a_large_split_are_said_in_the_caption(runs, tmp_path, monkeypatch):
    def gone(*args, **kwargs):
        raise DataError("the data's files are not on this machine", where="data.path")

    monkeypatch.setattr(ica.running.building, "raw_data", gone)
    monkeypatch.setattr(embedding_figure, "MAX_POINTS", 25)
    text = write_report(runs / "runs-40" / "run", out=tmp_path / "r.md").path.read_text()
    caption = re.search(r"\*Figure \d+\. (Posterior means.+)\*", text).group(1)
    assert "25 of 80 points (a fixed random subset, the same for every model)" in caption
    assert "could not be built again here (data.path: the data's files are not on this machine)" in caption
    assert "principal components" in caption and "cluster assignment" in caption  # no sources: PCA, clusters
    assert (tmp_path / "r_files" / "embedding.png").read_bytes().startswith(b"\x89PNG")


def test_two_directories_make_one_report_of_their_runs_side_by_side(runs, tmp_path):
    a, b = runs / "runs-40" / "run", runs / "runs-60" / "run"
    exp = load_experiments([a, b])
    assert exp.kind == "runs" and exp.directories == [a, b] and exp.axis == "samples_per_segment"
    assert [r.setting for r in exp.runs] == ["samples_per_segment=40", "samples_per_segment=60"]
    written = write_report([a, b], out=tmp_path / "both.md")
    names = {p.name for p in written.figures}
    # The two runs are both called "run": their figures are named by their paths below the common folder.
    assert {"training_runs-40-run.png", "training_runs-60-run.png"} <= names
    assert {"embedding_runs-40-run.png", "embedding_runs-60-run.png"} <= names
    text = written.path.read_text()
    assert f"Experiment directories {a}, {b}: 2 runs (samples_per_segment)" in text
    assert "ivae n=4 seeds" in text  # 2 runs x 2 seeds in the MCC boxplot's caption
    assert load_experiments([a, a]).kind == "run"  # the same directory twice is one run


def test_several_directories_need_out_and_each_must_hold_runs(runs, tmp_path):
    a, b = runs / "runs-40" / "run", runs / "runs-60" / "run"
    with pytest.raises(IcaError, match="several directories make one report") as caught:
        write_report([a, b])
    assert caught.value.where == "--out"
    (tmp_path / "empty").mkdir()
    with pytest.raises(IcaError, match="no run found here"):
        write_report([a, tmp_path / "empty"], out=tmp_path / "r.md")
    with pytest.raises(IcaError, match="no such directory"):
        write_report([a, tmp_path / "missing"], out=tmp_path / "r.md")
