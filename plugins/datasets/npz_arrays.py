"""The arrays of one ``.npz`` file, read and checked: observations and sources as finite float32, labels as
non-negative int64 whole numbers (a continuous u as finite float32 ``[N, d_u]``), the time order as int64
recording indices ``[N]`` whose recordings are each contiguous, all with the same number of rows; each refusal
is a `DataError` naming the key option of the array at fault."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch

from ica.plugin import DataError, sequence_problem
from ica.plugins.datasets.npz_files import opened_archive
from ica.plugins.datasets.npz_headers import check_header


class ArrayKeys(Protocol):
    """The options that name a file's arrays (`ica.plugins.datasets.npz.NPZOptions` has them)."""

    x_key: str
    u_key: str | None
    sources_key: str | None
    sequence_key: str | None
    u_kind: Literal["discrete", "continuous"]


def read_array(archive: Any, file: Path, key: str, where: str) -> np.ndarray:
    """Array ``key`` of an open archive, its header checked before numpy allocates it (`check_header`)."""
    check_header(archive, file, key, where)
    try:
        return archive[key]
    except ValueError as exc:
        if "pickle" in str(exc) or "Object arrays" in str(exc):
            message = f"{file}: array {key!r} holds Python objects, which are not supported"
            raise DataError(message, where=where) from None
        raise DataError(f"{file}: array {key!r} cannot be read ({exc})", where=where) from None
    except MemoryError:
        raise DataError(f"{file}: array {key!r} does not fit in memory", where=where) from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{file}: array {key!r} cannot be read ({exc})", where=where) from None


def load_file(options: ArrayKeys, path: str, where: str, wanted: dict[str, bool | None]) -> dict[str, Any]:
    """The arrays of one file: ``wanted`` maps each variable to True (must be present), False (read when
    present) or None (not read)."""
    keys = {"x": options.x_key, "u": options.u_key, "s": options.sources_key, "sequence": options.sequence_key}
    with opened_archive(path, where) as (file, archive):
        out: dict[str, Any] = {"file": file}
        present = sorted(archive.files)
        for var, key in keys.items():
            if key is None or wanted[var] is None:
                out[var] = None
                continue
            if key not in present:
                if wanted[var]:
                    raise DataError(
                        f"{file} has no array {key!r}; keys present: {present}", where=f"data.{key_field(var)}"
                    )
                out[var] = None
                continue
            out[var] = read_array(archive, file, key, where=f"data.{key_field(var)}")
    return out


def key_field(var: str) -> str:
    return {"x": "x_key", "u": "u_key", "s": "sources_key", "sequence": "sequence_key"}[var]


def first_bad_row(bad: np.ndarray) -> int:
    rows = bad.reshape(bad.shape[0], -1).any(axis=1)
    return int(np.argmax(rows))


