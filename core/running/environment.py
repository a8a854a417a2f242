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


def environment(device: torch.device, reg: Registry, training: Any = None,
                n_train: int | None = None) -> dict[str, Any]:
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
        **({} if training is None else {"compile": compile_decision(training, n_train)}),
        "git_commit": _git_commit(),
        "plugins": [{"name": p.name, "version": p.version, "module": p.module} for p in reg.plugins],
    }


def execution() -> dict[str, Any]:
    """Threads per training process and worker processes, each with why: what ``ica run`` decided
    (`ica.running.processes.threads_for`, `auto_workers`), else what this process found (``ica.run`` from
    Python leaves the caller's thread count alone)."""
    from ica.running.processes import decided

    found = torch.get_num_threads()
    omp = os.environ.get("OMP_NUM_THREADS")
    record = {"threads": found,
              "threads_why": f"OMP_NUM_THREADS={omp} (the environment's)" if omp else
              "this process's torch setting (ica.run leaves the caller's thread count alone)",
              "workers": 1, "workers_why": "one process"}
    return {**record, **decided()}


def compile_decision(training: Any, n_train: int | None) -> dict[str, Any]:
    """``training.compile``, whether it asks this run for the compiled step (`ica.training.compiled.compiles`,
    from `AUTO_STEPS` steps for "auto") and why; a model the step cannot take still trains eagerly, with a
    notice in the log."""
    from ica.training.compiled import AUTO_STEPS, compiles

    setting = training.compile
    steps = _steps(training, n_train)
    wanted = compiles(setting, steps) if steps is not None else setting is True
    if setting != "auto":
        why = "compiled step asked for" if setting else "eager step asked for"
    elif steps is None:
        why = "auto: the number of steps is not known"
    else:
        why = (f"auto: {steps:,} steps {'>=' if wanted else '<'} {AUTO_STEPS:,}, where compiling (once per model "
               "and process) starts to pay on the CPU")
    return {"setting": setting, "steps": steps, "auto_steps": AUTO_STEPS, "compiles": wanted, "why": why}


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
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=os.getcwd())
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
