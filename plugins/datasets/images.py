"""Shared parts of the image data sets (`digits`, `mnist`, `cifar10`, `svhn`); not a plugin itself.

Every image data set returns ``x`` float32 ``[N, C, H, W]`` with pixel values ``k / levels`` in [0, 1]
(``levels`` = 255 for 8-bit images, so ``x = k/255`` as the discretised logistic likelihood expects), ``u``
the class label (int64, ``n_u`` = 10) — the side information iVAE conditions on — and no sources ``s``.

Binarisation (option ``binarize``), for Bernoulli likelihoods:

* ``"none"``: the grey levels above;
* ``"threshold"``: ``x > 0.5`` as 0.0 / 1.0 (`ica.running.preprocessing.binarized` does both, for data sets and for
  a trained model's new data);
* ``"sample"``: each pixel is 1.0 with probability ``x`` (dynamic binarisation, drawn ONCE). The draws come
  from ``train_rng, eval_rng = numpy.random.Generator(PCG64(binarize_seed)).spawn(2)``: pixel = 1 when
  ``U < x`` with ``U = rng.random()`` (float64), one U per pixel in C order of the ``[N, C, H, W]`` array of
  the split (drawn in blocks of rows, which gives the same stream as one draw). The data are therefore the
  same for every model seed and every run with the same options, and the first n examples of a split are
  binarised identically whatever ``limit_train`` / ``limit_eval`` keep.

The torchvision-backed sets (`mnist`, `cifar10`, `svhn`) go through `load_official`: check that the files
torchvision expects are present (downloading them with torchvision's own ``download`` when asked), optionally
compare checksums, then parse them in torchvision's format (with torchvision's reader, or for CIFAR-10's
pickles a restricted unpickler that runs no code from the files). Every way this can fail ends in one
`DataError` that names the data set, the root, the expected layout and the remedy the spec allows — never a
torchvision traceback. While checking (`ica.components.checking.checking_only`: ``ica validate``, ``--dry-run``)
nothing is downloaded or written: missing files that ``ica run`` would download are `DownloadNeeded`.

Each data set's options estimate their memory from the known set sizes (`estimated_image_bytes`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, TypeVar

import numpy as np
import torch
from torch import Tensor

from ica.plugin import (
    binarized, DataError, DatasetOptions, DataSplits, DownloadNeeded, Field, is_checking, Split,
)

CLASSES = 10
"""All four image data sets have ten classes, which become the values 0..9 of ``u``."""

T = TypeVar("T")


# ---------------------------------------------------------------------------------------- options
class ImageOptions(DatasetOptions):
    """Options of every image data set: how (and whether) to binarise the pixels."""

    binarize: Literal["none", "threshold", "sample"] = Field(
        "none",
        description="For Bernoulli likelihoods: 'threshold' is x > 0.5; 'sample' draws x ~ Bernoulli(pixel) once, "
        "from binarize_seed, identically for every model seed; 'none' keeps grey levels.",
    )
    binarize_seed: int = Field(0, ge=0, description="Seed of the one-off 'sample' binarisation (train and eval).")


class OfficialImageOptions(ImageOptions):
    """Options of the data sets read through torchvision's loaders from the official files."""

    root: str = Field("data", min_length=1, description="Folder holding the files torchvision expects "
                      "(relative paths are resolved from the working directory).")
    download: bool = Field(False, description="Let torchvision download the official files into root when missing.")
    limit_train: int | None = Field(
        None, ge=1, description="Keep only the first n training images (all when fewer); null keeps all."
    )
    limit_eval: int | None = Field(
        None, ge=1, description="Keep only the first n evaluation images (all when fewer); null keeps all."
    )


class ChecksummedImageOptions(OfficialImageOptions):
    """Options of the data sets whose official files have published md5 sums (CIFAR-10, SVHN)."""

    verify_checksums: bool = Field(
        True, description="Refuse files whose md5 differs from the official release (off: load them if they parse)."
    )


# -------------------------------------------------------------------------------- pixels to splits
def unit_pixels(pixels: np.ndarray, levels: int) -> Tensor:
    """Integer pixels ``0..levels`` as float32 ``k / levels`` (one correctly rounded float32 division)."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).to(torch.float32).div_(float(levels))


def image_splits(
    train: tuple[np.ndarray, np.ndarray],
    evaluation: tuple[np.ndarray, np.ndarray],
    options: ImageOptions,
    levels: int,
    info: dict[str, Any],
) -> DataSplits:
    """`DataSplits` from ``(pixels [N, C, H, W] integers 0..levels, labels [N] 0..9)`` per split.

    Pixels become ``k / levels`` and are binarised as the options say; labels become ``u``.
    """
    train_rng, eval_rng = np.random.Generator(np.random.PCG64(options.binarize_seed)).spawn(2)

    def split(part: tuple[np.ndarray, np.ndarray], rng: np.random.Generator) -> Split:
        pixels, labels = part
        x = binarized(unit_pixels(pixels, levels), options.binarize, rng)
        return Split(x=x, u=torch.from_numpy(np.asarray(labels, dtype=np.int64).copy()), s=None)

    data_train, data_eval = split(train, train_rng), split(evaluation, eval_rng)
    info = {
        **info,
        "x_shape": list(data_train.x.shape[1:]),
        "n_train": len(data_train),
        "n_eval": len(data_eval),
        "n_u": CLASSES,
        "pixels": f"k/{levels} in [0, 1]",
        "binarize": options.binarize,
        "binarize_seed": options.binarize_seed if options.binarize == "sample" else None,
        "options": options.model_dump(mode="json"),
    }
    return DataSplits(train=data_train, eval=data_eval, n_u=CLASSES, info=info)


def first(part: tuple[np.ndarray, np.ndarray], limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` examples (all of them when ``limit`` is None or there are fewer)."""
    pixels, labels = part
    return (pixels, labels) if limit is None else (pixels[:limit], labels[:limit])


