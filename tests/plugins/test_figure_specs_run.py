"""Each figure's shipped spec, on its smallest setting, runs end to end: a few steps on the CPU, on tiny
files in each data set's real on-disk format (no download), two seeds so that pairwise metrics exist."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ica
from ica.spec.grid import grid_cells, has_grid
from ica.spec.load import spec_json
from test_image_datasets import images, write_cifar, write_mnist, write_svhn

pytestmark = pytest.mark.slow  # every test here trains

SPECS = Path(__file__).parents[2] / "specs"
N_EVAL = 20
WRITERS = {"mnist": (write_mnist, 1, 28), "cifar10": (write_cifar, 3, 32), "svhn": (write_svhn, 3, 32)}
# (spec, data set of the grid cell to run): the smallest latent size of that data set's cells.
FIGURES = [
    ("fig2-tcl", "tcl"),
    ("fig4-mlp", "mnist"),
    ("fig4-mlp", "cifar10"),
    ("fig5-convnet", "mnist"),
    ("fig5-convnet", "svhn"),
    ("fig6-resnet", "mnist"),
    ("fig6-resnet", "cifar10"),
    ("figB1-vq-cifar10", "cifar10"),
    ("figC2-rademacher-cifar10", "cifar10"),
    ("figD3-gmmflow-tcl", "tcl"),
]


def tiny_files(name: str, root: Path) -> dict:
    write, channels, side = WRITERS[name]
    rng = np.random.default_rng(0)
    train, test = images(rng, 6, channels, side, side), images(rng, N_EVAL, channels, side, side)
    write(root, train, test, test_labels=np.arange(N_EVAL) % 10)
    return {"root": str(root), "download": False, **({} if name == "mnist" else {"verify_checksums": False})}


def smallest_setting(path: Path, data_name: str) -> dict:
    """The first grid cell (or the run) on ``data_name``: two seeds, two steps of batch 4."""
    spec = ica.load_spec(path)
    runs = [c.spec for c in grid_cells(spec)] if has_grid(spec) else [spec]
    raw = spec_json(next(r for r in runs if r.data.name == data_name))
    raw.pop("grid", None)
    training = {**raw["training"], "epochs": None, "steps": 2, "batch_size": 4, "log_every": 1, "checkpoint_every": 2}
    return {**raw, "training": training, "seeds": 2, "device": "cpu"}


@pytest.mark.parametrize("figure, data_name", FIGURES, ids=lambda v: v)
def test_figure_spec_runs_end_to_end(figure, data_name, tmp_path):
    spec = smallest_setting(SPECS / f"{figure}.json", data_name)
    if data_name in WRITERS:
        spec["data"] = {**spec["data"], **tiny_files(data_name, tmp_path / "data")}
    summary = ica.run(spec, out=tmp_path / "run")
    if data_name in WRITERS:
        assert summary["data"]["n_eval"] == N_EVAL
    for label, cell in summary["cells"].items():
        assert set(cell["status"].values()) == {"finished"}, f"{figure} {label}: {cell['status']}"
        pairwise = [k for k in ("cca_mcc_out", "grid_mcc_out", "mcc") if k in cell["stats"]]
        assert pairwise, f"{figure} {label} measured no MCC"
        assert all(cell["stats"][k]["n"] >= 1 for k in pairwise)
