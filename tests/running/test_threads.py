"""Threads per process and the execution decisions in env.json (`ica.running.processes.threads_for`)."""

from __future__ import annotations

import copy
import json

import torch
from typer.testing import CliRunner

import ica
from ica.cli.app import app
from ica.running import processes
from ica.training.compiled import AUTO_STEPS


def one_core_each(monkeypatch, cores: int = 2) -> None:
    """A machine of ``cores`` cores, all this process's, and no OMP_NUM_THREADS of the user's."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(processes.os, "cpu_count", lambda: cores)
    monkeypatch.setattr(processes.os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)


def run_cli(tmp_path, spec: dict, *args: str):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), *args])


def env_json(tmp_path) -> dict:
    return json.loads((tmp_path / "out" / "env.json").read_text())


def test_small_mlps_take_one_thread_and_convolutional_models_the_cores(monkeypatch, tiny_spec):
    one_core_each(monkeypatch, cores=4)
    assert processes.threads_for(tiny_spec, "cpu")[0] == 1
    conv = copy.deepcopy(tiny_spec)
    conv["data"] = {"name": "digits"}
    conv["models"] = {"ivae": {"name": "ivae", "encoder": {"name": "convnet"}, "decoder": {"name": "convnet"}}}
    threads, why = processes.threads_for(conv, "cpu")
    assert threads == 4 and "convnet" in why
    monkeypatch.setattr(processes.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert processes.threads_for(conv, "cpu")[0] == 2  # never more than this process may use
    assert processes.threads_for(conv, "cpu", workers=4)[0] == 1  # workers share the cores
    assert processes.threads_for(conv, "cpu", threads=3) == (3, "--threads 3")


def test_an_omp_num_threads_of_the_users_is_kept(monkeypatch, tiny_spec):
    one_core_each(monkeypatch)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    threads, why = processes.threads_for(tiny_spec, "cpu")
    assert threads == torch.get_num_threads() and why == "OMP_NUM_THREADS=3 (the environment's)"
    assert processes.threads_for(tiny_spec, "cpu", threads=2)[0] == 2  # --threads wins


def test_threads_below_one_is_one_clear_message(tmp_path, tiny_spec):
    result = run_cli(tmp_path, tiny_spec, "--threads", "0")
    assert result.exit_code == 2 and "--threads must be at least 1, got 0" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()
    result = run_cli(tmp_path, tiny_spec, "--threads", "1", "--workers", "2")
    assert result.exit_code == 2 and "--threads" in result.output and not (tmp_path / "out").exists()


def test_threads_are_honoured_recorded_and_given_back(monkeypatch, tmp_path, tiny_spec):
    one_core_each(monkeypatch)
    before = torch.get_num_threads()
    seen = []
    monkeypatch.setattr(processes, "auto_workers", lambda *a: seen.append("asked") or (2, "two"))
    result = run_cli(tmp_path, tiny_spec, "--threads", "2")
    assert result.exit_code == 0, result.output
    env = env_json(tmp_path)
    assert env["threads"] == 2 and env["threads_why"] == "--threads 2"
    assert env["workers"] == 1 and "--threads 2" in env["workers_why"] and not seen  # in this process
    assert torch.get_num_threads() == before  # the caller's count is given back


def test_the_default_records_one_thread_and_the_compile_decision(monkeypatch, tmp_path, tiny_spec):
    one_core_each(monkeypatch)
    result = run_cli(tmp_path, tiny_spec)
    assert result.exit_code == 0, result.output
    env = env_json(tmp_path)
    assert env["threads"] == 1 and env["threads_why"].startswith("one thread")
    assert env["workers"] == 1 and env["workers_why"].startswith("one process")
    assert env["compile"] == {"setting": "auto", "steps": 30, "auto_steps": AUTO_STEPS, "compiles": False,
                              "why": env["compile"]["why"]}
    assert f"30 steps < {AUTO_STEPS:,}" in env["compile"]["why"]
    for key in ("python", "torch", "device", "git_commit", "plugins"):  # what readers had before stays
        assert key in env


def test_ica_run_from_python_leaves_the_callers_threads_and_says_so(monkeypatch, tmp_path, tiny_spec):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    before = torch.get_num_threads()
    spec = {**tiny_spec, "training": {**tiny_spec["training"], "compile": False, "epochs": 1}}
    spec["training"].pop("steps")
    ica.run(spec, out=tmp_path / "out")
    env = env_json(tmp_path)
    assert torch.get_num_threads() == before and env["threads"] == before
    assert env["threads_why"] == "OMP_NUM_THREADS=1 (the environment's)"
    assert env["compile"]["setting"] is False and env["compile"]["compiles"] is False
    assert env["compile"]["steps"] == 160 // 16  # one epoch of whole batches of the training split
