"""`npz`: the user's own arrays, from a NumPy ``.npz`` archive (``numpy.savez``), checked before any training.

Keys: ``x`` (``[N, ...]``, numeric; extra axes are kept as ``x_shape``), optionally ``u`` (``[N]`` or ``[N, 1]``,
non-negative whole numbers) and ``s`` (ground-truth sources ``[N, d_s]``). A default key that is absent means
the variable is absent; a key the user set explicitly must exist. Which variables exist is decided by the
training file: an evaluation file must hold them too (its other keys are ignored).

Evaluation split: the arrays of ``eval_path`` when given; otherwise the LAST ``round(N · eval_fraction)`` rows
of the file in file order (halves round up), the first rows being the training split. Nothing is shuffled.

Labels ``u`` are relabelled ``0..n_u-1`` in sorted order of the training split's distinct values
(``numpy.unique``); the evaluation split uses the same mapping, and a label it has that training lacks is an
error. The original labels are recorded in ``info["u_labels"]``. Files are read with ``allow_pickle=False``.
Standardisation is not done here (the core applies ``standardize``).
"""

from __future__ import annotations

import errno
import math
import os
import stat
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import numpy as np
import torch
from pydantic import model_validator

from ica.plugin import (
    BuildContext, DataError, DatasetOptions, DataSplits, Field, hookimpl, host_available, human, Split,
)


class NPZOptions(DatasetOptions):
    """Arrays from a .npz file; the evaluation split is a second file or the file's last rows."""

    path: str = Field(description="The .npz file (relative paths are resolved from the working directory).")
    x_key: str = Field("x", min_length=1, description="Key of the observations [N, ...].")
    u_key: str | None = Field(
        "u", min_length=1, description="Key of the auxiliary variable [N] (whole numbers ≥ 0); null for none."
    )
    sources_key: str | None = Field("s", min_length=1, description="Key of the true sources [N, d_s]; null for none.")
    eval_path: str | None = Field(None, description="A second .npz with the same keys used as the evaluation split.")
    eval_fraction: float = Field(
        0.2, gt=0, lt=1, description="Without eval_path: the last fraction of rows (in file order) held out."
    )
    require_u: bool = Field(False, description="Fail unless the file provides u.")

    def estimated_bytes(self) -> int | None:
        """Memory loading takes, from the arrays' .npy headers alone (nothing is loaded): each of x, u and s
        as stored plus as converted (float32 x and s, int64 u, and u's relabelled copy), both files. None when
        a file cannot be read: loading it then reports why."""
        total = 0
        for path in (self.path, self.eval_path):
            if path is None:
                continue
            headers = _file_headers(path, {"x": self.x_key, "u": self.u_key, "s": self.sources_key})
            if headers is None:
                return None
            total += sum(_loaded_bytes(var, header) for var, header in headers.items())
        return total

    @model_validator(mode="after")
    def _u_possible(self) -> "NPZOptions":
        if self.require_u and self.u_key is None:
            raise ValueError("require_u is true but u_key is null")
        return self


# --------------------------------------------------------------------------------------- reading
def _resolved(path: str, where: str) -> Path:
    """``path`` with ``~`` expanded, absolute and free of symlinks, naming ``where`` in any refusal."""
    if "\0" in path:
        raise DataError(f"{path!r} contains a NUL byte, which no file name can hold", where=where)
    try:
        expanded = Path(path).expanduser()
    except RuntimeError:  # ~user of a user that does not exist (or no home directory)
        raise DataError(f"{path!r}: the home directory in '~' cannot be found", where=where) from None
    try:
        return expanded.resolve()
    except RuntimeError:  # Python's own "Symlink loop"
        raise DataError(f"{expanded} is a symbolic link loop", where=where) from None
    except OSError as exc:
        raise DataError(f"{expanded} cannot be resolved ({exc.strerror or exc})", where=where) from None


KERNEL_FILE_SYSTEMS = (Path("/proc"), Path("/sys"))
"""Where Linux shows processes and devices as files: regular files by their mode, but no data set is one, and
reading some (``/proc/self/mem``) fails part-way with an input/output error."""


