"""The slurm executor through submitit's debug and local clusters (no SLURM here): same results as serial."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import ica
from ica.cli.app import app

from conftest import assert_same_runs

pytest.importorskip("submitit")


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["submitit-debug", "submitit-local"])
def test_a_small_grid_through_submitit_matches_the_serial_run(tiny_spec, tmp_path, executor):
    tiny_spec["grid"] = {"data.samples_per_segment": [40, 60]}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(tiny_spec))
    ica.run(tiny_spec, out=tmp_path / "serial")
    out = tmp_path / "array"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--executor", executor, "--time", "5"])
    assert result.exit_code == 0, result.output
    assert "submitted a job array of 2 tasks" in result.output  # per model, both cells packed
    cells = ["samples_per_segment-40", "samples_per_segment-60"]
    assert_same_runs(out, tmp_path / "serial", cells)
    assert (out / "submitit").is_dir()


@pytest.mark.slow
def test_no_wait_submits_and_a_second_run_writes_the_summaries(tiny_spec, tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(tiny_spec))
    out = tmp_path / "array"
    first = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--executor", "submitit-local", "--no-wait"])
    assert first.exit_code == 0 and "run the same command again" in first.output, first.output
    import time

    deadline = time.time() + 120
    while time.time() < deadline and not all(
        (out / label / "seeds" / str(s) / "result.json").exists() for label in ("ivae", "vade") for s in (0, 1)
    ):
        time.sleep(0.2)
    second = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert second.exit_code == 0, second.output
    assert "training from" not in second.output, "every seed was trained by the array"
    assert (out / "summary.json").exists()


def child_pids(pid):
    """Processes whose parent is ``pid`` (Linux /proc)."""
    import pathlib

    kids = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


@pytest.mark.slow
@pytest.mark.skipif(not __import__("pathlib").Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_preempted_task_checkpoints_at_once_is_requeued_and_ends_with_the_serial_results(tiny_spec, tmp_path):
    """submitit's preemption signal (USR2) stops training at a step boundary with checkpoints written; the
    requeued task resumes from that very step (checkpoint_every is too large for any other checkpoint). SIGTERM,
    which SLURM sends to every process of a preempted job, is left to submitit, which ignores it."""
    import os
    import signal
    import threading
    import time

    from ica.running.slurm import SlurmOptions, run_on_slurm

    tiny_spec["models"] = {"ivae": tiny_spec["models"]["ivae"]}
    # the signal comes at the first log (step 100 or a little later): 1,500 steps leave the task training
    tiny_spec["training"].update(steps=1500, log_every=100, checkpoint_every=100_000)
    out = tmp_path / "array"
    finished = {}
    submit = threading.Thread(
        target=lambda: finished.update(
            summary=run_on_slurm(tiny_spec, out, SlurmOptions(cluster="local", timeout_min=5))
        )
    )
    submit.start()
    metrics = out / "ivae" / "seeds" / "0" / "metrics.jsonl"
    deadline = time.time() + 120
    while not (metrics.exists() and metrics.read_text().strip()) and time.time() < deadline:
        time.sleep(0.02)
    tasks = [task for controller in child_pids(os.getpid()) for task in child_pids(controller)]
    assert len(tasks) == 1, tasks
    os.kill(tasks[0], signal.SIGTERM)
    time.sleep(0.2)
    os.kill(tasks[0], signal.SIGUSR2)
    submit.join(timeout=180)
    assert not submit.is_alive() and "summary" in finished
    (log,) = out.glob("submitit/*/*_0_log.out")
    text = log.read_text()
    stopped = int(text.split("interrupted at step ")[1].split(",")[0])
    assert 0 < stopped < 1500
    assert f"resumed from step {stopped}" in text and "Requeued job" in text
    assert "Bypassing signal SIGTERM" in (log.parent / log.name.replace("_log.out", "_log.err")).read_text()
    serial = ica.run(tiny_spec, out=tmp_path / "serial")
    assert_same_runs(out, tmp_path / "serial", (".",), labels=("ivae",))
    assert finished["summary"]["cells"]["ivae"]["stats"] == serial["cells"]["ivae"]["stats"]


def test_local_tasks_share_the_cores_and_slurm_tasks_use_their_cpus(monkeypatch):
    """submitit's local cluster starts every task at once; --cpus threads each would oversubscribe the cores
    (measured ten times slower on 2 cores). On SLURM each task has its own --cpus cores."""
    from ica.running.slurm import SlurmOptions, task_threads

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    said = []
    notice = lambda name, **info: said.append(info["message"])  # noqa: E731
    assert task_threads(SlurmOptions(cluster="slurm", cpus_per_task=6), 10, notice) == 6
    assert task_threads(SlurmOptions(cluster="local", cpus_per_task=2), 4, notice) == 2
    assert task_threads(SlurmOptions(cluster="local", cpus_per_task=6), 1, notice) == 6
    assert said == []
    assert task_threads(SlurmOptions(cluster="local", cpus_per_task=2), 5, notice) == 1
    assert task_threads(SlurmOptions(cluster="local", cpus_per_task=4), 20, notice) == 1
    assert said[0] == "5 local tasks share this machine's 8 cores: 1 thread(s) each, not --cpus 2"
