"""``ica.plot_embedding`` and the directions it draws (issue #30): 2-D and 3-D embeddings drawn as they are, more
dimensions through the directions that best match the sources or labels (checked on synthetic embeddings whose
best directions are known) or PCA, colours discrete and continuous, and bad inputs as clear ValueErrors."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from ica.reporting.directions import project, readouts
from ica.reporting.embedding import LEGEND_MAX, plot_embedding

N = 600


def r2_of(coords: np.ndarray, target: np.ndarray) -> np.ndarray:
    """How much of each target column an affine map of ``coords`` explains."""
    return readouts(coords, target)[1]


@pytest.fixture
def planted():
    """z (6-D) = an invertible mix of two sources (unit scale) and four loud nuisance dimensions (scale 5), and a
    third 'source' z does not hold: the sources' readouts are the answer, PCA finds the nuisance."""
    rng = np.random.default_rng(0)
    s = rng.laplace(size=(N, 2))
    nuisance = 5 * rng.normal(size=(N, 4))
    mix = rng.normal(size=(6, 6)) + 3 * np.eye(6)
    z = np.column_stack([s, nuisance]) @ mix
    absent = rng.normal(size=(N, 1))
    return z, np.column_stack([absent, s]), s


def panel(projection: str | None = None) -> object:
    return Figure().add_subplot(projection=projection)


def scatter_of(ax) -> PathCollection:
    found = [c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets())]
    assert len(found) == 1
    return found[0]


# ------------------------------------------------------------------------------------------ directions
def test_source_directions_are_the_readouts_of_the_sources_z_holds(planted):
    z, sources, s = planted
    shown = project(z, 2, "sources", sources=sources)
    assert shown.method == "sources"
    # The two sources z holds (columns 1 and 2), read out exactly; the absent one (column 0) is not drawn.
    assert [name.split(" read out")[0] for name in shown.names] in (["source 1", "source 2"], ["source 2", "source 1"])
    for i, name in enumerate(shown.names):
        j = int(name.split()[1])
        np.testing.assert_allclose(shown.coords[:, i], sources[:, j], atol=1e-8)
        assert "R²=1.00" in name
    pca = project(z, 2, "pca")
    assert r2_of(pca.coords, s).max() < 0.5 < r2_of(shown.coords, s).min()  # PCA sees the loud nuisance
    assert pca.names[0].startswith("PC1 (") and "of variance" in pca.names[0]


def test_discrete_label_directions_span_what_separates_the_labels():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, N)
    means = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    informative = means[labels] + 0.3 * rng.normal(size=(N, 2))
    z = np.column_stack([informative, 6 * rng.normal(size=(N, 3))]) @ (rng.normal(size=(5, 5)) + 3 * np.eye(5))
    shown = project(z, 2, "labels", labels=labels)
    assert shown.method == "labels" and all(n.startswith("discriminant") for n in shown.names)
    assert r2_of(shown.coords, informative).min() > 0.98  # the informative plane, up to a linear map
    assert r2_of(project(z, 2, "pca").coords, informative).max() < 0.5
    # Two classes have one discriminant: the second axis is the largest principal component beyond it.
    two = project(z, 2, "labels", labels=labels.clip(0, 1))
    assert two.names[0].startswith("discriminant 1") and two.names[1].startswith("PC1 beyond")
    assert abs(np.corrcoef(two.coords[:, 0], two.coords[:, 1])[0, 1]) < 1e-8  # the rest is orthogonal to it


def test_continuous_labels_are_read_out_and_auto_prefers_sources_then_labels(planted):
    z, sources, s = planted
    shown = project(z, 2, "labels", labels=s[:, :1])  # continuous u of one column
    assert shown.names[0].startswith("u read out (R²=1.00)") and shown.names[1].startswith("PC1 beyond")
    np.testing.assert_allclose(shown.coords[:, 0], s[:, 0], atol=1e-8)
    assert project(z, 2, "auto", sources=sources, labels=s[:, 0]).method == "sources"
    assert project(z, 2, "auto", labels=np.arange(N) % 2).method == "labels"
    assert project(z, 2, "auto").method == "pca"


# --------------------------------------------------------------------------------------------- drawing
def test_a_2d_embedding_is_drawn_as_it_is_with_discrete_colours_and_a_legend():
    rng = np.random.default_rng(2)
    z, labels = rng.normal(size=(50, 2)), rng.integers(0, 4, 50)
    ax = plot_embedding(z, labels, ax=panel(), color_label="state", title="t")
    points = scatter_of(ax)
    assert sorted(map(tuple, points.get_offsets())) == sorted(map(tuple, z))  # every point, in some order
    assert ax.get_xlabel() == "z0" and ax.get_ylabel() == "z1" and ax.get_title() == "t"
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "state" and [t.get_text() for t in legend.texts] == ["0", "1", "2", "3"]
    colours = {tuple(c) for c in points.get_facecolors()}
    assert len(colours) == 4  # one per label


