"""`cifar10`: CIFAR-10 (Krizhevsky, 2009) in torchvision's layout (``torchvision.datasets.CIFAR10``), as
``[N, 3, 32, 32]``.

Splits: the official 50,000 training images (``data_batch_1..5``) are the training split, the official
10,000 test images (``test_batch``) the evaluation split (``limit_train`` / ``limit_eval`` keep the first n
of each). ``x = k/255`` in channel order R, G, B (each 3072-byte row is 1024 red, 1024 green, 1024 blue
values, row-major 32×32), ``u`` = the class (0..9), no sources; binarisation as in
`ica.plugins.datasets.images`.

Files: ``<root>/cifar-10-batches-py/`` with ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and
``batches.meta`` (the extracted ``cifar-10-python.tar.gz``); ``"download": true`` lets torchvision fetch it.

What is verified: torchvision refuses to load unless every file's md5 equals the official release's, which
no subset or re-packed copy can pass. This plugin therefore does that check itself, first, with
torchvision's md5 table, and reports a mismatch as a clear error (option ``verify_checksums``, on by
default); with it off, files that differ from the release are loaded as long as they parse. Downloads are
verified by torchvision whatever the option says.

Parsing. The batches are Python pickles, and unpickling can run any code a file names. They are therefore
read, checksums verified or not, by a restricted unpickler (`CifarUnpickler`) that can build only what the
real files hold: dicts, lists, strings, bytes, numbers and numpy arrays (``_reconstruct``, ``ndarray``,
``dtype``). A file naming anything else is refused with one error naming it, and nothing in it runs. The
semantics are torchvision's: ``encoding="latin1"`` (the release was pickled by Python 2), keys ``data``
(``[n, 3072]`` uint8) and ``labels`` (or ``fine_labels``), batches concatenated in order; ``batches.meta``
must hold ``label_names``. Byte-string keys are accepted as their latin-1 text. This plugin then checks
image and label counts agree and labels are 0..9.
"""

from __future__ import annotations

import io
import pickle
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ica.plugin import BuildContext, DataError, DataSplits, hookimpl
from ica.plugins.datasets.images import ChecksummedImageOptions, OfficialFiles, estimated_image_bytes, load_official

if TYPE_CHECKING:
    from torchvision.datasets import CIFAR10

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
META = "batches.meta"

FILES = OfficialFiles(
    name="cifar10",
    loader="torchvision.datasets.CIFAR10",
    folder="cifar-10-batches-py",
    files=(*TRAIN_BATCHES, *TEST_BATCHES, META),  # as md5_table() names them
    shape=(3, 32, 32),
    source="cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, extracted",
    sizes=(50000, 10000),
    downloads=("cifar-10-python.tar.gz",),
    parser="ica's restricted CIFAR-10 unpickler (torchvision's format)",
)


class CIFAR10Options(ChecksummedImageOptions):
    """CIFAR-10 from ``<root>/cifar-10-batches-py``: official training batches to train, test batch to evaluate."""

    def estimated_bytes(self) -> int | None:
        """Memory of the pixels as read and of the splits built from them (nothing is read to say so)."""
        return estimated_image_bytes(FILES, self)


def _official() -> type[CIFAR10]:
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


# ------------------------------------------------------------------------------- restricted pickle
class _ArrayType:
    """Stands for ``numpy.ndarray`` in a pickle: usable only as the type `_reconstruct` builds, so a file
    cannot call ``ndarray(shape)`` itself."""


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's ``_reconstruct`` (the first step of unpickling an array), for plain ndarrays only."""
    if subtype is not _ArrayType:
        raise pickle.UnpicklingError("an array of a type other than numpy.ndarray")
    return _numpy_reconstruct()(np.ndarray, shape, dtype)


