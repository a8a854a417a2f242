"""Reading a finished seed's ``latents.npz`` back, checked, never unpickled.

The checksum its result.json records, then each array's header before any data is loaded (shape, dtype, size
against the bytes the file holds), then the values: a damaged file is a `RunFileError` naming it. Read by
`ica.running.outcomes.load_outcome`, `ica.reporting.rundirs`.
"""

from __future__ import annotations

import hashlib
import io
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ica.rundir.damage import LATENTS_ADVICE, RunFileError, read_bytes, damaged


LATENT_KEYS = ("latents", "assignments", "grid_shape")


@dataclass
class Latents:
    """A finished seed's ``latents.npz``, checked."""

    latents: np.ndarray
    assignments: np.ndarray | None
    grid_shape: tuple[int, ...] | None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_latents(path: Path, digest: str | None = None, rows: int | None = None) -> Latents:
    """A finished seed's latents, checked: the checksum its result.json records (when it records one), then
    every array's header before it is loaded (a 2-D floating ``latents`` of ``rows`` rows where known, 1-D
    integer ``assignments`` >= 0 of the same length, a ``grid_shape`` holding the latents), then the values
    (finite). Never unpickles."""
    raw = read_bytes(path, LATENTS_ADVICE)
    if digest is not None and sha256(raw) != digest:
        raise damaged(
            path,
            "its contents differ from what the seed wrote (the checksum in result.json does not match)",
            LATENTS_ADVICE,
        )
    try:
        arrays = _load_arrays(raw, path)
    except RunFileError:
        raise
    except Exception as exc:  # a truncated zip, an unreadable header, a pickle (refused)
        raise damaged(
            path, f"it cannot be read as the arrays ica wrote ({type(exc).__name__}: {exc})", LATENTS_ADVICE
        ) from None
    return _check_latents(path, arrays, rows)


def _load_arrays(raw: bytes, path: Path) -> dict[str, np.ndarray]:
    """The arrays ica reads from the file, each header checked against the bytes the file really holds."""
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        names = {n[:-4]: n for n in zf.namelist() if n.endswith(".npy")}
        if "latents" not in names:
            raise damaged(path, "it holds no 'latents' array", LATENTS_ADVICE)
        arrays = {}
        for key in LATENT_KEYS:
            if key not in names:
                continue
            info = zf.getinfo(names[key])
            with zf.open(info) as f:
                shape, dtype = array_header(f)
            if dtype.hasobject:
                raise damaged(path, f"'{key}' is an array of Python objects (ica writes numbers only)", LATENTS_ADVICE)
            if math.prod(shape) * dtype.itemsize > info.file_size:
                raise damaged(path, f"'{key}' claims shape {shape}, more than the file holds", LATENTS_ADVICE)
            with zf.open(info) as f:
                arrays[key] = np.lib.format.read_array(f, allow_pickle=False)
    return arrays


def array_header(f: Any) -> tuple[tuple[int, ...], np.dtype]:
    """An .npy member's shape and dtype, read before any of its data."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"an .npy format version ica does not read ({version})")
    return shape, dtype


def _check_latents(path: Path, arrays: dict[str, np.ndarray], rows: int | None) -> Latents:
    z = arrays["latents"]

    def bad(problem: str) -> RunFileError:
        return damaged(path, problem, LATENTS_ADVICE)

    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise bad(f"'latents' has shape {z.shape}, not (points, latent size)")
    if z.dtype.kind != "f":
        raise bad(f"'latents' are {z.dtype}, not floating-point numbers")
    if rows is not None and z.shape[0] != rows:
        raise bad(f"'latents' has {z.shape[0]} rows, but the evaluation split has {rows} points")
    if not np.isfinite(z).all():
        raise bad("'latents' hold non-finite values (a finished seed's latents are finite)")
    assignments = arrays.get("assignments")
    if assignments is not None:
        if assignments.ndim != 1 or assignments.dtype.kind not in "iu":
            raise bad(f"'assignments' are {assignments.dtype} of shape {assignments.shape}, not one integer per point")
        if assignments.shape[0] != z.shape[0]:
            raise bad(f"there are {assignments.shape[0]} 'assignments' for {z.shape[0]} points")
        if assignments.size and assignments.min() < 0:
            raise bad(f"'assignments' hold {assignments.min()}, not a cluster index (0 or more)")
    grid = arrays.get("grid_shape")
    shape = None
    if grid is not None:
        if grid.ndim != 1 or grid.dtype.kind not in "iu" or grid.size == 0 or (grid < 1).any():
            raise bad(f"'grid_shape' is {grid.tolist()!r}, not a list of positive sizes")
        shape = tuple(int(n) for n in grid)
        if math.prod(shape) != z.shape[1]:
            raise bad(f"'grid_shape' {list(shape)} does not hold the {z.shape[1]} latents per point")
    return Latents(z, assignments, shape)
