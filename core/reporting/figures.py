"""What every figure of `ica report` is made of: a PNG with the heading and caption the document gives it.

The figures themselves are drawn by ``ica.reporting.boxplots`` (Figs. 2, 4-6 and cluster agreement),
``ica.reporting.scatter`` (Fig. 3 and ARI against CCA-MCC, §3), ``ica.reporting.curves`` (training curves) and
``ica.reporting.embedding_figure`` (the embeddings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard


@dataclass
class FigureFile:
    name: str  # file name, e.g. "mcc.png"
    heading: str
    caption: str
    png: bytes


def is_finite_number(value: Any) -> TypeGuard[float]:
    """A value that can be drawn: a failed seed's None, NaN or inf (or a bool) is counted but not plotted."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def run_slug(root: Path, directory: Path) -> str:
    """A run's part of its figures' file names: its directory below the report's root (unique, also when several
    directories are reported together), with anything but letters, digits and ``-_.=`` made ``-``."""
    try:
        relative = Path(directory).relative_to(root).as_posix()
    except ValueError:
        relative = Path(directory).name
    relative = relative if relative not in ("", ".") else Path(directory).name
    return "".join(ch if ch.isalnum() or ch in "-_.=" else "-" for ch in relative)
