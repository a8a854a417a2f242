"""``ica encode RUN_DIR --data new.npz --out latents.npz``: a trained model of a run applied to new data.

The input is an ``.npz`` with the observations under ``x`` (and u under ``u`` where the model needs it),
as the ``npz`` data set reads them; nothing in it may execute code (``allow_pickle=False``). The output,
written atomically and never inside a run directory, holds ``latents`` ``[S, N, d_z]`` (the seed axis always
there, in the order of ``seeds``), ``seeds``, and ``assignments`` ``[S, N]`` where the model has discrete u. On a
terminal, inputs of 100,000 rows or more show a progress bar.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ica.cli import render
from ica.cli.arrays import pick, read_arrays, seed_list
from ica.errors import IcaError


def encode_command(
    run_dir: Path = typer.Argument(..., help="The run directory (a grid's cell: its sub-directory)."),
    data: Path = typer.Option(..., "--data", help="The .npz of new observations."),
    out: Path = typer.Option(..., "--out", help="Where to write the latents (.npz)."),
    model: Optional[str] = typer.Option(None, "--model", help="The model's label (needed when the run has several)."),
    seeds: str = typer.Option("all", "--seeds", help="'all', or the seeds to use, e.g. 0,3."),
    x_key: str = typer.Option("x", "--x-key", help="Key of the observations in --data."),
    u_key: str = typer.Option("u", "--u-key", help="Key of u in --data, used where it is present."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
) -> None:
    """Encode new data with a trained model: posterior means per seed, and cluster assignments."""
    import ica
    from ica.rundir.enclosing import enclosing_run_directory
    from ica.rundir.writing import save_npz

    if out.is_dir():
        raise IcaError("is a directory; give the file to write", where=str(out))
    inside = enclosing_run_directory(out)
    if inside is not None:
        raise IcaError(f"lies inside the run directory {inside}, whose files are the run's record; ica encode "
                       "writes its latents elsewhere", where=str(out))
    chosen = None if seeds == "all" else seed_list(seeds, "'all' or integers separated by commas")
    inputs = read_arrays(data)
    arrays = {"x": pick(inputs, data, x_key, "x")}
    if u_key in inputs:
        arrays["u"] = inputs[u_key]
    trained = ica.load(run_dir, model=model, seeds=chosen, device=device)
    with rows_progress(len(arrays["x"]), f"encoding with {trained.label}") as advance:
        rep = trained.represent(arrays["x"], arrays.get("u"), progress=advance)
    result = {"latents": rep.latents.numpy(), "seeds": np.asarray(trained.seeds, dtype=np.int64)}
    if rep.assignments is not None:
        result["assignments"] = rep.assignments.numpy()
    save_npz(out, **result)
    render.console.print(f"encoded {rep.latents.shape[1]} rows with {trained.label!r} "
                         f"(seeds {', '.join(map(str, trained.seeds))}) -> {out}")


PROGRESS_FROM = 100_000
"""Inputs of this many rows get a progress bar on a terminal (smaller ones take a moment)."""


@contextmanager
def rows_progress(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """A function to call with each number of rows done: a rich bar on a terminal for large inputs."""
    if not render.console.is_terminal or total < PROGRESS_FROM:
        yield lambda rows: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=render.console) as bar:
        task = bar.add_task(escape(description), total=total)
        yield lambda rows: bar.advance(task, rows)
