"""One process at a time trains a model of a run: a second ``ica run`` on the same directory waits for the
first, then finds its seeds finished; a lock never outlives its process, however it ends."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

import ica
from ica.running.locks import lock_holder, training_lock

from conftest import assert_same_runs, go, ready_ica

pytest.importorskip("fcntl")


@pytest.mark.slow
def test_a_second_run_on_the_same_directory_waits_and_trains_nothing_twice(tiny_spec, tmp_path):
    tiny_spec["models"] = {"vade": tiny_spec["models"]["vade"]}
    # 600 steps: some 0.9 s of training left at step 20 for the 50 ms poll below to pause it
    tiny_spec["training"].update(steps=600, log_every=10, checkpoint_every=100)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(tiny_spec))
    out = tmp_path / "run"
    args = ["run", str(path), "--out", str(out)]
    second = ready_ica(*args)  # started now, so that it reaches the lock at once while the first trains
    first = subprocess.Popen(
        [sys.executable, "-m", "ica", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    metrics = out / "vade" / "seeds" / "0" / "metrics.jsonl"
    deadline = time.time() + 60
    while not (metrics.exists() and metrics.read_text().count("\n") >= 3) and time.time() < deadline:
        time.sleep(0.05)
    # the first paused mid-training until the second has said it waits for it: so on any load
    first.send_signal(signal.SIGSTOP)
    assert lock_holder(out / "vade")["pid"] == first.pid
    go(second)
    waiting = output_until(second, f"waiting for process {first.pid}")
    first.send_signal(signal.SIGCONT)
    said, _ = second.communicate(timeout=120)
    said = waiting + said
    output, _ = first.communicate(timeout=120)
    assert first.returncode == 0, output
    assert second.returncode == 0, said
    said = " ".join(said.split())
    assert f"waiting for process {first.pid}" in said
    assert "training from" not in said and "resumed" not in said, "the second run found every seed finished"
    reference = tmp_path / "reference"
    ica.run(tiny_spec, out=reference)
    assert_same_runs(out, reference, (".",), labels=("vade",))


def output_until(process, words, timeout=60):
    """What ``process`` has printed up to the first time it has printed ``words`` (however its lines wrap)."""
    said, deadline = "", time.time() + timeout
    while " ".join(words.split()) not in " ".join(said.split()):
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.time()))
        chunk = os.read(process.stdout.fileno(), 4096).decode() if ready else ""
        if not chunk:
            pytest.fail(f"{words!r} was not printed: {said}")
        said += chunk
    return said


@pytest.mark.slow
def test_a_lock_dies_with_its_process_even_on_sigkill(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time, pathlib; from ica.running.locks import training_lock\n"
                f"with training_lock(pathlib.Path({str(tmp_path)!r}), print):\n"
                "    print('locked', flush=True); time.sleep(60)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    found = lock_holder(tmp_path)
    assert found["pid"] == holder.pid and found["host"]
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert lock_holder(tmp_path) is None
    notices = []
    with training_lock(tmp_path, notices.append):  # taken at once: nothing stale to wait for
        assert lock_holder(tmp_path)["pid"] != holder.pid
    assert notices == []


def test_nobody_holds_a_lock_that_was_never_taken_or_was_released(tmp_path):
    assert lock_holder(tmp_path) is None
    with training_lock(tmp_path, print):
        assert lock_holder(tmp_path) is not None
    assert lock_holder(tmp_path) is None
