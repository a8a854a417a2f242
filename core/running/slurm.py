"""Sending an experiment to SLURM as one job array through submitit (``ica run SPEC --executor slurm``).

Each array task is one unit of work (`ica.running.executor.Unit`: one model label of one run or grid cell),
the same idempotent call the local workers make, so a sweep can be submitted again safely: finished
seeds are skipped and interrupted ones resume from their checkpoints. A task preempted or out of time is
requeued by submitit (`Checkpointable`) and resumes the same way. When every task is done, this process
evaluates and writes the summaries, exactly as a serial run would. ``--no-wait`` submits and returns;
``ica run`` on the same directory later finishes the summaries (or trains whatever failed).

submitit's ``local`` and ``debug`` clusters run the same path on a machine without SLURM (tests use them).
"""

from __future__ import annotations

import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ica.errors import IcaError, RunFailed
from ica.running.executor import Unit, log_lines, train_unit, units_to_train, work_units
from ica.running.processes import cpu_share
from ica.training.signals import Interrupted, watching
from ica.spec.experiment import SpecSource


@dataclass(frozen=True)
class SlurmOptions:
    """Where and how the array runs (SLURM's own names in brackets)."""

    cluster: str = "slurm"  # submitit's cluster: "slurm", or "local"/"debug" to run here
    partition: str | None = None  # (--partition)
    timeout_min: int = 24 * 60  # (--time)
    gpus_per_node: int = 0  # (--gpus-per-node)
    cpus_per_task: int = 2  # (--cpus-per-task)
    array_parallelism: int = 64  # tasks of the array running at once (%N)
    folder: Path | None = None  # submitit's logs and pickles; default <out>/submitit
    wait: bool = True


def _submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise IcaError(
            "the slurm executor needs submitit: pip install 'ica-toolkit[slurm]'", where="--executor"
        ) from None
    return submitit


def unit_task_class() -> type:
    """A callable running one unit, requeued by submitit on preemption or timeout (it simply resumes).

    submitit announces preemption and the coming time limit with its signal (USR2 unless
    ``SUBMITIT_PREEMPT_SIGNAL`` says otherwise) and ignores SIGTERM. While a unit trains, that signal ends
    training at the next step boundary with every checkpoint written; the signal is then raised again for
    submitit's own handler, which requeues the task. The requeued task resumes from exactly that step.
    """
    checkpointable: Any = _submitit().helpers.Checkpointable  # a class known once submitit is imported

    class UnitTask(checkpointable):
        def __init__(self, threads: int):
            self.threads = threads

        def __call__(self, unit: Unit, device: str | None) -> str:
            import torch

            torch.set_num_threads(self.threads)  # the task's CPUs (--cpus), not every core of the machine
            preemption = preemption_signal()
            with watching((signal.SIGINT, preemption)):
                try:
                    return train_unit(unit, device, log_lines(unit))
                except Interrupted as stop:
                    if stop.signum != preemption:
                        raise
            if callable(signal.getsignal(preemption)):  # submitit's handler: requeue this task and exit
                signal.raise_signal(preemption)
            raise Interrupted("preempted; the task was handed back to submitit to be requeued", preemption)

    return UnitTask


def preemption_signal() -> signal.Signals:
    """The signal submitit sends before a preemption or a time limit (USR2 unless configured otherwise)."""
    return getattr(signal, "SIG" + _submitit().JobEnvironment.USR_SIG)


