"""Threads per process and the execution decisions in env.json (`ica.running.processes.threads_for`)."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from typer.testing import CliRunner

import ica
from ica.cli.app import app
from ica.running import processes
from ica.running import dispatch


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_the_default_records_one_thread_and_the_compile_decision(monkeypatch, tmp_path, tiny_spec):
    one_core_each(monkeypatch)
    result = run_cli(tmp_path, tiny_spec)
    assert result.exit_code == 0, result.output
    env = env_json(tmp_path)
    assert env["threads"] == 1 and env["threads_why"].startswith("one thread")
    assert env["workers"] == 1 and env["workers_why"].startswith("one process")
    assert env["compile"] == {
        "setting": "auto",
        "steps": 30,
        "seeds": 2,
        "compiles": False,
        "why": env["compile"]["why"],
        "expected_saving_s": env["compile"]["expected_saving_s"],
        "compile_cost_s": env["compile"]["compile_cost_s"],
        "cache": env["compile"]["cache"],
        "models": 2,
    }
    assert env["compile"]["expected_saving_s"] < env["compile"]["compile_cost_s"]
    assert "over 30 steps of 2 seed(s), less than it costs" in env["compile"]["why"]
    for key in ("python", "torch", "device", "git_commit", "plugins"):  # what readers had before stays
        assert key in env


@pytest.mark.slow
def test_ica_run_from_python_decides_threads_as_the_command_and_gives_them_back(monkeypatch, tmp_path, tiny_spec):
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


@pytest.mark.slow
def test_ica_run_and_the_command_choose_the_same_threads_workers_and_compiling(monkeypatch, tmp_path, tiny_spec):
    one_core_each(monkeypatch)
    before = torch.get_num_threads()
    (tmp_path / "cli").mkdir()
    assert run_cli(tmp_path / "cli", tiny_spec).exit_code == 0
    result = ica.run(tiny_spec, out=tmp_path / "api" / "out")
    cli, api = env_json(tmp_path / "cli"), env_json(tmp_path / "api")
    for key in ("threads", "threads_why", "workers", "workers_why"):
        assert cli[key] == api[key], key
    assert cli["compile"]["compiles"] == api["compile"]["compiles"] == result.decisions.compile["compiles"]
    assert result.decisions.threads == api["threads"] == 1 and torch.get_num_threads() == before
    assert result.runs[0].summary == result.summary and result["cells"] == result.summary["cells"]


def test_ica_run_and_the_command_start_the_same_workers(monkeypatch, tmp_path, tiny_spec):
    """Where the decision is to train in workers, both paths hand the spec to the same executor."""
    one_core_each(monkeypatch)
    monkeypatch.setattr(processes, "auto_workers", lambda *a: (2, "2 worker processes (test)"))
    calls = []

    def fake_workers(spec, out, workers, *, device=None, on_event=None):
        calls.append(workers)
        return {"name": None, "cells": {}, "split": "eval"}

    monkeypatch.setattr("ica.running.executor.run_with_workers", fake_workers)
    result = run_cli(tmp_path, tiny_spec)
    assert result.exit_code == 0, result.output
    assert "training in 2 worker processes (test) (--workers 1: all in this process)" in result.output
    assert ica.run(tiny_spec, out=tmp_path / "api").decisions.workers == 2
    assert calls == [2, 2]


def test_a_registry_from_python_trains_in_this_process(tiny_spec):
    """Worker processes load the installed plugins; a registry built in this process cannot reach them."""
    custom = type(ica.registry()).load(entry_points=False)
    decided = dispatch.decide(tiny_spec, reg=custom)
    assert decided.workers == 1 and decided.workers_why == "one process (a registry passed from Python)"
    with pytest.raises(ica.IcaError, match="worker processes load the installed plugins only"):
        dispatch.decide(tiny_spec, reg=custom, workers=2)


@pytest.mark.slow
def test_ica_run_and_the_command_pack_the_same_grid_cells(monkeypatch, tmp_path, tiny_spec):
    """Both paths reach the same packing decision: the same model labels of the same cells train together."""
    from ica.running import packing

    one_core_each(monkeypatch)
    tiny_spec["grid"] = {"data.samples_per_segment": [40, 60]}
    tiny_spec["training"]["steps"] = 2
    packed = []
    real_groups = packing.pack_groups

    def recording(reg, cells):
        groups = real_groups(reg, cells)
        packed.append(sorted((label, tuple(c.name for c in group)) for label, group in groups))
        return groups

    monkeypatch.setattr(packing, "pack_groups", recording)
    (tmp_path / "cli").mkdir()
    assert run_cli(tmp_path / "cli", tiny_spec).exit_code == 0
    ica.run(tiny_spec, out=tmp_path / "api")
    assert len(packed) == 2 and packed[0] == packed[1] and {label for label, _ in packed[0]} == {"ivae", "vade"}


def test_the_recorded_threads_of_workers_are_the_ones_the_reason_names(monkeypatch, tiny_spec):
    """A user's OMP_NUM_THREADS is what env.json records for workers, as its reason says, not an equal share."""
    one_core_each(monkeypatch, cores=4)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    record = dispatch.decide(tiny_spec, workers=2).record()
    assert record["threads"] == torch.get_num_threads() == 1 and processes.cpu_share(2) == 2
    assert record["threads_why"] == "OMP_NUM_THREADS=1 (the environment's)" and record["workers"] == 2
