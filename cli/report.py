"""``ica report DIR [--out FILE] [--format md|html]``: an experiment's figures and tables in one document
(issue #5; the paper's Figs. 2-6 from a finished run or grid).

Registered in `ica.cli.app` as ``app.command("report")(user_errors(report_command))``: an `IcaError` raised
here (missing directory, no runs, unknown format, a corrupt file) becomes one message and exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def report_command(
    directory: Path = typer.Argument(..., help="A run directory, a grid directory, or a folder of runs."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="The document to write (default DIR/report.md, or DIR/report.html)."
    ),
    format: Optional[str] = typer.Option(
        None, "--format", help="md (figures as PNGs in <out stem>_files/) or html (one file, figures embedded); "
        "default: from --out's suffix, else md."
    ),
) -> Path:
    """Figures (MCC boxplots, pairwise CCA-MCC in/out of sample, ELBO against MCC, cluster agreement, training
    curves) and the results table of an experiment, with every failed seed counted, as Markdown or HTML; each
    metric beside its null controls (saying where a median lies within one), and p-values between the models
    of each run."""
    from ica.reporting.report import write_report

    written = write_report(Path(directory), out=None if out is None else Path(out), format=format)
    beside = f", {len(written.figures)} PNG files in {written.figures[0].parent}" if written.figures else ""
    typer.echo(f"wrote {written.path} ({written.count} figures{beside})")
    return written.path
