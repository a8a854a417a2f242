"""`ica report DIR`: the paper's figures and tables from a finished experiment (issue #5, §4 Figs. 2-6).

An experiment is one run directory, a grid directory (``grid.json`` names each run's settings), or a
folder of run directories (their settings found by diffing their spec.json files). ``ica.report_read``
reads those files (summary.json, spec.json, result.json, metrics.jsonl: layout in ``ica.results``) and
groups the numbers by setting and model label; ``ica.report_boxplots``, ``report_scatter`` and
``report_training`` draw the figures (through ``ica.plots``), ``ica.report_tables`` makes the tables and
``ica.report_render`` writes them out. This module assembles the document and writes it: one Markdown
document with the PNGs beside it, or one HTML file with them embedded (self-contained).

What is shown, and from what:

1. MCC to the ground-truth sources per seed (Fig. 2), where the data set has sources;
2. CCA-MCC between pairs of seeds in and out of sample (Figs. 4-6), also grid MCC where logged;
3. ELBO (train) against MCC per seed with a least-squares line and its 95% band (Fig. 3);
4. cluster agreement between pairs of seeds (ARI, NMI) and ARI against CCA-MCC (§3: the same
   partition should give the same representation), where the cluster metrics were computed;
5. training curves of every seed (loss and its terms, learning rate, CN(L));
6. a table of every metric: median [q25, q75] n=… with failures counted, equal to summary.json's.

Layout of the boxplots: x groups are the model labels of a lone run (Fig. 2), else the values of the grid
axis; with two or more axes the first one (e.g. the data set) gets a panel per value, as in Figs. 4-6.
A failed seed is never dropped: it is counted in every caption, box and table cell
(``n=2 of 3 seeds, 1 failed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ica import plots
from ica.errors import IcaError
from ica.report_boxplots import (PAIR_FAMILIES, Part, box_panels, cluster_figure, label_counts, mcc_figure,
                                 pairwise_figure)
from ica.report_figures import FigureFile
from ica.report_read import MAX_AXES, Cell, Experiment, Run, Seed, load_experiment, load_run, read_metrics
from ica.report_render import HTML_STYLE, Block, render_html, render_markdown
from ica.report_scatter import cluster_scatter_figure, elbo_figure, elbo_points, seed_mean_pairwise
from ica.report_settings import Placement, describe, flatten, short_name
from ica.report_tables import (METRIC_NAMES, METRIC_ORDER, failures, fmt_number, fmt_stats, reference_table,
                               results_table, seed_status_text, table_metrics)
from ica.report_training import CURVE_LABELS, CURVE_OTHER, CURVE_SKIP, training_figure
from ica.results import atomic_write

__all__ = [  # the names `ica.report` has always offered, wherever they now live
    "CURVE_LABELS", "CURVE_OTHER", "CURVE_SKIP", "FORMATS", "HTML_STYLE", "MAX_AXES", "METRIC_NAMES", "METRIC_ORDER",
    "OUR_FIGURES", "PAIR_FAMILIES", "Block", "Cell", "Experiment", "FigureFile", "Part", "Placement", "Run", "Seed",
    "Written", "box_panels", "cluster_figure", "cluster_scatter_figure", "describe", "document", "elbo_figure",
    "elbo_points", "failures", "flatten", "fmt_number", "fmt_stats", "label_counts", "load_experiment", "load_run",
    "make_figures", "mcc_figure", "pairwise_figure", "read_metrics", "reference_table", "remove_stale_figures",
    "render_html", "render_markdown", "resolve_output", "results_table", "seed_mean_pairwise", "seed_status_text",
    "short_name", "table_metrics", "training_figure", "write_report",
]

FORMATS = {"md": "md", "markdown": "md", "html": "html", "htm": "html"}


def make_figures(exp: Experiment) -> list[FigureFile]:
    """Every figure the experiment has data for, in the order of the report."""
    colours = plots.colours_for(exp.labels)
    figures = [
        mcc_figure(exp, colours),
        pairwise_figure(exp, colours),
        elbo_figure(exp, colours),
        cluster_figure(exp, colours),
        cluster_scatter_figure(exp, colours),
    ]
    figures += [training_figure(exp, run, colours) for run in exp.runs]
    return [f for f in figures if f is not None]


def document(exp: Experiment, figures: list[FigureFile]) -> list[Block]:
    """The report's contents, in order: what the experiment is, the tables, failed seeds, then the figures."""
    runs = len(exp.runs)
    seeds = sum(len(c.seeds) for r in exp.runs for c in r.cells)
    failed = sum(c.count("failed") for r in exp.runs for c in r.cells)
    what = "a single run" if exp.kind == "run" else f"{runs} runs ({exp.axis})"
    blocks = [
        Block("heading", f"Report: {exp.name}", level=1),
        Block("text", f"Experiment directory {exp.root}: {what}; models {', '.join(exp.labels)}; "
                      f"{seeds} trained seeds, {failed} failed; metrics on the {exp.split} split."),
        Block("heading", "Results"),
        Block("text", "Median [first quartile, third quartile] over seeds, or over pairs of seeds for the pairwise "
                      "metrics (CCA-MCC, grid MCC, cluster ARI/NMI); n counts every seed or pair, failed ones "
                      "included, and failures are spelled out."),
    ]
    header, rows = results_table(exp)
    blocks.append(Block("table", header=header, rows=rows))
    ref = reference_table(exp)
    if ref is not None:
        blocks += [Block("text", "Reference values computed once per run on the same evaluation points "
                                 "(e.g. MCC of the observations themselves and of FastICA to the sources):"),
                   Block("table", header=ref[0], rows=ref[1])]
    waiting = [r.setting or str(r.directory) for r in exp.runs if not r.cells]
    if waiting:
        blocks.append(Block("text", f"Not started yet (no spec.json in the run directory): {', '.join(waiting)}."))
    problems = failures(exp)
    if problems:
        blocks += [Block("heading", "Failed seeds"), Block("list", items=problems)]
    blocks.append(Block("heading", "Figures"))
    for i, fig in enumerate(figures, 1):
        blocks += [Block("heading", fig.heading, level=3), Block("figure", figure=fig, number=i)]
    return blocks


