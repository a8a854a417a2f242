"""A run-like directory for embeddings scored by ``ica score``, so ``ica results`` and ``ica report`` read them
beside trained runs.

It has the files a finished run has, for one "model" (the method that made the embeddings) and one seed per
embedding: ``spec.json`` (what was scored: each input file's name and SHA-256, marked ``"scored": true``, with a
``spec_hash`` over all of it), ``summary.json`` and ``<label>/summary.json`` (the cell summary `ica.score`
returns), and per seed ``latents.npz`` (the embedding and its assignments) and a ``result.json`` marked
``scored`` (finished, no ELBO: nothing was trained) with the latents' SHA-256, checked when they are read back.
Nothing here can be resumed or loaded as a model; ``ica run`` refuses the directory (its spec hash is no spec's)
and `ica.load` says what it is.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
import unicodedata
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ica.errors import IcaError
from ica.rundir.enclosing import enclosing_run_directory
from ica.rundir.layout import RunLayout
from ica.rundir.record import write_record
from ica.rundir.names import plain_name
from ica.rundir.schemas import CellSummary, ResultFile, RunSpecFile, RunSummary
from ica.rundir.writing import safe_dir
from ica.running.outcomes import save_latents
from ica.spec.load import json_digest
from ica.spec.models import MAX_LABEL_LENGTH, RESERVED_NAMES


def check_out(out: Path) -> None:
    """``out`` may become a scored directory: new or empty (a link to one is followed, as the root a user names
    may be: clusters link scratch space), and not inside a run's directory."""
    if out.is_symlink() and not out.exists():
        raise IcaError(
            f"is a symbolic link to {os.readlink(out)}, which does not exist; create that folder or "
            "choose another --out",
            where=str(out),
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise IcaError(
            "already exists and is not an empty directory; choose a new directory for the scores", where=str(out)
        )
    inside = enclosing_run_directory(out / "summary.json")
    if inside is not None:
        raise IcaError(f"lies inside the run directory {inside}, whose files are the run's record", where=str(out))


OWN_NAMES = RESERVED_NAMES
"""Names of the files beside the method's folder: the method may not be named like one of them."""


def check_name(name: str, where: str) -> str:
    """The method's name as the folder of its seeds: a plain name, no control or invisible formatting characters
    (a newline would split every line that shows it), not hidden, not one of the run directory's own files."""
    try:
        plain_name(name, "the method's name")
    except ValueError as exc:
        raise IcaError(str(exc), where=where) from None
    odd = next((c for c in name if unicodedata.category(c).startswith("C")), None)
    if odd is not None:
        raise IcaError(
            f"the method's name {name!r} holds the control character {odd!r}; use printable characters", where=where
        )
    if name.startswith("."):
        raise IcaError(f"the method's name {name!r} starts with '.': it would be a hidden folder", where=where)
    if name.casefold() in OWN_NAMES:
        raise IcaError(
            f"the method's name {name!r} is a name the directory uses for its own files "
            f"({', '.join(sorted(OWN_NAMES))}); choose another",
            where=where,
        )
    if len(name) > MAX_LABEL_LENGTH:
        raise IcaError(f"the method's name is {len(name)} characters; at most {MAX_LABEL_LENGTH}", where=where)
    return name


def write_scored(
    out: Path,
    summary: dict[str, Any],
    embeddings: Sequence[np.ndarray],
    seeds: Sequence[int],
    assignments: np.ndarray | None,
    label: str,
    inputs: dict[str, Any],
) -> None:
    """Write the directory of ``summary`` (what `ica.score` returned) for ``embeddings`` of ``seeds``.

    It is built in a hidden folder beside it (``.<name>.partial-<pid>``) and renamed into place once complete;
    a folder left so by a killed ``ica score`` is removed by the next one writing beside it (`remove_stale`).

    Args:
        label: the method's name, used as the model's label and name (a plain directory name).
        inputs: what was scored, for people and for the spec hash (file names and digests, or "array").
    """
    check_name(label, "name")
    check_out(out)
    target = out.resolve() if out.is_symlink() else out  # the folder a link names: the link stays as it is
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)
    building = target.parent / f".{target.name}{PARTIAL}{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        _write(building, summary, embeddings, seeds, assignments, label, inputs)
        if target.exists():
            target.rmdir()  # empty (check_out): the rename below needs it gone
        os.rename(building, target)
    finally:
        shutil.rmtree(building, ignore_errors=True)


PARTIAL = ".partial-"
STALE_AFTER = 60.0
"""Seconds since a partial folder last changed before it may be taken for a killed writer's (with its pid gone)."""


