"""``--workers``: units of work (one model of one run) in spawned processes give the serial run's results."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import ica
from ica.running.runner import train_label
from ica.cli.app import app

from conftest import assert_same_runs


@pytest.mark.slow
@pytest.mark.parametrize("pack", [True, False], ids=["cells packed", "cell by cell"])
def test_two_workers_give_exactly_the_serial_results(tiny_spec, tmp_path, pack):
    """Packed, a unit is one model label of both cells (2 units); cell by cell, one model of one cell (4)."""
    tiny_spec["grid"] = {"data.samples_per_segment": [40, 60]}
    tiny_spec["training"]["pack_cells"] = pack
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(tiny_spec))
    ica.run(tiny_spec, out=tmp_path / "serial")
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "parallel"), "--workers", "2"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    if pack:
        assert output.count("trained samples_per_segment-") == 2
        assert "samples_per_segment-40/ivae (+1 cells packed) seeds 0,1,0,1: training from step 0 to 30" in output
    else:
        assert "packed" not in output and output.count("trained samples_per_segment-") == 4
        # the workers' progress reaches this process's display, each line naming its unit
        for cell in ("samples_per_segment-40", "samples_per_segment-60"):
            assert f"{cell}/vade seeds 0,1: training from step 0 to 30" in output
            assert f"{cell}/vade seeds 0,1: step 30/30 loss" in output
    assert_same_runs(tmp_path / "parallel", tmp_path / "serial", ("samples_per_segment-40", "samples_per_segment-60"))


@pytest.mark.slow
def test_a_unit_of_work_trains_one_label_and_writes_no_summary(tiny_spec, tmp_path):
    assert train_label(tiny_spec, tmp_path, "vade") is None
    assert (tmp_path / "vade" / "seeds" / "0" / "result.json").exists()
    assert not (tmp_path / "ivae").exists() and not (tmp_path / "summary.json").exists()


def test_a_worker_count_below_one_is_a_clear_error(tiny_spec, tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(tiny_spec))
    result = CliRunner().invoke(app, ["run", str(path), "--workers", "0"])
    assert result.exit_code == 2 and "--workers must be at least 1" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "runs").exists()


def visible_devices(both_started):
    """In a worker: the GPUs it may see, once the other worker holds the other task (a pause alone let one
    worker take both tasks where the second was still starting on a loaded machine)."""
    import os

    both_started.wait(timeout=120)
    return os.environ.get("CUDA_VISIBLE_DEVICES")


@pytest.mark.slow
def test_each_worker_gets_its_own_gpu_through_cuda_visible_devices():
    """The worker initialiser as `run_with_workers` uses it, with two GPUs said to exist (none are needed:
    only the environment each worker is given is checked)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from ica.running.processes import _start_worker

    context = multiprocessing.get_context("spawn")
    slots, pids = context.Queue(), context.Queue()
    for slot in range(2):
        slots.put(slot)
    with (
        context.Manager() as manager,
        ProcessPoolExecutor(
            2, mp_context=context, initializer=_start_worker, initargs=(slots, pids, context.Queue(), 2, 1)
        ) as pool,
    ):
        both_started = manager.Barrier(2)
        seen = [f.result() for f in [pool.submit(visible_devices, both_started) for _ in range(2)]]
    assert sorted(seen) == ["0", "1"]


def test_ica_run_trains_in_parallel_workers_only_where_each_unit_has_enough_work(monkeypatch, tiny_spec):
    """`--workers` left out: the Fig. 2 grid (2 packs of 50 seeds x 70,000 steps) trains its packs side by side
    on a multi-core CPU; a tiny spec, a one-core machine, or a run of one unit stays in one process."""
    from ica.running import processes

    monkeypatch.setattr(processes.os, "cpu_count", lambda: 2)
    workers, why = processes.auto_workers("specs/fig2-tcl.json", "cpu")
    assert workers == 2 and "2 worker processes of 1 thread(s) each, for 2 units" == why
    assert processes.auto_workers(tiny_spec, "cpu")[0] == 1  # 2 models x 2 seeds x 30 steps
    long_one = {
        **tiny_spec,
        "models": {"ivae": tiny_spec["models"]["ivae"]},
        "seeds": 50,
        "training": {**tiny_spec["training"], "steps": 70_000},
    }
    assert processes.auto_workers(long_one, "cpu") == (1, "one process (one unit to train)")
    monkeypatch.setattr(processes.os, "cpu_count", lambda: 1)
    assert processes.auto_workers("specs/fig2-tcl.json", "cpu")[0] == 1
