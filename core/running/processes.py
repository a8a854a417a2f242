"""Starting a worker process (``ica run SPEC --workers N``): how many (`auto_workers`), and each one's slot,
its GPU and its share of the CPU; and how many threads a run that stays in one process uses (`threads_for`).

`ica.running.executor` spawns the workers with `_start_worker` as their initialiser: each takes a slot,
and with it one GPU through ``CUDA_VISIBLE_DEVICES`` (where there are GPUs and the device names none of them:
``cuda:1`` keeps every worker on GPU 1, `worker_gpu`) and an equal share of the CPU
threads (`cpu_share`, also what each SLURM array task is given), and keeps the queue its progress events
go to (`_events`, read as ``processes._events`` by a worker's unit of work, `ica.running.executor._work`).
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import Any, Iterator
from ica.spec.experiment import ExperimentSpec, SpecSource

_events: Any = None  # in a worker: the queue its progress events go to
_decided: dict[str, Any] = {}  # what ``ica run`` decided for this process (`deciding`), for env.json


def cpu_share(processes: int) -> int:
    """Torch threads for each of ``processes`` running at once on this machine: an equal share of its
    cores, at least one (more threads than cores make parallel regions spin against each other)."""
    return max(1, (os.cpu_count() or 1) // max(1, processes))


AUTO_WORK = 100_000
"""Seed-steps per unit from which ``ica run`` trains the units of a run in parallel workers (`auto_workers`)."""


def auto_workers(spec: SpecSource, device: str | None, reg: Any = None) -> tuple[int, str]:
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

    reg = reg or registry()
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


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity where the system has one (``taskset``, a cgroup's
    cpuset, a SLURM allocation), never more than the machine's cores."""
    cores = os.cpu_count() or 1
    try:
        return max(1, min(cores, len(os.sched_getaffinity(0))))
    except (AttributeError, OSError):  # no affinity on macOS and Windows
        return cores


CONVOLUTIONAL = frozenset({"convnet", "resnet", "ae", "vqvae"})
"""Built-in components whose step is convolutions over images: the ones that can use more than one thread."""


def threads_for(
    spec: SpecSource, device: str | None, workers: int = 1, threads: int | None = None, reg: Any = None
) -> tuple[int, str]:
    """Torch threads for each process of ``ica run`` training ``spec``, and why, in words.

    What wins: ``--threads`` (``threads``), then an ``OMP_NUM_THREADS`` the user set (torch's own count, left
    as it is), then this policy. Worker processes take an equal share of the cores (`cpu_share`). A run in
    this one process on the CPU takes one thread for models of small matrix products (MLPs): measured alone on
    2 cores, a second thread gained nothing on the quick start (1.01x) and 1.32x on the digits' wider MLPs,
    while two such runs started at once with two threads each spin against each other, 6.4x slower (Fig. 2's
    cell; benchmarks/README.md). Convolutional models over images (`CONVOLUTIONAL`, 1.48x alone) take the
    cores this process may use (`available_cores`). On CUDA the CPU only feeds the GPU: one thread.
    """
    if threads is not None:
        return threads, f"--threads {threads}"
    if os.environ.get("OMP_NUM_THREADS"):
        import torch

        return torch.get_num_threads(), f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} (the environment's)"
    if workers > 1:
        return cpu_share(workers), f"{workers} worker processes share {os.cpu_count() or 1} cores"
    from ica.components.registry import registry
    from ica.running.building import resolve_device
    from ica.spec.load import load_spec

    validated = load_spec(spec, reg or registry())
    if resolve_device(device or validated.device).type != "cpu":
        return 1, "one thread: on CUDA the CPU only feeds the GPU"
    cores = available_cores()
    convolutional = sorted(CONVOLUTIONAL & _component_names(validated))
    if convolutional and cores > 1:
        return cores, f"{cores} threads, this process's cores: convolutional models ({', '.join(convolutional)})"
    return 1, "one thread: small matrix products gain nothing from more, and lose to other processes on the cores"


def _component_names(spec: ExperimentSpec) -> set[str]:
    """Every component name in the spec's models, and every string of its grid (a grid may swap an encoder in,
    as ``{"name": ...}`` or as the values of a ``...name`` axis)."""
    names: set[str] = set()

    def walk(value: Any, strings: bool) -> None:
        if isinstance(value, str) and strings:
            names.add(value)
        elif isinstance(value, dict):
            if isinstance(value.get("name"), str):
                names.add(value["name"])
            for v in value.values():
                walk(v, strings)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v, strings)

    walk([options.model_dump() for options in spec.models.values()], False)
    walk(list((spec.grid or {}).values()), True)
    return names


@contextlib.contextmanager
def deciding(**decisions: Any) -> Iterator[None]:
    """What ``ica run`` decided for this process (threads, workers and why), for `decided` to report in
    env.json while the run lasts; a later ``ica.run`` from Python reports only what it finds."""
    global _decided
    before, _decided = _decided, dict(decisions)
    try:
        yield
    finally:
        _decided = before


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Train with ``threads`` torch threads in this process (None: as it is), and give the caller back its
    own count afterwards (``ica run`` called in-process, as tests do, leaves no trace)."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def decided() -> dict[str, Any]:
    """The decisions of the ``ica run`` in progress in this process (none outside it)."""
    return dict(_decided)


def _gpu_count(device: str) -> int:
    """The GPUs worker processes are spread over, one each: every visible one for 'auto' and 'cuda' (any GPU
    will do), none for a device that names one GPU ('cuda:1': every worker trains on it, as asked, never
    silently on another), the CPU or MPS."""
    if device not in ("auto", "cuda"):
        return 0
    import torch

    return torch.cuda.device_count()


def worker_gpu(slot: int, gpus: int) -> str:
    """``CUDA_VISIBLE_DEVICES`` for the worker in ``slot``: one of the ``gpus`` this process sees, named as this
    process's own ``CUDA_VISIBLE_DEVICES`` names it where it is set (``2,3``: the workers take 2 and 3, not the
    machine's 0 and 1)."""
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if visible:
        return visible[(slot % gpus) % len(visible)]
    return str(slot % gpus)


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
        os.environ["CUDA_VISIBLE_DEVICES"] = worker_gpu(slot, gpus)
    import torch

    torch.set_num_threads(threads)
