"""The official files of the torchvision-backed image sets (`mnist`, `cifar10`, `svhn`): present, intact, parsed.

Kept apart from `ica.plugins.datasets.images` (options, pixels, splits) because this is the part that meets
the file system, the network and torchvision, where every failure must end in one `DataError` naming the
data set, the root, the expected layout and the remedy, and where checking downloads nothing
(`DownloadNeeded`); that module's docstring tells the whole path. Not a plugin itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from ica.plugin import DataError, DownloadNeeded, is_checking

T = TypeVar("T")


@dataclass(frozen=True)
class OfficialFiles:
    """Where torchvision keeps one data set under ``root``, and how to describe it to a person.

    Attributes:
        name: the data set's name in specs (``"mnist"``).
        loader: the torchvision class that reads the files (``"torchvision.datasets.MNIST"``).
        folder: the sub-folder of ``root`` holding the files (``""`` for ``root`` itself).
        files: the file names torchvision requires there.
        shape: ``(C, H, W)`` of one image.
        source: where the official files come from (for the error message).
        sizes: images in the official ``(training, test)`` sets (for the memory estimate).
        downloads: the archives torchvision downloads into ``root`` to extract ``files`` from (paths relative
            to ``root``); empty where it downloads the files themselves.
        parser: what reads the files, where that is not ``loader`` itself (for the error messages).
    """

    name: str
    loader: str
    folder: str
    files: tuple[str, ...]
    shape: tuple[int, int, int]
    source: str
    sizes: tuple[int, int] = (0, 0)
    downloads: tuple[str, ...] = ()
    parser: str = ""

    def directory(self, root: Path) -> Path:
        return root / self.folder if self.folder else root

    def missing(self, root: Path) -> list[str]:
        return [f for f in self.files if not (self.directory(root) / f).is_file()]

    def layout(self, root: Path) -> str:
        return "\n".join(f"  {self.directory(root) / f}" for f in self.files)

    def reader(self) -> str:
        """What parses the files, for messages that must say who could not read them."""
        return self.parser or self.loader

    def to_fetch(self, root: Path, missing: list[str]) -> list[str]:
        """What ``download`` would write under ``root``: the archives, then the missing files themselves."""
        return [str(root / a) for a in self.downloads] + [str(self.directory(root) / f) for f in missing]


def resolved_root(root: str) -> Path:
    """``root`` with ``~`` expanded, absolute (relative to the working directory)."""
    return Path(root).expanduser().resolve()


def _missing_message(files: OfficialFiles, root: Path, missing: list[str], why: str) -> str:
    """The files are missing and download is off: say where they go and both remedies."""
    return (
        f"{files.name}: the data files are not in {root} ({why}; missing: {', '.join(missing)}). "
        f"{files.loader} expects this layout:\n{files.layout(root)}\n"
        f'Set "download": true in the spec\'s data section to let torchvision fetch them, or place the official '
        f"files ({files.source}) there yourself."
    )


def _by_hand(files: OfficialFiles, root: Path) -> str:
    """The remedy when downloading is already on and did not work."""
    return (
        f"Check the network connection and that {root} is writable, then run again; or place the official "
        f"files ({files.source}) there yourself, in the layout {files.loader} expects:\n{files.layout(root)}"
    )


def _download_needed(files: OfficialFiles, root: Path, missing: list[str]) -> DownloadNeeded:
    """While checking: what ``ica run`` would download, instead of downloading it."""
    fetched = files.to_fetch(root, missing)
    return DownloadNeeded(
        f'{files.name}: the data files are not in {root} yet (missing: {", ".join(missing)}); since "download" '
        f"is true, ica run will download them into {root} with {files.loader} ({len(fetched)} file(s): "
        f"{', '.join(fetched)}). Nothing was downloaded or written while checking.",
        files=fetched,
        root=str(root),
    )


def ensure_files(files: OfficialFiles, root: Path, download: bool, fetch: Callable[[str], Any]) -> None:
    """Raise one clear `DataError` unless every file is present; ``fetch(root)`` downloads when allowed.

    ``fetch`` is torchvision's own loader called with ``download=True`` (it verifies what it downloads).
    While checking (`ica.components.checking.is_checking`) nothing is fetched: missing files that ``download`` would
    fetch are `DownloadNeeded`, which says which files ``ica run`` will write.
    """
    missing = files.missing(root)
    if not missing:
        return
    if not download:
        raise DataError(_missing_message(files, root, missing, "download is off"), where="data.root")
    if is_checking():
        raise _download_needed(files, root, missing)
    try:
        fetch(str(root))
    except Exception as exc:  # noqa: BLE001 - any failure of the download is reported the same way
        still = files.missing(root)
        failure = f"downloading into {root} failed ({type(exc).__name__}: {_one_line(exc)})"
        missing_text = f"; still missing: {', '.join(still)}" if still else ""
        raise DataError(
            f"{files.name}: {failure}{missing_text}. {_by_hand(files, root)}", where="data.download"
        ) from None
    still = files.missing(root)
    if still:
        raise DataError(
            f"{files.name}: the download into {root} did not create {', '.join(still)}. {_by_hand(files, root)}",
            where="data.download",
        )


def verify_checksums(files: OfficialFiles, root: Path, md5s: dict[str, str], download: bool = False) -> None:
    """Compare each file with the md5 torchvision records for the official release; one `DataError` if any
    differs (torchvision's ``check_md5`` computes them). The remedy named depends on ``download``."""
    from torchvision.datasets.utils import check_md5

    directory = files.directory(root)
    wrong = [name for name, md5 in md5s.items() if not check_md5(str(directory / name), md5)]
    if wrong:
        again = (
            "Delete them and run again (download is on, so torchvision fetches them again)"
            if download
            else 'Delete them and set "download": true to fetch them again'
        )
        raise DataError(
            f"{files.name}: {', '.join(wrong)} in {directory} do not match the md5 checksums of the official "
            f"release that {files.loader} records (truncated download, or modified files). {again}, or set "
            f'"verify_checksums": false to load them anyway (they must still parse).',
            where="data.verify_checksums",
        )


def parsed(files: OfficialFiles, root: Path, split: str, read: Callable[[], T]) -> T:
    """``read()`` (torchvision's parser for one split); any failure becomes one `DataError`."""
    try:
        return read()
    except DataError:  # the reader's own clear message (a refused file)
        raise
    except Exception as exc:  # noqa: BLE001 - an unreadable file can fail the parser in many ways
        raise DataError(
            f"{files.name}: the {split} files in {files.directory(root)} could not be read by {files.reader()} "
            f"({type(exc).__name__}: {_one_line(exc)}); they are corrupt or not in the official format. "
            f"Expected layout:\n{files.layout(root)}",
            where="data.root",
        ) from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "") if text else "no message"
