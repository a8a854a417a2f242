"""How every report figure is rendered: its resolution, the colour of a failure, and headless PNG bytes.

Shared by the figure kinds (`ica.reporting.plots`, `ica.reporting.plot_curves`, `ica.reporting.phase`) so that
they look alike (their tick labels apart: `readable_ticks`) and none of them touches ``pyplot``: a figure is a
``matplotlib.figure.Figure`` drawn by the Agg canvas directly (no backend switch, no figure registry), which
works without a display and inside a notebook.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, ScalarFormatter

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


def readable_ticks(ax: Any, x_bins: int = 5, y_bins: int = 6, steps_on_x: bool = False) -> None:
    """Tick labels that neither overlap nor hide behind an offset: at most ``x_bins``/``y_bins`` ticks on linear
    axes, every label the full number (an ELBO of -1234.57 is not "-0.005" plus "-1.2345e3" in a corner, where it
    ran into the axis label), and training steps written short (``20k``) when ``steps_on_x``."""
    for axis, bins in ((ax.xaxis, x_bins), (ax.yaxis, y_bins)):
        if axis.get_scale() != "linear":
            continue
        if axis is ax.xaxis and steps_on_x:
            axis.set_major_locator(MaxNLocator(nbins=bins, integer=True, steps=[1, 2, 2.5, 5, 10]))
            axis.set_major_formatter(FuncFormatter(_step_text))
            continue
        axis.set_major_locator(MaxNLocator(nbins=bins, steps=[1, 2, 2.5, 5, 10]))
        formatter = ScalarFormatter(useOffset=False)
        formatter.set_scientific(False)
        axis.set_major_formatter(formatter)


def _step_text(value: float, _position: Any = None) -> str:
    """A training step as a tick label: ``500``, ``20k``, ``1.5M``."""
    for scale, suffix in ((1e6, "M"), (1e4, "k")):
        if abs(value) >= scale:
            return f"{value / (scale if suffix == 'M' else 1e3):g}{suffix}"
    return f"{value:g}"
