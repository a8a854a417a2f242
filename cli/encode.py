"""``ica encode RUN_DIR --data new.npz --out latents.npz``: a trained model of a run applied to new data.

The input is read as ``ica score`` reads its files (`ica.cli.arrays`): an ``.npz`` with the observations under
``x`` (or its only array; ``--x-key`` names another) and u under ``u`` where the model needs it, or an ``.npy``
holding x alone, with u, where needed, in a file of its own (``--u``: an ``.npy``, or an ``.npz`` with ``u`` or
one array); nothing in them may execute code (``allow_pickle=False``). u given twice is refused. The output,
written atomically and never inside a run directory, holds ``latents`` ``[S, N, d_z]`` (the seed axis always
there, in the order of ``seeds``), ``seeds``, and ``assignments`` ``[S, N]`` where the model has discrete u. On a
terminal, inputs of 100,000 rows or more show a progress bar.

``--out`` never replaces a file ``ica encode`` did not write, nor an input: an existing file is replaced only if
it is an earlier output, told by the arrays it holds (read from the zip's headers, never unpickled): ``latents``
and ``seeds``, perhaps ``assignments``, and the marker ``ica_encode`` (the layout's version, 1) that outputs
carry since it was added; an output written before then (no marker) is recognised by the other arrays alone.
Memory is checked before it is used: the input by its arrays' headers (`ica.cli.arrays`), the output by the
latents of one row times the rows and seeds. Latents that are not finite are refused, never written.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ica.cli import render
from ica.cli.arrays import ArrayFile, check_memory, pick, read_arrays, seed_list, size
from ica.errors import DataError, IcaError, SpecError


def encode_command(
    run_dir: Path = typer.Argument(..., help="The run directory (a grid's cell: its sub-directory)."),
    data: Path = typer.Option(..., "--data", help="The .npz (x, and u where needed) or .npy (x) of new observations."),
    out: Path = typer.Option(..., "--out", help="Where to write the latents (.npz)."),
    model: Optional[str] = typer.Option(None, "--model", help="The model's label (needed when the run has several)."),
    seeds: str = typer.Option("all", "--seeds", help="'all', or the seeds to use, e.g. 0,3."),
    x_key: Optional[str] = typer.Option(
        None, "--x-key", help="Key of the observations in --data (default x, or its only array)."
    ),
    u_key: Optional[str] = typer.Option(
        None, "--u-key", help="Key of u in --u, or in an .npz --data (default u, used where present)."
    ),
    u_file: Optional[Path] = typer.Option(
        None, "--u", help="A file holding u (.npy, or .npz with u or one array), where --data does not hold it."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
) -> None:
    """Encode new data with a trained model: posterior means per seed, and cluster assignments."""
    import ica
    from ica.rundir.writing import save_npz

    check_device(device)
    check_out(out, data, u_file)
    chosen = None if seeds == "all" else seed_list(seeds, "'all' or integers separated by commas")
    inputs = read_arrays(data)
    arrays = {"x": pick(inputs, data, x_key, "x", "--x-key")}
    u = read_u(inputs, u_file, u_key)
    if u is not None:
        arrays["u"] = u
    trained = ica.load(run_dir, model=model, seeds=chosen, device=device)
    if u is None and trained.needs_u:
        where = "it holds x alone" if inputs.single else "it has no array 'u'"
        what = "one whole number per row" if trained.u_dim is None else f"[N, {trained.u_dim}] numbers"
        raise IcaError(
            f"model {trained.label!r} encodes x together with u, and --data gives none ({where}): give u "
            f"({what}) with --u FILE, or under 'u' in an .npz --data",
            where="--u",
        )
    check_memory_for(trained, arrays, data)
    with rows_progress(rows(arrays["x"]), f"encoding with {trained.label}") as advance:
        rep = trained.represent(arrays["x"], arrays.get("u"), progress=advance)
    result = {
        "latents": finite(rep.latents.numpy(), trained.label, data),
        "seeds": np.asarray(trained.seeds, dtype=np.int64),
        MARKER: np.asarray(LAYOUT, dtype=np.int64),  # 0-d, as np.savez writes a scalar
    }
    if rep.assignments is not None:
        result["assignments"] = rep.assignments.numpy()
    check_out(out, data, u_file)  # again: the file may have appeared while encoding
    save_npz(out, **result)
    render.console.print(
        f"encoded {rep.latents.shape[1]} rows with {trained.label!r} "
        f"(seeds {', '.join(map(str, trained.seeds))}) -> {escape(str(out))}"
    )


MARKER, LAYOUT = "ica_encode", 1
"""The array every output holds, and its value: the version of the layout (latents, seeds, assignments)."""
OUTPUT_ARRAYS = {"latents", "seeds", "assignments"}


def read_u(inputs: ArrayFile, u_file: Path | None, u_key: str | None) -> np.ndarray | None:
    """u from ``--u`` (``u_key``, else ``u``, else its only array), else from an .npz ``--data`` under ``u_key``
    (default ``u``, used where present); an .npy ``--data`` holds x alone. u in both is refused."""
    key = None if inputs.single else (u_key or "u")
    if u_file is not None:
        if key is not None and key in inputs:
            raise IcaError(
                f"{inputs.path} holds u too (array {key!r}); give u once: in --data, or with --u", where="--u"
            )
        return pick(read_arrays(u_file), u_file, u_key, "u", "--u-key")
    if inputs.single and u_key is not None:
        raise IcaError(f"{inputs.path} is an .npy, which holds x alone: give u with --u FILE", where="--u-key")
    if key is not None and (key in inputs or u_key is not None):
        return pick(inputs, inputs.path, key, "u", "--u-key")  # a --u-key that names no array is said, never ignored
    return None


def check_device(device: str) -> None:
    """``--device`` as a run resolves it (`ica.running.building.resolve_device`), said before any file is read."""
    from ica.running.building import resolve_device

    try:
        resolve_device(device)
    except SpecError as exc:
        raise IcaError(exc.message, where="--device") from None


def check_out(out: Path, data: Path, u_file: Path | None = None) -> None:
    """``out`` may be written: not a directory, a link, a run directory's file, an input, or a file of someone
    else's (only an earlier output of ``ica encode`` is replaced)."""
    from ica.rundir.enclosing import enclosing_run_directory

    if out.is_symlink():
        raise IcaError(
            "is a symbolic link; name the file itself (ica encode does not write through links)", where=str(out)
        )
    if out.is_dir():
        raise IcaError("is a directory; give the file to write", where=str(out))
    inside = enclosing_run_directory(out)
    if inside is not None:
        raise IcaError(
            f"lies inside the run directory {inside}, whose files are the run's record; ica encode "
            "writes its latents elsewhere",
            where=str(out),
        )
    if not out.parent.is_dir():
        raise IcaError(f"the folder {out.parent} does not exist", where=str(out))
    if not out.exists():
        return
    for option, given in (("--data", data), ("--u", u_file)):
        if given is not None and _same_file(out, given):
            raise IcaError(f"is the {option} file itself; write the latents to another file", where=str(out))
    if not is_encode_output(out):
        raise IcaError(
            "exists and is not an output of ica encode; refusing to replace it (choose another --out, "
            "or remove the file)",
            where=str(out),
        )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def is_encode_output(path: Path) -> bool:
    """Whether ``path`` holds what ``ica encode`` writes (from its arrays' headers; no data read)."""
    if not path.is_file():
        return False
    try:
        headers = read_arrays(path).headers
    except IcaError:
        return False
    names = set(headers) - {MARKER}
    if not {"latents", "seeds"} <= names <= OUTPUT_ARRAYS:
        return False
    latents, seeds = headers["latents"], headers["seeds"]
    return (
        latents.dtype.kind == "f"
        and len(latents.shape) == 3
        and seeds.dtype.kind in "iu"
        and seeds.shape == latents.shape[:1]
    )