READ_COPIES = 3
"""Copies of the integer pixels that reading holds at once at most (torchvision's per-file arrays, their
concatenation, and the channels-first copy), for the memory estimate."""


def image_bytes(available: int, kept: int, shape: tuple[int, ...], binarize: str, pixel_bytes: int = 1) -> int:
    """Memory building an image data set takes: ``available`` images read as integers (`READ_COPIES`
    copies of ``pixel_bytes`` each), and ``kept`` of them as float32 ``x`` (twice while binarising) with
    int64 labels (and their copy)."""
    per_image = math.prod(shape)
    read = available * per_image * pixel_bytes * READ_COPIES
    x = kept * per_image * 4 * (1 if binarize == "none" else 2)
    return read + x + kept * 8 * 2


def estimated_image_bytes(files: "OfficialFiles", options: "OfficialImageOptions") -> int:
    """`image_bytes` of an official data set, from its known set sizes and the limits (nothing is read)."""
    n_train, n_test = files.sizes
    kept = sum(n if limit is None else min(n, limit)
               for n, limit in ((n_train, options.limit_train), (n_test, options.limit_eval)))
    return image_bytes(n_train + n_test, kept, files.shape, options.binarize)


# ------------------------------------------------------------------------------- official files
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
    return (f"Check the network connection and that {root} is writable, then run again; or place the official "
            f"files ({files.source}) there yourself, in the layout {files.loader} expects:\n{files.layout(root)}")


def _download_needed(files: OfficialFiles, root: Path, missing: list[str]) -> DownloadNeeded:
    """While checking: what ``ica run`` would download, instead of downloading it."""
    fetched = files.to_fetch(root, missing)
    return DownloadNeeded(
        f"{files.name}: the data files are not in {root} yet (missing: {', '.join(missing)}); since \"download\" "
        f"is true, ica run will download them into {root} with {files.loader} ({len(fetched)} file(s): "
        f"{', '.join(fetched)}). Nothing was downloaded or written while checking.",
        files=fetched, root=str(root),
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
        raise DataError(f"{files.name}: {failure}{missing_text}. {_by_hand(files, root)}",
                        where="data.download") from None
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
        again = ("Delete them and run again (download is on, so torchvision fetches them again)" if download
                 else 'Delete them and set "download": true to fetch them again')
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


def checked_images(
    files: OfficialFiles, root: Path, split: str, pixels: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The parsed ``(pixels [N, C, H, W] uint8, labels [N] int64)`` after checks torchvision does not make."""
    labels = np.asarray(labels).reshape(-1)
    problem = None
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or tuple(pixels.shape[1:]) != files.shape:
        problem = (f"images of shape {list(pixels.shape[1:])} and dtype {pixels.dtype}, "
                   f"expected {list(files.shape)} uint8")
    elif pixels.shape[0] != labels.shape[0]:
        problem = f"{pixels.shape[0]} images but {labels.shape[0]} labels"
    elif pixels.shape[0] == 0:
        problem = "no images"
    elif labels.min() < 0 or labels.max() >= CLASSES:
        bad = labels[(labels < 0) | (labels >= CLASSES)]
        problem = f"label(s) {sorted(set(bad.tolist()))[:5]} outside 0..{CLASSES - 1}"
    if problem:
        raise DataError(f"{files.name}: the {split} files in {files.directory(root)} hold {problem}",
                        where="data.root")
    return pixels, labels.astype(np.int64)


def load_official(
    files: OfficialFiles,
    options: OfficialImageOptions,
    fetch: Callable[[str], Any],
    read: Callable[[str, bool], tuple[np.ndarray, np.ndarray]],
    checksums: dict[str, str] | None,
    info: dict[str, Any],
) -> DataSplits:
    """The official training set as the training split and the official test set as the evaluation split.

    Args:
        fetch: ``fetch(root)`` downloads with torchvision (only called when files are missing and download is on).
        read: ``read(root, train)`` parses one split with torchvision's loader into ``(pixels NCHW, labels)``.
        checksums: file name → official md5 to verify before parsing, or None not to verify.
        info: facts about the source worth recording (checksum policy, loader class).
    """
    root = resolved_root(options.root)
    ensure_files(files, root, options.download, fetch)
    if checksums is not None:
        verify_checksums(files, root, checksums, options.download)
    parts = {}
    for split, train in (("training", True), ("test", False)):
        pixels, labels = parsed(files, root, split, lambda: read(str(root), train))
        parts[split] = checked_images(files, root, split, pixels, labels)
    train, evaluation = first(parts["training"], options.limit_train), first(parts["test"], options.limit_eval)
    source = {
        "dataset": files.name,
        "loader": files.loader,
        "root": str(root),
        "files": [str(files.directory(root) / f) for f in files.files],
        "train_split": f"official training set, first {len(train[1])} of {len(parts['training'][1])}",
        "eval_split": f"official test set, first {len(evaluation[1])} of {len(parts['test'][1])}",
        "n_train_available": len(parts["training"][1]),
        "n_eval_available": len(parts["test"][1]),
        **info,
    }
    return image_splits(train, evaluation, options, 255, source)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "") if text else "no message"
