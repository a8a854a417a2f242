"""Starting a worker process (``ica run SPEC --workers N``): how many (`auto_workers`), and each one's slot,
its GPU and its share of the CPU.

`ica.running.executor` spawns the workers with `_start_worker` as their initialiser: each takes a slot,
and with it one GPU through ``CUDA_VISIBLE_DEVICES`` (where there are GPUs) and an equal share of the CPU
threads (`cpu_share`, also what each SLURM array task is given), and keeps the queue its progress events
go to (`_events`, read as ``processes._events`` by a worker's unit of work, `ica.running.executor._work`).
"""

from __future__ import annotations

import os
import signal
from typing import Any

_events: Any = None  # in a worker: the queue its progress events go to


def cpu_share(processes: int) -> int:
    """Torch threads for each of ``processes`` running at once on this machine: an equal share of its
    cores, at least one (more threads than cores make parallel regions spin against each other)."""
    return max(1, (os.cpu_count() or 1) // max(1, processes))


AUTO_WORK = 100_000
"""Seed-steps per unit from which ``ica run`` trains the units of a run in parallel workers (`auto_workers`)."""


def auto_workers(spec: Any, device: str | None) -> tuple[int, str]:
    """How many worker processes ``ica run`` uses when ``--workers`` is not given, and why, in words.

    On the CPU, the units of a run (a grid's packs, a spec's models) train faster side by side in processes
    of one thread each than one after another with every thread, once each unit has enough work to pay for
    starting a worker (a few seconds) and compiling its own step: Fig. 2 at 3,000 steps (150,000 seed-steps
    per pack) took 53.9 s in 2 workers against 77.0 s in one process, the quick start (60,000 seed-steps per
    model) 34.3 s against 33.7 s (benchmarks/README.md). So from `AUTO_WORK` seed-steps per unit on; never
    on CUDA or for a single unit.
    """
    from ica.components.registry import registry
    from ica.running.building import resolve_device
    from ica.spec.grid import grid_cells, has_grid
    from ica.spec.load import load_spec

    reg = registry()
    validated = load_spec(spec, reg)
    cores = os.cpu_count() or 1
    if resolve_device(device or validated.device).type != "cpu" or cores < 2:
        return 1, "one process (not on a multi-core CPU)"
    if validated.training.epochs is not None:
        return 1, "one process (epochs: the steps are not known before the data)"
    if not has_grid(validated):
        units, seeds = len(validated.models), len(validated.models) * len(validated.seed_list)
    else:
        cells = grid_cells(validated, reg)
        seeds = sum(len(c.spec.seed_list) * len(c.spec.models) for c in cells)
        # Packed cells train one unit per model label (more where their data differ in shape: not counted
        # here, so that choosing builds no data set).
        units = len(validated.models) if validated.training.pack_cells else sum(len(c.spec.models) for c in cells)
    workers = min(units, cores)
    if workers < 2:
        return 1, "one process (one unit to train)"
    if validated.training.steps * seeds / units < AUTO_WORK:
        return 1, f"one process (under {AUTO_WORK:,} seed-steps per unit)"
    return workers, f"{workers} worker processes of {cpu_share(workers)} thread(s) each, for {units} units"


def _gpu_count(device: str) -> int:
    if device == "cpu":
        return 0
    import torch

    return torch.cuda.device_count()


def _start_worker(slots: Any, pids: Any, events: Any, gpus: int, threads: int) -> None:
    """Runs in each new worker: take a slot, and with it a GPU (if any) and a share of the CPU threads.

    A worker ignores SIGINT: Ctrl-C reaches every process of the terminal, and the parent decides.
    """
    global _events
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pids.put(os.getpid())
    _events = events
    events.cancel_join_thread()  # progress is not worth a worker hanging at exit on an undrained queue
    slot = slots.get()
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
    import torch

    torch.set_num_threads(threads)
