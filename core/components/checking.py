"""Checking without side effects: ``ica validate`` and ``ica run --dry-run`` must change nothing.

Inside `checking_only()` components that would otherwise fetch or write something (a data set's
``"download": true``) must not: they check what can be checked offline and, where the files are not
there yet, raise `DownloadNeeded`, which says what ``ica run`` would download and where.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from ica.errors import DataError

_CHECKING: ContextVar[bool] = ContextVar("ica_checking_only", default=False)


@contextmanager
def checking_only() -> Iterator[None]:
    """Within the block nothing may be downloaded or written (validation, dry runs)."""
    token = _CHECKING.set(True)
    try:
        yield
    finally:
        _CHECKING.reset(token)


def is_checking() -> bool:
    """True inside `checking_only()`: a component must not download or write anything."""
    return _CHECKING.get()


class DownloadNeeded(DataError):
    """The data files are missing and the spec allows downloading them: ``ica run`` will fetch them.

    Raised only while checking; ``files`` are the paths ``ica run`` would create, ``root`` their folder.
    """

    def __init__(self, message: str, *, files: list[str], root: str, where: str | None = "data.download"):
        super().__init__(message, where=where)
        self.files, self.root = list(files), root
