"""``ica.plot_embedding``: a scatter of an embedding, the first picture a user of CEBRA or pythae looks at.

An embedding ``z [N, d]`` of two or three dimensions is drawn as it is (on 2-D or 3-D axes); one of more
dimensions through the two or three directions that best match the true sources or the labels, else its
principal components (`ica.reporting.directions` says how each is chosen, and every axis is labelled with it).
Points are coloured by a discrete label (a categorical palette and a legend, or a discrete colour bar beyond
`LEGEND_MAX` categories), a continuous variable (a colour map and a colour bar) or a cluster assignment (a
discrete label). Drawn in a fixed random order, so that no category is hidden under another.

Follows the shape of CEBRA's ``cebra.plot_embedding`` (an embedding, its labels, optional ``ax``, the Axes
returned; read in AdaptiveMotorControlLab/CEBRA, ``cebra/integrations/matplotlib.py``). Given an ``ax`` it draws
only there and touches nothing global, as the report's figures do (`ica.reporting.plot_canvas`); without one it
makes a figure through ``pyplot``, so that it shows in a notebook and ``plt.show()`` shows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ica.reporting.directions import METHODS, Projection, as_labels, as_matrix, is_discrete, project

if TYPE_CHECKING:
    from matplotlib.axes import Axes

LEGEND_MAX = 12
"""Up to this many categories get a legend; more get a discrete colour bar (a legend of 40 would hide the plot)."""
NO_COLOUR = "#4a6fa5"


def plot_embedding(
    z: Any,
    color: Any = None,
    *,
    directions: Literal["auto", "sources", "labels", "pca"] = "auto",
    sources: Any = None,
    labels: Any = None,
    dims: int | None = None,
    color_kind: Literal["auto", "discrete", "continuous"] = "auto",
    color_label: str | None = None,
    ax: "Axes | None" = None,
    title: str | None = None,
    cmap: str = "viridis",
    max_points: int | None = None,
    point_size: float | None = None,
    alpha: float = 0.8,
    legend: bool = True,
    random_state: int = 0,
) -> "Axes":
    """Scatter an embedding, coloured by a label, a continuous variable or a cluster assignment.

    Args:
        z: the embedding ``[N, d]`` (array or tensor; a vector is one dimension, drawn against the point index).
        color: one value per point (integers, booleans or strings are categories, floats continuous; see
            ``color_kind``), one matplotlib colour for every point (``"C1"``), or None (one colour).
        directions: for ``d`` above ``dims``, which directions are drawn: ``"sources"`` (least-squares readouts
            of the sources read best), ``"labels"`` (canonical directions with discrete labels, Fisher's
            discriminants; readouts of continuous ones), ``"pca"``, or ``"auto"``: sources when given, else
            labels when given, else PCA. Where fewer directions match than there are axes, the rest are the
            principal components of what the embedding holds beyond them.
        sources: the true sources ``[N, d_s]`` at the same points, for ``directions="sources"``.
        labels: labels ``[N]`` (or continuous ``[N, c]``) at the same points, for ``directions="labels"``.
        dims: 2 or 3 axes; default 3 for a 3-dimensional embedding or a 3-D ``ax``, else 2.
        color_kind: how ``color`` is read: ``"auto"`` (by its type), ``"discrete"`` or ``"continuous"``.
        color_label: the legend's or colour bar's title.
        ax: draw into these axes (3-D axes for ``dims=3``); default a new figure.
        title: the axes' title.
        cmap: colour map of a continuous ``color``.
        max_points: draw at most this many points, a fixed random subset (directions are fitted on all).
        point_size: marker area; default from the number of points drawn.
        alpha: marker opacity.
        legend: draw the legend or colour bar.
        random_state: seed of the drawing order and of the subset.

    Returns:
        The matplotlib Axes drawn into (``ax.figure`` is its figure).

    Raises:
        ValueError: ``z``, ``color``, ``sources`` or ``labels`` that cannot be read, or whose rows differ from
            ``z``'s; an unknown ``directions``, ``dims`` or ``color_kind``.
    """
    points = as_matrix(z, "z")
    n, d = points.shape
    dims = _dims(dims, d, ax)
    if directions not in METHODS:
        raise ValueError(f"directions must be one of {', '.join(METHODS)}, got {directions!r}")
    if color_kind not in ("auto", "discrete", "continuous"):
        raise ValueError(f"color_kind must be auto, discrete or continuous, got {color_kind!r}")
    values, single = _colour_values(color, n, color_kind)
    if sources is not None:
        as_matrix(sources, "sources", n)
    if labels is not None:
        as_labels(labels, "labels", n)
    shown = embedding_axes(points, dims, directions, sources, labels)
    order = np.random.default_rng(random_state).permutation(n)
    if max_points is not None:
        if max_points < 1:
            raise ValueError(f"max_points must be at least 1, got {max_points}")
        order = order[:max_points]
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.figure(figsize=(5.6 if dims == 3 else 5.2, 4.4)).add_subplot(projection="3d" if dims == 3 else None)
    return _draw(ax, shown, order, values, single, color_kind, color_label, cmap, point_size, alpha, legend, title)


def _draw(
    ax: Any,  # 2-D or 3-D axes: their scatter methods differ, so neither signature types both
    shown: Projection,
    order: np.ndarray,
    values: np.ndarray | None,
    single: str,
    color_kind: str,
    color_label: str | None,
    cmap: str,
    point_size: float | None,
    alpha: float,
    legend: bool,
    title: str | None,
) -> Any:
    dims = shown.coords.shape[1]
    size = point_size if point_size is not None else float(np.clip(3000 / len(order), 1.5, 16))
    xyz = [shown.coords[order, i] for i in range(dims)]
    common = {"s": size, "alpha": alpha, "linewidths": 0}
    if values is None:
        ax.scatter(*xyz, color=single, **common)
    elif _discrete(values, color_kind):
        _categories(ax, xyz, values[order], common, legend, color_label)
    else:
        drawn = ax.scatter(*xyz, c=values[order].astype(float), cmap=cmap, **common)
        if legend:
            bar = ax.figure.colorbar(drawn, ax=ax, shrink=0.8 if dims == 3 else 1.0, pad=0.12 if dims == 3 else 0.03)
            bar.set_label(color_label or "", fontsize=8)
            bar.ax.tick_params(labelsize=7)
    setters = [ax.set_xlabel, ax.set_ylabel] + ([ax.set_zlabel] if dims == 3 else [])
    for setter, name in zip(setters, shown.names):
        setter(name, fontsize=8)
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def embedding_axes(
    points: np.ndarray, dims: int, directions: str = "auto", sources: Any = None, labels: Any = None
) -> Projection:
    """The coordinates a picture of ``points`` ``[N, d]`` draws on ``dims`` axes: the embedding itself when it has
    ``dims`` dimensions, the point index against it when it has one, else `ica.reporting.directions.project`."""
    n, d = points.shape
    if d == 1:
        index = np.arange(n, dtype=float)[:, None]
        return Projection(np.column_stack([index, points]), ["point", "z0"], "none", "the one latent per point")
    if d == dims:
        return Projection(points, [f"z{i}" for i in range(d)], "none", "the embedding's own coordinates")
    return project(points, dims, directions, sources, labels)


def _dims(dims: int | None, d: int, ax: Any) -> int:
    is_3d = ax is not None and getattr(ax, "name", "") == "3d"
    if dims is None:
        dims = 3 if is_3d or (ax is None and d == 3) else 2
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 or 3, got {dims!r}")
    if dims == 3 and d < 3:
        raise ValueError(f"dims=3 needs an embedding of at least 3 dimensions; z has {d}")
    if ax is not None and is_3d != (dims == 3):
        raise ValueError(f"dims={dims} needs {'3-D' if dims == 3 else '2-D'} axes; ax is {'3-D' if is_3d else '2-D'}")
    return dims


def _colour_values(color: Any, n: int, kind: str) -> tuple[np.ndarray | None, str]:
    """``(one value per point, None)`` or ``(None, the one colour of every point)``."""
    if color is None:
        return None, NO_COLOUR
    if isinstance(color, str):
        from matplotlib.colors import is_color_like

        if not is_color_like(color):
            raise ValueError(f"color {color!r} is not a matplotlib colour; give one value per point or a colour")
        return None, color
    if hasattr(color, "detach"):
        color = color.detach().cpu().numpy()
    values = np.asarray(color)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"color must hold one value per point, got an array of shape {values.shape}")
    if values.shape[0] != n:
        raise ValueError(f"color has {values.shape[0]} values but z has {n} rows: one value per point is needed")
    if kind == "continuous" or (kind == "auto" and not is_discrete(values)):
        try:
            numbers = values.astype(float)
        except (TypeError, ValueError):
            raise ValueError("color_kind='continuous' needs numbers in color") from None
        if not np.isfinite(numbers).all():
            raise ValueError(f"color has {int((~np.isfinite(numbers)).sum())} non-finite value(s)")
    return values, ""


def _discrete(values: np.ndarray, kind: str) -> bool:
    return kind == "discrete" or (kind == "auto" and is_discrete(values))


def palette(count: int) -> list[Any]:
    """``count`` distinguishable colours: Tableau 10, Tableau 20, else evenly spaced along ``turbo``."""
    from matplotlib import colormaps

    if count <= 10:
        return [colormaps["tab10"](i) for i in range(count)]
    if count <= 20:
        return [colormaps["tab20"](i) for i in range(count)]
    return [colormaps["turbo"](x) for x in np.linspace(0.05, 0.95, count)]


def _categories(ax: Any, xyz: list[np.ndarray], values: np.ndarray, common: dict, legend: bool, title: str | None):
    """One colour per category; a legend for up to `LEGEND_MAX` categories, else a discrete colour bar."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.lines import Line2D

    categories, codes = np.unique(values, return_inverse=True)
    colours = palette(len(categories))
    ax.scatter(*xyz, c=[colours[c] for c in codes], **common)
    if not legend:
        return
    if len(categories) <= LEGEND_MAX:
        handles = [
            Line2D([], [], color=colours[i], marker="o", linestyle="none", markersize=4.5, label=str(category))
            for i, category in enumerate(categories)
        ]
        ax.legend(
            handles=handles,
            title=title,
            fontsize=7,
            title_fontsize=7.5,
            loc="upper left",
            bbox_to_anchor=(1.2 if getattr(ax, "name", "") == "3d" else 1.01, 1.0),  # clear of a 3-D z label
            frameon=False,
            borderaxespad=0.0,
            handletextpad=0.2,
        )
        return
    norm = BoundaryNorm(np.arange(len(categories) + 1) - 0.5, len(categories))
    bar = ax.figure.colorbar(ScalarMappable(norm, ListedColormap(colours)), ax=ax, pad=0.03)
    step = int(np.ceil(len(categories) / 10))
    bar.set_ticks(np.arange(0, len(categories), step), labels=[str(c) for c in categories[::step]])
    bar.ax.tick_params(labelsize=7)
    bar.set_label(title or "", fontsize=8)
