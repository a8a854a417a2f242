"""The ``.npy`` headers of the arrays in a ``.npz``, read without reading the arrays: what loading a file will
take in memory (`file_headers`, `loaded_bytes`, for the data set's estimate), and the refusal of an array whose
header claims more data than the file holds or than memory can take, before numpy allocates it (`check_header`)."""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ica.plugin import DataError, format_bytes, host_available
from ica.plugins.datasets.npz_files import open_regular, resolved_path


class Header(NamedTuple):
    """What an array's .npy header claims, read without reading the array."""

    shape: tuple[int, ...]
    dtype: np.dtype
    data_bytes: int  # bytes of the member after its header: what the zip says the data are

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def member_name(archive_zip: zipfile.ZipFile, key: str) -> str | None:
    """The zip member holding array ``key`` (``key.npy``, or ``key`` itself as numpy also accepts)."""
    names = set(archive_zip.namelist())
    return next((m for m in (f"{key}.npy", key) if m in names), None)


def read_header(archive_zip: zipfile.ZipFile, member: str) -> Header:
    """The header of ``member`` (raises ValueError and the zip module's errors when it is not one)."""
    info = archive_zip.getinfo(member)
    with archive_zip.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:  # 3.0 (utf-8 field names) has no public reader
            read = np.lib.format._read_array_header  # type: ignore[attr-defined]  # private: not in numpy's stubs
            shape, _fortran, dtype = read(f, version)
        try:
            offset = f.tell()
        except OSError:  # an unseekable archive: count the header as data (a few bytes of slack)
            offset = 0
    return Header(tuple(int(n) for n in shape), dtype, max(info.file_size - offset, 0))


def check_header(archive: Any, file: Path, key: str, where: str) -> None:
    """Refuse an array whose header claims more data than its member holds or than memory can take,
    before numpy allocates it."""
    member = member_name(archive.zip, key)
    if member is None:
        return  # numpy's own error follows
    try:
        header = read_header(archive.zip, member)
    except (OSError, ValueError, EOFError, SyntaxError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{file}: array {key!r} has an unreadable header ({exc})", where=where) from None
    if header.dtype.hasobject:
        return  # refused as Python objects when read; its size says nothing
    shape = list(header.shape)
    if header.nbytes > header.data_bytes:
        raise DataError(
            f"{file}: array {key!r} claims shape {shape} of {header.dtype} ({format_bytes(header.nbytes)}), but the "
            f"file holds only {format_bytes(header.data_bytes)} of it: the file is truncated or its header is wrong",
            where=where,
        )
    available = host_available()
    if available is not None and header.nbytes > available:
        raise DataError(
            f"{file}: array {key!r} of shape {shape} ({header.dtype}) would take {format_bytes(header.nbytes)} in "
            f"memory, but only {format_bytes(available)} is available on this machine",
            where=where,
        )


def file_headers(path: str, keys: dict[str, str | None]) -> dict[str, Header] | None:
    """The headers of the variables ``keys`` names that ``path`` holds, or None when it cannot be read."""
    try:
        resolved = resolved_path(path, "data.path")
        with open_regular(resolved, "data.path") as handle, zipfile.ZipFile(handle) as archive_zip:
            headers = {}
            for var, key in keys.items():
                member = None if key is None else member_name(archive_zip, key)
                if member is not None:
                    headers[var] = read_header(archive_zip, member)
            return headers
    except (DataError, OSError, ValueError, EOFError, SyntaxError, zipfile.BadZipFile, zlib.error):
        return None


def loaded_bytes(var: str, header: Header) -> int:
    """Bytes variable ``var`` takes once loaded: as stored, plus its float32 (x, s) or int64 (u twice, sequence
    once) copy."""
    count = math.prod(header.shape)
    converted = count * {"u": 16, "sequence": 8}.get(var, 4)
    return (0 if header.dtype.hasobject else header.nbytes) + converted
