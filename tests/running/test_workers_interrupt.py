"""A sweep in worker processes (``ica run --workers 2``) that is stopped (Ctrl-C to the terminal's process
group, SIGTERM to the parent) or broken (its workers SIGKILLed) keeps its checkpoints, and the same command
resumes it to exactly the latents, logs and summaries of an uninterrupted serial run.

Each worker is paused (SIGSTOP) once its unit has logged, and resumed only when the signal the parent passes
on is pending in it: the signal meets both workers mid-unit however loaded the machine, so the units can be
short."""

from __future__ import annotations

import copy
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY_SPEC, assert_same_runs, go, ready_ica, shared_spec_and_reference
from ica.running.locks import lock_holder

pytestmark = pytest.mark.slow  # every test here trains

CELLS = ("steps-600", "steps-200")
LABELS = ("ivae", "vade")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The spec file of a 2-cell grid (4 units of work) and its uninterrupted serial run."""
    spec = copy.deepcopy(TINY_SPEC)
    # cell by cell: 4 units for 2 workers, so that some wait in the queue (packed, each model would be 1 unit).
    # Each worker of the first cell is paused at its second log (step 20): 580 steps are left for the 50 ms
    # poll to catch it. The second cell's units only have to be queued when the signal comes.
    spec["grid"] = {"training.steps": [600, 200]}
    spec["training"].update(log_every=20, checkpoint_every=100, pack_cells=False)
    return shared_spec_and_reference(tmp_path_factory, "sweep", spec)


def ready(path, out):
    """``ica run --workers 2`` in its own session (so a signal to its process group reaches only it), its
    imports done, waiting for `go`: the resuming process starts up while the first one trains."""
    return ready_ica("run", str(path), "--out", str(out), "--workers", "2", start_new_session=True)


def pause_workers_mid_unit(out, timeout=90):
    """Pause (SIGSTOP) each worker once its unit, the first cell's model, has logged twice (units are taken in
    order); the paused workers' ids."""
    paused = {}
    deadline = time.time() + timeout
    while len(paused) < len(LABELS) and time.time() < deadline:
        for label in set(LABELS) - set(paused):
            log = out / CELLS[0] / label / "seeds" / "0" / "metrics.jsonl"
            if log.exists() and len(log.read_text().splitlines()) >= 2:
                holder = lock_holder(out / CELLS[0] / label)
                assert holder is not None, f"{label}'s unit ended before its worker could be paused"
                paused[label] = holder["pid"]
                os.kill(paused[label], signal.SIGSTOP)
        time.sleep(0.05)
    if len(paused) < len(LABELS):
        pytest.fail("the workers made no progress")
    return list(paused.values())


def pending(pid, signum):
    """Whether ``signum`` sent to process ``pid`` waits to be delivered (it is paused)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return bool(int(re.search(r"^ShdPnd:\s*(\w+)", status, re.M).group(1), 16) & 1 << (signum - 1))


def resume_when_passed_on(workers, timeout=30):
    """SIGCONT to the paused workers once the parent has passed its SIGTERM on to each of them."""
    deadline = time.time() + timeout
    while not all(pending(pid, signal.SIGTERM) for pid in workers) and time.time() < deadline:
        time.sleep(0.02)
    for pid in workers:
        os.kill(pid, signal.SIGCONT)


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
    paused = pause_workers_mid_unit(out)
    workers = worker_pids(process.pid)
    assert sorted(workers) == sorted(paused), (workers, paused)
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1, output
    assert "a worker process died" in output and "run the same command again" in output
    assert "Traceback" not in output
    assert not any((out / cell / "summary.json").exists() for cell in CELLS)
    resume(finish, out, serial)


@pytest.mark.skipif(sys.platform != "linux", reason="reads pending signals from /proc")
@pytest.mark.parametrize("how", ["ctrl-c to the process group", "sigterm to the parent"])
def test_a_signal_stops_every_worker_at_a_checkpoint_and_the_sweep_resumes_to_the_serial_results(sweep, tmp_path, how):
    path, serial = sweep
    out = tmp_path / "stopped"
    process, finish = ready(path, out), ready(path, out)
    go(process)
    workers = pause_workers_mid_unit(out)
    if how == "ctrl-c to the process group":
        os.killpg(process.pid, signal.SIGINT)
    else:
        os.kill(process.pid, signal.SIGTERM)
    resume_when_passed_on(workers)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == (143 if how == "sigterm to the parent" else 130), output  # 128 + the signal
    assert "run the same command again to resume" in output and "Traceback" not in output
    for label in LABELS:  # both running units stopped before their end, each with a checkpoint
        seed = out / CELLS[0] / label / "seeds" / "0"
        assert (seed / "checkpoint.pt").exists() and not (seed / "result.json").exists()
    assert not (out / CELLS[1]).joinpath("ivae", "seeds", "0", "result.json").exists(), "no new unit started"
    resume(finish, out, serial)
