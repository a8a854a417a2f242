"""The report's figure defects of issue #30, without training: no least-squares line or band through fewer than
five points (and the figure says so), tick labels that neither overlap nor hide behind an offset (ELBO values,
long training runs), and wide tables in a wrapper that scrolls sideways."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from ica.reporting import line_fit, plot_curves, plots
from ica.reporting.plot_canvas import _step_text
from ica.reporting.render import HTML_STYLE, Block, render_html


@pytest.fixture
def drawn(monkeypatch):
    """The figures the drawing functions made, kept instead of rendered to PNG."""
    figures = []

    def keep(fig):
        fig.canvas.draw()  # lay out the ticks as the PNG would
        figures.append(fig)
        return b""

    monkeypatch.setattr(plots, "_png", keep)
    monkeypatch.setattr(plot_curves, "_png", keep)
    return figures


def elbo_panel(n: int, offset: float = -1234.5, spread: float = 0.01) -> plots.ScatterPanel:
    rng = np.random.default_rng(n)
    x = list(offset + spread * rng.normal(size=n))
    y = list(0.5 + 0.02 * rng.normal(size=n))
    return plots.ScatterPanel(
        "m",
        "ELBO on the training split (nats per example)",
        "MCC",
        [plots.PointGroup("m", "#1f77b4", x, y, n, "seeds")],
    )


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().texts]


@pytest.mark.parametrize("n", [2, 3, 4])
def test_no_line_or_band_is_drawn_through_fewer_than_five_points(drawn, n):
    assert line_fit.line_to_draw(range(n), [0.0, 1.0, 3.0, 2.0][:n]) is None
    assert line_fit.fit_line(range(n), [0.0, 1.0, 3.0, 2.0][:n]) is not None  # the numbers still exist
    plots.scatter_fits([elbo_panel(n)], "t", columns=1)
    ax = drawn[0].axes[0]
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]  # no band
    assert all(len(line.get_xdata()) == 0 for line in ax.get_lines())  # no line (only the legend's note)
    assert f"no line: {n} points, fewer than 5" in legend_texts(ax)


def test_a_line_and_band_are_drawn_through_five_points_or_more(drawn):
    assert line_fit.MIN_LINE_POINTS == 5 and line_fit.line_to_draw(range(5), [0, 1, 3, 2, 4]) is not None
    plots.scatter_fits([elbo_panel(5)], "t", columns=1)
    ax = drawn[0].axes[0]
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 1
    assert any(len(line.get_xdata()) == 100 for line in ax.get_lines())
    assert not any(text.startswith("no line") for text in legend_texts(ax))


def test_captions_say_where_no_line_is_drawn():
    from ica.reporting.scatter import _no_line

    assert _no_line(3) == " (no line: 3 points, fewer than 5)" and _no_line(5) == "" and _no_line(0) == ""


def visible_ticks(axis) -> list:
    """The tick labels within the axis's view (matplotlib also keeps one beyond each end)."""
    lo, hi = sorted(axis.get_view_interval())
    return [t for at, t in zip(axis.get_majorticklocs(), axis.get_majorticklabels()) if lo <= at <= hi]


def tick_texts(axis) -> list[str]:
    return [t.get_text() for t in visible_ticks(axis)]


def test_elbo_ticks_are_whole_numbers_without_an_offset_and_few_enough_not_to_touch(drawn):
    plots.scatter_fits([elbo_panel(6, spread=0.004) for _ in range(6)], "t", columns=6)
    for ax in drawn[0].axes:
        assert ax.xaxis.get_offset_text().get_text() == ""  # the offset once ran into the axis label
        texts = tick_texts(ax.xaxis)
        assert 2 <= len(texts) <= 5
        assert all(re.fullmatch(r"−1234\.\d+", t) for t in texts), texts  # the ELBO itself, not -0.002 + offset
        boxes = [t.get_window_extent() for t in visible_ticks(ax.xaxis)]
        assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:]))  # no two labels overlap


def test_training_steps_are_written_short_and_curve_values_in_full(drawn):
    steps = list(range(0, 1_000_001, 50_000))
    values = list(-123456.7 + 0.001 * np.arange(len(steps)))
    panel = plots.CurvePanel("loss", "nats per example", False, [plots.Curve("#1f77b4", steps, values)])
    plots.curves([panel], "t", [("m", "#1f77b4")])
    ax = drawn[0].axes[0]
    assert tick_texts(ax.xaxis) == ["0", "250k", "500k", "750k", "1M"]
    assert ax.yaxis.get_offset_text().get_text() == ""
    assert all(t.startswith("−123456.") for t in tick_texts(ax.yaxis))
    assert [_step_text(v) for v in (500, 9999, 20_000, 1_500_000)] == ["500", "9999", "20k", "1.5M"]


def test_every_html_table_is_wrapped_in_a_sideways_scrolling_box():
    wide = Block("table", header=[f"column {i}" for i in range(30)], rows=[["0.6106 [0.6053, 0.6186] n=3"] * 30])
    text = render_html([Block("heading", "r", level=1), wide, Block("table", header=["a"], rows=[["1"]])])
    assert text.count('<div class="table-wrap"><table>') == 2 == text.count("<table>")
    assert text.count("</table></div>") == 2
    assert re.search(r"\.table-wrap\{[^}]*overflow-x:auto", HTML_STYLE)
