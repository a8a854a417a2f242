"""Opening a user's ``.npz`` for the `npz` data set: the path resolved, refused unless it is a regular file outside
the kernel's own file systems (never blocking on a FIFO), and checked to be a zip archive of named arrays before
numpy reads it, so that every wrong file is one `DataError` naming the option that points at it."""

from __future__ import annotations

import errno
import os
import stat
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ica.plugin import DataError


def resolved_path(path: str, where: str) -> Path:
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


def open_regular(path: Path, where: str) -> Any:
    """``path`` opened for reading, refused unless it is a regular file (never blocking on a FIFO)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError(f"data file {path} does not exist", where=where) from None
    except OSError as exc:
        loop = exc.errno == errno.ELOOP
        raise DataError(
            f"{path} is a symbolic link loop" if loop else f"{path} cannot be read ({exc.strerror})", where=where
        ) from None
    if not stat.S_ISREG(mode):
        kind = (
            "a directory"
            if stat.S_ISDIR(mode)
            else "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket or other special file"
        )
        raise DataError(f"{path} is not a regular file (it is {kind})", where=where)
    kernel = next((root for root in KERNEL_FILE_SYSTEMS if path.is_relative_to(root)), None)
    if kernel is not None:
        raise DataError(
            f"{path} is not a data file: it is in {kernel}, where the kernel shows its own state as files", where=where
        )
    try:  # O_NONBLOCK: a FIFO swapped in after the stat still cannot block the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DataError(f"{path} cannot be read ({exc.strerror})", where=where) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        os.close(fd)
        raise DataError(
            f"{path} is not a regular file"
            if info.st_size
            else f"{path} is not a valid .npz file: it is empty (0 bytes)",
            where=where,
        )
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


@contextmanager
def opened_archive(path: str, where: str) -> Iterator[tuple[Path, Any]]:
    """The resolved path and the open archive; the file is closed afterwards whatever happens."""
    resolved = resolved_path(path, where)
    handle = open_regular(resolved, where)
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