def run_on_slurm(
    spec: SpecSource,
    out: Path,
    options: SlurmOptions,
    *,
    device: str | None = None,
    on_event: Callable[..., None] | None = None,
) -> dict[str, Any]:
    """Submit every unit left to train as one job array; wait for it, then evaluate and summarise here.

    Units whose seeds are all done are not sent again, nor units another process is training now (their
    lock is held). A task still queued holds no lock, so a re-submission queues it again; the lock then
    makes the later copy wait and find its seeds finished.
    """
    from ica.running.runner import run
    from ica.components.registry import registry
    from ica.rundir.writing import safe_dir
    from ica.running.claims import check_out
    from ica.spec.load import load_spec

    submitit = _submitit()
    check_options(options)
    on_event = on_event or (lambda *a, **k: None)
    reg = registry()
    out = check_out(out)
    validated = load_spec(spec, reg)
    folder = options.folder or safe_dir(out, "submitit", create=False)  # submitit writes there: not via a link
    units, busy = units_to_train(work_units(validated, out, reg), on_event)
    if not units and busy and not options.wait:  # nothing to send, and the summaries would wait for them
        return {"submitted": {}, "busy": [u.name for u in busy], "folder": str(folder)}
    if not units:  # a re-submitted sweep whose training is done (or left to running tasks): summarise
        return run(validated, out=out, device=device, on_event=on_event)
    executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=options.cluster)
    parameters: dict[str, Any] = {
        "name": f"ica-{validated.name or out.name}",
        "timeout_min": options.timeout_min,
        "cpus_per_task": options.cpus_per_task,
        "slurm_array_parallelism": options.array_parallelism,
    }
    if options.gpus_per_node:  # "--gpus-per-node=0" is refused by clusters without GPUs configured
        parameters["gpus_per_node"] = options.gpus_per_node
    if options.partition:
        parameters["slurm_partition"] = options.partition
    executor.update_parameters(**parameters)
    task = unit_task_class()(task_threads(options, len(units), on_event))
    jobs = executor.map_array(task, units, [device] * len(units))
    on_event("submitted", jobs=[j.job_id for j in jobs], units=[u.name for u in units], folder=str(folder))
    if not options.wait:
        return {"submitted": {u.name: j.job_id for u, j in zip(units, jobs)}, "folder": str(folder)}
    for unit, job in zip(units, jobs):
        try:
            job.result()
        except Exception as exc:  # submitit's FailedJobError / UncompletedJobError carry the job's log
            raise RunFailed(
                f"job {job.job_id} failed: {str(exc).strip().splitlines()[-1] if str(exc) else exc}; "
                f"its logs are in {folder}; finished seeds are kept: run the same command again to "
                "resume",
                where=unit.name,
            ) from None
        on_event("unit_done", unit=unit.name)
    return run(validated, out=out, device=device, on_event=on_event)


def task_threads(options: SlurmOptions, tasks: int, on_event: Callable[..., None]) -> int:
    """Torch threads per task: ``--cpus`` on SLURM (the task's own cores). On submitit's local cluster every
    task runs at once on this machine, so they share its cores: more threads than cores makes each
    task's parallel regions spin against the others' (ten times slower measured on 2 cores)."""
    if options.cluster != "local":
        return options.cpus_per_task
    share = cpu_share(tasks)
    if share < options.cpus_per_task:
        on_event(
            "notice",
            message=f"{tasks} local tasks share this machine's {os.cpu_count()} cores: "
            f"{share} thread(s) each, not --cpus {options.cpus_per_task}",
        )
    return min(share, options.cpus_per_task)


def check_options(options: SlurmOptions) -> None:
    """Refuse what SLURM would reject or misread, and a missing SLURM, before anything is written."""
    for name, value, least in (
        ("--time", options.timeout_min, 1),
        ("--cpus", options.cpus_per_task, 1),
        ("--array-parallelism", options.array_parallelism, 1),
        ("--gpus", options.gpus_per_node, 0),
    ):
        if value < least:
            raise IcaError(f"must be at least {least}, got {value}", where=name)
    if options.cluster == "slurm":
        missing = [program for program in ("sbatch", "srun") if shutil.which(program) is None]
        if missing:
            raise IcaError(
                f"SLURM's {' and '.join(missing)} not found on PATH; on a machine without SLURM, "
                "--executor submitit-local runs the same job array here",
                where="--executor",
            )
