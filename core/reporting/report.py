"""`ica report DIR...`: the paper's figures and tables from a finished experiment (the paper's §4, Figs. 2-6).

An experiment is one run directory, a grid directory (``grid.json`` names each run's settings), a
folder of run directories (their settings found by diffing their spec.json files), or the runs of several such
directories together (placed as a folder's are). ``ica.reporting.experiment``
reads those files (summary.json, spec.json, result.json, metrics.jsonl: ``ica.reporting.rundirs``) and places
the runs by setting; ``ica.reporting.boxplots``, ``ica.reporting.scatter`` and
``ica.reporting.curves`` draw the figures (through ``ica.reporting.plots``), ``ica.reporting.tables`` makes the
tables, ``ica.reporting.contents`` puts them in order and ``ica.reporting.render`` writes them out;
``ica.reporting.overwrites`` says which files a report may replace. This module draws the figures and writes the
document: one Markdown document with the PNGs beside it, or one HTML file with them embedded (self-contained).

What is shown, and from what:

1. MCC to the ground-truth sources per seed (Fig. 2), where the data set has sources;
2. CCA-MCC between pairs of seeds in and out of sample (Figs. 4-6), also grid MCC where logged;
3. ELBO (train) against MCC per seed with a least-squares line and its 95% band, through five seeds or more
   (Fig. 3);
4. cluster agreement between pairs of seeds (ARI, NMI) and ARI against CCA-MCC (§3: the same
   partition should give the same representation), where the cluster metrics were computed;
5. the embedding of each model (its first finished seed's latents; ``ica.reporting.embedding_figure``) and the
   training curves of every seed (loss and its terms, learning rate, CN(L));
6. a table of every metric: median [q25, q75] n=… with failures counted, equal to summary.json's;
7. each metric beside its controls (untrained networks, floors) with a sentence where a median lies within a
   control's range, and a comparison of every two models of a run with p-values (two medians alone cannot say
   whether a difference is more than chance).

Layout of the boxplots: x groups are the model labels of a lone run (Fig. 2), else the values of the grid
axis; with two or more axes the first one (e.g. the data set) gets a panel per value, as in Figs. 4-6.
A failed seed is never dropped: it is counted in every caption, box and table cell
(``n=2 of 3 seeds, 1 failed``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ica.reporting.comparisons import ComparisonOptions
from ica.reporting import plots
from ica.errors import IcaError
from ica.reporting.boxplots import (
    PAIR_FAMILIES,
    Part,
    box_panels,
    cluster_figure,
    label_counts,
    mcc_figure,
    pairwise_figure,
)
from ica.reporting.contents import document, significance_blocks
from ica.reporting.draws import setting_groups
from ica.reporting.embedding_figure import Truth, embedding_figure
from ica.reporting.figures import FigureFile
from ica.reporting.phase import phase_figure
from ica.reporting.experiment import MAX_AXES, Experiment, load_experiment, load_experiments, load_run
from ica.reporting.overwrites import (
    MARKER,
    OUR_FIGURES,
    REPORT_NAMES,
    check_output,
    earlier_figures,
    mark,
    read_marker,
    remove_stale_figures,
)
from ica.reporting.rundirs import CellRecord as Cell, RunRecord as Run, SeedRecord as Seed, read_metrics
from ica.reporting.render import HTML_STYLE, Block, render_html, render_markdown
from ica.reporting.scatter import cluster_scatter_figure, elbo_figure, elbo_points, seed_mean_pairwise
from ica.reporting.settings import Placement, describe, flatten, short_name
from ica.reporting.tables import failures, metrics_table, reference_table, seed_status_text, table_metrics
from ica.reporting.curves import CURVE_LABELS, CURVE_OTHER, CURVE_SKIP, training_figure
from ica.rundir.writing import atomic_write, safe_dir

__all__ = [  # the names `ica.reporting.report` has always offered, wherever they now live
    "CURVE_LABELS",
    "CURVE_OTHER",
    "CURVE_SKIP",
    "FORMATS",
    "HTML_STYLE",
    "MARKER",
    "MAX_AXES",
    "OUR_FIGURES",
    "PAIR_FAMILIES",
    "REPORT_NAMES",
    "Block",
    "Cell",
    "Experiment",
    "FigureFile",
    "Part",
    "Placement",
    "Run",
    "Seed",
    "Written",
    "box_panels",
    "check_output",
    "cluster_figure",
    "cluster_scatter_figure",
    "describe",
    "document",
    "earlier_figures",
    "elbo_figure",
    "elbo_points",
    "failures",
    "flatten",
    "label_counts",
    "load_experiment",
    "load_experiments",
    "load_run",
    "make_figures",
    "mark",
    "mcc_figure",
    "metrics_table",
    "pairwise_figure",
    "read_marker",
    "read_metrics",
    "reference_table",
    "remove_stale_figures",
    "render_html",
    "render_markdown",
    "resolve_output",
    "seed_mean_pairwise",
    "seed_status_text",
    "short_name",
    "significance_blocks",
    "table_metrics",
    "training_figure",
    "write_report",
]

FORMATS = {"md": "md", "markdown": "md", "html": "html", "htm": "html"}


def make_figures(exp: Experiment, comparison: ComparisonOptions = ComparisonOptions()) -> list[FigureFile]:
    """Every figure the experiment has data for, in the order of the report."""
    colours = plots.colours_for(exp.labels)
    figures = [
        phase_figure(exp, colours, comparison),
        mcc_figure(exp, colours),
        pairwise_figure(exp, colours),
        elbo_figure(exp, colours),
        cluster_figure(exp, colours),
        cluster_scatter_figure(exp, colours),
    ]
    truths: dict[str, Truth] = {}  # each data set built once for the embeddings of every run that shares it
    figures += [embedding_figure(exp, g.items[0], truths, len(g.items)) for g in setting_groups(exp.runs)]
    figures += [training_figure(exp, run, colours) for run in exp.runs]
    return [f for f in figures if f is not None]


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


def write_report(
    directory: Path | Sequence[Path],
    out: Path | None = None,
    format: str | None = None,
    comparison: ComparisonOptions = ComparisonOptions(),
) -> Written:
    """Read the experiment in ``directory`` (or the runs of several directories, together: `load_experiments`)
    and write its report: figures first, then the document.

    Markdown: ``<out>`` plus ``<out stem>_files/*.png`` (default ``DIR/report.md``, ``DIR/report_files/``),
    referred to by relative paths. HTML: one file with every PNG embedded as base64. Several directories have no
    one place for a report: ``out`` must name it. Only files an earlier report wrote are replaced or removed
    (`check_output`, `remove_stale_figures`): nothing of the user's, and nothing of a run directory but its own
    report files.
    """
    given = [Path(directory)] if isinstance(directory, (str, os.PathLike)) else [Path(d) for d in directory]
    exp = load_experiments(given)
    several = len(exp.directories) > 1
    if not any(c.summary is not None or any(s.curve for s in c.seeds) for r in exp.runs for c in r.cells):
        where = ", ".join(map(str, exp.directories)) if several else str(given[0])
        raise IcaError("no results yet: no summary.json and no training log in any run", where=where)
    if several and out is None:
        raise IcaError(
            "several directories make one report, which belongs to none of them: name its file, e.g. --out report.html",
            where="--out",
        )
    path, fmt = resolve_output(given[0], out, format)
    own = check_output(None if several else given[0], path)
    figures = make_figures(exp, comparison)
    blocks = document(exp, figures, comparison)
    if fmt == "html":
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, mark(render_html(blocks), []).encode("utf-8"))
        return Written(path, [], len(figures))
    folder = f"{path.stem}_files"
    earlier = earlier_figures(path, own)
    figure_dir = safe_dir(path.parent, folder, create=False)
    for fig in figures:
        target = figure_dir / fig.name
        if (target.exists() or target.is_symlink()) and fig.name not in earlier:
            raise IcaError(
                "was not written by ica report; refusing to overwrite it (move it away, or choose another --out)",
                where=str(target),
            )
    safe_dir(path.parent, folder)  # makes the document's folder too
    written = [figure_dir / fig.name for fig in figures]
    for fig, target in zip(figures, written):
        atomic_write(target, fig.png)
    atomic_write(path, mark(render_markdown(blocks, folder), [p.name for p in written]).encode("utf-8"))
    remove_stale_figures(figure_dir, {p.name for p in written}, earlier)
    return Written(path, written, len(figures))
