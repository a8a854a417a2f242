"""`svhn`: the Street View House Numbers (Netzer et al., 2011) through ``torchvision.datasets.SVHN``,
as ``[N, 3, 32, 32]``.

Splits: the official 73,257 ``train`` images are the training split, the official 26,032 ``test`` images the
evaluation split (the ``extra`` set is not used; ``limit_train`` / ``limit_eval`` keep the first n of each).
``x = k/255`` in channel order R, G, B, ``u`` = the digit (0..9), no sources; binarisation as in
`ica.plugins.datasets.images`. The files label the digit 0 as 10; torchvision's loader maps it to 0.

Files: ``<root>/train_32x32.mat`` and ``<root>/test_32x32.mat`` (the cropped-digits format, directly in
``root``); ``"download": true`` lets torchvision fetch them.

What is verified: torchvision refuses to load unless the file's md5 equals the official release's. This
plugin does that check itself, first, with torchvision's md5 table, and reports a mismatch as a clear error
(option ``verify_checksums``, on by default); with it off, files that differ from the release are loaded as
long as they parse. Parsing is always torchvision's own (``scipy.io.loadmat`` of an md5-free subclass of
``SVHN``, which also turns ``X [32, 32, 3, N]`` into ``[N, 3, 32, 32]``); MATLAB files hold only arrays,
structs and cells, so reading one runs no code from it, and no pickle is involved. Downloads are verified by
torchvision whatever the option says. This plugin then checks image and label counts agree and labels are 0..9.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from ica.plugin import BuildContext, DataSplits, hookimpl
from ica.plugins.datasets.images import ChecksummedImageOptions, OfficialFiles, estimated_image_bytes, load_official

if TYPE_CHECKING:
    from torchvision.datasets import SVHN

_SPLITS = {True: "train", False: "test"}

FILES = OfficialFiles(
    name="svhn",
    loader="torchvision.datasets.SVHN",
    folder="",
    files=("train_32x32.mat", "test_32x32.mat"),  # as md5_table() names them
    shape=(3, 32, 32),
    source="train_32x32.mat and test_32x32.mat from http://ufldl.stanford.edu/housenumbers/",
    sizes=(73257, 26032),
)


class SVHNOptions(ChecksummedImageOptions):
    """SVHN from ``<root>/{train,test}_32x32.mat``: official train set to train, test set to evaluate."""

    def estimated_bytes(self) -> int | None:
        """Memory of the pixels as read and of the splits built from them (nothing is read to say so)."""
        return estimated_image_bytes(FILES, self)


def _official() -> type[SVHN]:
    """torchvision's SVHN, imported on first use: importing torchvision costs seconds, and every ``ica``
    command loads this plugin."""
    from torchvision import datasets

    return datasets.SVHN


@cache
def md5_table() -> dict[str, str]:
    """The official files' md5 sums, from torchvision's own table."""
    table = _official().split_list
    return {table[split][1]: table[split][2] for split in _SPLITS.values()}


@cache
def _unchecked() -> type[SVHN]:
    """torchvision's SVHN without its md5 check (`load_svhn` makes it itself when asked)."""
    from torchvision.datasets import SVHN  # on first use, as `_official`

    class UncheckedSVHN(SVHN):
        split_list = {split: [url, name, None] for split, (url, name, _) in SVHN.split_list.items()}

    return UncheckedSVHN


def _read(root: str, train: bool) -> tuple[np.ndarray, np.ndarray]:
    loaded = _unchecked()(root, split=_SPLITS[train], download=False)
    return loaded.data, loaded.labels


def _fetch(root: str) -> None:
    """Download (and verify) the missing files only: a present file is never overwritten."""
    for split in _SPLITS.values():
        if not os.path.isfile(os.path.join(root, _official().split_list[split][1])):
            _official()(root, split=split, download=True)


def load_svhn(options: SVHNOptions) -> DataSplits:
    """SVHN as `DataSplits` (see the module docstring)."""
    info = {
        "checksums": "verified against torchvision's md5 table"
        if options.verify_checksums
        else "not verified (verify_checksums is false)"
    }
    return load_official(FILES, options, _fetch, _read, md5_table() if options.verify_checksums else None, info)


def build(options: SVHNOptions, ctx: BuildContext) -> DataSplits:
    """SVHN; ``ctx`` is not needed."""
    return load_svhn(options)


@hookimpl
def ica_register(register):
    register(
        "dataset",
        "svhn",
        SVHNOptions,
        build,
        description="SVHN house-number digits [3,32,32] via torchvision; u = digit.",
    )