def _open_regular(path: Path, where: str) -> Any:
    """``path`` opened for reading, refused unless it is a regular file (never blocking on a FIFO)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError(f"data file {path} does not exist", where=where) from None
    except OSError as exc:
        loop = exc.errno == errno.ELOOP
        raise DataError(f"{path} is a symbolic link loop" if loop else f"{path} cannot be read ({exc.strerror})",
                        where=where) from None
    if not stat.S_ISREG(mode):
        kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket or other special file")
        raise DataError(f"{path} is not a regular file (it is {kind})", where=where)
    kernel = next((root for root in KERNEL_FILE_SYSTEMS if path.is_relative_to(root)), None)
    if kernel is not None:
        raise DataError(f"{path} is not a data file: it is in {kernel}, where the kernel shows its own state as "
                        "files", where=where)
    try:  # O_NONBLOCK: a FIFO swapped in after the stat still cannot block the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DataError(f"{path} cannot be read ({exc.strerror})", where=where) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        os.close(fd)
        raise DataError(f"{path} is not a regular file" if info.st_size else f"{path} is not a valid .npz file: it "
                        "is empty (0 bytes)", where=where)
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


@contextmanager
def _opened(path: str, where: str) -> Iterator[tuple[Path, Any]]:
    """The resolved path and the open archive; the file is closed afterwards whatever happens."""
    resolved = _resolved(path, where)
    handle = _open_regular(resolved, where)
    with handle:
        try:
            magic = handle.read(6)
            handle.seek(0)
        except OSError as exc:
            raise DataError(f"{resolved} cannot be read ({exc.strerror or exc})", where=where) from None
        if not magic.startswith((b"PK\x03\x04", b"PK\x05\x06")) and magic != b"\x93NUMPY":
            raise DataError(f"{resolved} is not a valid .npz file (it is not a zip archive)", where=where)
        try:
            archive = np.load(handle, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise DataError(f"{resolved} is not a valid .npz file ({exc})", where=where) from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(f"{resolved} holds a single .npy array, not a .npz archive of named arrays", where=where)
        with archive:
            yield resolved, archive


# ------------------------------------------------------------------------------------ array headers
class Header(NamedTuple):
    """What an array's .npy header claims, read without reading the array."""

    shape: tuple[int, ...]
    dtype: np.dtype
    data_bytes: int  # bytes of the member after its header: what the zip says the data are

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _member(archive_zip: zipfile.ZipFile, key: str) -> str | None:
    """The zip member holding array ``key`` (``key.npy``, or ``key`` itself as numpy also accepts)."""
    names = set(archive_zip.namelist())
    return next((m for m in (f"{key}.npy", key) if m in names), None)


def _header(archive_zip: zipfile.ZipFile, member: str) -> Header:
    """The header of ``member`` (raises ValueError and the zip module's errors when it is not one)."""
    info = archive_zip.getinfo(member)
    with archive_zip.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:  # 3.0 (utf-8 field names) has no public reader
            shape, _fortran, dtype = np.lib.format._read_array_header(f, version)
        try:
            offset = f.tell()
        except OSError:  # an unseekable archive: count the header as data (a few bytes of slack)
            offset = 0
    return Header(tuple(int(n) for n in shape), dtype, max(info.file_size - offset, 0))


