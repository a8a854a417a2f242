"""Running an experiment's units of work in worker processes (``ica run SPEC --workers N``).

A unit is one model label of one run (one grid cell): `ica.run(..., only=label)` trains its unfinished
seeds, resuming from checkpoints, and is safe to repeat. Workers are *spawned* (never forked: CUDA and
thread pools do not survive a fork); each gets an equal share of the CPU threads and, where there are
GPUs, one of them through ``CUDA_VISIBLE_DEVICES`` (`ica.running.processes` starts them). When every unit
is done, this process runs the spec once more, which finds every seed finished, evaluates and writes the
summaries: the run directory is the same as a serial run's.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from ica.errors import IcaError, RunFailed
from ica.running import processes
from ica.running.processes import _gpu_count, _start_worker, cpu_share
from ica.training.signals import Interrupted, stop_requests, watching
from ica.spec.experiment import ExperimentSpec, SpecSource


@dataclass(frozen=True)
class Unit:
    """Train one model label of one run: its spec (plain JSON data), run directory and label; with
    ``packed_with``, the same label of other grid cells too, as one batched model (`ica.running.packing`)."""

    spec: dict[str, Any]
    out: str
    label: str
    seeds: tuple[int, ...] = ()
    packed_with: tuple["Unit", ...] = ()

    @property
    def name(self) -> str:
        packed = f" (+{len(self.packed_with)} cells packed)" if self.packed_with else ""
        return f"{Path(self.out).name}/{self.label}{packed}"

    @property
    def parts(self) -> tuple["Unit", ...]:
        """One unit per cell."""
        return (replace(self, packed_with=()), *self.packed_with)

    @property
    def finished(self) -> bool:
        """Every seed has its result (finished or failed): nothing left to train, only to summarise."""
        from ica.rundir.layout import RunLayout

        return all(all(RunLayout(Path(p.out)).seed(p.label, s).result.exists() for s in p.seeds) for p in self.parts)

    @property
    def training_elsewhere(self) -> bool:
        """Another process holds this model's training lock right now (of any packed cell)."""
        from ica.running.locks import lock_holder
        from ica.rundir.layout import RunLayout

        return any(lock_holder(RunLayout(Path(p.out)).cell(p.label)) is not None for p in self.parts)


def packed(parts: list[Unit]) -> Unit | None:
    """One unit training ``parts`` (cells of one model label) together, or None for no parts."""
    return together(parts) if parts else None


def together(parts: list[Unit]) -> Unit:
    """One unit training ``parts``, one or more cells of one model label, together."""
    return replace(parts[0], packed_with=tuple(parts[1:]))


def work_units(spec: ExperimentSpec, root: Path, reg: Any) -> list[Unit]:
    """Every unit of ``spec`` (claiming the grid directory first, so workers never race to create it): one
    per model of each run, except that cells which pack (`ica.running.packing`) form one unit per model label."""
    from ica.running.building import shared_data
    from ica.spec.grid import has_grid
    from ica.running.packing import pack_groups
    from ica.running.claims import claim_grid
    from ica.spec.hashing import spec_source

    if not has_grid(spec):
        return [Unit(spec_source(spec), str(root), label, tuple(spec.seed_list)) for label in spec.models]
    with shared_data():
        cells = claim_grid(spec, root, reg)
        groups = pack_groups(reg, cells)
    in_pack = {(c.directory, label) for label, group in groups for c in group}
    unit = lambda c, label: Unit(spec_source(c.spec), str(root / c.directory), label, tuple(c.spec.seed_list))  # noqa: E731
    units = [together([unit(c, label) for c in group]) for label, group in groups]  # packs hold two or more
    return units + [unit(c, label) for c in cells for label in c.spec.models if (c.directory, label) not in in_pack]


def units_to_train(units: list[Unit], on_event: Callable[..., None]) -> tuple[list[Unit], list[Unit]]:
    """The units with seeds left to train and nobody training them now, and the cells another process is
    training (a re-submitted sweep sends only the first; the summaries wait for the others' locks)."""
    todo, busy = [], []
    for unit in units:
        parts = [p for p in unit.parts if not p.finished]
        busy += [p for p in parts if p.training_elsewhere]
        left = packed([p for p in parts if p not in busy])
        if left is not None:
            todo.append(left)
    if busy:
        on_event(
            "notice",
            message=f"{len(busy)} model(s) are being trained by another process and are left to "
            f"it: {', '.join(u.name for u in busy)}",
        )
    return todo, busy


def run_with_workers(
    spec: SpecSource, out: Path, workers: int, *, device: str | None = None, on_event: Callable[..., None] | None = None
) -> dict[str, Any]:
    """Train every unit in ``workers`` spawned processes, then evaluate and summarise here.

    SIGINT or SIGTERM to this process (Ctrl-C reaches every process of the terminal; workers ignore it)
    is passed on to the workers as SIGTERM: each finishes its step, writes its checkpoints and stops, no
    new unit starts, and `Interrupted` is raised here. A second signal kills the workers at once. A worker
    that dies (killed, out of memory) ends the run with `RunFailed`; the others checkpoint first.
    """
    from ica.running.runner import run
    from ica.components.registry import registry
    from ica.running.claims import check_out
    from ica.spec.load import load_spec

    if workers < 1:
        raise IcaError(f"--workers must be at least 1, got {workers}", where="--workers")
    out = check_out(out)
    on_event = on_event or (lambda *a, **k: None)
    reg = registry()
    validated = load_spec(spec, reg)
    units, _ = units_to_train(work_units(validated, out, reg), on_event)
    if not units:
        return run(validated, out=out, device=device, on_event=on_event)
    gpus = _gpu_count(device or validated.device)
    context = multiprocessing.get_context("spawn")
    slots, pids, events = context.Queue(), context.Queue(), context.Queue()
    for i in range(workers):
        slots.put(i)
    threads = cpu_share(workers)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(slots, pids, events, gpus, threads)
    ) as pool:
        futures = {pool.submit(_work, u, device): u for u in units}
        for unit in units:
            on_event("unit_submitted", unit=unit.name)
        try:
            _collect(futures, _Workers(pids), _Progress(events, on_event))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return run(validated, out=out, device=device, on_event=on_event)


