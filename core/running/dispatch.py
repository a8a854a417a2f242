"""One path from a spec to its summaries, for ``ica.run`` and ``ica run`` alike.

`decide` makes every choice of how a spec trains on this machine (executor, worker processes, torch threads,
the compiled step), each with its reason; `execute` carries them out and returns one `RunResult` for a plain
run, a grid and a submitted SLURM array. The command ``ica run`` only parses its options into these arguments
and prints the result, so Python and the shell train the same way. env.json records the decisions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ica.components.registry import Registry, registry
from ica.errors import IcaError
from ica.running import processes
from ica.running.building import resolve_device
from ica.running.claims import run_root
from ica.running.environment import spec_compile_decision
from ica.running.runner import models_trained
from ica.spec.devices import check_device
from ica.spec.load import load_spec
from ica.training.compile_choice import planned_models
from ica.spec.experiment import SpecSource

EXECUTORS = ("local", "slurm", "submitit-local", "submitit-debug")


@dataclass(frozen=True)
class Decisions:
    """How a spec trains here, each choice with why. ``threads`` is the torch threads of each training process
    (None for SLURM tasks, which take their own)."""

    executor: str
    workers: int
    workers_why: str
    threads: int | None
    threads_why: str
    compile: dict[str, Any] = field(default_factory=dict)

    @property
    def in_process(self) -> bool:
        return self.executor == "local" and self.workers == 1

    def record(self) -> dict[str, Any]:
        """The part of env.json that says how the run was executed (`ica.running.environment.execution`)."""
        if self.executor != "local":
            return {}
        return {
            "threads": self.threads,
            "threads_why": self.threads_why,
            "workers": self.workers,
            "workers_why": self.workers_why,
        }


@dataclass(frozen=True)
class RunEntry:
    """One run directory of a result: the spec's own, or one cell of its grid."""

    name: str
    directory: Path
    settings: dict[str, Any]
    summary: dict[str, Any]


@dataclass(frozen=True)
class RunResult(Mapping[str, Any]):
    """What a spec left behind: its summaries (a plain run's summary.json, or a grid's runs), the decisions it
    was trained with, and for ``--no-wait`` SLURM arrays what was submitted. As a mapping it reads as the
    summary itself (``result["cells"]`` for a plain run, ``result["runs"]`` for a grid)."""

    out: Path
    decisions: Decisions
    summary: dict[str, Any]
    submitted: dict[str, Any] | None = None

    @property
    def is_grid(self) -> bool:
        return "runs" in self.summary

    @property
    def runs(self) -> list[RunEntry]:
        """Every run directory with its summary: one for a plain run, one per cell of a grid (none while a
        submitted array is still training)."""
        if self.is_grid:
            return [
                RunEntry(name, self.out / run["dir"], run["settings"], run["summary"])
                for name, run in self.summary["runs"].items()
            ]
        return [RunEntry(self.summary.get("name") or self.out.name, self.out, {}, self.summary)] if self.summary else []

    def __getitem__(self, key: str) -> Any:
        return self.summary[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.summary)

    def __len__(self) -> int:
        return len(self.summary)


def decide(
    spec: SpecSource,
    *,
    device: str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    executor: str = "local",
    reg: Registry | None = None,
) -> Decisions:
    """Every choice of how ``spec`` trains on this machine, with its reason (`ica.running.processes`).

    ``workers`` None: on a multi-core CPU, long runs train their units side by side in one-thread worker
    processes, others in this process (`processes.auto_workers`); a registry passed from Python lives only in
    this process, so it trains here. ``threads`` None: an ``OMP_NUM_THREADS`` the user set, else one thread for
    small models on the CPU and this process's cores for convolutional ones (`processes.threads_for`).
    """
    check_run_options(device, workers, threads, executor)
    custom = reg is not None and reg is not registry()
    validated = load_spec(spec, reg or registry())
    with planned_models(models_trained(validated)):
        compile_record = spec_compile_decision(validated, resolve_device(device or validated.device).type)
    if executor != "local":
        return Decisions(executor, 1, f"{executor} tasks", None, "each task its own share", compile_record)
    if workers is not None:
        if custom and workers > 1:
            raise IcaError(
                "worker processes load the installed plugins only, not a registry passed from Python; "
                "train in this process (workers=1)",
                where="workers",
            )
        why = f"--workers {workers}"
    elif threads is not None:
        workers, why = 1, f"one process (--threads {threads})"
    elif custom:
        workers, why = 1, "one process (a registry passed from Python)"
    else:
        workers, why = processes.auto_workers(validated, device, reg)
    count, threads_why = processes.threads_for(validated, device, workers, threads, reg)
    return Decisions("local", workers, why, count, threads_why, compile_record)