def as_floats(array: np.ndarray, file: Path, key: str, var: str) -> np.ndarray:
    where = f"data.{key_field(var)}"
    if array.dtype == np.bool_:
        array = array.astype(np.float32)
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise DataError(f"{file}: array {key!r} has dtype {array.dtype}, which is not real numbers", where=where)
    with np.errstate(over="ignore"):  # values beyond float32's range become inf and are reported below
        out = np.ascontiguousarray(array, dtype=np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        raise DataError(
            f"{file}: array {key!r} has {int(bad.sum())} non-finite value(s) (as float32), "
            f"the first in row {first_bad_row(bad)}",
            where=where,
        )
    return out


def as_labels(array: np.ndarray, file: Path, key: str) -> np.ndarray:
    where = "data.u_key"
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise DataError(f"{file}: array {key!r} must have shape [N] (or [N, 1]), got {list(array.shape)}", where=where)
    if array.dtype == np.bool_ or np.issubdtype(array.dtype, np.integer):
        if np.issubdtype(array.dtype, np.unsignedinteger):  # before astype(int64), which wraps 2**64-1 to -1
            refuse_large(array, array > np.iinfo(np.int64).max, file, key, "2**63 - 1")
        labels = array.astype(np.int64)
    elif np.issubdtype(array.dtype, np.floating):
        whole = np.isfinite(array) & (array == np.round(array))
        if not whole.all():
            bad = np.flatnonzero(~whole)
            raise DataError(
                f"{file}: array {key!r} must hold whole numbers; {bad.size} value(s) are not, "
                f"the first {array[bad[0]]!r} in row {int(bad[0])} (a continuous u, such as a position or "
                'a speed, is declared with "u_kind": "continuous")',
                where=where,
            )
        refuse_large(array, np.abs(array) >= 2.0**62, file, key, "2**62 in size as floats")
        labels = array.astype(np.int64)
    else:
        raise DataError(f"{file}: array {key!r} has dtype {array.dtype}; labels must be whole numbers", where=where)
    negative = np.flatnonzero(labels < 0)
    if negative.size:
        raise DataError(
            f"{file}: array {key!r} has {negative.size} negative label(s), the first in row {int(negative[0])}",
            where=where,
        )
    return labels


def as_continuous(array: np.ndarray, file: Path, key: str) -> np.ndarray:
    """A continuous u as finite float32 ``[N, d_u]`` (``[N]`` becomes one column); nothing is relabelled."""
    if array.ndim not in (1, 2) or (array.ndim == 2 and array.shape[1] == 0):
        raise DataError(
            f"{file}: array {key!r} must have shape [N] or [N, d_u] with d_u >= 1, got {list(array.shape)}",
            where="data.u_key",
        )
    return as_floats(array.reshape(array.shape[0], -1), file, key, "u")


def as_sequence(array: np.ndarray, file: Path, key: str, rows: int) -> np.ndarray:
    """The time order as int64 ``[N]``: whole numbers (integer dtypes only), one per row, each recording's rows
    contiguous (`sequence_problem`); anything else is one `DataError` naming the file and the array."""
    where = "data.sequence_key"
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise DataError(
            f"{file}: array {key!r} has dtype {array.dtype}; a sequence holds whole numbers (an integer dtype), "
            "the recording of each row (an array of that name that is not a time order is ignored with "
            '"sequence_key": null)',
            where=where,
        )
    if np.issubdtype(array.dtype, np.unsignedinteger):
        refuse_large(array, array > np.iinfo(np.int64).max, file, key, "2**63 - 1", where=where)
    sequence = np.ascontiguousarray(array, dtype=np.int64)
    problem = sequence_problem(torch.from_numpy(sequence), rows)
    if problem is not None:
        raise DataError(
            f"{file}: array {key!r} (the time order of the {rows} rows): {problem} (an array of that name that is "
            'not a time order is ignored with "sequence_key": null)',
            where=where,
        )
    return sequence


def refuse_large(
    array: np.ndarray, large: np.ndarray, file: Path, key: str, limit: str, where: str = "data.u_key"
) -> None:
    """One error for labels beyond what int64 labels can hold (``limit`` says the bound)."""
    rows = np.flatnonzero(large)
    if rows.size:
        raise DataError(
            f"{file}: array {key!r} has {rows.size} label(s) too large (above {limit}), the first "
            f"{array[rows[0]].item()!r} in row {int(rows[0])}",
            where=where,
        )


def checked(raw: dict[str, Any], options: ArrayKeys) -> dict[str, Any]:
    """Arrays of one file as x float32 [N, ...], u int64 [N] (continuous: float32 [N, d_u]) or None, s float32
    [N, d_s] or None, sequence int64 [N] or None."""
    file = raw["file"]
    x = raw["x"]
    if x.ndim < 2:
        raise DataError(
            f"{file}: array {options.x_key!r} must be at least 2-D [N, ...], got shape {list(x.shape)}",
            where="data.x_key",
        )
    if 0 in x.shape[1:]:
        raise DataError(
            f"{file}: array {options.x_key!r} has shape {list(x.shape)}: its rows hold no values (every axis after "
            "the first must have at least one entry)",
            where="data.x_key",
        )
    x = as_floats(x, file, options.x_key, "x")
    # `load_file` reads u and s only by their keys: a null key leaves them None
    u, u_key = raw["u"], options.u_key
    if u is None or u_key is None:
        u = None
    else:
        u = as_continuous(u, file, u_key) if options.u_kind == "continuous" else as_labels(u, file, u_key)
    s = raw["s"]
    if s is not None and options.sources_key is not None:
        if s.ndim != 2:
            raise DataError(
                f"{file}: array {options.sources_key!r} must be 2-D [N, d_s], got shape {list(s.shape)}",
                where="data.sources_key",
            )
        if s.shape[1] == 0:
            raise DataError(
                f"{file}: array {options.sources_key!r} has shape {list(s.shape)}: no sources (give at least one "
                'column, or "sources_key": null for none)',
                where="data.sources_key",
            )
        s = as_floats(s, file, options.sources_key, "s")
    for var, array, key in (("u", u, options.u_key), ("s", s, options.sources_key)):
        if array is not None and array.shape[0] != x.shape[0]:
            raise DataError(
                f"{file}: array {key!r} has {array.shape[0]} rows but {options.x_key!r} has {x.shape[0]}",
                where=f"data.{key_field(var)}",
            )
    sequence = raw.get("sequence")
    if sequence is not None and options.sequence_key is not None:
        sequence = as_sequence(sequence, file, options.sequence_key, x.shape[0])
    return {"file": file, "x": x, "u": u, "s": s, "sequence": sequence}
