"""``ica score EMBEDDINGS... --out DIR``: identifiability numbers for embeddings made by anything.

Each input is an ``.npz`` or ``.npy`` holding one seed's embedding ``[N, d]`` or several ``[S, N, d]`` (an
``ica encode`` output, with its ``seeds`` and ``assignments``, is one such file), all of the same N points in
the same order. The metrics are a run's (`ica.score`); ``DIR`` becomes a run-like directory that ``ica
results`` and ``ica report`` read (`ica.trained.scored`), and the numbers are printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from ica.cli import render
from ica.cli.arrays import file_sha256, pick, read_arrays, seed_list
from ica.errors import DataError


def score_command(
    embeddings: List[Path] = typer.Argument(..., help="Embedding files: one per seed [N, d], or [S, N, d]."),
    out: Path = typer.Option(..., "--out", help="The directory to write (new or empty)."),
    sources: Optional[Path] = typer.Option(None, "--sources", help="True sources [N, d_s] (key s)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="True discrete u [N] (key u)."),
    observations: Optional[Path] = typer.Option(
        None, "--observations", help="The points themselves [N, ...] (key x): MCC's floors, with --sources."),
    key: Optional[str] = typer.Option(None, "--key", help="Key of the embedding in each file (default latents)."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Names of the seeds, e.g. 0,1,2 (default: the "
                                        "files' own `seeds`, else 0..S-1)."),
    name: str = typer.Option("embeddings", "--name", help="The method's name, shown as the model in results."),
) -> None:
    """Score embeddings from any library with a run's metrics and write a directory `ica results` reads."""
    import ica
    from ica.trained.scored import check_out

    check_out(out)
    files = _Files()
    z, named, assignments = _embeddings(embeddings, key, files)
    chosen = seed_list(seeds) if seeds is not None else named
    given = [(what, path, conventional) for what, path, conventional in
             (("sources", sources, "s"), ("labels", labels, "u"), ("observations", observations, "x"))
             if path is not None]
    extra = {what: pick(files.arrays(path), path, None, conventional) for what, path, conventional in given}
    inputs = {"embeddings": [{"file": str(p), "sha256": files.sha256(p)} for p in embeddings],
              **{what: {"file": str(path), "sha256": files.sha256(path)} for what, path, _ in given}}
    summary = ica.score(z, assignments=assignments, seeds=chosen, out=out, name=name, inputs=inputs, **extra)
    render.console.print(_table(summary, name, len(z)))
    floors = {k: v for k, v in summary.get("cell", {}).items() if k.startswith("mcc_") and v is not None}
    if floors:  # what the observations themselves and FastICA score on the same points
        render.console.print("MCC floors (same points): " + ", ".join(f"{k[4:]} {v:.3f}" for k, v in floors.items()))
    render.console.print(f"wrote {escape(str(out))}: `ica results {escape(str(out))}` and `ica report` read it")


class _Files:
    """Each input file read (and hashed) once, though it may be given as sources, labels and observations."""

    def __init__(self) -> None:
        self._arrays: dict[Path, dict[str, np.ndarray]] = {}
        self._digests: dict[Path, str] = {}

    def arrays(self, path: Path) -> dict[str, np.ndarray]:
        if path not in self._arrays:
            self._arrays[path] = read_arrays(path)
        return self._arrays[path]

    def sha256(self, path: Path) -> str:
        if path not in self._digests:
            self._digests[path] = file_sha256(path)
        return self._digests[path]


def _embeddings(paths: list[Path], key: str | None, files: _Files) -> tuple[list[np.ndarray], list[int] | None, Any]:
    """Each file's embeddings (a seed axis added where a file holds one), its seeds and its assignments."""
    z, seeds, assignments = [], [], []
    for path in paths:
        arrays = files.arrays(path)
        array = pick(arrays, path, key, "latents")
        if array.ndim not in (2, 3):
            raise DataError(f"holds an embedding of shape {list(array.shape)}; give [N, d] or [S, N, d]",
                            where=str(path))
        block = array if array.ndim == 3 else array[None]
        z.extend(block)
        seeds.append(arrays["seeds"].reshape(-1).tolist() if "seeds" in arrays and len(arrays["seeds"].reshape(-1))
                     == len(block) else None)
        found = arrays.get("assignments")
        assignments.append(None if found is None else (found if found.ndim == 2 else found[None]))
    named = None if any(s is None for s in seeds) else [int(s) for group in seeds for s in group]
    if named is not None and len(set(named)) != len(named):
        named = None  # files of different runs may both hold seed 0: then 0..S-1
    clusters = None if any(a is None for a in assignments) else np.concatenate(assignments)
    return z, named, clusters


def _table(summary: dict[str, Any], name: str, seeds: int) -> Table:
    table = Table(title=escape(f"{name}: {seeds} seeds"))
    for column in ("metric", "median", "q25", "q75", "n", "failed"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    show = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    for metric, stats in summary["stats"].items():
        table.add_row(escape(metric), show(stats["median"]), show(stats["q25"]), show(stats["q75"]),
                      str(stats["n"]), str(stats["n_failed"]))
    return table
