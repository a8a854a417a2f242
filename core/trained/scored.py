"""A run-like directory for embeddings scored by ``ica score``, so ``ica results`` and ``ica report`` read them
beside trained runs.

It has the files a finished run has, for one "model" (the method that made the embeddings) and one seed per
embedding: ``spec.json`` (what was scored: each input file's name and SHA-256, marked ``"scored": true``, with a
``spec_hash`` over all of it), ``summary.json`` and ``<label>/summary.json`` (the cell summary `ica.score`
returns), and per seed ``latents.npz`` (the embedding and its assignments) and a ``result.json`` marked
``scored`` (finished, no ELBO: nothing was trained). Nothing here can be resumed or loaded as a model; ``ica
run`` refuses the directory (its spec hash is no spec's) and `ica.load` says what it is.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ica.errors import IcaError
from ica.rundir.enclosing import enclosing_run_directory
from ica.rundir.layout import RunLayout
from ica.rundir.schemas import plain_name
from ica.rundir.writing import safe_dir, save_npz, write_json
from ica.spec.load import json_digest


def check_out(out: Path) -> None:
    """``out`` may become a scored directory: new or empty, and not inside a run's directory."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise IcaError("already exists and is not an empty directory; choose a new directory for the scores",
                       where=str(out))
    inside = enclosing_run_directory(out / "summary.json")
    if inside is not None:
        raise IcaError(f"lies inside the run directory {inside}, whose files are the run's record",
                       where=str(out))


def write_scored(out: Path, summary: dict[str, Any], embeddings: Sequence[np.ndarray], seeds: Sequence[int],
                 assignments: np.ndarray | None, label: str, inputs: dict[str, Any]) -> None:
    """Write the directory of ``summary`` (what `ica.score` returned) for ``embeddings`` of ``seeds``.

    Args:
        label: the method's name, used as the model's label and name (a plain directory name).
        inputs: what was scored, for people and for the spec hash (file names and digests, or "array").
    """
    try:
        plain_name(label, "the method's name")
    except ValueError as exc:
        raise IcaError(str(exc), where="name") from None
    check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    building = out.parent / f".{out.name}.partial-{os.getpid()}"  # renamed into place once complete
    shutil.rmtree(building, ignore_errors=True)
    try:
        _write(building, summary, embeddings, seeds, assignments, label, inputs)
        if out.exists():
            out.rmdir()  # empty (check_out): the rename below needs it gone
        os.rename(building, out)
    finally:
        shutil.rmtree(building, ignore_errors=True)


def _write(out: Path, summary: dict[str, Any], embeddings: Sequence[np.ndarray], seeds: Sequence[int],
           assignments: np.ndarray | None, label: str, inputs: dict[str, Any]) -> None:
    layout = RunLayout(out)
    seeds = [int(s) for s in seeds]
    n, dims = int(embeddings[0].shape[0]), [int(e.shape[1]) for e in embeddings]
    body = {"name": label, "scored": True, "data": {"name": "scored embeddings", "points": n, **inputs},
            "models": {label: {"name": label, "dims": dims}}, "training": {}, "seeds": seeds,
            "evaluation": {"split": "eval", "metrics": None}, "device": "cpu"}
    digest = json_digest(body)
    cell = {"model": label, **summary, "status": {str(s): "finished" for s in seeds}}
    for i, seed in enumerate(seeds):
        safe_dir(out, label, "seeds", str(seed))
        files = layout.seed(label, seed)
        arrays = {"latents": np.asarray(embeddings[i], dtype=np.float32)}
        if assignments is not None:
            arrays["assignments"] = np.asarray(assignments[i], dtype=np.int64)
        save_npz(files.latents, **arrays)
        write_json(files.result, {"seed": seed, "status": "finished", "steps": 0, "scored": True})
    write_json(layout.cell_summary(label), cell)
    write_json(layout.spec, {**body, "spec_hash": digest})
    write_json(layout.summary, {"name": label, "spec_hash": digest, "device": "cpu", "split": "eval",
                                "data": body["data"], "cells": {label: cell}})
