"""Reading the user's inputs for ``ica encode`` and ``ica score``: ``.npz`` or ``.npy`` files, never unpickled,
and the ``--seeds`` they name.

A file is told by its first bytes (the ``.npy`` magic or a zip's), not by its name. Opening it reads every
array's header and nothing else; an array's data are read only when it is picked, and only after its header
is held against the bytes the file holds (an uncompressed member, or one whose zip entry says how much it
expands to, cannot hold more: a header claiming more is a damaged file) and against the memory this machine has
available (a small compressed file may expand to gigabytes): a file that claims ``(10**11, 5)`` is refused
from its header, before anything is allocated. Arrays come back in the machine's byte order. An array is
picked by the key the user gave, else the conventional key (``x``, ``u``, ``s``, ``latents``), else the file's
only array; an ``.npy`` holds one array, named by the file's stem (`ArrayFile.single`). Every failure is one
`DataError` naming the file.
"""

from __future__ import annotations

import hashlib
import math
import re
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, ContextManager

import numpy as np

from ica.errors import DataError, IcaError
from ica.rundir.latents import array_header
from ica.running import resources

Opener = Callable[[str], ContextManager[IO[bytes]]]
"""How an array's bytes are opened, by its key: a stream from the start of its .npy header."""
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members, an empty zip
UNREADABLE = (
    ValueError,
    OSError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    SyntaxError,
    tokenize.TokenError,
)
"""What numpy and zipfile raise on a damaged, truncated, encrypted or oddly compressed file (numpy parses an
.npy header as a Python literal: a garbled one is a syntax error)."""

KINDS = {
    "b": "booleans",
    "i": "integers",
    "u": "integers",
    "f": "floating-point numbers",
    "c": "complex numbers",
    "U": "text",
    "S": "bytes",
    "V": "structured records",
    "M": "dates",
    "m": "time spans",
    "O": "Python objects",
}
NUMBERS = "biuf"
INTEGERS = "iu"


@dataclass(frozen=True)
class Header:
    """What an array's header declares, and how many bytes the file can really hold for it."""

    shape: tuple[int, ...]
    dtype: np.dtype
    room: int  # bytes of data its member can hold at most (what the zip entry or the file says)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


class ArrayFile:
    """An ``.npz`` or ``.npy`` input: every array's header read when opened, an array's data when loaded.
    ``single``: an ``.npy``, one array whose key is only the file's stem (never a conventional name)."""

    def __init__(self, path: Path):
        self.path = path
        self.headers, self._open, self.single = _headers(path)

    def __contains__(self, key: str) -> bool:
        return key in self.headers

    def names(self) -> list[str]:
        return list(self.headers)

    def load(self, key: str, kinds: str = NUMBERS, what: str = "numbers") -> np.ndarray:
        """Array ``key`` in native byte order, if it holds ``kinds`` (numpy's dtype kinds) and fits in memory."""
        header = self.headers[key]
        self._check(key, header, kinds, what)
        try:
            with self._open(key) as f:
                array = np.lib.format.read_array(f, allow_pickle=False)
        except UNREADABLE as exc:
            raise self.error(f"cannot be read: its array {key!r} is damaged ({type(exc).__name__}: {exc})") from None
        return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))

    def error(self, message: str) -> DataError:
        return DataError(message, where=str(self.path))

    def _check(self, key: str, header: Header, kinds: str, what: str) -> None:
        shown = f"array {key!r} of shape {list(header.shape)} and dtype {header.dtype}"
        if header.dtype.kind not in kinds:
            kind = KINDS.get(header.dtype.kind, str(header.dtype))
            unpickle = " (ica never unpickles a file)" if header.dtype.hasobject else ""
            raise self.error(f"cannot be read as plain arrays of {what}: its {shown} holds {kind}{unpickle}")
        if header.nbytes > header.room:
            raise self.error(
                f"is damaged: its {shown} declares {size(header.nbytes)}, but the file holds at most "
                f"{size(header.room)} for it"
            )
        check_memory(
            header.nbytes,
            lambda free: self.error(
                f"its {shown} would take {size(header.nbytes)} in memory, more than the {size(free)} this machine has "
                "available"
            ),
        )


def check_memory(needed: int, error: Callable[[int], IcaError]) -> None:
    """Refuse ``needed`` bytes beyond the memory this machine has available (``error(available)`` says what)."""
    free = resources.host_available()
    if free is not None and needed > free:
        raise error(free)


