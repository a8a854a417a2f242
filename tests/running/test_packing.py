"""Grid cells whose models share shapes train packed into one batched model (``training.pack_cells``), each
seed on its own cell's data: exactly the results of training them cell by cell, resumable, and only where
the shapes and settings agree."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest

import ica
from ica.running.runner import train_label
from ica.training.signals import Interrupted

from conftest import assert_same_runs

pytestmark = pytest.mark.slow  # every test here trains

CELLS = ("samples_per_segment-40", "samples_per_segment-60", "samples_per_segment-80")


def grid_spec(tiny_spec, **training):
    tiny_spec["grid"] = {"data.samples_per_segment": [40, 60, 80]}
    tiny_spec["training"].update(steps=60, **training)
    return tiny_spec


def notices(events):
    return [info["message"] for name, info in events if name == "notice"]


def recorder(events):
    return lambda name, **info: events.append((name, info))


def test_packed_cells_give_exactly_the_results_of_training_cell_by_cell(tiny_spec, tmp_path):
    spec = grid_spec(tiny_spec)
    events = []
    ica.run(spec, out=tmp_path / "packed", on_event=recorder(events))
    said = notices(events)
    assert "ivae: training 6 seeds of 3 grid cells together (training.pack_cells)" in said
    assert "vade: training 6 seeds of 3 grid cells together (training.pack_cells)" in said
    assert sum(name == "train_start" for name, _ in events) == 2, "one training loop per model, not per cell"
    spec["training"]["pack_cells"] = False
    # pack_cells is part of the spec (and its hash), so the twin runs into its own directory
    ica.run(spec, out=tmp_path / "cells")
    assert_same_runs(tmp_path / "packed", tmp_path / "cells", CELLS)


def test_a_model_that_reads_pairs_packs_each_cells_own_pairs(tmp_path):
    """PCL packed over cells of time series of different lengths: each seed trains on its own cell's pairs (none
    spans two cells), exactly as cell by cell."""
    spec = {
        "data": {"name": "ts", "dim": 3, "length": 120, "eval_length": 60, "mixing_layers": 1},
        "models": {"pcl": {"name": "pcl", "encoder": {"name": "mlp", "hidden": [8]}}},
        "training": {"steps": 20, "batch_size": 16, "log_every": 10, "scheduler": None},
        "seeds": 2,
        "device": "cpu",
        "grid": {"data.length": [120, 200]},
    }
    events = []
    ica.run(spec, out=tmp_path / "packed", on_event=recorder(events))
    assert "pcl: training 4 seeds of 2 grid cells together (training.pack_cells)" in notices(events)
    spec["training"]["pack_cells"] = False
    ica.run(spec, out=tmp_path / "cells")
    assert_same_runs(tmp_path / "packed", tmp_path / "cells", ("length-120", "length-200"), labels=("pcl",))


def test_an_interrupted_pack_resumes_to_the_same_results(tiny_spec, tmp_path):
    spec = grid_spec(tiny_spec, checkpoint_every=10, log_every=10)
    ica.run(spec, out=tmp_path / "reference")
    stopped = []

    def stop_once(name, **info):  # a Ctrl-C during the first pack's training
        if name == "progress" and not stopped:
            stopped.append(info)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted):
        ica.run(spec, out=tmp_path / "resumed", on_event=stop_once)
    seed = tmp_path / "resumed" / CELLS[0] / "ivae" / "seeds" / "0"
    assert (seed / "checkpoint.pt").exists() and not (seed / "result.json").exists()
    events = []
    ica.run(spec, out=tmp_path / "resumed", on_event=recorder(events))
    assert any(name == "resumed" and info["step"] > 0 for name, info in events)
    assert_same_runs(tmp_path / "resumed", tmp_path / "reference", CELLS)


def test_cells_with_different_shapes_are_not_packed(tiny_spec, tmp_path):
    tiny_spec["grid"] = {"models.*.latent_dim": [2, 3]}
    events = []
    ica.run(tiny_spec, out=tmp_path, on_event=recorder(events))
    assert not any("grid cells together" in message for message in notices(events))
    assert sum(name == "train_start" for name, _ in events) == 4


def test_a_pack_takes_only_the_seeds_left_to_train(tiny_spec, tmp_path):
    """One cell's models were finished earlier (as by a worker): the other two cells pack; nothing is
    trained twice, and the results equal a plain run's."""
    spec = grid_spec(tiny_spec)
    ica.run(spec, out=tmp_path / "plain")
    (tmp_path / "partial").mkdir()
    shutil.copytree(tmp_path / "plain" / CELLS[0], tmp_path / "partial" / CELLS[0])
    shutil.copy(tmp_path / "plain" / "grid.json", tmp_path / "partial" / "grid.json")
    events = []
    ica.run(spec, out=tmp_path / "partial", on_event=recorder(events))
    said = notices(events)
    assert "ivae: training 4 seeds of 2 grid cells together (training.pack_cells)" in said
    assert sum(name == "train_start" for name, _ in events) == 2
    assert_same_runs(tmp_path / "partial", tmp_path / "plain", CELLS)


