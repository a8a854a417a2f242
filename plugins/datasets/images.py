"""Shared parts of the image data sets (`digits`, `mnist`, `cifar10`, `svhn`); not a plugin itself.

Every image data set returns ``x`` float32 ``[N, C, H, W]`` with pixel values ``k / levels`` in [0, 1]
(``levels`` = 255 for 8-bit images, so ``x = k/255`` as the discretised logistic likelihood expects), ``u``
the class label (int64, ``n_u`` = 10) — the side information iVAE conditions on — and no sources ``s``.

Binarisation (option ``binarize``), for Bernoulli likelihoods:

* ``"none"``: the grey levels above;
* ``"threshold"``: ``x > 0.5`` as 0.0 / 1.0 (`ica.components.binarizing.binarized` does both, for data sets and for
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
nothing is downloaded or written: missing files that ``ica run`` would download are `DownloadNeeded`. The
checks of the files themselves live in `ica.plugins.datasets.official_files`.

Each data set's options estimate their memory from the known set sizes (`estimated_image_bytes`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import torch
from torch import Tensor

from ica.plugin import binarized, DataError, DatasetOptions, DataSplits, Field, Split
from ica.plugins.datasets.official_files import (  # the official-file checks, still importable from here
    OfficialFiles as OfficialFiles,
    ensure_files as ensure_files,
    parsed,
    resolved_root,
    verify_checksums,
)

CLASSES = 10
"""All four image data sets have ten classes, which become the values 0..9 of ``u``."""


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

    root: str = Field(
        "data",
        min_length=1,
        description="Folder holding the files torchvision expects "
        "(relative paths are resolved from the working directory).",
    )
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
    kept = sum(
        n if limit is None else min(n, limit)
        for n, limit in ((n_train, options.limit_train), (n_test, options.limit_eval))
    )
    return image_bytes(n_train + n_test, kept, files.shape, options.binarize)


def checked_images(
    files: OfficialFiles, root: Path, split: str, pixels: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The parsed ``(pixels [N, C, H, W] uint8, labels [N] int64)`` after checks torchvision does not make."""
    labels = np.asarray(labels).reshape(-1)
    problem = None
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or tuple(pixels.shape[1:]) != files.shape:
        problem = (
            f"images of shape {list(pixels.shape[1:])} and dtype {pixels.dtype}, expected {list(files.shape)} uint8"
        )
    elif pixels.shape[0] != labels.shape[0]:
        problem = f"{pixels.shape[0]} images but {labels.shape[0]} labels"
    elif pixels.shape[0] == 0:
        problem = "no images"
    elif labels.min() < 0 or labels.max() >= CLASSES:
        bad = labels[(labels < 0) | (labels >= CLASSES)]
        problem = f"label(s) {sorted(set(bad.tolist()))[:5]} outside 0..{CLASSES - 1}"
    if problem:
        raise DataError(f"{files.name}: the {split} files in {files.directory(root)} hold {problem}", where="data.root")
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
    for split, is_train in (("training", True), ("test", False)):
        pixels, labels = parsed(files, root, split, lambda: read(str(root), is_train))  # noqa: B023 - called at once
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
