"""Walking the folders below a directory the user named, as `ica.reporting.finder.find_runs` searches them for runs.

The directory named may itself be a link (followed), but not a system folder nor inside one. Below it, links to
folders are not followed, folders that cannot be read are skipped, and ``/proc``, ``/sys`` and ``/dev`` are
never entered; `Walk` collects what was passed over, told afterwards as one notice per kind.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ica.errors import IcaError

SYSTEM_FOLDERS = (Path("/proc"), Path("/sys"), Path("/dev"))
"""The kernel's and the devices' folders: never searched (endless, unreadable, or files that block a reader)."""
NAMED = 3
"""How many paths a notice names before 'and N more'."""


def check_root(root: Path) -> None:
    """A directory the user named: it may be a link (followed), but not a system folder nor inside one."""
    try:
        if not root.exists():
            raise IcaError("no such directory", where=str(root))
        if not root.is_dir():
            raise IcaError("not a directory (give the run directory, not a file in it)", where=str(root))
        real = root.resolve()
    except OSError as exc:
        raise IcaError(f"cannot read the directory: {exc.strerror or exc}", where=str(root)) from None
    system = next((f for f in SYSTEM_FOLDERS if real == f or f in real.parents), None)
    if system is not None:
        raise IcaError(
            f"is {'' if real == system else 'in '}the system's folder {system}, which holds no runs; name "
            "a folder of runs",
            where=str(root),
        )


def stderr_notice(message: str) -> None:
    print(f"notice: {message}", file=sys.stderr)


@dataclass
class Walk:
    """What one search below ``root`` passed over, to be told once it is done."""

    root: Path
    links: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    system: list[str] = field(default_factory=list)

    def cannot_read(self, directory: Path, exc: OSError) -> None:
        """A folder below the root is skipped (and told of); the root itself is refused."""
        if directory == self.root:
            raise IcaError(f"cannot read the directory: {exc.strerror or exc}", where=str(directory))
        self.unreadable.append(f"{directory} ({exc.strerror or exc})")

    def notices(self) -> list[str]:
        found = []
        if self.links:
            found.append(
                f"{len(self.links)} link(s) to folders below {self.root} not followed: {_some(self.links)} "
                "(name a linked folder itself to include its runs)"
            )
        if self.unreadable:
            found.append(
                f"{len(self.unreadable)} folder(s) below {self.root} skipped, they cannot be read: "
                f"{_some(self.unreadable)}"
            )
        if self.system:
            found.append(f"not searched: {_some(self.system)} (the system's folders)")
        return found


def _some(paths: list[str]) -> str:
    more = len(paths) - NAMED
    return ", ".join(paths[:NAMED]) + (f" and {more} more" if more > 0 else "")


def subdirectories(directory: Path, walk: Walk) -> list[Path]:
    """The folders in ``directory`` to search: not hidden ones, not links (told of), not the system's."""
    try:
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError as exc:
        walk.cannot_read(directory, exc)
        return []
    folders = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_symlink():
                if entry.is_dir():
                    walk.links.append(entry.path)
            elif entry.is_dir(follow_symlinks=False):
                if _system_folder(Path(entry.path)):
                    walk.system.append(entry.path)
                else:
                    folders.append(Path(entry.path))
        except OSError as exc:
            walk.cannot_read(Path(entry.path), exc)
    return folders


def _system_folder(folder: Path) -> bool:
    return folder.name in {f.name for f in SYSTEM_FOLDERS} and folder.resolve() in SYSTEM_FOLDERS