def check_memory_for(trained: Any, arrays: dict[str, np.ndarray], data: Path) -> None:
    """Refuse an output that cannot fit in memory, from one row's latents, before encoding every row.

    The latents are held about four times at once (the pieces, their concatenation, the npz written to
    memory, its bytes), beside x as the model takes it (float32, and standardised)."""
    x, u = arrays["x"], arrays.get("u")
    if rows(x) == 0:
        return  # no rows: encoding says what x must be
    try:
        one = trained.represent(x[:1], u[:1] if u is not None and u.ndim > 0 else u)
    except IcaError:
        return  # x or u is refused: encoding them whole says why, of the whole input
    count = rows(x)
    per_row = one.latents.numel() * 4 + (0 if one.assignments is None else one.assignments.numel() * 8)
    latents = count * per_row
    needed = 4 * latents + 2 * count * math.prod(trained.x_shape) * 4
    shape = [len(trained.seeds), count, *one.latents.shape[2:]]
    check_memory(
        needed,
        lambda free: IcaError(
            f"encoding its {count} rows with {len(trained.seeds)} seed(s) needs about {size(needed)} of memory "
            f"(latents {shape} of {size(latents)}, held several times while written), more than the {size(free)} "
            "this machine has available; encode the rows in parts, or fewer --seeds",
            where=str(data),
        ),
    )


def rows(x: np.ndarray) -> int:
    return x.shape[0] if x.ndim else 0


def finite(latents: np.ndarray, label: str, data: Path) -> np.ndarray:
    """``latents``, if every one is finite: NaN latents written to a file would pass for results."""
    bad = ~np.isfinite(latents).all(axis=tuple(i for i in range(latents.ndim) if i != 1))
    if bad.any():
        raise DataError(
            f"model {label!r} gives non-finite latents for {int(bad.sum())} of {len(bad)} rows (the "
            f"first: row {int(np.argmax(bad))}); x there is far outside what the model was trained on, "
            "or its weights are not finite; nothing was written",
            where=str(data),
        )
    return latents


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
