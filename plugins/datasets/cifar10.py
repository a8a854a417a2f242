"""`cifar10`: CIFAR-10 (Krizhevsky, 2009) through ``torchvision.datasets.CIFAR10``, as ``[N, 3, 32, 32]``.

Splits: the official 50,000 training images (``data_batch_1..5``) are the training split, the official
10,000 test images (``test_batch``) the evaluation split (``limit_train`` / ``limit_eval`` keep the first n
of each). ``x = k/255`` in channel order R, G, B (torchvision's HWC images are transposed to CHW), ``u`` =
the class (0..9), no sources; binarisation as in `ica.plugins.datasets.images`.

Files: ``<root>/cifar-10-batches-py/`` with ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and
``batches.meta`` (the extracted ``cifar-10-python.tar.gz``); ``"download": true`` lets torchvision fetch it.

What is verified: torchvision refuses to load unless every file's md5 equals the official release's, which
no subset or re-packed copy can pass. This plugin therefore does that check itself, first, with
torchvision's md5 table, and reports a mismatch as a clear error (option ``verify_checksums``, on by
default); with it off, files that differ from the release are loaded as long as they parse. Parsing is
always torchvision's own (an md5-free subclass of ``CIFAR10``): the batches are Python pickles, so only
load files you trust when checksums are off. Downloads are verified by torchvision whatever the option says.
This plugin then checks image and label counts agree and labels are 0..9.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ica.plugin import hookimpl
from ica.plugins.datasets.images import ChecksummedImageOptions, OfficialFiles, load_official
from ica.protocols import BuildContext, DataSplits

FILES = OfficialFiles(
    name="cifar10",
    loader="torchvision.datasets.CIFAR10",
    folder="cifar-10-batches-py",
    files=(*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),  # as md5_table() names them
    shape=(3, 32, 32),
    source="cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, extracted",
)


class CIFAR10Options(ChecksummedImageOptions):
    """CIFAR-10 from ``<root>/cifar-10-batches-py``: official training batches to train, test batch to evaluate."""


def _official() -> type:
    """torchvision's CIFAR10, imported on first use: importing torchvision costs seconds, and every ``ica``
    command loads this plugin."""
    from torchvision import datasets

    return datasets.CIFAR10


@cache
def md5_table() -> dict[str, str]:
    """The official files' md5 sums, from torchvision's own table."""
    official = _official()
    table = {name: md5 for name, md5 in official.train_list + official.test_list}
    table[official.meta["filename"]] = official.meta["md5"]
    return table


@cache
def _unchecked() -> type:
    """torchvision's CIFAR10 without its md5 checks (`load_cifar10` makes them itself when asked)."""
    official = _official()

    class UncheckedCIFAR10(official):
        train_list = [[name, None] for name, _ in official.train_list]
        test_list = [[name, None] for name, _ in official.test_list]
        meta = {**official.meta, "md5": None}

    return UncheckedCIFAR10


def _read(root: str, train: bool) -> tuple[np.ndarray, np.ndarray]:
    loaded = _unchecked()(root, train=train, download=False)
    return np.ascontiguousarray(loaded.data.transpose(0, 3, 1, 2)), np.asarray(loaded.targets)


def load_cifar10(options: CIFAR10Options) -> DataSplits:
    """CIFAR-10 as `DataSplits` (see the module docstring)."""
    fetch = lambda root: _official()(root, train=True, download=True)  # noqa: E731
    info = {"checksums": "verified against torchvision's md5 table" if options.verify_checksums
            else "not verified (verify_checksums is false)"}
    return load_official(FILES, options, fetch, _read, md5_table() if options.verify_checksums else None, info)


def build(options: CIFAR10Options, ctx: BuildContext) -> DataSplits:
    """CIFAR-10; ``ctx`` is not needed."""
    return load_cifar10(options)


@hookimpl
def ica_register(register):
    register("dataset", "cifar10", CIFAR10Options, build,
             description="CIFAR-10 colour images [3,32,32] via torchvision; u = class.")
