"""Run directories written by ica 0.2.0 (`tests/rundir/old_rundir/`, made by `make_old_rundir.py` with that
version) still read: every file by its reader, each JSON file's record writing back exactly the bytes it was read
from, and a model loaded from them encodes to the saved latents."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import ica
from ica.components.registry import Registry
from ica.rundir.json_files import (
    read_cell_summary,
    read_grid,
    read_preprocessing,
    read_result,
    read_run_spec,
    read_run_summary,
)
from ica.rundir.latents import read_latents
from ica.rundir.metrics_log import read_metrics_lines
from ica.rundir.schemas import EnvFile, MetricsLine
from ica.running.building import raw_data

from failing_model import failing_plugin

OLD = Path(__file__).parent / "old_rundir"
RUNS = ["grid/retry_nan-0", "grid/retry_nan-1", "stopped"]


@pytest.fixture
def old(tmp_path) -> Path:
    """A copy: reading must change nothing, and no test may change the committed files."""
    return Path(shutil.copytree(OLD, tmp_path / "old"))


def record_of(path: Path, root: Path):
    """The file's record, read by the reader ica uses for it."""
    parts = path.relative_to(root).parts
    if path.name == "grid.json":
        return read_grid(path.parent)
    if path.name == "env.json":
        return EnvFile.model_validate(json.loads(path.read_bytes()))
    if path.name == "preprocessing.json":
        return read_preprocessing(path)
    if path.name == "spec.json":
        return read_run_spec(path)
    if path.name == "result.json":
        return read_result(path)
    if path.name == "summary.json":
        run = path.parent if (path.parent / "spec.json").exists() else None
        return read_run_summary(path) if run else read_cell_summary(path)
    raise AssertionError(f"no reader for {'/'.join(parts)}")


def test_every_json_file_reads_and_its_record_writes_back_the_same_bytes(old):
    files = sorted(old.rglob("*.json"))
    assert len(files) == 20
    for path in files:
        assert record_of(path, old).json_bytes() == path.read_bytes(), path


def test_the_results_read_back_as_written(old):
    failed = read_result(old / "grid/retry_nan-0/failing/seeds/1/result.json")
    assert failed.status == "failed" and failed.failed_at == 10 and failed.last_finite_loss is None
    assert failed.step_mode == "eager" and failed.elbo is None and failed.lr is None
    retried = read_result(old / "grid/retry_nan-1/failing/seeds/1/result.json")
    assert retried.status == "finished" and retried.lr == 0.0001 and set(retried.elbo) == {"train", "eval"}
    assert [a["status"] for a in retried.earlier_attempts] == ["failed"]
    grid = read_grid(old / "grid")
    assert [c.dir for c in grid.cells] == ["retry_nan-0", "retry_nan-1"] and grid.spec.seed_list == [0, 1]
    summary = read_run_summary(old / "grid/retry_nan-0/summary.json")
    cell = summary.cells["failing"]
    assert cell.status == {"0": "finished", "1": "failed"} and cell.stats["mcc"].n_failed == 1
    assert any(e.seed == 1 for e in cell.errors)
    assert read_cell_summary(old / "grid/retry_nan-0/failing/summary.json") == cell
    assert not (old / "stopped/summary.json").exists() and read_run_spec(old / "stopped/spec.json").seed_list == [0, 1]


def test_every_seed_file_reads(old):
    seeds = sorted(old.rglob("seeds/*"))
    assert len(seeds) == 6
    for folder in seeds:
        result = read_result(folder / "result.json")
        lines = read_metrics_lines(folder / "metrics.jsonl", "advice")
        assert [MetricsLine.model_validate(line).step for _, line in lines] == [10, 20] or result.status == "failed"
        if result.status == "finished":
            latents = read_latents(folder / "latents.npz", result.latents_sha256, 8)
            assert latents.latents.shape == (8, 2)
    assert sorted(p.name for p in old.rglob("*") if p.is_file() and p.suffix not in (".json",)) == sorted(
        ["latents.npz", "metrics.jsonl", "model.safetensors"] * 5 + ["metrics.jsonl"]
    )


@pytest.mark.parametrize("run, label, reg", [("stopped", "ivae", None), ("grid/retry_nan-1", "failing", "failing")])
def test_a_model_loads_from_an_old_run_and_encodes_to_its_saved_latents(old, run, label, reg):
    reg = Registry.load(entry_points=False, extra=[("tests", failing_plugin())]) if reg else ica.registry()
    model = ica.load(old / run, model=label, reg=reg)
    data = raw_data(model.spec, reg).eval
    z = model.transform(data.x.numpy(), None if data.u is None else data.u.numpy())
    for i, seed in enumerate(model.seeds):
        np.testing.assert_array_equal(z[i], np.load(old / run / label / "seeds" / str(seed) / "latents.npz")["latents"])


def test_reading_changed_nothing(old):
    for path in old.rglob("*.json"):
        record_of(path, old)
    for path in OLD.rglob("*"):
        if path.is_file():
            assert (old / path.relative_to(OLD)).read_bytes() == path.read_bytes()
