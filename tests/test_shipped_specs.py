"""Every spec in specs/ validates, and its models build for the data set's shape (image files not needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ica
from ica.protocols import DataSplits, Split
from ica.runner import build_model

SPECS = sorted((Path(__file__).parent.parent / "specs").glob("*.json"))
IMAGE_SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32), "svhn": (3, 32, 32)}


def test_the_figures_have_specs():
    names = {p.stem for p in SPECS}
    for prefix in ("fig4-", "fig5-", "fig6-", "figB1-", "figC2-", "figD3-", "tcl-fig2-", "digits", "quickstart"):
        assert any(n.startswith(prefix) for n in names), f"no spec for {prefix}"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_shipped_spec_is_valid(path):
    spec = ica.load_spec(path)
    shape = IMAGE_SHAPES.get(spec.data.name)
    if shape is None:  # synthetic or bundled data: the complete check, data and a forward pass included
        ica.check(path)
        return
    fake = lambda: Split(torch.rand(2, *shape), torch.arange(2))  # noqa: E731
    data = DataSplits(fake(), fake(), n_u=10)
    label, options = next(iter(spec.models.items()))
    build_model(ica.registry(), options, data, [0], label)
