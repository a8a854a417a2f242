"""``env.json``: the versions, device, git commit and plugins a run was made with, and how it was executed
(threads, worker processes, compiled or eager step) with the reason for each choice."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from typing import Any

import numpy as np
import torch

from ica.components.registry import Registry
from ica.spec.experiment import ExperimentSpec


def environment(
    device: torch.device, reg: Registry, training: Any = None, n_train: int | None = None, seeds: int = 1
) -> dict[str, Any]:
    """Versions, device and code revision: what is needed to tell two runs' conditions apart; with the spec's
    ``training`` options (and the training split's size, for epochs), the compile decision too."""
    from ica.components.registry import ica_version

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "ica": ica_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        **execution(),
        **({} if training is None else {"compile": compile_decision(training, n_train, seeds, device.type)}),
        "git_commit": _git_commit(),
        "plugins": [{"name": p.name, "version": p.version, "module": p.module} for p in reg.plugins],
    }


def execution() -> dict[str, Any]:
    """Threads per training process and worker processes, each with why: what `ica.running.dispatch.decide`
    chose (for ``ica run`` and ``ica.run``), else what this process found (a run started some other way, such
    as a scikit-learn estimator's fit, leaves the caller's thread count alone)."""
    from ica.running.processes import decided

    found = torch.get_num_threads()
    omp = os.environ.get("OMP_NUM_THREADS")
    record = {
        "threads": found,
        "threads_why": f"OMP_NUM_THREADS={omp} (the environment's)"
        if omp
        else "this process's torch setting (a run not started through ica.running.execute)",
        "workers": 1,
        "workers_why": "one process",
    }
    return {**record, **decided()}


def compile_decision(training: Any, n_train: int | None, seeds: int = 1, device: str = "cpu") -> dict[str, Any]:
    """``training.compile`` and what it chooses for this run's ``seeds`` trained together on ``device``, with
    why (`ica.training.compile_choice`, the function the trainer itself asks); a model the step cannot take
    still trains eagerly, with a notice in the log."""
    from ica.training.compile_choice import compile_choice

    return compile_choice(training.compile, _steps(training, n_train), seeds, device).record()


def batched_seeds(spec: ExperimentSpec) -> int:
    """How many seeds of a model train together, as they batch by default (one with ``batch_seeds: false``)."""
    return 1 if spec.training.batch_seeds is False else len(spec.seed_list)


def spec_compile_decision(spec: ExperimentSpec, device: str = "cpu") -> dict[str, Any]:
    """`compile_decision` for a validated spec before its data is built: its seeds together, as they batch by
    default (a run of ``epochs`` is decided once its data is built)."""
    seeds = batched_seeds(spec)
    return compile_decision(spec.training, None, seeds, device)


def _steps(training: Any, n_train: int | None) -> int | None:
    """The steps of the run: ``steps``, or ``epochs`` passes of whole batches (`ica.training.sampling`)."""
    from ica.training.sampling import epoch_steps

    if training.epochs is None:
        return training.steps
    if n_train is None:
        return None
    return training.epochs * epoch_steps(n_train, training.batch_size)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=os.getcwd())
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