def execute(
    spec: SpecSource,
    out: str | Path | None = None,
    *,
    device: str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    executor: str = "local",
    slurm: Any = None,
    on_event: Callable[..., None] | None = None,
    reg: Registry | None = None,
) -> RunResult:
    """Train and evaluate every model and seed of ``spec`` (every cell of its grid) into ``out`` (default
    ``runs/<spec file stem>``; an existing one resumes), as `decide` chooses, and return what it left.

    Args:
        spec: a path to a JSON spec, a dict, or a validated spec.
        device: overrides the spec's device ('auto', 'cpu', 'cuda', 'cuda:1', 'mps', as torch writes them).
        workers: as ``ica run --workers`` (None: `decide` chooses).
        threads: as ``ica run --threads`` (None: `decide` chooses).
        executor: 'local', 'slurm', 'submitit-local' or 'submitit-debug'; ``slurm`` its
            `ica.running.slurm.SlurmOptions` (defaults where None).
        on_event: progress callback ``on_event(name, **info)``; the first event is ``"decided"``.
        reg: a registry other than the installed plugins' (trains in this process).
    """
    on_event = on_event or (lambda *a, **k: None)
    check_run_options(device, workers, threads, executor)
    validated = load_spec(spec, reg or registry())  # read and validated once, for the decisions and the run
    root = run_root(spec, out)  # from the source: a spec file's stem names the default directory
    decisions = decide(validated, device=device, workers=workers, threads=threads, executor=executor, reg=reg)
    on_event("decided", decisions=decisions)
    in_process = decisions.threads if decisions.in_process else None  # workers set their own share
    with processes.deciding(**decisions.record()), processes.torch_threads(in_process):
        if executor != "local":
            from ica.running.slurm import SlurmOptions, run_on_slurm

            options = slurm or SlurmOptions(cluster=executor.removeprefix("submitit-"))
            summary = run_on_slurm(validated, root, options, device=device, on_event=on_event)
            if "submitted" in summary:
                return RunResult(root, decisions, {}, summary)
        elif decisions.workers > 1:
            from ica.running.executor import run_with_workers

            summary = run_with_workers(validated, root, decisions.workers, device=device, on_event=on_event)
        else:
            from ica.running.runner import run

            summary = run(validated, root, device=device, on_event=on_event, reg=reg)
    return RunResult(root, decisions, summary)


def run(
    spec: SpecSource,
    out: str | Path | None = None,
    *,
    device: str | None = None,
    on_event: Callable[..., None] | None = None,
    reg: Registry | None = None,
) -> RunResult:
    """`execute` with its defaults: ``ica.run("spec.json")`` trains exactly as ``ica run spec.json`` does."""
    return execute(spec, out, device=device, on_event=on_event, reg=reg)


def check_run_options(device: str | None, workers: int | None, threads: int | None, executor: str) -> None:
    """The options of `execute`, each checked alone, before a spec is read (also for ``ica run --dry-run``)."""
    if device is not None:
        try:
            check_device(device)
        except ValueError as exc:
            raise IcaError(str(exc), where="--device") from None
    if threads is not None and threads < 1:
        raise IcaError(f"--threads must be at least 1, got {threads}", where="--threads")
    if workers is not None and workers < 1:
        raise IcaError(f"--workers must be at least 1, got {workers}", where="--workers")
    if executor not in EXECUTORS:
        raise IcaError(
            f"unknown executor {executor!r}; expected local, slurm, submitit-local or submitit-debug",
            where="--executor",
        )
    if threads is not None and workers is not None and workers > 1:
        raise IcaError(
            "--threads sets the threads of training in this process; --workers gives each worker an "
            "equal share of the cores",
            where="--threads",
        )
