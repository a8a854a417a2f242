"""Typer commands. Every user error becomes one message on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import typer

from ica.cli import render
from ica.errors import IcaError
from ica.spec.devices import DEVICE_HELP
from ica.spec.models import spec_models

app = typer.Typer(
    name="ica",
    help="Identifiable non-linear ICA with deep generative models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn `IcaError` into a clean message and exit code 2 (1 for `RunFailed`: not the user's input)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with one_line_warnings():
                return command(*args, **kwargs)
        except IcaError as exc:
            render.error(str(exc))
            raise typer.Exit(getattr(exc, "exit_code", 2)) from None
        except OSError as exc:  # unwritable directory, a file where a folder should be, ...
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            render.error(f"{where}{exc.strerror or exc}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt as exc:
            render.error("interrupted; run the same command again to resume from the last checkpoint")
            raise typer.Exit(interrupted_status(exc)) from None

    return wrapper


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Warnings (a run that cannot be verified, seeds left out) as one line on stderr, as errors are shown:
    Python's default names a source line of ica, which means nothing to the person running a command."""
    previous = warnings.showwarning

    def show(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        render.warning(str(message))

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def interrupted_status(interrupt: KeyboardInterrupt) -> int:
    """The shell's status for a process stopped by a signal, 128 + its number: 143 after SIGTERM (a scheduler's
    stop: `ica.training.signals.Interrupted` carries the signal), 130 after SIGINT and a plain Ctrl-C."""
    return 128 + int(getattr(interrupt, "signum", None) or signal.SIGINT)


@app.command("list")
@user_errors
def list_components(
    kind: Optional[str] = typer.Argument(None, help="Only this kind: dataset, encoder, decoder, prior, ..."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Every registered component, who provides it, and plugins that failed to load."""
    from ica.components.protocols import KINDS
    from ica.components.registry import registry

    if kind is not None and kind not in KINDS:
        raise IcaError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}", where="KIND")
    reg = registry()
    if as_json:
        typer.echo(json.dumps(render.registry_json(reg, kind), indent=2))
    else:
        render.registry_table(reg, kind)


@app.command()
@user_errors
def show(
    name: str = typer.Argument(..., help="A component name, e.g. gmm."),
    kind: Optional[str] = typer.Option(None, help="Which kind, when several share the name (e.g. mlp)."),
) -> None:
    """A component's options: types, defaults and descriptions."""
    from ica.components.registry import registry, unknown_name_message

    reg = registry()
    found = [c for c in reg.find(name) if kind is None or c.kind == kind]
    if not found:
        known = sorted({c.name for c in reg.of_kind(kind)})
        raise IcaError(unknown_name_message(kind or "component", name, known), where="NAME")
    for component in found:
        render.component_options(reg, component)


@app.command()
@user_errors
def validate(spec: Path = typer.Argument(..., help="The experiment spec (JSON).")) -> None:
    """Check a spec completely (names, types, ranges, data files, shapes) without training or writing."""
    from ica.running.validate import check

    render.validation(check(spec))


@app.command()
@user_errors
def schema(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
) -> None:
    """The JSON Schema of specs, including every installed plugin's options."""
    from ica.components.registry import registry

    text = json.dumps(spec_models(registry()).experiment.model_json_schema(by_alias=True), indent=2)
    if out is None:
        typer.echo(text)
    else:
        from ica.rundir.writing import atomic_write

        check_schema_output(out)
        atomic_write(out, (text + "\n").encode())


def check_schema_output(out: Path) -> None:
    """``schema -o`` replaces only an earlier schema: never a file of a run directory, never a user's spec."""
    from ica.rundir.enclosing import enclosing_run_directory

    inside = enclosing_run_directory(out)
    if inside is not None:
        raise IcaError(f"is inside the run directory {inside}; write the schema elsewhere", where=str(out))
    if out.is_symlink() or (out.exists() and not out.is_dir() and not _is_schema_file(out)):
        raise IcaError(
            "exists and is not a JSON Schema written by ica schema; refusing to overwrite it (choose "
            "another -o, or remove the file)",
            where=str(out),
        )


def _is_schema_file(path: Path) -> bool:
    try:
        data = json.loads(path.read_bytes()) if path.stat().st_size < 64 * 2**20 else None
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("title") == "Experiment" and "$defs" in data


@app.command()
@user_errors
def run(
    spec: Path = typer.Argument(..., help="The experiment spec (JSON)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default runs/<spec name>)."),
    device: Optional[str] = typer.Option(None, help=f"{DEVICE_HELP}, as torch writes it (overrides the spec)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the runs, seeds and steps; train nothing."),
    workers: Optional[int] = typer.Option(
        None,
        "--workers",
        "-w",
        help="Train models and grid cells in this many spawned worker processes (one GPU "
        "each where there are GPUs). Default: on a multi-core CPU, long runs train their units side by side in "
        "one-thread workers; others in this process.",
    ),
    threads: Optional[int] = typer.Option(
        None,
        "--threads",
        help="Torch threads of the process that trains (without --workers: this one, and "
        "no workers are started). Default: an OMP_NUM_THREADS set in the environment; else on the CPU one "
        "thread for small models, this process's cores for convolutional ones.",
    ),
    executor: str = typer.Option(
        "local",
        help="local (this machine), slurm (a job array through submitit), or "
        "submitit-local / submitit-debug (submitit's path without SLURM).",
    ),
    partition: Optional[str] = typer.Option(None, help="slurm: the partition."),
    time_min: int = typer.Option(24 * 60, "--time", help="slurm: time limit per task, in minutes."),
    gpus: int = typer.Option(0, help="slurm: GPUs per task."),
    cpus: int = typer.Option(2, help="slurm: CPUs per task."),
    array_parallelism: int = typer.Option(64, help="slurm: array tasks running at once."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="slurm: wait for the array and write the summaries."),
    extend: bool = typer.Option(
        False,
        "--extend",
        help="Continue a finished run made from this spec with fewer training.steps (or epochs) to the spec's "
        "length, every seed from its final checkpoint (recorded in extensions.json).",
    ),
) -> None:
    """Train every model and seed of a spec (every cell of its grid), evaluate, and write the run directory
    (resumes if it exists)."""
    from ica.cli.run_output import announcing, run_result
    from ica.running.dispatch import check_run_options, execute
    from ica.running.extension import extend as extend_run

    check_run_options(device, workers, threads, executor)
    if dry_run:
        import ica
        from ica.running.validate import plan, plan_packs
        from ica.spec.draws import draw_list

        render.plan_table(plan(spec), plan_packs(spec), draw_list(ica.load_spec(spec)))
        return
    slurm = None
    if executor != "local":
        from ica.running.slurm import SlurmOptions

        slurm = SlurmOptions(
            cluster=executor.removeprefix("submitit-"),
            partition=partition,
            timeout_min=time_min,
            gpus_per_node=gpus,
            cpus_per_task=cpus,
            array_parallelism=array_parallelism,
            wait=wait,
        )
    with render.RunProgress() as progress:
        result = (extend_run if extend else execute)(
            spec,
            out,
            device=device,
            workers=workers,
            threads=threads,
            executor=executor,
            slurm=slurm,
            on_event=announcing(progress.event, auto_workers=workers is None),
        )
    run_result(result)


from ica.cli.results import results_command  # noqa: E402  (a command module of its own)

app.command("results")(user_errors(results_command))

from ica.cli.report import report_command  # noqa: E402  (a command module of its own)

app.command("report")(user_errors(report_command))

from ica.cli.status import status_command  # noqa: E402  (a command module of its own)

app.command("status")(user_errors(status_command))

from ica.cli.encode import encode_command  # noqa: E402  (a command module of its own)

app.command("encode")(user_errors(encode_command))

from ica.cli.score import score_command  # noqa: E402  (a command module of its own)

app.command("score")(user_errors(score_command))

from ica.cli.new import new_app, plugin_command  # noqa: E402  (a command module of its own)

new_app.command("plugin")(user_errors(plugin_command))
app.add_typer(new_app, name="new")


def main() -> None:
    """Console-script entry point."""
    app()