def size(nbytes: int) -> str:
    """A number of bytes for people: ``3.6 TB``, ``800.0 MB``, ``12 bytes``, ``9.22e+18 bytes``."""
    if nbytes >= 10**15:
        return f"{nbytes:.2e} bytes"
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


def read_arrays(path: Path) -> ArrayFile:
    """``path`` opened as an `ArrayFile` (its headers read), or one `DataError` naming it."""
    if not path.is_file():
        raise DataError("is not a file", where=str(path))
    return ArrayFile(path)


def _headers(path: Path) -> tuple[dict[str, Header], Opener, bool]:
    """Every array's header, how to open an array's bytes, and whether it is an .npy, by the file's first bytes
    (not its name)."""
    try:
        with path.open("rb") as f:
            start = f.read(len(NPY_MAGIC))
        if start.startswith(NPY_MAGIC):
            return (*_npy_headers(path), True)
        if start[:4] in ZIP_MAGICS:
            return (*_npz_headers(path), False)
    except UNREADABLE as exc:
        raise DataError(
            f"cannot be read as an .npz or .npy of plain arrays ({type(exc).__name__}: {exc})", where=str(path)
        ) from None
    found = "it is empty" if not start else "it starts with neither the .npy nor the zip signature"
    raise DataError(
        f"cannot be read: it is not an .npz or .npy file ({found}); save arrays with numpy.savez or numpy.save",
        where=str(path),
    )


def _npy_headers(path: Path) -> tuple[dict[str, Header], Opener]:
    with path.open("rb") as f:
        shape, dtype = array_header(f)
        room = max(0, path.stat().st_size - f.tell())
    return {path.stem: Header(shape, dtype, room)}, lambda key: path.open("rb")


def _npz_headers(path: Path) -> tuple[dict[str, Header], Opener]:
    headers, members = {}, {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            if not info.filename.endswith(".npy"):
                raise DataError(
                    f"is not an .npz of arrays: it holds {info.filename!r}, which is not an .npy array", where=str(path)
                )
            key = info.filename[:-4]
            with zf.open(info) as f:
                shape, dtype = array_header(f)
                used = f.tell()
            stored = info.compress_type == zipfile.ZIP_STORED
            room = max(0, (min(info.file_size, info.compress_size) if stored else info.file_size) - used)
            headers[key], members[key] = Header(shape, dtype, room), info

    def member(key: str) -> ContextManager[IO[bytes]]:
        zf = zipfile.ZipFile(path)
        try:
            return _Member(zf, zf.open(members[key]))
        except BaseException:
            zf.close()
            raise

    return headers, member


class _Member:
    """A zip member's stream that closes its zip file with it."""

    def __init__(self, zf: zipfile.ZipFile, stream: IO[bytes]):
        self.zf, self.stream = zf, stream

    def __enter__(self) -> IO[bytes]:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        self.stream.close()
        self.zf.close()


def pick(arrays: ArrayFile, path: Path, key: str | None, conventional: str, option: str | None = None) -> np.ndarray:
    """The array named ``key``, else the one named ``conventional``, else the file's only array (numbers);
    ``option``: the command's option that names the key, for the message when none of these is found."""
    if key is not None:
        if key not in arrays:
            raise DataError(
                f"has no array {key!r}; arrays present: {', '.join(arrays.names()) or 'none'}", where=str(path)
            )
        return arrays.load(key)
    if conventional in arrays:
        return arrays.load(conventional)
    if len(arrays.names()) == 1:
        return arrays.load(arrays.names()[0])
    raise DataError(
        f"holds {len(arrays.names())} arrays ({', '.join(arrays.names()) or 'none'}) and none is named "
        f"{conventional!r}: "
        + (f"say which with {option}" if option else f"name it {conventional!r}, or keep it alone in the file"),
        where=str(path),
    )


def file_sha256(path: Path) -> str:
    """The file's SHA-256, read in blocks (an input may be larger than memory allows twice)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


SEEDS = re.compile(r"[0-9]{1,18}")  # plain decimal digits, within int64


def seed_list(text: str, allowed: str = "integers separated by commas") -> list[int]:
    """``--seeds`` as integers, e.g. ``0,3``: plain decimal digits only (Python's int() would also read
    ``1_0`` as 10, ``+1`` and other scripts' digits); ``allowed`` says what the option takes, for the message."""
    parts = [part.strip() for part in text.split(",")]
    if not all(SEEDS.fullmatch(part) for part in parts):
        raise IcaError(f"--seeds must be {allowed} (plain digits 0-9), not {text!r}", where="--seeds")
    return [int(part) for part in parts]
