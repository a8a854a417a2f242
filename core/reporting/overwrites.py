"""Which files `ica report` may overwrite or delete: only those an earlier report wrote, known by a marker.

A report is often written again into the same place (a model added, a run finished). Every document carries a
marker comment on its first line listing the figures written beside it, so a later report replaces exactly
those and nothing of the user's; inside a run directory only the experiment's own ``report.md`` /
``report.html`` are written. `ica.reporting.report` calls these around writing the files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ica.errors import IcaError
from ica.rundir.enclosing import enclosing_run_directory

OUR_FIGURES = (
    "phase.png",
    "mcc.png",
    "pairwise_mcc.png",
    "elbo_vs_mcc.png",
    "cluster_agreement.png",
    "cluster_ari_vs_cca_mcc.png",
    "training.png",
)

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
        return f"{doctype}{comment}{text[len(doctype) :]}"
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
    match = re.match(r"; figures: (\[.*?\]) -->", first[at + len(MARKER) :])
    try:
        names = json.loads(match.group(1)) if match else []
    except ValueError:
        names = []
    return [n for n in names if isinstance(n, str) and n.strip(".") and "/" not in n and "\\" not in n]


def check_output(directory: Path | None, path: Path) -> bool:
    """Refuse a report path that would overwrite what ``ica report`` did not write; True when ``path`` is the
    experiment's own report (``report.md`` / ``report.html`` at its root; a report of several directories,
    ``directory`` None, is none's own).

    Inside a run directory (one holding a run's spec.json or a grid's grid.json) only those own report files
    are written. Elsewhere an existing file is replaced only if it carries the marker of an earlier report.
    """
    if path.is_symlink():
        raise IcaError("is a symbolic link; ica report writes only plain files it made", where=str(path))
    if path.is_dir():
        raise IcaError("is a directory; --out names the report file to write (e.g. report.md)", where=str(path))
    own = directory is not None and path.name in REPORT_NAMES and _same_dir(path.parent, directory)
    if not own:
        inside = enclosing_run_directory(path)
        if inside is not None:
            raise IcaError(
                f"is inside the run directory {inside}; a report there may only be its own "
                f"{' or '.join(REPORT_NAMES)} at the experiment's root: choose --out outside it",
                where=str(path),
            )
    if path.exists() and read_marker(path) is None and not own:
        raise IcaError(
            "exists and is not a report written by ica report; refusing to overwrite it (choose "
            "another --out, or remove the file)",
            where=str(path),
        )
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