def test_a_3d_embedding_gets_3d_axes_and_a_continuous_colour_bar():
    rng = np.random.default_rng(3)
    z, value = rng.normal(size=(40, 3)), rng.normal(size=40)
    ax = plot_embedding(z, value, ax=panel("3d"), color_label="speed")
    assert ax.name == "3d" and ax.get_zlabel() == "z2"
    points = scatter_of(ax)
    assert sorted(points.get_array()) == pytest.approx(sorted(value))  # coloured by the values themselves
    bars = [a for a in ax.figure.axes if a is not ax]
    assert len(bars) == 1 and bars[0].get_ylabel() == "speed"
    flat = plot_embedding(z, value, ax=panel(), dims=2)  # 3 dimensions on 2-D axes: PCA
    assert flat.get_xlabel().startswith("PC1")


def test_more_dimensions_are_drawn_through_the_chosen_directions(planted):
    z, sources, s = planted
    ax = plot_embedding(z, s[:, 0], sources=sources, ax=panel())
    assert "read out (R²=1.00)" in ax.get_xlabel() and "read out (R²=1.00)" in ax.get_ylabel()
    order = np.random.default_rng(0).permutation(N)  # the drawing order (random_state=0)
    expected = project(z, 2, "sources", sources=sources).coords[order]
    np.testing.assert_allclose(np.asarray(scatter_of(ax).get_offsets()), expected)
    assert plot_embedding(z, ax=panel()).get_xlabel().startswith("PC1")
    labels = (s[:, 0] > 0).astype(int) + (s[:, 1] > 0)
    assert plot_embedding(z, labels, labels=labels, ax=panel()).get_xlabel().startswith("discriminant 1")
    three = plot_embedding(z, labels, sources=sources, dims=3, ax=panel("3d"), max_points=100)
    assert len(scatter_of(three).get_offsets()) == 100 and "R²" in three.get_zlabel()


def test_many_categories_get_a_discrete_colour_bar_and_strings_are_categories():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(200, 2))
    clusters = rng.integers(0, 30, 200)
    ax = plot_embedding(z, clusters, ax=panel(), color_label="cluster")
    assert ax.get_legend() is None and len(ax.figure.axes) == 2 and LEGEND_MAX < 30
    words = np.array(["rest", "run", "groom"])[rng.integers(0, 3, 200)]
    legend = plot_embedding(z, words, ax=panel()).get_legend()
    assert sorted(t.get_text() for t in legend.texts) == ["groom", "rest", "run"]
    forced = plot_embedding(z, clusters.astype(float), color_kind="discrete", ax=panel())
    assert len(forced.figure.axes) == 2 and forced.get_legend() is None  # 30 categories: a colour bar


def test_without_ax_a_pyplot_figure_is_made_and_one_colour_or_a_named_colour_is_used():
    import matplotlib.pyplot as plt

    z = np.random.default_rng(5).normal(size=(30, 2))
    ax = plot_embedding(z)
    try:
        assert ax.figure in [plt.figure(n) for n in plt.get_fignums()]
        assert len({tuple(c) for c in scatter_of(ax).get_facecolors()}) == 1
    finally:
        plt.close(ax.figure)
    red = plot_embedding(z, "red", ax=panel())
    assert tuple(scatter_of(red).get_facecolors()[0][:3]) == (1.0, 0.0, 0.0)


def test_a_one_dimensional_embedding_is_drawn_against_the_point_index():
    ax = plot_embedding(np.arange(5.0), ax=panel())
    assert ax.get_xlabel() == "point" and ax.get_ylabel() == "z0"


# ------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"color": np.arange(9)}, "color has 9 values but z has 10 rows"),
        ({"color": np.zeros((10, 2))}, "color must hold one value per point"),
        ({"color": "not-a-colour"}, "not a matplotlib colour"),
        ({"color": np.array([np.nan] + [0.0] * 9)}, "color has 1 non-finite"),
        ({"sources": np.zeros((8, 2))}, "sources has 8 rows but z has 10"),
        ({"labels": np.arange(7)}, "labels has 7 values but z has 10 rows"),
        ({"directions": "ica"}, "directions must be one of"),
        ({"directions": "sources"}, "directions='sources' needs the true sources"),
        ({"directions": "labels"}, "directions='labels' needs the labels"),
        ({"dims": 4}, "dims must be 2 or 3"),
        ({"color_kind": "ordinal"}, "color_kind must be"),
        ({"max_points": 0}, "max_points must be at least 1"),
        ({"dims": 3, "ax": "2d"}, "dims=3 needs 3-D axes"),
    ],
)
def test_bad_inputs_are_clear_value_errors(kwargs, message):
    z = np.random.default_rng(6).normal(size=(10, 5))
    if kwargs.get("ax") == "2d":
        kwargs = {**kwargs, "ax": panel()}
    with pytest.raises(ValueError, match=message):
        plot_embedding(z, **kwargs)


def test_bad_embeddings_are_clear_value_errors():
    with pytest.raises(ValueError, match="z has 1 non-finite"):
        plot_embedding(np.array([[0.0, np.nan], [1.0, 2.0]]), ax=panel())
    with pytest.raises(ValueError, match="z must be a matrix"):
        plot_embedding(np.zeros((2, 2, 2)), ax=panel())
    with pytest.raises(ValueError, match="dims=3 needs an embedding of at least 3 dimensions"):
        plot_embedding(np.zeros((4, 2)), dims=3)
