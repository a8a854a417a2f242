"""``ica report DIR... [--out FILE] [--format md|html]``: an experiment's figures and tables in one document
(the paper's Figs. 2-6 from a finished run or grid; the runs of several directories together, as ``ica results``
tables them).

Registered in `ica.cli.app` as ``app.command("report")(user_errors(report_command))``: an `IcaError` raised
here (missing directory, no runs, unknown format, a corrupt file) becomes one message and exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def report_command(
    directories: List[Path] = typer.Argument(
        ...,
        metavar="DIR",
        help="A run directory, a grid directory, or a folder of runs; several of them make one report of all "
        "their runs side by side (placed by the spec options that differ between them; --out is then needed).",
    ),
    out: Optional[Path] = typer.Option(
        None,
        "--out",
        "-o",
        help="The document to write (default DIR/report.md, or DIR/report.html; with several DIRs, required).",
    ),
    format: Optional[str] = typer.Option(
        None,
        "--format",
        help="md (figures as PNGs in <out stem>_files/) or html (one file, figures embedded); "
        "default: from --out's suffix, else md.",
    ),
    margin: float = typer.Option(
        0.05,
        "--margin",
        min=0.0,
        help="Equivalence margin of the model comparisons "
        "and the phase figure, in the metric's units (0: no equivalence test).",
    ),
    correction: str = typer.Option(
        "holm",
        "--correction",
        help="Correction of the comparisons' p over what the report shows: holm, bh (Benjamini-Hochberg) or none.",
    ),
    metric: Optional[List[str]] = typer.Option(
        None, "--metric", help="Compare only this metric (repeatable): the family the correction runs over."
    ),
) -> Path:
    """Figures (MCC boxplots, pairwise CCA-MCC in/out of sample, ELBO against MCC, cluster agreement, each model's
    embedding, training curves) and the results table of an experiment, with every failed seed counted, as
    Markdown or HTML; each metric beside its null controls (saying where a median lies within one), and the
    models of each setting compared (effect, interval, corrected p, equivalence against --margin, verdict)."""
    from ica.cli.results import comparison_options
    from ica.reporting.report import write_report

    options = comparison_options(margin, correction, metric)
    given = [Path(d) for d in directories]
    written = write_report(given, out=None if out is None else Path(out), format=format, comparison=options)
    beside = f", {len(written.figures)} PNG files in {written.figures[0].parent}" if written.figures else ""
    typer.echo(f"wrote {written.path} ({written.count} figures{beside})")
    return written.path