class _Workers:
    """The worker processes' ids (each worker reports its own when it starts), to pass signals on."""

    def __init__(self, pids: Any):
        self.queue = pids
        self.known: set[int] = set()

    def signal(self, signum: int) -> None:
        while True:
            try:
                self.known.add(self.queue.get_nowait())
            except queue.Empty:
                break
        for pid in self.known:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass


class _Progress:
    """The workers' progress events, passed on to this process's display (from its main thread only)."""

    def __init__(self, events: Any, on_event: Callable[..., None]):
        self.events, self.on_event = events, on_event

    def __call__(self, name: str, **info: Any) -> None:
        self.on_event(name, **info)

    def relay(self) -> None:
        while True:
            try:
                name, info = self.events.get_nowait()
            except queue.Empty:
                return
            self.on_event(name, **info)


FORWARDED = ("train_start", "progress", "resumed", "interrupted", "train_end", "seed_failed", "notice")
"""The events a worker sends to the parent's display (each tagged with its unit as the 'cell')."""


def _collect(futures: dict, workers: _Workers, on_event: _Progress) -> None:
    """Wait for every unit, showing the workers' progress; on a signal, stop the workers cleanly; say what
    went wrong in one message."""
    pending, stopping = set(futures), None
    try:
        with stop_requests() as stop_requested:
            while pending:
                done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                on_event.relay()
                for future in done:
                    error = None if future.cancelled() else future.exception()
                    if future.cancelled() or isinstance(error, Interrupted) or (stopping and error is not None):
                        continue
                    if error is None:
                        on_event("unit_done", unit=futures[future].name)
                        continue
                    if not isinstance(error, BrokenProcessPool):
                        workers.signal(signal.SIGTERM)  # the others checkpoint and stop before this is raised
                        _drain(pending)
                    raise _worker_error(error, futures[future])
                if stopping is None:
                    stopping = stop_requested()
                    if stopping is not None:
                        for future in pending:
                            future.cancel()
                        workers.signal(signal.SIGTERM)
            on_event.relay()
    except KeyboardInterrupt as second:  # a second signal while the workers were stopping: no more waiting
        if not isinstance(second, Interrupted):
            workers.signal(signal.SIGKILL)
        raise
    if stopping is not None:
        raise Interrupted("stopped by a signal; every worker wrote its checkpoints", stopping)


def _drain(pending: set) -> None:
    for future in pending:
        future.cancel()
    wait(pending)


def _worker_error(error: BaseException, unit: Unit) -> IcaError:
    if isinstance(error, BrokenProcessPool):
        return RunFailed(
            "a worker process died (killed, or out of memory); finished seeds and checkpoints are "
            "kept: run the same command again to resume",
            where=f"worker ({unit.name})",
        )
    if isinstance(error, IcaError):
        return error
    return RunFailed(f"{type(error).__name__}: {error}", where=f"worker ({unit.name})")


_stopping = False  # in a worker: set once a signal stopped a unit, so that queued units do not start


def _work(unit: Unit, device: str | None) -> str:
    """A worker's unit: training stops cleanly on SIGTERM (the parent passes its signals on as SIGTERM)."""
    global _stopping
    if _stopping:
        raise Interrupted("not started: the run is stopping")

    def report(name: str, **info: Any) -> None:
        if processes._events is not None and name in FORWARDED:  # set by `_start_worker` in this worker
            processes._events.put((name, {**info, "cell": unit.name}))

    try:
        with watching((signal.SIGTERM,)):
            return train_unit(unit, device, report)
    except Interrupted:
        _stopping = True
        raise


def train_unit(unit: Unit, device: str | None, on_event: Callable[..., None] | None = None) -> str:
    """One unit of work: train a model label's unfinished seeds (resuming), write no summary. A packed
    unit first trains its cells together; each cell then finishes whatever the pack did not take."""
    from ica.running.runner import train_label
    from ica.training.compile_choice import planned_models

    with planned_models(len(unit.parts)):
        if unit.packed_with:
            from ica.running.packing import train_packed_unit

            train_packed_unit(unit, device, on_event or (lambda *a, **k: None))
        for part in unit.parts:
            train_label(part.spec, part.out, part.label, device=device, on_event=on_event)
    return unit.name


def log_lines(unit: Unit) -> Callable[..., None]:
    """Progress as plain lines on stdout, for tasks whose output is a log file (a submitit task's)."""

    def event(name: str, **info: Any) -> None:
        seeds = info.get("seeds")
        text = {
            "train_start": lambda: f"seeds {seeds}: training from step {info['step']} of {info['steps']}",
            "resumed": lambda: f"seeds {seeds}: resumed from step {info['step']}",
            "interrupted": lambda: f"seeds {seeds}: interrupted at step {info['step']}, checkpoints written",
            "train_end": lambda: f"seeds {seeds}: trained to step {info['step']} in {info['seconds']:.1f} s",
            "seed_failed": lambda: f"seed {info.get('seed')}: non-finite loss by step {info.get('step')}",
            "notice": lambda: str(info.get("message")),
        }.get(name)
        if text is not None:
            print(f"[{unit.name}] {text()}", flush=True)

    return event