@dataclass
class Written:
    """What `ica report` wrote, for the command's one-line answer."""

    path: Path  # the document
    figures: list[Path]  # PNG files written beside it (none for HTML: they are embedded)
    count: int  # figures in the document


def resolve_output(directory: Path, out: Path | None, format: str | None) -> tuple[Path, str]:
    """The document's path and format: --format wins, else the suffix of --out, else Markdown."""
    if format is not None:
        fmt = FORMATS.get(format.lower())
        if fmt is None:
            raise IcaError(f"unknown format {format!r}; expected md or html", where="--format")
    elif out is not None and out.suffix.lower() in (".html", ".htm"):
        fmt = "html"
    else:
        fmt = "md"
    return (Path(out) if out is not None else Path(directory) / f"report.{fmt}"), fmt


def write_report(directory: Path, out: Path | None = None, format: str | None = None) -> Written:
    """Read the experiment in ``directory`` and write its report: figures first, then the document.

    Markdown: ``<out>`` plus ``<out stem>_files/*.png`` (default ``DIR/report.md``, ``DIR/report_files/``),
    referred to by relative paths. HTML: one file with every PNG embedded as base64.
    """
    directory = Path(directory)
    exp = load_experiment(directory)
    if not any(c.summary is not None or any(s.curve for s in c.seeds) for r in exp.runs for c in r.cells):
        raise IcaError("no results yet: no summary.json and no training log in any run", where=str(directory))
    path, fmt = resolve_output(directory, out, format)
    figures = make_figures(exp)
    blocks = document(exp, figures)
    if fmt == "html":
        atomic_write(path, render_html(blocks).encode("utf-8"))
        return Written(path, [], len(figures))
    folder = f"{path.stem}_files"
    written = [path.parent / folder / fig.name for fig in figures]
    for fig, target in zip(figures, written):
        atomic_write(target, fig.png)
    atomic_write(path, render_markdown(blocks, folder).encode("utf-8"))
    remove_stale_figures(path.parent / folder, {p.name for p in written})
    return Written(path, written, len(figures))


OUR_FIGURES = ("mcc.png", "pairwise_mcc.png", "elbo_vs_mcc.png", "cluster_agreement.png", "cluster_ari_vs_cca_mcc.png",
               "training.png")


def remove_stale_figures(folder: Path, current: set[str]) -> None:
    """Figures an earlier report of this experiment wrote and this one does not (e.g. a model removed); files
    with other names are left alone."""
    for file in folder.iterdir():
        ours = file.name in OUR_FIGURES or (file.name.startswith("training_") and file.suffix == ".png")
        if ours and file.name not in current and file.is_file():
            file.unlink()
