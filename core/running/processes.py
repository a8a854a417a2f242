"""Starting a worker process (``ica run SPEC --workers N``): its slot, its GPU and its share of the CPU.

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