def _check_header(archive: Any, file: Path, key: str, where: str) -> None:
    """Refuse an array whose header claims more data than its member holds or than memory can take,
    before numpy allocates it."""
    member = _member(archive.zip, key)
    if member is None:
        return  # numpy's own error follows
    try:
        header = _header(archive.zip, member)
    except (OSError, ValueError, EOFError, SyntaxError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{file}: array {key!r} has an unreadable header ({exc})", where=where) from None
    if header.dtype.hasobject:
        return  # refused as Python objects when read; its size says nothing
    shape = list(header.shape)
    if header.nbytes > header.data_bytes:
        raise DataError(
            f"{file}: array {key!r} claims shape {shape} of {header.dtype} ({human(header.nbytes)}), but the file "
            f"holds only {human(header.data_bytes)} of it: the file is truncated or its header is wrong", where=where
        )
    available = host_available()
    if available is not None and header.nbytes > available:
        raise DataError(
            f"{file}: array {key!r} of shape {shape} ({header.dtype}) would take {human(header.nbytes)} in memory, "
            f"but only {human(available)} is available on this machine", where=where
        )


def _file_headers(path: str, keys: dict[str, str | None]) -> dict[str, Header] | None:
    """The headers of the variables ``keys`` names that ``path`` holds, or None when it cannot be read."""
    try:
        resolved = _resolved(path, "data.path")
        with _open_regular(resolved, "data.path") as handle, zipfile.ZipFile(handle) as archive_zip:
            headers = {}
            for var, key in keys.items():
                member = None if key is None else _member(archive_zip, key)
                if member is not None:
                    headers[var] = _header(archive_zip, member)
            return headers
    except (DataError, OSError, ValueError, EOFError, SyntaxError, zipfile.BadZipFile, zlib.error):
        return None


def _loaded_bytes(var: str, header: Header) -> int:
    """Bytes variable ``var`` takes once loaded: as stored, plus its float32 (x, s) or int64 (u, twice) copy."""
    count = math.prod(header.shape)
    converted = count * 8 * 2 if var == "u" else count * 4
    return (0 if header.dtype.hasobject else header.nbytes) + converted


def _read(archive: Any, file: Path, key: str, where: str) -> np.ndarray:
    _check_header(archive, file, key, where)
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


def _load_file(options: NPZOptions, path: str, where: str, wanted: dict[str, bool | None]) -> dict[str, Any]:
    """The arrays of one file: ``wanted`` maps each variable to True (must be present), False (read when
    present) or None (not read)."""
    keys = {"x": options.x_key, "u": options.u_key, "s": options.sources_key}
    with _opened(path, where) as (file, archive):
        out: dict[str, Any] = {"file": file}
        present = sorted(archive.files)
        for var, key in keys.items():
            if key is None or wanted[var] is None:
                out[var] = None
                continue
            if key not in present:
                if wanted[var]:
                    raise DataError(
                        f"{file} has no array {key!r}; keys present: {present}", where=f"data.{_field(var)}"
                    )
                out[var] = None
                continue
            out[var] = _read(archive, file, key, where=f"data.{_field(var)}")
    return out


def _field(var: str) -> str:
    return {"x": "x_key", "u": "u_key", "s": "sources_key"}[var]


# ------------------------------------------------------------------------------------ validation
def _first_bad_row(bad: np.ndarray) -> int:
    rows = bad.reshape(bad.shape[0], -1).any(axis=1)
    return int(np.argmax(rows))


def _floats(array: np.ndarray, file: Path, key: str, var: str) -> np.ndarray:
    where = f"data.{_field(var)}"
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
            f"the first in row {_first_bad_row(bad)}",
            where=where,
        )
    return out


def _labels(array: np.ndarray, file: Path, key: str) -> np.ndarray:
    where = "data.u_key"
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise DataError(f"{file}: array {key!r} must have shape [N] (or [N, 1]), got {list(array.shape)}", where=where)
    if array.dtype == np.bool_ or np.issubdtype(array.dtype, np.integer):
        if np.issubdtype(array.dtype, np.unsignedinteger):  # before astype(int64), which wraps 2**64-1 to -1
            _refuse_large(array, array > np.iinfo(np.int64).max, file, key, "2**63 - 1")
        labels = array.astype(np.int64)
    elif np.issubdtype(array.dtype, np.floating):
        whole = np.isfinite(array) & (array == np.round(array))
        if not whole.all():
            bad = np.flatnonzero(~whole)
            raise DataError(
                f"{file}: array {key!r} must hold whole numbers; {bad.size} value(s) are not, "
                f"the first {array[bad[0]]!r} in row {int(bad[0])}",
                where=where,
            )
        _refuse_large(array, np.abs(array) >= 2.0**62, file, key, "2**62 in size as floats")
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


def _refuse_large(array: np.ndarray, large: np.ndarray, file: Path, key: str, limit: str) -> None:
    """One error for labels beyond what int64 labels can hold (``limit`` says the bound)."""
    rows = np.flatnonzero(large)
    if rows.size:
        raise DataError(
            f"{file}: array {key!r} has {rows.size} label(s) too large (above {limit}), the first "
            f"{array[rows[0]].item()!r} in row {int(rows[0])}",
            where="data.u_key",
        )


def _checked(raw: dict[str, Any], options: NPZOptions) -> dict[str, Any]:
    """Arrays of one file as x float32 [N, ...], u int64 [N] or None, s float32 [N, d_s] or None."""
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
            "the first must have at least one entry)", where="data.x_key",
        )
    x = _floats(x, file, options.x_key, "x")
    u = None if raw["u"] is None else _labels(raw["u"], file, options.u_key)
    s = raw["s"]
    if s is not None:
        if s.ndim != 2:
            raise DataError(
                f"{file}: array {options.sources_key!r} must be 2-D [N, d_s], got shape {list(s.shape)}",
                where="data.sources_key",
            )
        if s.shape[1] == 0:
            raise DataError(
                f"{file}: array {options.sources_key!r} has shape {list(s.shape)}: no sources (give at least one "
                "column, or \"sources_key\": null for none)", where="data.sources_key",
            )
        s = _floats(s, file, options.sources_key, "s")
    for var, array, key in (("u", u, options.u_key), ("s", s, options.sources_key)):
        if array is not None and array.shape[0] != x.shape[0]:
            raise DataError(
                f"{file}: array {key!r} has {array.shape[0]} rows but {options.x_key!r} has {x.shape[0]}",
                where=f"data.{_field(var)}",
            )
    return {"file": file, "x": x, "u": u, "s": s}


