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

import numpy as np
from torchvision import datasets

from ica.plugin import hookimpl
from ica.plugins.datasets.images import ChecksummedImageOptions, OfficialFiles, load_official
from ica.protocols import BuildContext, DataSplits

_OFFICIAL = datasets.CIFAR10
_MD5 = {name: md5 for name, md5 in _OFFICIAL.train_list + _OFFICIAL.test_list}
_MD5[_OFFICIAL.meta["filename"]] = _OFFICIAL.meta["md5"]

FILES = OfficialFiles(
    name="cifar10",
    loader="torchvision.datasets.CIFAR10",
    folder=_OFFICIAL.base_folder,
    files=tuple(_MD5),
    shape=(3, 32, 32),
    source="cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, extracted",
)


class CIFAR10Options(ChecksummedImageOptions):
    """CIFAR-10 from ``<root>/cifar-10-batches-py``: official training batches to train, test batch to evaluate."""


class _UncheckedCIFAR10(_OFFICIAL):
    """torchvision's CIFAR10 without its md5 checks (`load_cifar10` makes them itself when asked)."""

    train_list = [[name, None] for name, _ in _OFFICIAL.train_list]
    test_list = [[name, None] for name, _ in _OFFICIAL.test_list]
    meta = {**_OFFICIAL.meta, "md5": None}


def _read(root: str, train: bool) -> tuple[np.ndarray, np.ndarray]:
    loaded = _UncheckedCIFAR10(root, train=train, download=False)
    return np.ascontiguousarray(loaded.data.transpose(0, 3, 1, 2)), np.asarray(loaded.targets)


def load_cifar10(options: CIFAR10Options) -> DataSplits:
    """CIFAR-10 as `DataSplits` (see the module docstring)."""
    fetch = lambda root: _OFFICIAL(root, train=True, download=True)  # noqa: E731
    info = {"checksums": "verified against torchvision's md5 table" if options.verify_checksums
            else "not verified (verify_checksums is false)"}
    return load_official(FILES, options, fetch, _read, _MD5 if options.verify_checksums else None, info)


def build(options: CIFAR10Options, ctx: BuildContext) -> DataSplits:
    """CIFAR-10; ``ctx`` is not needed."""
    return load_cifar10(options)


@hookimpl
def ica_register(register):
    register("dataset", "cifar10", CIFAR10Options, build,
             description="CIFAR-10 colour images [3,32,32] via torchvision; u = class.")