def remove_stale(out: Path) -> None:
    """Remove the partial folders of ``out`` that killed runs of ``ica score`` left: named as `write_scored` names
    them, by a process that no longer runs on this machine, unchanged for a minute (a process of another machine
    writing to a shared folder keeps it changing), holding nothing but what ``ica score`` writes."""
    prefix = f".{out.name}{PARTIAL}"
    try:
        found = [p for p in out.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for folder in found:
        pid = folder.name[len(prefix) :]
        if pid.isdigit() and pid.isascii() and not _running(int(pid)) and _stale_scores(folder):
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (another user's too; a number no process has: kept as if)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        pass  # another user's process (no permission to signal it), or a number the system cannot take
    return True


def _stale_scores(folder: Path) -> bool:
    """Whether ``folder`` is a real folder, unchanged for `STALE_AFTER` seconds, of what `_write` writes only."""
    paths: list[Path] = [folder]
    unreadable: list[OSError] = []
    for root, dirs, files in os.walk(folder, onerror=unreadable.append):  # links are not followed
        paths += [Path(root, name) for name in dirs + files]
        if len(paths) > MAX_ENTRIES or unreadable:
            return False
    newest = 0.0
    for path in paths:
        try:
            info = os.lstat(path)
        except OSError:
            return False
        if stat.S_ISLNK(info.st_mode) or not _scored_path(path.relative_to(folder).parts, stat.S_ISDIR(info.st_mode)):
            return False
        newest = max(newest, info.st_mtime)
    return not unreadable and time.time() - newest > STALE_AFTER


MAX_ENTRIES = 100_000
"""More files than this in a partial folder: not one ``ica score`` left (it writes two per seed), so it is kept."""
WRITTEN = {1: {"spec.json", "summary.json"}, 2: {"summary.json"}, 4: {"latents.npz", "result.json"}}
"""The files `_write` writes, by depth: ``spec.json``, ``<label>/summary.json``, ``<label>/seeds/<n>/...``."""


def _scored_path(parts: tuple[str, ...], is_dir: bool) -> bool:
    """Whether a path (its parts below the folder) is one `_write` makes: a folder, a file, or a file's
    temporary (`ica.rundir.writing.atomic_write`'s ``.<name>.<random>.tmp``)."""
    in_seeds = len(parts) < 3 or (parts[1] == "seeds" and parts[2].isdigit())
    if is_dir:
        return len(parts) <= 3 and in_seeds and (len(parts) < 2 or parts[1] == "seeds")
    name = parts[-1]
    if name.startswith(".") and name.endswith(".tmp"):
        name = name[1:].rsplit(".", 2)[0]
    return in_seeds and name in WRITTEN.get(len(parts), set())


def _write(
    out: Path,
    summary: dict[str, Any],
    embeddings: Sequence[np.ndarray],
    seeds: Sequence[int],
    assignments: np.ndarray | None,
    label: str,
    inputs: dict[str, Any],
) -> None:
    layout = RunLayout(out)
    seeds = [int(s) for s in seeds]
    n, dims = int(embeddings[0].shape[0]), [int(e.shape[1]) for e in embeddings]
    body: dict[str, Any] = {
        "name": label,
        "scored": True,
        "data": {"name": "scored embeddings", "points": n, **inputs},
        "models": {label: {"name": label, "dims": dims}},
        "training": {},
        "seeds": seeds,
        "evaluation": {"split": "eval", "metrics": None},
        "device": "cpu",
    }
    digest = json_digest(body)
    cell = CellSummary(model=label, **summary, status={str(s): "finished" for s in seeds})
    for i, seed in enumerate(seeds):
        safe_dir(out, label, "seeds", str(seed))
        files = layout.seed(label, seed)
        arrays = {"latents": np.asarray(embeddings[i], dtype=np.float32)}
        if assignments is not None:
            arrays["assignments"] = np.asarray(assignments[i], dtype=np.int64)
        latents_digest = save_latents(files.latents, arrays)  # recorded, so a reader checks it as a run's latents
        write_record(
            files.result, ResultFile(seed=seed, status="finished", steps=0, scored=True, latents_sha256=latents_digest)
        )
    write_record(layout.cell_summary(label), cell)
    write_record(layout.spec, RunSpecFile(**body, spec_hash=digest))
    write_record(
        layout.summary,
        RunSummary(name=label, spec_hash=digest, device="cpu", split="eval", data=body["data"], cells={label: cell}),
    )
