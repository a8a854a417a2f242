"""`mnist`: the MNIST digits (LeCun et al., 1998) through ``torchvision.datasets.MNIST``, as ``[N, 1, 28, 28]``.

Splits: the official 60,000 training images are the training split, the official 10,000 test images the
evaluation split (``limit_train`` / ``limit_eval`` keep the first n of each, for quick runs). ``x = k/255``,
``u`` = the digit (0..9), no sources; binarisation as in `ica.plugins.datasets.images`.

Files: torchvision reads the four *decompressed* idx files from ``<root>/MNIST/raw/``
(``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``); ``"download": true`` lets torchvision fetch and unpack them.

What is verified: torchvision checks the md5 of the ``.gz`` archives it downloads, but never the md5 of the
unpacked files it reads, and neither does this plugin (torchvision records no checksum for them). Reading
goes through torchvision's idx parser (magic number, dimensions, dtype uint8); this plugin then checks that
images are 28×28, that image and label counts agree and that labels are 0..9. torchvision's legacy
``MNIST/processed/*.pt`` files are ignored: the raw files checked above are always the ones read.
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np

from ica.plugin import BuildContext, DataSplits, hookimpl
from ica.plugins.datasets.images import OfficialFiles, OfficialImageOptions, estimated_image_bytes, load_official

FILES = OfficialFiles(
    name="mnist",
    loader="torchvision.datasets.MNIST",
    folder="MNIST/raw",
    files=("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    shape=(1, 28, 28),
    source="the four idx files of http://yann.lecun.com/exdb/mnist/, decompressed",
    sizes=(60000, 10000),
    downloads=tuple(
        f"MNIST/raw/{name}.gz"
        for name in (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        )
    ),
)


class MNISTOptions(OfficialImageOptions):
    """MNIST from ``<root>/MNIST/raw``: official training set for training, official test set for evaluation."""

    def estimated_bytes(self) -> int | None:
        """Memory of the pixels as read and of the splits built from them (nothing is read to say so)."""
        return estimated_image_bytes(FILES, self)


@cache
def _raw_mnist() -> type:
    """torchvision's MNIST reading only the raw idx files (never the legacy ``processed/*.pt``). Made on
    first use: importing torchvision costs seconds, and every ``ica`` command loads this plugin."""
    from torchvision import datasets

    class RawMNIST(datasets.MNIST):
        def _check_legacy_exist(self) -> bool:
            return False

        @property
        def raw_folder(self) -> str:  # torchvision derives the folder from the class name: keep "MNIST"
            return os.path.join(self.root, FILES.folder)

    return RawMNIST


def _read(root: str, train: bool) -> tuple[np.ndarray, np.ndarray]:
    loaded = _raw_mnist()(root, train=train, download=False)
    return loaded.data.numpy()[:, None], loaded.targets.numpy()


def _fetch(root: str) -> None:
    from torchvision import datasets

    datasets.MNIST(root, train=True, download=True)


def load_mnist(options: MNISTOptions) -> DataSplits:
    """MNIST as `DataSplits` (see the module docstring)."""
    info = {"checksums": "not verified: torchvision checks MNIST's md5 only for the .gz archives it downloads"}
    return load_official(FILES, options, _fetch, _read, None, info)


def build(options: MNISTOptions, ctx: BuildContext) -> DataSplits:
    """MNIST; ``ctx`` is not needed."""
    return load_mnist(options)


@hookimpl
def ica_register(register):
    register("dataset", "mnist", MNISTOptions, build, description="MNIST digits [1,28,28] via torchvision; u = digit.")
