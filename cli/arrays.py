"""Reading the user's inputs for ``ica encode`` and ``ica score``: ``.npz`` or ``.npy`` files, never unpickled,
and the ``--seeds`` they name.

A file is read whole into named arrays (an ``.npy`` file's one array is named by the file's stem); an array is
then picked by the key the user gave, else the conventional key (``x``, ``u``, ``s``, ``latents``), else the
file's only array. Every failure is one `DataError` naming the file.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np

from ica.errors import DataError, IcaError


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of ``path`` (``.npz``: by key; ``.npy``: its one array under the file's stem)."""
    if not path.is_file():
        raise DataError("is not a file", where=str(path))
    try:
        if path.suffix == ".npy":
            return {path.stem: np.load(path, allow_pickle=False)}
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.keys()}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"cannot be read as an .npz or .npy of plain arrays ({type(exc).__name__}: {exc})",
                        where=str(path)) from None


def pick(arrays: dict[str, np.ndarray], path: Path, key: str | None, conventional: str) -> np.ndarray:
    """The array named ``key``, else the one named ``conventional``, else the file's only array."""
    if key is not None:
        if key not in arrays:
            raise DataError(f"has no array {key!r}; arrays present: {', '.join(arrays) or 'none'}", where=str(path))
        return arrays[key]
    if conventional in arrays:
        return arrays[conventional]
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    raise DataError(f"holds {len(arrays)} arrays ({', '.join(arrays) or 'none'}) and none is named "
                    f"{conventional!r}: say which with its --*-key option", where=str(path))


def file_sha256(path: Path) -> str:
    """The file's SHA-256, read in blocks (an input may be larger than memory allows twice)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def seed_list(text: str, allowed: str = "integers separated by commas") -> list[int]:
    """``--seeds`` as integers, e.g. ``0,3``; ``allowed`` says what the option takes, for the message."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise IcaError(f"--seeds must be {allowed}, not {text!r}", where="--seeds") from None