def _rows(arrays: dict[str, Any], rows: slice) -> dict[str, Any]:
    return {k: (v[rows] if isinstance(v, np.ndarray) else v) for k, v in arrays.items()}


def _split(arrays: dict[str, Any]) -> Split:
    tensor = lambda a: None if a is None else torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return Split(x=tensor(arrays["x"]), u=tensor(arrays["u"]), s=tensor(arrays["s"]))


# ---------------------------------------------------------------------------------------- loading
def load_npz(options: NPZOptions) -> DataSplits:
    """Read, check and split the arrays named by ``options`` (see the module docstring for the rules)."""
    explicit = options.model_fields_set
    wanted = {"x": True, "u": options.require_u or "u_key" in explicit, "s": "sources_key" in explicit}
    train = _checked(_load_file(options, options.path, "data.path", wanted), options)
    if options.eval_path is not None:
        # The training file decides which variables exist: the evaluation file must have them, nothing more.
        wanted_eval = {"x": True, "u": True if train["u"] is not None else None,
                       "s": True if train["s"] is not None else None}
        evaluation = _checked(_load_file(options, options.eval_path, "data.eval_path", wanted_eval), options)
        if evaluation["x"].shape[1:] != train["x"].shape[1:]:
            raise DataError(
                f"{evaluation['file']}: {options.x_key!r} has rows of shape {list(evaluation['x'].shape[1:])}, "
                f"the training file's have {list(train['x'].shape[1:])}",
                where="data.eval_path",
            )
        if train["s"] is not None and evaluation["s"].shape[1] != train["s"].shape[1]:
            raise DataError(
                f"{evaluation['file']}: {options.sources_key!r} has {evaluation['s'].shape[1]} columns, "
                f"the training file's has {train['s'].shape[1]}",
                where="data.eval_path",
            )
        for name, part, where in (("training", train, "data.path"), ("evaluation", evaluation, "data.eval_path")):
            if part["x"].shape[0] < 2:
                raise DataError(
                    f"{part['file']}: the {name} split needs at least 2 rows, it has {part['x'].shape[0]}", where=where
                )
        eval_split = "file"
    else:
        n = train["x"].shape[0]
        n_eval = int(math.floor(n * options.eval_fraction + 0.5))
        n_train = n - n_eval
        if n_train < 2 or n_eval < 2:
            raise DataError(
                f"{train['file']}: {n} rows with eval_fraction={options.eval_fraction} leave {n_train} training "
                f"and {n_eval} evaluation rows; each split needs at least 2",
                where="data.eval_fraction",
            )
        train, evaluation = _rows(train, slice(0, n_train)), _rows(train, slice(n_train, n))
        eval_split = f"last {n_eval} of {n} rows"

    n_u = None
    labels: list[int] | None = None
    if train["u"] is not None:
        uniques = np.unique(train["u"])
        unseen = np.setdiff1d(evaluation["u"], uniques)
        if unseen.size:
            where = "data.eval_path" if options.eval_path is not None else "data.eval_fraction"
            raise DataError(
                f"{evaluation['file']}: the evaluation split has label(s) {unseen[:10].tolist()} of "
                f"{options.u_key!r} that the training split never has",
                where=where,
            )
        train = {**train, "u": np.searchsorted(uniques, train["u"]).astype(np.int64)}
        evaluation = {**evaluation, "u": np.searchsorted(uniques, evaluation["u"]).astype(np.int64)}
        n_u, labels = int(uniques.size), uniques.tolist()

    info = {
        "loader": "npz",
        "path": str(train["file"]),
        "eval_path": None if options.eval_path is None else str(evaluation["file"]),
        "eval_split": eval_split,
        "keys": {"x": options.x_key, "u": options.u_key if train["u"] is not None else None,
                 "s": options.sources_key if train["s"] is not None else None},
        "x_shape": list(train["x"].shape[1:]),
        "n_train": int(train["x"].shape[0]),
        "n_eval": int(evaluation["x"].shape[0]),
        "n_u": n_u,
        "u_labels": labels,
    }
    return DataSplits(train=_split(train), eval=_split(evaluation), n_u=n_u, info=info)


def build(options: NPZOptions, ctx: BuildContext) -> DataSplits:
    """The user's arrays; ``ctx`` is not needed."""
    return load_npz(options)


@hookimpl
def ica_register(register):
    register("dataset", "npz", NPZOptions, build, description="Your own arrays from a .npz file (x, optional u and s).")
