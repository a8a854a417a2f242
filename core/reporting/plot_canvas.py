"""How every report figure is rendered: its resolution, the colour of a failure, and headless PNG bytes.

Shared by the figure kinds (`ica.reporting.plots`, `ica.reporting.plot_curves`, `ica.reporting.phase`) so that
they look alike and none of them touches ``pyplot``: a figure is a ``matplotlib.figure.Figure`` drawn by the Agg
canvas directly (no backend switch, no figure registry), which works without a display and inside a notebook.
"""

from __future__ import annotations

import io
import warnings

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FAILED_COLOUR = "#c00000"
DPI = 110


def _tight(fig: Figure, rect: tuple[float, float, float, float]) -> None:
    """Tight layout where it can be had; a figure too crowded for it keeps the default layout, silently."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout(rect=rect)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
