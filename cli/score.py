"""``ica score EMBEDDINGS... --out DIR``: identifiability numbers for embeddings made by anything.

Each input is an ``.npz`` or ``.npy`` holding one seed's embedding ``[N, d]`` or several ``[S, N, d]`` (an
``ica encode`` output, with its ``seeds`` and ``assignments``, is one such file), all of the same N points in
the same order. The metrics are a run's (`ica.score`); ``DIR`` becomes a run-like directory that ``ica
results`` and ``ica report`` read (`ica.trained.score_directory`), and the numbers are printed.

A file's own ``seeds`` name its embeddings, one whole number per embedding, none twice; a file whose ``seeds``
do not is refused unless ``--seeds`` names them. Files of different runs naming the same seeds are scored as
seeds 0..S-1, with a notice. Identical embeddings (the same file given twice, or twice in one file) are warned
of, naming them: their pairs would score 1.0 and measure nothing.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, List, Optional

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from ica.cli import render
from ica.cli.arrays import INTEGERS, ArrayFile, file_sha256, pick, read_arrays, seed_list
from ica.errors import DataError
from ica.spec.models import MAX_SEED


def score_command(
    embeddings: List[Path] = typer.Argument(..., help="Embedding files: one per seed [N, d], or [S, N, d]."),
    out: Path = typer.Option(..., "--out", help="The directory to write (new or empty)."),
    sources: Optional[Path] = typer.Option(None, "--sources", help="True sources [N, d_s] (key s)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="True discrete u [N] (key u)."),
    observations: Optional[Path] = typer.Option(
        None, "--observations", help="The points themselves [N, ...] (key x): MCC's floors, with --sources."
    ),
    key: Optional[str] = typer.Option(None, "--key", help="Key of the embedding in each file (default latents)."),
    seeds: Optional[str] = typer.Option(
        None, "--seeds", help="Names of the seeds, e.g. 0,1,2 (default: the files' own `seeds`, else 0..S-1)."
    ),
    name: str = typer.Option("embeddings", "--name", help="The method's name, shown as the model in results."),
) -> None:
    """Score embeddings from any library with a run's metrics and write a directory `ica results` reads."""
    import ica
    from ica.trained.score_directory import check_name, check_out
    from ica.trained.scoring import IdenticalEmbeddings, identical

    check_name(name, "--name")
    check_out(out)
    given_seeds = None if seeds is None else seed_list(seeds)
    files = _Files()
    z, named, assignments, origins = _embeddings(embeddings, key, files, own_seeds=given_seeds is None)
    chosen = given_seeds if given_seeds is not None else named
    given = [
        (what, path, conventional)
        for what, path, conventional in (
            ("sources", sources, "s"),
            ("labels", labels, "u"),
            ("observations", observations, "x"),
        )
        if path is not None
    ]
    extra = {what: pick(files.arrays(path), path, None, conventional) for what, path, conventional in given}
    inputs = {
        "embeddings": [{"file": str(p), "sha256": files.sha256(p)} for p in embeddings],
        **{what: {"file": str(path), "sha256": files.sha256(path)} for what, path, _ in given},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdenticalEmbeddings)  # said below, naming the files
        summary = ica.score(
            z,
            sources=extra.get("sources"),
            labels=extra.get("labels"),
            assignments=assignments,
            observations=extra.get("observations"),
            seeds=chosen,
            out=out,
            name=name,
            inputs=inputs,
        )
    render.console.print(_table(summary, name, len(z)))
    floors = {k: v for k, v in summary.get("cell", {}).items() if k.startswith("mcc_") and v is not None}
    if floors:  # what the observations themselves and FastICA score on the same points
        render.console.print("MCC floors (same points): " + ", ".join(f"{k[4:]} {v:.3f}" for k, v in floors.items()))
    for group in identical(z):
        shown = ", ".join(origins[i] for i in group)
        render.warning(
            f"{shown} are identical embeddings: their pairs score as an embedding with itself (1.0), measuring nothing"
        )
    render.console.print(f"wrote {escape(str(out))}: `ica results {escape(str(out))}` and `ica report` read it")