def test_a_grid_run_for_one_model_packs_only_that_model(tiny_spec, tmp_path):
    spec = grid_spec(tiny_spec)
    events = []
    assert train_label(spec, tmp_path, "vade", on_event=recorder(events)) is None
    assert (tmp_path / "grid.json").exists() and not any(tmp_path.glob("*/summary.json"))
    said = notices(events)
    assert "vade: training 6 seeds of 3 grid cells together (training.pack_cells)" in said
    assert not any(message.startswith("ivae") for message in said)
    assert all((tmp_path / cell / "vade" / "seeds" / "1" / "result.json").exists() for cell in CELLS)
    assert not any((tmp_path / cell / "ivae").exists() for cell in CELLS)


def test_dry_run_lists_the_packs(tiny_spec, tmp_path):
    from typer.testing import CliRunner

    from ica.cli.app import app

    path = tmp_path / "spec.json"
    path.write_text(json.dumps(grid_spec(tiny_spec)))
    result = CliRunner().invoke(app, ["run", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    for label in ("ivae", "vade"):
        assert f"packed: {label} trains 6 seeds of 3 cells as one batched model" in said
    assert not (tmp_path / "runs").exists()


def test_dry_run_counts_no_steps_for_fitted_peers_and_never_packs_them(tiny_spec, tmp_path):
    """A fitted peer (FastICA) takes no optimisation steps and has no seed axis: the plan neither counts it in
    the seed-steps nor says it trains as one batched model."""
    from typer.testing import CliRunner

    from ica.cli.app import app
    from ica.running.validate import plan, plan_packs

    spec = grid_spec(tiny_spec)
    spec["models"] = {"vade": spec["models"]["vade"], "fastica": {"name": "fastica"}}
    rows = plan(spec)
    assert [r["fitted"] for r in rows] == [["fastica"]] * 3
    assert [r["seed_steps"] for r in rows] == [60 * 2] * 3  # vade's 2 seeds x 60 steps; fastica none
    assert [p["model"] for p in plan_packs(spec)] == ["vade"]
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    result = CliRunner().invoke(app, ["run", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "packed: vade trains 6 seeds of 3 cells as one batched model" in said
    assert "packed: fastica" not in said
    assert "3 run(s), 6 trained models and 6 fitted, 360 seed-steps in all" in said
    assert "fitted peers, fitted seed by seed in each run" in said and "fastica" in said


def test_on_the_cpu_cells_pack_only_up_to_the_seed_limit():
    """A compiled step of 50 small seeds is slower per seed on the CPU than one of 10: cells of 10 seeds (Fig. 2)
    train cell by cell, cells of a few seeds still pack, in order, never past `CPU_PACK_SEEDS`."""
    import types

    from ica.running.packing import CPU_PACK_SEEDS, packs_of

    def cells(n, seeds):
        spec = types.SimpleNamespace(device="cpu", seed_list=list(range(seeds)))
        return [types.SimpleNamespace(spec=spec, name=f"c{i}") for i in range(n)]

    assert [len(p) for p in packs_of(cells(5, 10))] == [1] * 5
    small = packs_of(cells(9, 3))
    assert [len(p) for p in small] == [5, 4] and all(3 * len(p) <= CPU_PACK_SEEDS for p in small)
    assert [c.name for p in small for c in p] == [f"c{i}" for i in range(9)]


def test_a_pack_too_large_for_memory_trains_cell_by_cell(tiny_spec, tmp_path, monkeypatch):
    """Each cell is checked to fit with its own seeds; a pack of several cells' seeds is checked again, and
    trained cell by cell, with a notice, where it would not fit (issue #27: packing skipped the check)."""
    import ica.running.building as building
    from ica.errors import SpecError

    checked = building.check_model_memory

    def fits_two_seeds(model, *, seeds, **rest):
        if seeds > 2:
            raise SpecError(f"training would need more memory for {seeds} seeds", where="models.x")
        return checked(model, seeds=seeds, **rest)

    monkeypatch.setattr(building, "check_model_memory", fits_two_seeds)
    spec = grid_spec(tiny_spec)
    events = []
    ica.run(spec, out=tmp_path / "cells", on_event=recorder(events))
    said = notices(events)
    assert any(
        m.startswith("ivae: not packing 3 grid cells (training would need more memory for 6 seeds)") for m in said
    ), said
    assert not any("together (training.pack_cells)" in m for m in said)
    assert sum(name == "train_start" for name, _ in events) == 6, "one training loop per model and cell"
