"""Sending an experiment to SLURM as one job array through submitit (``ica run SPEC --executor slurm``).

Each array task is one unit of work (`ica.executor.Unit`: one model label of one run or grid cell),
the same idempotent call the local workers make, so a sweep can be submitted again safely: finished
seeds are skipped and interrupted ones resume from their checkpoints. A task preempted or out of time is
requeued by submitit (`Checkpointable`) and resumes the same way. When every task is done, this process
evaluates and writes the summaries, exactly as a serial run would. ``--no-wait`` submits and returns;
``ica run`` on the same directory later finishes the summaries (or trains whatever failed).

submitit's ``local`` and ``debug`` clusters run the same path on a machine without SLURM (tests use them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ica.errors import IcaError
from ica.executor import Unit, train_unit, work_units


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
        raise IcaError("the slurm executor needs submitit: pip install 'ica-toolkit[slurm]'",
                       where="--executor") from None
    return submitit


def unit_task_class() -> type:
    """A callable running one unit, requeued by submitit on preemption or timeout (it simply resumes)."""
    submitit = _submitit()

    class UnitTask(submitit.helpers.Checkpointable):
        def __call__(self, unit: Unit, device: str | None) -> str:
            return train_unit(unit, device)

    return UnitTask


def run_on_slurm(spec: Any, out: Path, options: SlurmOptions, *, device: str | None = None,
                 on_event: Callable[..., None] | None = None) -> dict[str, Any]:
    """Submit every unit as one job array; wait for it, then evaluate and summarise here."""
    import ica
    from ica.plugin_registry import registry
    from ica.spec import load_spec

    submitit = _submitit()
    on_event = on_event or (lambda *a, **k: None)
    reg = registry()
    validated = load_spec(spec, reg)
    out = Path(out)
    units = work_units(validated, out, reg)
    folder = options.folder or out / "submitit"
    executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=options.cluster)
    parameters: dict[str, Any] = {"name": f"ica-{validated.name or out.name}", "timeout_min": options.timeout_min,
                                  "gpus_per_node": options.gpus_per_node, "cpus_per_task": options.cpus_per_task,
                                  "slurm_array_parallelism": options.array_parallelism}
    if options.partition:
        parameters["slurm_partition"] = options.partition
    executor.update_parameters(**parameters)
    task = unit_task_class()()
    jobs = executor.map_array(task, units, [device] * len(units))
    on_event("submitted", jobs=[j.job_id for j in jobs], units=[u.name for u in units], folder=str(folder))
    if not options.wait:
        return {"submitted": {u.name: j.job_id for u, j in zip(units, jobs)}, "folder": str(folder)}
    for unit, job in zip(units, jobs):
        try:
            job.result()
        except Exception as exc:  # submitit's FailedJobError / UncompletedJobError carry the job's log
            raise IcaError(f"job {job.job_id} failed: {str(exc).strip().splitlines()[-1] if str(exc) else exc}; "
                           f"its logs are in {folder}", where=unit.name) from None
        on_event("unit_done", unit=unit.name)
    return ica.run(validated, out=out, device=device, on_event=on_event)
