"""A real `ica run` process stopped by SIGTERM (clean: checkpoint at the step boundary) or SIGKILL (abrupt:
the last periodic checkpoint) resumes to exactly the latents and metrics of an uninterrupted run."""

from __future__ import annotations

import copy
import random
import signal
import time

import pytest

from conftest import TINY_SPEC, assert_same_runs, go, ready_ica, shared_spec_and_reference

pytestmark = pytest.mark.slow  # every test here trains


@pytest.fixture(scope="module")
def stoppable(tmp_path_factory):
    """The spec file of a VaDE run long enough to be stopped part-way, and its uninterrupted run."""
    spec = copy.deepcopy(TINY_SPEC)
    spec["models"] = {"vade": spec["models"]["vade"]}
    spec["training"].update(steps=1000, log_every=10, checkpoint_every=125)
    return shared_spec_and_reference(tmp_path_factory, "stoppable", spec)


def ready(spec_path, out):
    """``ica run`` of the spec, started (imports done) but waiting for `go`: each test starts its processes
    up front, so that an interpreter's start-up overlaps the training of the process before it."""
    return ready_ica("run", str(spec_path), "--out", str(out))


def wait_for_progress(out, lines=20, timeout=60):
    metrics = out / "vade" / "seeds" / "0" / "metrics.jsonl"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= lines:
            return
        time.sleep(0.05)
    pytest.fail("the run made no progress")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_a_stopped_run_resumes_to_the_same_results(stoppable, tmp_path, sig):
    path, reference = stoppable
    out = tmp_path / "stopped"
    process, finish = ready(path, out), ready(path, out)
    go(process)
    wait_for_progress(out)
    process.send_signal(sig)
    output, _ = process.communicate(timeout=60)
    if sig in (signal.SIGINT, signal.SIGTERM):
        assert process.returncode == 128 + sig, output  # the shell's convention: 130 after SIGINT, 143 after SIGTERM
        assert "resume" in output and "checkpoints written" in output
        assert not (out / "vade" / "seeds" / "0" / "result.json").exists(), "a stopped seed is not finished"
    else:
        assert process.returncode == -signal.SIGKILL
    assert not (out / "summary.json").exists()

    go(finish)
    output, _ = finish.communicate(timeout=120)
    assert finish.returncode == 0, output
    assert "resumed from the checkpoint" in output
    assert_same_runs(out, reference, (".",), labels=("vade",))


def test_several_sigkills_at_random_steps_still_end_with_the_same_results(stoppable, tmp_path):
    path, reference = stoppable
    out = tmp_path / "killed"
    rng = random.Random(0)
    *killed, finish = [ready(path, out) for _ in range(4)]
    for process, lines in zip(killed, sorted(rng.sample(range(5, 95), 3))):  # log lines of seed 0 (one per 10 steps)
        go(process)
        wait_for_progress(out, lines=lines)
        process.kill()
        process.wait(timeout=60)
    go(finish)
    output, _ = finish.communicate(timeout=120)
    assert finish.returncode == 0, output
    assert_same_runs(out, reference, (".",), labels=("vade",))