def _numpy_reconstruct() -> Any:
    """numpy's own ``_reconstruct`` (``numpy._core`` since numpy 2, ``numpy.core`` before)."""
    try:
        from numpy._core.multiarray import _reconstruct as numpy_reconstruct
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct as numpy_reconstruct  # type: ignore[no-redef]  # its old path
    return numpy_reconstruct


def _latin1(text: Any, encoding: Any = "latin1", *_: Any) -> bytes:
    """``_codecs.encode`` as Python 3's protocol-2 pickles use it for bytes (latin-1 text), and nothing else:
    other codecs are refused (a codec name is looked up, and so imported, by name)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise Refused(f"_codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # numpy 1.x (and Python 2) pickles
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # numpy 2 pickles
    ("numpy", "ndarray"): _ArrayType,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1,
}
"""Every global the CIFAR-10 files (and faithful re-pickles of them) need; anything else is refused."""


class Refused(pickle.UnpicklingError):
    """The pickle names a global the CIFAR-10 format never holds."""


class CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, strings, bytes, numbers and numpy arrays."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise Refused(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise Refused("a persistent id")


def unpickled(path: Path) -> Any:
    """The object pickled in ``path``, built by `CifarUnpickler` (``encoding="latin1"``, as torchvision).

    The file is read whole first, so a length the pickle claims can never exceed the file's size.
    """
    data = path.read_bytes()
    try:
        return CifarUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Refused as exc:
        raise DataError(
            f"cifar10: {path} is not a CIFAR-10 file: its pickle asks for {exc}, which the CIFAR-10 files never "
            f"hold, so it was refused before anything in it could run. Replace it with the official file "
            f"({FILES.source})",
            where="data.root",
        ) from None


def _text_keys(entry: Any, path: Path) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ValueError(f"{path.name} holds a {type(entry).__name__}, not a dict")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in entry.items()}


def _batch(path: Path) -> tuple[np.ndarray, list[Any]]:
    """``(data [n, 3072], labels)`` of one batch file, as torchvision reads them."""
    entry = _text_keys(unpickled(path), path)
    labels = entry["labels"] if "labels" in entry else entry["fine_labels"]
    if not isinstance(entry["data"], np.ndarray) or not isinstance(labels, list):
        raise ValueError(f"{path.name}: 'data' must be an array and the labels a list")
    return entry["data"], labels


def _read(root: str, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(pixels [N, 3, 32, 32] uint8, labels [N])`` of one split; ``batches.meta`` must parse too."""
    folder = FILES.directory(Path(root))
    batches = [_batch(folder / name) for name in (TRAIN_BATCHES if train else TEST_BATCHES)]
    pixels = np.vstack([data for data, _ in batches]).reshape(-1, 3, 32, 32)  # torchvision's reshape, NCHW
    labels = np.asarray([label for _, part in batches for label in part])
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels of dtype {labels.dtype}, not whole numbers")
    _text_keys(unpickled(folder / META), folder / META)["label_names"]  # torchvision reads the class names
    return np.ascontiguousarray(pixels), labels


def load_cifar10(options: CIFAR10Options) -> DataSplits:
    """CIFAR-10 as `DataSplits` (see the module docstring)."""
    # torchvision unpickles only after its md5 check of every file, so downloading through it runs no code.
    fetch = lambda root: _official()(root, train=True, download=True)  # noqa: E731
    info = {
        "checksums": "verified against torchvision's md5 table"
        if options.verify_checksums
        else "not verified (verify_checksums is false)",
        "parser": FILES.parser,
    }
    return load_official(FILES, options, fetch, _read, md5_table() if options.verify_checksums else None, info)


def build(options: CIFAR10Options, ctx: BuildContext) -> DataSplits:
    """CIFAR-10; ``ctx`` is not needed."""
    return load_cifar10(options)


@hookimpl
def ica_register(register):
    register(
        "dataset",
        "cifar10",
        CIFAR10Options,
        build,
        description="CIFAR-10 colour images [3,32,32] via torchvision; u = class.",
    )
