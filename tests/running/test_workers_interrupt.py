"""A sweep in worker processes (``ica run --workers 2``) that is stopped (Ctrl-C to the terminal's process
group, SIGTERM to the parent) or broken (its workers SIGKILLed) keeps its checkpoints, and the same command
resumes it to exactly the latents, logs and summaries of an uninterrupted serial run."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import TINY_SPEC, assert_same_runs, go, ready_ica, shared_spec_and_reference

pytestmark = pytest.mark.slow  # every test here trains

CELLS = ("steps-1500", "steps-200")
LABELS = ("ivae", "vade")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The spec file of a 2-cell grid (4 units of work) and its uninterrupted serial run."""
    spec = copy.deepcopy(TINY_SPEC)
    # cell by cell: 4 units for 2 workers, so that some wait in the queue (packed, each model would be 1 unit).
    # The first cell's 1,500 steps: a signal sent at step 150 meets both workers still training, also on a
    # loaded machine (at 600 a worker could finish its unit before the parent had passed the signal on). The
    # second cell's units only have to be queued when the signal comes, so they are short.
    spec["grid"] = {"training.steps": [1500, 200]}
    spec["training"].update(log_every=50, checkpoint_every=100, pack_cells=False)
    return shared_spec_and_reference(tmp_path_factory, "sweep", spec)


def ready(path, out):
    """``ica run --workers 2`` in its own session (so a signal to its process group reaches only it), its
    imports done, waiting for `go`: the resuming process starts up while the first one trains."""
    return ready_ica("run", str(path), "--out", str(out), "--workers", "2", start_new_session=True)


def wait_for_training(out, timeout=90):
    """Until both workers have logged (each trains the first model of a cell: units are taken in order)."""
    logs = [out / CELLS[0] / label / "seeds" / "0" / "metrics.jsonl" for label in LABELS]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(f.exists() and len(f.read_text().splitlines()) >= 3 for f in logs):
            return
        time.sleep(0.05)
    pytest.fail("the workers made no progress")


def worker_pids(parent):
    found = subprocess.run(["pgrep", "-P", str(parent), "-f", "spawn_main"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def resume(finish, out, serial):
    go(finish)
    output, _ = finish.communicate(timeout=240)
    assert finish.returncode == 0, output
    assert_same_runs(out, serial, CELLS, LABELS)


@pytest.mark.skipif(sys.platform != "linux", reason="finds the workers with pgrep -P")
def test_killed_workers_end_the_sweep_with_one_message_and_it_resumes_to_the_serial_results(sweep, tmp_path):
    path, serial = sweep
    out = tmp_path / "killed"
    process, finish = ready(path, out), ready(path, out)
    go(process)
    wait_for_training(out)
    workers = worker_pids(process.pid)
    assert len(workers) == 2, workers
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1, output
    assert "a worker process died" in output and "run the same command again" in output
    assert "Traceback" not in output
    assert not any((out / cell / "summary.json").exists() for cell in CELLS)
    resume(finish, out, serial)


@pytest.mark.parametrize("how", ["ctrl-c to the process group", "sigterm to the parent"])
def test_a_signal_stops_every_worker_at_a_checkpoint_and_the_sweep_resumes_to_the_serial_results(sweep, tmp_path, how):
    path, serial = sweep
    out = tmp_path / "stopped"
    process, finish = ready(path, out), ready(path, out)
    go(process)
    wait_for_training(out)
    if how == "ctrl-c to the process group":
        os.killpg(process.pid, signal.SIGINT)
    else:
        os.kill(process.pid, signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == (143 if how == "sigterm to the parent" else 130), output  # 128 + the signal
    assert "run the same command again to resume" in output and "Traceback" not in output
    for label in LABELS:  # both running units stopped before their end, each with a checkpoint
        seed = out / CELLS[0] / label / "seeds" / "0"
        assert (seed / "checkpoint.pt").exists() and not (seed / "result.json").exists()
    assert not (out / CELLS[1]).joinpath("ivae", "seeds", "0", "result.json").exists(), "no new unit started"
    resume(finish, out, serial)