class _Files:
    """Each input file opened (and hashed) once, though it may be given as sources, labels and observations."""

    def __init__(self) -> None:
        self._arrays: dict[Path, ArrayFile] = {}
        self._digests: dict[Path, str] = {}

    def arrays(self, path: Path) -> ArrayFile:
        if path not in self._arrays:
            self._arrays[path] = read_arrays(path)
        return self._arrays[path]

    def sha256(self, path: Path) -> str:
        if path not in self._digests:
            self._digests[path] = file_sha256(path)
        return self._digests[path]


def _embeddings(
    paths: list[Path], key: str | None, files: _Files, own_seeds: bool
) -> tuple[list[np.ndarray], list[int] | None, Any, list[str]]:
    """Each file's embeddings (a seed axis added where a file holds one), the seeds the files name (where
    ``own_seeds`` and every file names its own), their assignments, and where each embedding came from."""
    z: list[np.ndarray] = []
    seeds: list[list[int] | None] = []
    assignments: list[np.ndarray | None] = []
    origins: list[str] = []
    for path in paths:
        arrays = files.arrays(path)
        array = pick(arrays, path, key, "latents", "--key")
        if array.ndim not in (2, 3):
            raise DataError(
                f"holds an embedding of shape {list(array.shape)}; give [N, d] or [S, N, d]", where=str(path)
            )
        block = array if array.ndim == 3 else array[None]
        z.extend(block)
        origins += [str(path)] if array.ndim == 2 else [f"{path} (embedding {i})" for i in range(len(block))]
        seeds.append(_file_seeds(arrays, len(block)) if own_seeds and "seeds" in arrays else None)
        assignments.append(_assignments(arrays, block.shape[:2]) if "assignments" in arrays else None)
    named_groups = [group for group in seeds if group is not None]
    named = [s for group in named_groups for s in group] if len(named_groups) == len(seeds) else None
    if named is not None and len(set(named)) != len(named):
        render.errors.print(
            "[yellow]notice:[/] the files name the same seeds (files of different runs): the "
            f"{len(named)} embeddings are scored as seeds 0..{len(named) - 1}",
            highlight=False,
        )
        named = None
    given = [a for a in assignments if a is not None]
    clusters = np.concatenate(given) if len(given) == len(assignments) else None
    return z, named, clusters, origins


def _file_seeds(arrays: ArrayFile, count: int) -> list[int]:
    """A file's own ``seeds``: one whole number >= 0 per embedding, each once (else the file is refused: give
    --seeds to name them instead)."""
    header = arrays.headers["seeds"]
    if header.dtype.kind not in INTEGERS:
        raise arrays.error(f"its 'seeds' hold {header.dtype} values, not seed numbers; give --seeds to name the seeds")
    found = arrays.load("seeds", INTEGERS, "integers").reshape(-1).tolist()
    if len(found) != count or len(set(found)) != len(found) or any(not 0 <= s <= MAX_SEED for s in found):
        raise arrays.error(
            f"its 'seeds' {found[:10]}{' ...' if len(found) > 10 else ''} do not name its {count} "
            "embeddings once each (one whole number from 0 to 2**63 - 1 per embedding, none twice); "
            "give --seeds to name the seeds"
        )
    return found


def _assignments(arrays: ArrayFile, shape: tuple[int, int]) -> np.ndarray:
    """A file's ``assignments``, one cluster per point of each of its embeddings ``[S, N]``."""
    found = arrays.load("assignments")
    if found.shape != shape and found.shape != (shape[1:] if shape[0] == 1 else None):
        raise arrays.error(
            f"its 'assignments' have shape {list(found.shape)}; for its embeddings they must be "
            f"{list(shape)}, one cluster per point and embedding"
        )
    return found.reshape(shape)


def _table(summary: dict[str, Any], name: str, seeds: int) -> Table:
    table = Table(title=escape(f"{name}: {seeds} seeds"))
    for column in ("metric", "median", "q25", "q75", "n", "failed"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    show = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    for metric, stats in summary["stats"].items():
        table.add_row(
            escape(metric),
            show(stats["median"]),
            show(stats["q25"]),
            show(stats["q75"]),
            str(stats["n"]),
            str(stats["n_failed"]),
        )
    return table
