"""One process at a time trains a model of a run: an advisory lock on ``<run>/<label>/.training.lock``.

A sweep may be submitted twice (a re-submitted job array, ``ica run`` in a second terminal, a requeued
task whose old copy is still shutting down). Without a lock both would train the same seeds and overwrite
each other's checkpoints; with it the second waits, then finds the seeds finished and skips them.

The lock is ``flock``: the kernel drops it when its process ends, however it ends (SIGKILL, a crashed
node's NFS lease running out), so a dead run never leaves a stale lock behind. The file also records who
holds it (host, pid, start time) for messages and ``ica status``. On a file system without ``flock``
(some Lustre mounts) training goes on unlocked after one notice.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from ica.rundir.writing import O_NOFOLLOW, WriteFailed, open_regular, safe_dir

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".training.lock"
UNSUPPORTED = (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL)


@contextmanager
def training_lock(directory: Path, notice: Callable[[str], None]) -> Iterator[None]:
    """Hold the training lock of ``directory`` (one model of a run), waiting for another holder first."""
    safe_dir(directory.parent, directory.name)
    if fcntl is None:
        yield
        return
    fd = _open_lock(directory / LOCK_NAME)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            notice(f"waiting for {describe_holder(_holder(fd))}, which is training {directory}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            if exc.errno not in UNSUPPORTED:
                raise
            notice(
                f"{directory}: this file system has no file locks; two runs started on this directory at "
                "once would train the same seeds"
            )
            yield
            return
        try:
            os.ftruncate(fd, 0)
            os.pwrite(
                fd,
                json.dumps(
                    {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
                ).encode(),
                0,
            )
        except OSError as exc:  # a full disk: say which file
            raise WriteFailed(directory / LOCK_NAME, exc) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _open_lock(path: Path) -> int:
    """The lock file, created if missing; never through a symbolic link, and never anything but a regular
    file (it is truncated and written: a link or a FIFO planted there must not redirect that)."""
    return open_regular(path, os.O_RDWR, "is not a regular file; ica keeps its training lock there (remove it)")


def lock_holder(directory: Path) -> dict[str, Any] | None:
    """Who trains ``directory`` now (host, pid, since), or None when nobody does."""
    path = directory / LOCK_NAME
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | O_NOFOLLOW | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a planted link is nobody's lock (`training_lock` refuses it)
            return None
        raise
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(fd) or {}
        except OSError as exc:
            if exc.errno in UNSUPPORTED:
                return None
            raise
        return None
    finally:
        os.close(fd)


def describe_holder(holder: dict[str, Any] | None) -> str:
    """Who holds a training lock, from what it wrote in the lock file, for the notice of whoever waits."""
    if not holder:
        return "another process"
    return f"process {holder.get('pid')} on {holder.get('host')} (since {holder.get('since')})"


def _holder(fd: int) -> dict[str, Any] | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
