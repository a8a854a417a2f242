"""A real `ica run` process stopped by SIGTERM (clean: checkpoint at the step boundary) or SIGKILL (abrupt:
the last periodic checkpoint) resumes to exactly the latents and metrics of an uninterrupted run."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import ica


def long_tiny_spec(tiny_spec):
    tiny_spec["models"] = {"vade": tiny_spec["models"]["vade"]}
    tiny_spec["training"].update(steps=2000, log_every=10, checkpoint_every=250)
    return tiny_spec


def start(spec_path, out):
    return subprocess.Popen([sys.executable, "-m", "ica", "run", str(spec_path), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_progress(out, lines=30, timeout=60):
    metrics = out / "vade" / "seeds" / "0" / "metrics.jsonl"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= lines:
            return
        time.sleep(0.05)
    pytest.fail("the run made no progress")


def assert_same_results(done, reference):
    for seed in (0, 1):
        rel = f"vade/seeds/{seed}"
        a, b = np.load(done / rel / "latents.npz"), np.load(reference / rel / "latents.npz")
        np.testing.assert_array_equal(a["latents"], b["latents"])
        assert (done / rel / "metrics.jsonl").read_text() == (reference / rel / "metrics.jsonl").read_text()
    ours = json.loads((done / "summary.json").read_text())["cells"]["vade"]["stats"]
    theirs = json.loads((reference / "summary.json").read_text())["cells"]["vade"]["stats"]
    assert ours == theirs


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_a_stopped_run_resumes_to_the_same_results(tiny_spec, tmp_path, sig):
    spec = long_tiny_spec(tiny_spec)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    reference = tmp_path / "reference"
    ica.run(spec, out=reference)

    out = tmp_path / "stopped"
    process = start(path, out)
    wait_for_progress(out)
    process.send_signal(sig)
    output, _ = process.communicate(timeout=60)
    if sig in (signal.SIGINT, signal.SIGTERM):
        assert process.returncode == 130, output
        assert "resume" in output and "checkpoints written" in output
        assert not (out / "vade" / "seeds" / "0" / "result.json").exists(), "a stopped seed is not finished"
    else:
        assert process.returncode == -signal.SIGKILL
    assert not (out / "summary.json").exists()

    finish = start(path, out)
    output, _ = finish.communicate(timeout=120)
    assert finish.returncode == 0, output
    assert "resumed from the checkpoint" in output
    assert_same_results(out, reference)


def test_several_sigkills_at_random_steps_still_end_with_the_same_results(tiny_spec, tmp_path):
    spec = long_tiny_spec(tiny_spec)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    reference = tmp_path / "reference"
    ica.run(spec, out=reference)
    out = tmp_path / "killed"
    rng = random.Random(0)
    for lines in sorted(rng.sample(range(10, 190), 3)):  # log lines of seed 0 (a line every 10 steps)
        process = start(path, out)
        wait_for_progress(out, lines=lines)
        process.kill()
        process.wait(timeout=60)
    finish = start(path, out)
    output, _ = finish.communicate(timeout=120)
    assert finish.returncode == 0, output
    assert_same_results(out, reference)
