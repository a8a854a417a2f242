"""The run directory: writing each of its files atomically (where each one lives is `ica.rundir.layout`).

A file is written to a temporary name in the same folder, flushed to disk, then renamed over the
target, so a crash leaves either the old file or the new one, never half of one. Nothing inside a run
directory is followed when writing: folders are made with `safe_dir`, logs appended with `append_text`, and
a symbolic link where a file goes is refused. A failed write (a full disk) is a `WriteFailed` naming the file.
"""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ica.errors import IcaError
from ica.rundir.layout import SeedFiles  # what save_checkpoint writes to


def link_message(into: str | None = None) -> str:
    """What a symbolic link where ica writes is told: ``into`` names what is being written (``"a run
    directory"``, ``"the report's folder"``) where the caller knows it; without it, the rule that holds for
    every write (a report, ``ica schema -o``, an ``--out`` are written no differently from a run directory)."""
    rule = f"does not follow links inside {into} when writing" if into else "never writes through a symbolic link"
    return f"is a symbolic link; ica {rule} (replace it with a real file or folder, or remove it)"


LINK_MESSAGE = link_message()
NOT_A_FILE = "is not a regular file, but ica appends its training log there (remove it)"
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # 0 where the platform has none (Windows)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers only ever see a complete file.

    The folder must exist (a mistyped path is not silently created), ``path`` must not be a directory or
    a symbolic link, and any failure -- typically a full disk -- is one `WriteFailed` naming ``path``.
    """
    path = Path(path)
    check_target(path)
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException as exc:
        _discard(tmp)
        if isinstance(exc, OSError):
            raise WriteFailed(path, exc, "cannot put the new file in place (the old one is unchanged)") from None
        raise


class WriteFailed(IcaError, OSError):
    """A file that could not be written (a full disk, a missing folder, no permission), naming the file.

    Also an ``OSError`` with the original ``errno``, so code that asks ``errno == ENOSPC`` still can.
    """

    def __init__(self, path: Path, cause: OSError, doing: str | None = None, *, message: str | None = None):
        text = _write_message(Path(path), cause, doing) if message is None else message
        IcaError.__init__(self, text, where=str(path))
        self.errno, self.strerror, self.filename = cause.errno, cause.strerror, str(path)

    @classmethod
    def refused(cls, path: Path, number: int, message: str) -> "WriteFailed":
        """A write ``ica`` will not make (through a link, over a directory), as an error naming ``path``."""
        return cls(path, OSError(number, message), message=message)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"

    def __reduce__(self) -> Any:  # a worker process's error reaches the parent pickled
        return _restore_write_failed, (self.where, self.message, self.errno, self.strerror)


def _restore_write_failed(where: str, message: str, number: int | None, strerror: str | None) -> WriteFailed:
    error = WriteFailed.__new__(WriteFailed)
    IcaError.__init__(error, message, where=where)
    error.errno, error.strerror, error.filename = number, strerror, where
    return error


def _write_message(path: Path, cause: OSError, doing: str | None) -> str:
    """What went wrong; ``doing`` says what failed when it was not writing the new file's bytes (a rename)."""
    if doing is not None:
        return f"{doing}: {cause.strerror or cause}"
    if cause.errno in (errno.ENOSPC, errno.EDQUOT):  # "No space left on device", "Disk quota exceeded"
        return f"{cause.strerror or os.strerror(cause.errno)} (nothing already written was changed)"
    if isinstance(cause, FileNotFoundError) and not path.parent.is_dir():
        return f"the folder {path.parent} does not exist"
    return f"cannot write it ({cause.strerror or cause})"


def check_target(path: Path, into: str | None = None) -> None:
    """Refuse to write over a directory or through a symbolic link (a link would be replaced, or followed);
    ``into`` says what is being written, for the message (`link_message`)."""
    if path.is_symlink():
        raise WriteFailed.refused(path, errno.ELOOP, link_message(into))
    if path.is_dir():
        raise WriteFailed.refused(path, errno.EISDIR, "is a directory; name a file to write")


def safe_dir(root: Path, *parts: str, create: bool = True, into: str | None = None) -> Path:
    """``root/part/...``, each part created (or found) as a real directory, never through a symbolic link.

    The root the user named may itself be a link (clusters link scratch space) and is created with its
    parents; below it nothing is followed, so a link planted inside a run directory cannot send a write
    elsewhere. With ``create=False`` nothing is made: existing parts are only checked. ``into`` says what is
    being written, for the message (`link_message`).
    """
    path = Path(root)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    for part in parts:
        for name in Path(part).parts:
            if name in ("", ".", "..") or os.sep in name:
                raise IcaError(f"{name!r} is not a plain folder name", where=str(path))
            path = path / name
            if create:
                try:
                    os.mkdir(path)
                except FileExistsError:
                    pass
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                if create:
                    raise
                return Path(root).joinpath(*parts)
            if stat.S_ISLNK(mode):
                raise IcaError(link_message(into), where=str(path))
            if not stat.S_ISDIR(mode):
                raise IcaError("is not a directory, but ica keeps a folder of results there", where=str(path))
    return path


