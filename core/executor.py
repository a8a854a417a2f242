"""Running an experiment's units of work in worker processes (``ica run SPEC --workers N``).

A unit is one model label of one run (one grid cell): `ica.run(..., only=label)` trains its unfinished
seeds, resuming from checkpoints, and is safe to repeat. Workers are *spawned* (never forked: CUDA and
thread pools do not survive a fork); each gets an equal share of the CPU threads and, where there are
GPUs, one of them through ``CUDA_VISIBLE_DEVICES``. When every unit is done, this process runs the spec
once more, which finds every seed finished, evaluates and writes the summaries: the run directory is the
same as a serial run's.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ica.errors import IcaError


@dataclass(frozen=True)
class Unit:
    """Train one model label of one run: its spec (plain JSON data), run directory and label."""

    spec: dict[str, Any]
    out: str
    label: str

    @property
    def name(self) -> str:
        return f"{Path(self.out).name}/{self.label}"


def work_units(spec: Any, root: Path, reg: Any) -> list[Unit]:
    """Every unit of ``spec`` (claiming the grid directory first, so workers never race to create it)."""
    from ica.grid import has_grid
    from ica.runner import claim_grid
    from ica.spec import spec_json

    runs = [(c.spec, root / c.directory) for c in claim_grid(spec, root, reg)] if has_grid(spec) else [(spec, root)]
    return [Unit(spec_json(s), str(out), label) for s, out in runs for label in s.models]


def run_with_workers(spec: Any, out: Path, workers: int, *, device: str | None = None,
                     on_event: Callable[..., None] | None = None) -> dict[str, Any]:
    """Train every unit in ``workers`` spawned processes, then evaluate and summarise here."""
    import ica
    from ica.plugin_registry import registry
    from ica.spec import load_spec

    if workers < 1:
        raise IcaError(f"--workers must be at least 1, got {workers}", where="--workers")
    on_event = on_event or (lambda *a, **k: None)
    reg = registry()
    validated = load_spec(spec, reg)
    units = work_units(validated, Path(out), reg)
    gpus = _gpu_count(device or validated.device)
    context = multiprocessing.get_context("spawn")
    slots = context.Queue()
    for i in range(workers):
        slots.put(i)
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(slots, gpus, threads)) as pool:
        futures = {pool.submit(train_unit, u, device): u for u in units}
        for unit in units:
            on_event("unit_submitted", unit=unit.name)
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            error = future.exception()
            if error is not None:
                for f in futures:
                    f.cancel()
                if isinstance(error, IcaError):
                    raise error
                raise IcaError(f"{type(error).__name__}: {error}", where=f"worker ({futures[future].name})")
        for future in futures:
            future.result()
            on_event("unit_done", unit=futures[future].name)
    return ica.run(validated, out=out, device=device, on_event=on_event)


def _gpu_count(device: str) -> int:
    if device == "cpu":
        return 0
    import torch

    return torch.cuda.device_count()


def _start_worker(slots: Any, gpus: int, threads: int) -> None:
    """Runs in each new worker: take a slot, and with it a GPU (if any) and a share of the CPU threads."""
    slot = slots.get()
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
    import torch

    torch.set_num_threads(threads)


def train_unit(unit: Unit, device: str | None) -> str:
    """One unit of work: train a model label's unfinished seeds (resuming), write no summary."""
    import ica

    ica.run(unit.spec, out=unit.out, device=device, only=unit.label)
    return unit.name
