"""Every spec in specs/ validates, every grid cell included, and its models build for the data set's shape
(image files not needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ica
from ica.spec.draws import DRAW_AXIS
from ica.spec.grid import grid_cells, has_grid
from ica.components.protocols import DataSplits, Split
from ica.running.building import build_model

SPECS = sorted((Path(__file__).parents[2] / "specs").glob("*.json"))
IMAGE_SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32), "svhn": (3, 32, 32)}


def test_the_figures_have_specs():
    names = {p.stem for p in SPECS}
    assert {
        "quickstart",
        "digits",
        "fig2-tcl",
        "fig4-mlp",
        "fig5-convnet",
        "fig6-resnet",
        "figB1-vq-cifar10",
        "figC2-rademacher-cifar10",
        "figD3-gmmflow-tcl",
    } <= names


def checked_cells(spec):
    """Every cell of the spec, but of data draws only the first: draws differ in nothing but the data seed, and
    every cell of a grid already validated in `grid_cells`."""
    if not has_grid(spec):
        return [spec]
    cells, seen = [], set()
    for cell in grid_cells(spec):
        key = str({k: v for k, v in cell.settings.items() if k != DRAW_AXIS})
        if key not in seen:
            seen.add(key)
            cells.append(cell.spec)
    return cells


@pytest.mark.slow
@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_shipped_spec_is_valid(path):
    spec = ica.load_spec(path)
    for run_spec in checked_cells(spec):
        shape = IMAGE_SHAPES.get(run_spec.data.name)
        if shape is None:  # synthetic or bundled data: the complete check, data and a forward pass included
            ica.check(run_spec)
            continue
        fake = lambda shape=shape: Split(torch.rand(2, *shape), torch.arange(2))  # noqa: E731
        data = DataSplits(fake(), fake(), n_u=10)
        for label, options in run_spec.models.items():
            build_model(ica.registry(), options, data, [0], label)


def test_figure_grids_have_the_papers_cells():
    fig4 = grid_cells(ica.load_spec(Path(__file__).parents[2] / "specs" / "fig4-mlp.json"))
    settings = {
        (
            c.spec.data.name,
            c.spec.models["vade"].latent_dim,
            c.spec.models["vade"].prior.components,
            c.spec.models["ivae"].likelihood.name,
        )
        for c in fig4
    }
    assert len(fig4) == 9 and {(d, z) for d, z, _, _ in settings} == {
        (d, z) for d in ("mnist", "cifar10", "svhn") for z in (50, 90, 200)
    }
    assert all(k == (40 if d == "mnist" else 100) for d, _, k, _ in settings)
    fig2 = grid_cells(ica.load_spec(Path(__file__).parents[2] / "specs" / "fig2-tcl.json"))
    assert [c.spec.data.samples_per_segment for c in fig2] == [100, 200, 500, 1000, 2000]