def open_regular(path: Path, flags: int, not_a_file: str, into: str | None = None) -> int:
    """A descriptor of ``path`` opened with ``flags`` (plus ``O_NOFOLLOW``, ``O_NONBLOCK``), created if
    missing; a symbolic link (`link_message`, with ``into``), or anything but a regular file (a FIFO would
    block), is refused with ``not_a_file`` saying what ica keeps there. Both files ica writes in place (the
    training log, the training lock) are opened so."""
    try:
        fd = os.open(path, flags | os.O_CREAT | O_NOFOLLOW | os.O_NONBLOCK, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP or path.is_symlink():
            raise WriteFailed.refused(path, errno.ELOOP, link_message(into)) from None
        if path.exists() and not path.is_file():  # a FIFO without a reader: ENXIO
            raise WriteFailed.refused(path, errno.ENXIO, not_a_file) from None
        raise WriteFailed(path, exc) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise WriteFailed.refused(path, errno.ENXIO, not_a_file)
    return fd


def open_append(path: Path) -> int:
    """A descriptor appending to ``path`` (created if missing), never through a link (`open_regular`)."""
    return open_regular(path, os.O_WRONLY | os.O_APPEND, NOT_A_FILE)


def append_text(path: Path, text: str) -> None:
    """Append ``text`` to ``path`` without following a symbolic link (`open_append`)."""
    fd = open_append(path)
    try:
        with os.fdopen(fd, "a") as handle:
            handle.write(text)
    except OSError as exc:
        raise WriteFailed(path, exc) from None


def create_exclusive(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` only if nothing is there yet: True if this call created it, False
    if it already existed (then it is left untouched).

    The file is written whole to a temporary name and hard-linked to ``path`` (``link`` fails if ``path``
    exists), so of two processes creating it at once exactly one wins and no reader sees half a file. On
    a file system without hard links it falls back to an exclusive create (``O_EXCL``).
    """
    path = Path(path)
    check_target(path)
    tmp = _write_temp(path, data)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS):
            raise WriteFailed(path, exc) from None
        return _create_excl(path, data)
    finally:
        _discard(tmp)


def _create_excl(path: Path, data: bytes) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW, 0o666)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise WriteFailed(path, exc) from None
    return True


_UMASK = os.umask(0)
os.umask(_UMASK)


def _write_temp(path: Path, data: bytes) -> str:
    """Write ``data`` to a new temporary file beside ``path``, flushed to disk, and return its name.

    On any failure (a full disk while writing or flushing) the temporary file is removed again, and the
    error names ``path`` (never the temporary file).
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise WriteFailed(path, exc) from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide results from the rest of a shared group
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException as exc:
        _discard(tmp)
        if isinstance(exc, OSError):
            raise WriteFailed(path, exc) from None
        raise
    return tmp


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def json_bytes(obj: Any) -> bytes:
    """How every JSON file of a run directory is written."""
    return (json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n").encode()


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json_bytes(obj))


def save_checkpoint(files: "SeedFiles", state: Any, keep: int) -> None:
    """Make ``state`` the new ``checkpoint.pt``, shifting the older ones down (``checkpoint.1.pt``, ...).

    The new checkpoint is first written whole to a temporary file beside them and flushed to disk; only
    then are the older files shifted (each an atomic rename) and the temporary file renamed to
    ``checkpoint.pt``. So a failure while writing -- typically a full disk -- leaves every existing
    checkpoint exactly as it was, and no temporary file. A failure or kill between the renames (rare: a
    rename needs no new data blocks) leaves only complete files, though the newest may then be only at
    ``checkpoint.1.pt`` and the oldest kept one gone; resuming takes the newest step all seeds of a group
    have (`Trainer.checkpoint_states`). The error itself is always re-raised. Only a kill while writing
    can leave a temporary ``.checkpoint.pt.*.tmp`` behind (never read; a later save does not remove it).
    """
    buffer = io.BytesIO()
    torch.save(state, buffer)
    check_target(files.checkpoint)
    tmp = _write_temp(files.checkpoint, buffer.getvalue())
    try:
        paths = files.checkpoints(keep)
        for older, newer in zip(reversed(paths[1:]), reversed(paths[:-1])):
            if newer.exists():
                os.replace(newer, older)
        os.replace(tmp, files.checkpoint)
    except BaseException as exc:
        _discard(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, WriteFailed):
            raise WriteFailed(
                files.checkpoint,
                exc,
                "cannot rename the checkpoints (every file left is complete; run again to resume)",
            ) from None
        raise


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy 1.26 has no allow_pickle flag to name
    atomic_write(path, buffer.getvalue())
