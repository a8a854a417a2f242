"""`ica report DIR`: the paper's figures and tables from a finished experiment (issue #5, §4 Figs. 2-6).

An experiment is one run directory, a grid directory (``grid.json`` names each run's settings), or a
folder of run directories (their settings found by diffing their spec.json files). ``ica.reporting.read``
reads those files (summary.json, spec.json, result.json, metrics.jsonl: layout in ``ica.rundir.writing``) and
groups the numbers by setting and model label; ``ica.reporting.boxplots``, ``ica.reporting.scatter`` and
``ica.reporting.curves`` draw the figures (through ``ica.reporting.plots``), ``ica.reporting.tables`` makes the
tables and ``ica.reporting.render`` writes them out. This module assembles the document and writes it: one Markdown
document with the PNGs beside it, or one HTML file with them embedded (self-contained).

What is shown, and from what:

1. MCC to the ground-truth sources per seed (Fig. 2), where the data set has sources;
2. CCA-MCC between pairs of seeds in and out of sample (Figs. 4-6), also grid MCC where logged;
3. ELBO (train) against MCC per seed with a least-squares line and its 95% band (Fig. 3);
4. cluster agreement between pairs of seeds (ARI, NMI) and ARI against CCA-MCC (§3: the same
   partition should give the same representation), where the cluster metrics were computed;
5. training curves of every seed (loss and its terms, learning rate, CN(L));
6. a table of every metric: median [q25, q75] n=… with failures counted, equal to summary.json's;
7. each metric beside its controls (untrained networks, floors) with a sentence where a median lies within a
   control's range, and a comparison of every two models of a run with p-values (issue #15).

Layout of the boxplots: x groups are the model labels of a lone run (Fig. 2), else the values of the grid
axis; with two or more axes the first one (e.g. the data set) gets a panel per value, as in Figs. 4-6.
A failed seed is never dropped: it is counted in every caption, box and table cell
(``n=2 of 3 seeds, 1 failed``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ica.evaluation.inference import MIN_UNITS
from ica.evaluation.corrections import NAMES
from ica.reporting.comparisons import ComparisonOptions
from ica.reporting import plots
from ica.errors import IcaError
from ica.reporting.boxplots import (PAIR_FAMILIES, Part, box_panels, cluster_figure, label_counts, mcc_figure,
                                 pairwise_figure)
from ica.reporting.figures import FigureFile
from ica.reporting.phase import phase_figure
from ica.reporting.read import MAX_AXES, Cell, Experiment, Run, Seed, load_experiment, load_run, read_metrics
from ica.reporting.render import HTML_STYLE, Block, render_html, render_markdown
from ica.reporting.scatter import cluster_scatter_figure, elbo_figure, elbo_points, seed_mean_pairwise
from ica.reporting.settings import Placement, describe, flatten, short_name
from ica.reporting.tables import (FLOOR_TOLERANCE, METRIC_NAMES, METRIC_ORDER, comparison_table, control_sentences,
                               controls_table, failures, fmt_number, fmt_stats, reference_table, results_table,
                               seed_status_text, table_metrics)
from ica.reporting.curves import CURVE_LABELS, CURVE_OTHER, CURVE_SKIP, training_figure
from ica.rundir.writing import atomic_write, safe_dir
from ica.rundir.enclosing import enclosing_run_directory

__all__ = [  # the names `ica.reporting.report` has always offered, wherever they now live
    "CURVE_LABELS", "CURVE_OTHER", "CURVE_SKIP", "FORMATS", "HTML_STYLE", "MAX_AXES", "METRIC_NAMES", "METRIC_ORDER",
    "OUR_FIGURES", "PAIR_FAMILIES", "Block", "Cell", "Experiment", "FigureFile", "Part", "Placement", "Run", "Seed",
    "Written", "box_panels", "cluster_figure", "cluster_scatter_figure", "describe", "document", "elbo_figure",
    "elbo_points", "failures", "flatten", "fmt_number", "fmt_stats", "label_counts", "load_experiment", "load_run",
    "make_figures", "mcc_figure", "pairwise_figure", "read_metrics", "reference_table", "remove_stale_figures",
    "render_html", "render_markdown", "resolve_output", "results_table", "seed_mean_pairwise", "seed_status_text",
    "short_name", "table_metrics", "training_figure", "write_report",
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
    figures += [training_figure(exp, run, colours) for run in exp.runs]
    return [f for f in figures if f is not None]


def document(exp: Experiment, figures: list[FigureFile],
             comparison: ComparisonOptions = ComparisonOptions()) -> list[Block]:
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
    blocks += significance_blocks(exp, comparison)
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


def significance_blocks(exp: Experiment, options: ComparisonOptions = ComparisonOptions()) -> list[Block]:
    """The controls beside each metric (with what lies within their range) and the comparison of models."""
    blocks = []
    controls = controls_table(exp)
    if controls is not None:
        said = control_sentences(exp)
        blocks += [
            Block("heading", "Controls"),
            Block("text", "Each metric beside its null controls on the same points: the same metric for every seed's "
                          "untrained network (its initialisation) and the floors of the raw observations, their PCA "
                          "and FastICA. The 95% interval is of the mean: t with a jackknife over seeds (pairwise "
                          "metrics too: seeds are left out, never pairs), hierarchical over data draws; fewer than "
                          f"{MIN_UNITS['seed']} seeds ({MIN_UNITS['pair']} for pairwise metrics) give no interval. "
                          "A median counts as within a control's range between the untrained networks' "
                          f"quartiles, or within {FLOOR_TOLERANCE:g} of a floor."),
            Block("table", header=controls[0], rows=controls[1]),
            Block("list", items=said) if said else Block("text", "No median lies within a control's range."),
        ]
    comparison = comparison_table(exp, options)
    margin = f"±{options.margin:g}" if options.margin is not None else None
    only = f" Only {', '.join(options.metrics)} compared." if options.metrics else ""
    if comparison is not None:
        blocks += [
            Block("heading", "Model comparison"),
            Block("text", f"Every two models of each setting, on the same data (data draws pooled): the effect is "
                          "the difference of their means (first minus second) with its 95% interval; p is two-sided "
                          "(Welch's t with a jackknife over seeds within one draw, a paired t over draws with two or "
                          f"more), corrected by {NAMES[options.correction]} over every row of this table; "
                          + (f"'p equiv.' is the equivalence test (two one-sided tests) against a margin of {margin} "
                             "in the metric's units, corrected likewise. " if margin else "no equivalence margin. ")
                          + "Verdict at α = 0.05: better when the corrected p is below α, "
                          + (f"equivalent within {margin} when the corrected equivalence p is, " if margin else "")
                          + "otherwise inconclusive; 'too few seeds' where no test exists. Controls are never "
                          "compared." + only),
            Block("table", header=comparison[0], rows=comparison[1]),
        ]
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


def write_report(directory: Path, out: Path | None = None, format: str | None = None,
                 comparison: ComparisonOptions = ComparisonOptions()) -> Written:
    """Read the experiment in ``directory`` and write its report: figures first, then the document.

    Markdown: ``<out>`` plus ``<out stem>_files/*.png`` (default ``DIR/report.md``, ``DIR/report_files/``),
    referred to by relative paths. HTML: one file with every PNG embedded as base64. Only files an earlier
    report wrote are replaced or removed (`check_output`, `remove_stale_figures`): nothing of the user's, and
    nothing of a run directory but its own report files.
    """
    directory = Path(directory)
    exp = load_experiment(directory)
    if not any(c.summary is not None or any(s.curve for s in c.seeds) for r in exp.runs for c in r.cells):
        raise IcaError("no results yet: no summary.json and no training log in any run", where=str(directory))
    path, fmt = resolve_output(directory, out, format)
    own = check_output(directory, path)
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
            raise IcaError("was not written by ica report; refusing to overwrite it (move it away, or choose "
                           "another --out)", where=str(target))
    safe_dir(path.parent, folder)  # makes the document's folder too
    written = [figure_dir / fig.name for fig in figures]
    for fig, target in zip(figures, written):
        atomic_write(target, fig.png)
    atomic_write(path, mark(render_markdown(blocks, folder), [p.name for p in written]).encode("utf-8"))
    remove_stale_figures(figure_dir, {p.name for p in written}, earlier)
    return Written(path, written, len(figures))


OUR_FIGURES = ("phase.png", "mcc.png", "pairwise_mcc.png", "elbo_vs_mcc.png", "cluster_agreement.png",
               "cluster_ari_vs_cca_mcc.png", "training.png")

MARKER = "<!-- written by ica report"
"""The first line of every report starts with this comment (after ``<!DOCTYPE html>`` in HTML): how a
later report recognises a file it may overwrite. A Markdown report's marker also lists its figures."""

REPORT_NAMES = ("report.md", "report.html")
"""The experiment's own report files (and ``report_files/``): the only report paths inside a run directory."""


def mark(text: str, figures: list[str]) -> str:
    """``text`` with the marker comment on its first line (listing the figures written beside it)."""
    listed = json.dumps(figures).replace(">", "\\u003e")
    comment = f"{MARKER}; figures: {listed} -->"
    doctype = "<!DOCTYPE html>"
    if text.startswith(doctype):
        return f"{doctype}{comment}{text[len(doctype):]}"
    return f"{comment}\n{text}"


def read_marker(path: Path) -> list[str] | None:
    """The figures listed by the report at ``path``, or None when it is not a report ``ica report`` wrote."""
    try:
        with open(path, "rb") as f:
            first = f.readline(65536).decode("utf-8", "replace")
    except OSError:
        return None
    at = first.find(MARKER)
    if at < 0:
        return None
    match = re.match(r"; figures: (\[.*?\]) -->", first[at + len(MARKER):])
    try:
        names = json.loads(match.group(1)) if match else []
    except ValueError:
        names = []
    return [n for n in names if isinstance(n, str) and n.strip(".") and "/" not in n and "\\" not in n]


def check_output(directory: Path, path: Path) -> bool:
    """Refuse a report path that would overwrite what ``ica report`` did not write; True when ``path`` is the
    experiment's own report (``report.md`` / ``report.html`` at its root).

    Inside a run directory (one holding a run's spec.json or a grid's grid.json) only those own report files
    are written. Elsewhere an existing file is replaced only if it carries the marker of an earlier report.
    """
    if path.is_symlink():
        raise IcaError("is a symbolic link; ica report writes only plain files it made", where=str(path))
    if path.is_dir():
        raise IcaError("is a directory; --out names the report file to write (e.g. report.md)", where=str(path))
    own = path.name in REPORT_NAMES and _same_dir(path.parent, directory)
    if not own:
        inside = enclosing_run_directory(path)
        if inside is not None:
            raise IcaError(f"is inside the run directory {inside}; a report there may only be its own "
                           f"{' or '.join(REPORT_NAMES)} at the experiment's root: choose --out outside it",
                           where=str(path))
    if path.exists() and read_marker(path) is None and not own:
        raise IcaError("exists and is not a report written by ica report; refusing to overwrite it (choose "
                       "another --out, or remove the file)", where=str(path))
    return own


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def earlier_figures(path: Path, own: bool) -> set[str]:
    """The figure files an earlier report at ``path`` wrote, as its marker lists them. The experiment's own
    report folder from before markers existed is ica's too: its figure names count as written by ica."""
    listed = read_marker(path) if path.exists() else None
    if listed is not None:
        return set(listed)
    folder = path.parent / f"{path.stem}_files"
    if not own or folder.is_symlink() or not folder.is_dir():
        return set()
    return {f.name for f in folder.iterdir() if _figure_name(f.name)}


def _figure_name(name: str) -> bool:
    return name in OUR_FIGURES or (name.startswith("training_") and name.endswith(".png"))


def remove_stale_figures(folder: Path, current: set[str], earlier: set[str] | None = None) -> None:
    """Delete the figures an earlier report wrote (``earlier``: the names its marker listed) that this one
    does not (e.g. a model removed). Nothing else is ever deleted: not a file of the user's that happens to
    carry a figure's name, not a link. Without ``earlier`` nothing is removed."""
    for name in sorted((earlier or set()) - current):
        file = folder / name
        if file.is_file() and not file.is_symlink():
            file.unlink()
