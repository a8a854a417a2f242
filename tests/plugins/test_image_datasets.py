"""The image data sets: tiny files in each torchvision loader's real on-disk format, read back through the plugins.

The expected arrays are built here from the documented formats (idx big-endian headers, CIFAR's 3072-byte rows
R|G|B row-major, SVHN's MATLAB ``X[row, col, channel, n]``), not from the plugins' code.
"""

from __future__ import annotations

import hashlib
import math
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from pydantic import ValidationError
from torchvision import datasets

import ica
from ica.errors import DataError, SpecError
from ica.plugins.datasets import cifar10 as cifar_plugin
from ica.plugins.datasets import digits as digits_plugin
from ica.plugins.datasets import images as images_module
from ica.plugins.datasets import mnist as mnist_plugin
from ica.plugins.datasets import svhn as svhn_plugin
from ica.plugins.datasets.cifar10 import CIFAR10Options, load_cifar10
from ica.plugins.datasets.digits import DigitsOptions, load_digits
from ica.plugins.datasets.mnist import MNISTOptions, load_mnist
from ica.plugins.datasets.svhn import SVHNOptions, load_svhn
from ica.components.protocols import BuildContext, DataSplits

N_TRAIN, N_TEST = 6, 4
TRAIN_LABELS = np.array([3, 0, 4, 1, 5, 9])
TEST_LABELS = np.array([2, 6, 0, 7])
MARK_A, MARK_B = 200, 201  # values no other pixel has (the rest are drawn from 0..199)


def images(rng: np.random.Generator, n: int, c: int, h: int, w: int) -> np.ndarray:
    """Random uint8 images [n, c, h, w]; image 2 has MARK_A at (c-1, 3, 5) and MARK_B at (0, 5, 3)."""
    out = rng.integers(0, 200, size=(n, c, h, w), dtype=np.uint8)
    out[:, 0, 0, 0] = 0  # every split has exact black ...
    out[:, -1, -1, -1] = 255  # ... and exact white pixels
    if n > 2:
        out[2, c - 1, 3, 5] = MARK_A
        out[2, 0, 5, 3] = MARK_B
    return out


# ---------------------------------------------------------------------------------- file writers
def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    """An idx file: big-endian magic, one big-endian uint32 per dimension, then the bytes row-major."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_mnist(root: Path, train: np.ndarray, test: np.ndarray, train_labels=TRAIN_LABELS, test_labels=TEST_LABELS):
    raw = root / "MNIST" / "raw"
    write_idx(raw / "train-images-idx3-ubyte", train[:, 0], 2051)
    write_idx(raw / "train-labels-idx1-ubyte", train_labels, 2049)
    write_idx(raw / "t10k-images-idx3-ubyte", test[:, 0], 2051)
    write_idx(raw / "t10k-labels-idx1-ubyte", test_labels, 2049)


def cifar_rows(pixels: np.ndarray) -> np.ndarray:
    """CIFAR's on-disk rows: 1024 red values (row-major 32×32), then 1024 green, then 1024 blue."""
    rows = np.empty((pixels.shape[0], 3072), dtype=np.uint8)
    for i, image in enumerate(pixels):
        rows[i] = np.concatenate([image[ch].ravel() for ch in range(3)])
    return rows


def write_cifar(root: Path, train: np.ndarray, test: np.ndarray, train_labels=TRAIN_LABELS, test_labels=TEST_LABELS):
    """The python-version batches, pickled as dicts; the real batches were pickled by Python 2, whose byte-string
    keys torchvision's ``encoding='latin1'`` turns into the str keys written here."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    bounds = [0, 2, 3, 4, 5, 6]  # six training images over five batches, in order
    for b in range(5):
        part = slice(bounds[b], bounds[b + 1])
        batch = {
            "batch_label": f"training batch {b + 1} of 5",
            "labels": train_labels[part].tolist(),
            "data": cifar_rows(train[part]),
            "filenames": [f"img{i}.png" for i in range(*part.indices(6))],
        }
        (folder / f"data_batch_{b + 1}").write_bytes(pickle.dumps(batch, protocol=2))
    test_batch = {
        "batch_label": "testing batch 1 of 1",
        "labels": test_labels.tolist(),
        "data": cifar_rows(test),
        "filenames": [f"t{i}.png" for i in range(len(test))],
    }
    (folder / "test_batch").write_bytes(pickle.dumps(test_batch, protocol=2))
    meta = {
        "label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
        "num_cases_per_batch": 10000,
        "num_vis": 3072,
    }
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))


def svhn_labels(labels: np.ndarray) -> np.ndarray:
    """SVHN's files call the digit 0 "10"."""
    return np.where(labels == 0, 10, labels).astype(np.uint8).reshape(-1, 1)


def write_svhn(root: Path, train: np.ndarray, test: np.ndarray, train_labels=TRAIN_LABELS, test_labels=TEST_LABELS):
    """``X[row, col, channel, n]`` uint8 and ``y[n, 1]``, as in the cropped-digits .mat files."""
    root.mkdir(parents=True, exist_ok=True)
    for name, pixels, labels in (("train", train, train_labels), ("test", test, test_labels)):
        x = np.ascontiguousarray(pixels.transpose(2, 3, 1, 0))  # [n, c, h, w] -> [h, w, c, n]
        scipy.io.savemat(root / f"{name}_32x32.mat", {"X": x, "y": svhn_labels(labels)})


SETS = {
    "mnist": dict(
        write=write_mnist,
        load=load_mnist,
        options=MNISTOptions,
        shape=(1, 28, 28),
        extra={},
        module=mnist_plugin,
        official=datasets.MNIST,
    ),
    "cifar10": dict(
        write=write_cifar,
        load=load_cifar10,
        options=CIFAR10Options,
        shape=(3, 32, 32),
        extra={"verify_checksums": False},
        module=cifar_plugin,
        official=datasets.CIFAR10,
    ),
    "svhn": dict(
        write=write_svhn,
        load=load_svhn,
        options=SVHNOptions,
        shape=(3, 32, 32),
        extra={"verify_checksums": False},
        module=svhn_plugin,
        official=datasets.SVHN,
    ),
}
EXPECTED_FILES = {
    "mnist": [
        "MNIST/raw/train-images-idx3-ubyte",
        "MNIST/raw/train-labels-idx1-ubyte",
        "MNIST/raw/t10k-images-idx3-ubyte",
        "MNIST/raw/t10k-labels-idx1-ubyte",
    ],
    "cifar10": [
        f"cifar-10-batches-py/{f}"
        for f in [
            "data_batch_1",
            "data_batch_2",
            "data_batch_3",
            "data_batch_4",
            "data_batch_5",
            "test_batch",
            "batches.meta",
        ]
    ],
    "svhn": ["train_32x32.mat", "test_32x32.mat"],
}


class Written:
    """A root with tiny official-format files, and the pixels/labels written there."""

    def __init__(self, name: str, root: Path, seed: int = 0):
        self.name, self.root, self.set = name, root, SETS[name]
        rng = np.random.default_rng(seed)
        self.train = images(rng, N_TRAIN, *self.set["shape"])
        self.test = images(rng, N_TEST, *self.set["shape"])
        self.set["write"](root, self.train, self.test)

    def options(self, **changes):
        return self.set["options"](root=str(self.root), **{**self.set["extra"], **changes})

    def load(self, **changes) -> DataSplits:
        return self.set["load"](self.options(**changes))


@pytest.fixture(params=list(SETS))
def written(request, tmp_path) -> Written:
    return Written(request.param, tmp_path / "data")


def unit(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float32) / np.float32(255)


def expect_error(load, where: str, *fragments: str) -> DataError:
    with pytest.raises(DataError) as info:
        load()
    err = info.value
    assert err.where == where
    for fragment in fragments:
        assert fragment in err.message, f"{fragment!r} not in {err.message!r}"
    assert "Traceback" not in err.message
    assert err.__cause__ is None  # no torchvision exception chained to it ...
    assert err.__context__ is None or err.__suppress_context__  # ... nor shown as its context
    return err


# ============================================================================== the official sets
def test_shapes_dtypes_values_and_labels(written):
    data = written.load()
    assert isinstance(data, DataSplits) and data.n_u == 10 and data.source_dim is None
    assert data.x_shape == written.set["shape"]
    for split, pixels, labels in ((data.train, written.train, TRAIN_LABELS), (data.eval, written.test, TEST_LABELS)):
        assert split.x.shape == pixels.shape and split.x.dtype == torch.float32
        assert split.u.dtype == torch.int64 and split.u.tolist() == labels.tolist()
        assert split.s is None
        assert split.x.min() == 0.0 and split.x.max() == 1.0
        x = split.x.numpy()
        np.testing.assert_array_equal(x, unit(pixels))  # exactly k/255, rounded once to float32
        np.testing.assert_allclose(x, pixels / 255.0, rtol=1e-7, atol=0)


def test_layout_is_channels_rows_columns(written):
    x = written.load().train.x[2]
    c = written.set["shape"][0]
    assert x[c - 1, 3, 5] == np.float32(MARK_A) / np.float32(255)
    assert x[0, 5, 3] == np.float32(MARK_B) / np.float32(255)
    marks = (x * 255).round()
    assert int((marks == MARK_A).sum()) == 1 and int((marks == MARK_B).sum()) == 1


def test_info_records_the_source(written):
    data = written.load(limit_train=5)
    info = data.info
    assert info["dataset"] == written.name and info["root"] == str(written.root.resolve())
    assert info["n_train"] == 5 and info["n_eval"] == N_TEST
    assert info["n_train_available"] == N_TRAIN and info["n_eval_available"] == N_TEST
    assert "official training set" in info["train_split"] and "official test set" in info["eval_split"]
    assert info["binarize"] == "none" and info["x_shape"] == list(written.set["shape"])
    assert "checksums" in info and info["options"]["limit_train"] == 5


def test_relative_root_resolves_from_the_working_directory(tmp_path, monkeypatch):
    Written("mnist", tmp_path / "here" / "data")
    monkeypatch.chdir(tmp_path / "here")
    assert len(load_mnist(MNISTOptions()).train) == N_TRAIN  # the default root is "data"


def test_svhn_label_ten_is_digit_zero(tmp_path):
    written = Written("svhn", tmp_path)
    stored = scipy.io.loadmat(tmp_path / "train_32x32.mat")["y"].ravel()
    assert stored.tolist() == [3, 10, 4, 1, 5, 9]
    data = written.load()
    assert data.train.u.tolist() == [3, 0, 4, 1, 5, 9] and data.eval.u.tolist() == [2, 6, 0, 7]


@pytest.mark.parametrize("limit_train, limit_eval, n_train, n_eval", [(4, 3, 4, 3), (1, None, 1, 4), (100, 100, 6, 4)])
def test_limits_keep_the_first_examples(written, limit_train, limit_eval, n_train, n_eval):
    data = written.load(limit_train=limit_train, limit_eval=limit_eval)
    assert len(data.train) == n_train and len(data.eval) == n_eval
    np.testing.assert_array_equal(data.train.x.numpy(), unit(written.train[:n_train]))
    np.testing.assert_array_equal(data.eval.x.numpy(), unit(written.test[:n_eval]))
    assert data.train.u.tolist() == TRAIN_LABELS[:n_train].tolist()
    assert data.eval.u.tolist() == TEST_LABELS[:n_eval].tolist()


# ================================================================================== binarisation
def test_threshold_binarisation_is_exact(written):
    data = written.load(binarize="threshold")
    for split, pixels in ((data.train, written.train), (data.eval, written.test)):
        np.testing.assert_array_equal(split.x.numpy(), (pixels >= 128).astype(np.float32))  # k/255 > 1/2 ⟺ k ≥ 128
    assert data.info["binarize"] == "threshold"


def documented_sample(pixels: np.ndarray, seed: int, which: int) -> np.ndarray:
    """The module docstring's recipe: spawn(2) of PCG64(seed); pixel = 1 when U < k/255 (float32), C order."""
    rng = np.random.Generator(np.random.PCG64(seed)).spawn(2)[which]
    return (rng.random(pixels.shape) < unit(pixels)).astype(np.float32)


def test_sample_binarisation_follows_the_recipe_and_never_changes(written):
    a = written.load(binarize="sample", binarize_seed=3)
    b = written.load(binarize="sample", binarize_seed=3)
    np.testing.assert_array_equal(a.train.x.numpy(), documented_sample(written.train, 3, 0))
    np.testing.assert_array_equal(a.eval.x.numpy(), documented_sample(written.test, 3, 1))
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.eval.x, b.eval.x)
    assert set(torch.unique(a.train.x).tolist()) == {0.0, 1.0}
    assert a.info["binarize"] == "sample" and a.info["binarize_seed"] == 3
    other = written.load(binarize="sample", binarize_seed=4)
    assert not torch.equal(a.train.x, other.train.x)
    # black pixels never and white pixels always become 1
    assert (a.train.x[:, 0, 0, 0] == 0).all() and (a.train.x[:, -1, -1, -1] == 1).all()


def test_sample_binarisation_does_not_depend_on_the_limits(written):
    full = written.load(binarize="sample")
    short = written.load(binarize="sample", limit_train=3, limit_eval=2)
    assert torch.equal(short.train.x, full.train.x[:3]) and torch.equal(short.eval.x, full.eval.x[:2])


def test_sample_binarisation_in_blocks_equals_one_draw(monkeypatch):
    x = torch.rand(7, 1, 3, 3)
    from ica.components import binarizing

    whole = binarizing.sample_binary(x, np.random.default_rng(5))
    monkeypatch.setattr(binarizing, "BLOCK_ROWS", 2)
    assert torch.equal(binarizing.sample_binary(x, np.random.default_rng(5)), whole)
    expected = np.random.default_rng(5).random((7, 1, 3, 3)) < x.numpy()
    np.testing.assert_array_equal(whole.numpy(), expected.astype(np.float32))


# ======================================================================================= failures
@pytest.mark.parametrize("name", list(SETS))
def test_missing_files_name_the_layout(tmp_path, name):
    root = tmp_path / "nowhere"
    load = lambda: SETS[name]["load"](SETS[name]["options"](root=str(root), **SETS[name]["extra"]))  # noqa: E731
    expected = [str(root / f) for f in EXPECTED_FILES[name]]
    expect_error(
        load,
        "data.root",
        name,
        str(root),
        '"download": true',
        "download is off",
        SETS[name]["official"].__name__,
        *expected,
    )


def test_one_missing_file_is_named(written):
    missing = EXPECTED_FILES[written.name][-1]
    (written.root / missing).unlink()
    err = expect_error(written.load, "data.root", f"missing: {Path(missing).name}")
    assert f"missing: {Path(EXPECTED_FILES[written.name][0]).name}" not in err.message


@pytest.mark.parametrize("name", list(SETS))
def test_failed_download_is_one_clear_error(tmp_path, monkeypatch, name):
    def no_network(self, *args, **kwargs):
        raise RuntimeError("Error downloading: <urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(SETS[name]["official"], "download", no_network)
    root = tmp_path / "data"
    options = SETS[name]["options"](root=str(root), download=True, **SETS[name]["extra"])
    expect_error(
        lambda: SETS[name]["load"](options),
        "data.download",
        name,
        "downloading into",
        "name resolution",
        str(root / EXPECTED_FILES[name][0]),
    )


@pytest.mark.parametrize("name", list(SETS))
def test_download_goes_through_torchvision_and_then_loads(tmp_path, monkeypatch, name):
    calls = []

    def fake_download(self, *args, **kwargs):  # stands in for the network: writes the official layout
        calls.append(type(self))
        if not calls[1:]:
            Written(name, Path(self.root))

    official = SETS[name]["official"]
    monkeypatch.setattr(official, "download", fake_download)
    if name != "mnist":  # after downloading, torchvision md5-checks the files, which tiny files cannot pass
        monkeypatch.setattr(official, "_check_integrity", lambda self: True)
    if name == "cifar10":
        monkeypatch.setitem(official.meta, "md5", None)
    data = SETS[name]["load"](SETS[name]["options"](root=str(tmp_path), download=True, **SETS[name]["extra"]))
    assert len(data.train) == N_TRAIN and calls[0] is SETS[name]["official"]  # the unmodified, verifying class
    calls.clear()
    SETS[name]["load"](SETS[name]["options"](root=str(tmp_path), download=True, **SETS[name]["extra"]))
    assert calls == []  # files present: nothing is downloaded again


@pytest.mark.parametrize(
    "name, file",
    [
        ("mnist", "MNIST/raw/train-images-idx3-ubyte"),
        ("mnist", "MNIST/raw/t10k-labels-idx1-ubyte"),
        ("cifar10", "cifar-10-batches-py/data_batch_3"),
        ("cifar10", "cifar-10-batches-py/test_batch"),
        ("cifar10", "cifar-10-batches-py/batches.meta"),
        ("svhn", "train_32x32.mat"),
        ("svhn", "test_32x32.mat"),
    ],
)
@pytest.mark.parametrize("content", [b"", b"this is not an image file at all" * 10])
def test_corrupt_file_is_one_clear_error(tmp_path, name, file, content):
    written = Written(name, tmp_path)
    (tmp_path / file).write_bytes(content)
    expect_error(
        written.load, "data.root", name, "could not be read", "corrupt", str(tmp_path / EXPECTED_FILES[name][0])
    )


def test_mnist_truncated_images_are_an_error(tmp_path):
    written = Written("mnist", tmp_path)
    path = tmp_path / "MNIST/raw/train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    expect_error(written.load, "data.root", "mnist", "training", "could not be read")


@pytest.mark.parametrize("name", list(SETS))
def test_label_count_must_match_image_count(tmp_path, name):
    rng = np.random.default_rng(1)
    root = tmp_path / "data"
    SETS[name]["write"](
        root,
        images(rng, N_TRAIN, *SETS[name]["shape"]),
        images(rng, N_TEST, *SETS[name]["shape"]),
        test_labels=TEST_LABELS[:3],
    )
    load = lambda: SETS[name]["load"](SETS[name]["options"](root=str(root), **SETS[name]["extra"]))  # noqa: E731
    expect_error(load, "data.root", name, "test", "4 images but 3 labels")


def test_labels_outside_the_ten_classes_are_an_error(tmp_path):
    rng = np.random.default_rng(1)
    write_mnist(
        tmp_path,
        images(rng, N_TRAIN, 1, 28, 28),
        images(rng, N_TEST, 1, 28, 28),
        train_labels=np.array([3, 0, 12, 1, 5, 9]),
    )
    expect_error(lambda: load_mnist(MNISTOptions(root=str(tmp_path))), "data.root", "training", "[12]", "0..9")


def test_mnist_images_must_be_28_by_28(tmp_path):
    rng = np.random.default_rng(1)
    write_mnist(tmp_path, images(rng, N_TRAIN, 1, 20, 20), images(rng, N_TEST, 1, 20, 20))
    expect_error(lambda: load_mnist(MNISTOptions(root=str(tmp_path))), "data.root", "[1, 20, 20]", "[1, 28, 28]")


@pytest.mark.parametrize("name", ["cifar10", "svhn"])
def test_checksums_are_verified_by_default(tmp_path, name):
    Written(name, tmp_path)
    assert SETS[name]["options"]().verify_checksums is True
    load = lambda: SETS[name]["load"](SETS[name]["options"](root=str(tmp_path)))  # noqa: E731
    err = expect_error(load, "data.verify_checksums", name, "md5", '"verify_checksums": false', '"download": true')
    for f in EXPECTED_FILES[name]:
        assert Path(f).name in err.message  # every tiny file differs from the official release


@pytest.mark.parametrize("name", ["cifar10", "svhn"])
def test_matching_checksums_load(tmp_path, monkeypatch, name):
    Written(name, tmp_path)
    module = SETS[name]["module"]
    for f in EXPECTED_FILES[name]:
        monkeypatch.setitem(module.md5_table(), Path(f).name, hashlib.md5((tmp_path / f).read_bytes()).hexdigest())
    data = SETS[name]["load"](SETS[name]["options"](root=str(tmp_path)))
    assert len(data.train) == N_TRAIN and data.info["checksums"].startswith("verified")
    monkeypatch.setitem(module.md5_table(), Path(EXPECTED_FILES[name][0]).name, "0" * 32)
    err = expect_error(lambda: SETS[name]["load"](SETS[name]["options"](root=str(tmp_path))), "data.verify_checksums")
    assert Path(EXPECTED_FILES[name][1]).name not in err.message.split(" in ")[0]  # only the wrong file is named


def test_torchvision_md5_table_is_used():
    """The official checksums come from torchvision itself, not from a copy."""
    assert cifar_plugin.md5_table()["data_batch_1"] == datasets.CIFAR10.train_list[0][1]
    assert cifar_plugin.md5_table()["batches.meta"] == datasets.CIFAR10.meta["md5"]
    assert svhn_plugin.md5_table()["test_32x32.mat"] == datasets.SVHN.split_list["test"][2]
    for plugin in (cifar_plugin, svhn_plugin):  # the files the plugin looks for are the ones torchvision reads
        assert sorted(plugin.FILES.files) == sorted(plugin.md5_table())
    assert cifar_plugin.FILES.folder == datasets.CIFAR10.base_folder


# ======================================================================================== digits
DIGIT_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]  # per class, from the UCI description


def test_digits_sizes_values_and_classes():
    data = load_digits(DigitsOptions())
    assert len(data.train) + len(data.eval) == 1797
    eval_counts = [math.floor(n * 0.2 + 0.5) for n in DIGIT_COUNTS]
    assert sum(eval_counts) == 359 and len(data.eval) == 359 and len(data.train) == 1438
    assert torch.bincount(data.eval.u, minlength=10).tolist() == eval_counts
    assert torch.bincount(data.train.u, minlength=10).tolist() == [n - e for n, e in zip(DIGIT_COUNTS, eval_counts)]
    assert data.n_u == 10 and data.x_shape == (1, 8, 8) and data.train.s is None
    for split in (data.train, data.eval):
        assert split.x.dtype == torch.float32 and split.u.dtype == torch.int64
        levels = split.x * 16
        assert torch.equal(levels, levels.round()) and split.x.min() == 0 and split.x.max() == 1


def test_digits_split_follows_the_documented_recipe():
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    data = load_digits(DigitsOptions(split_seed=4, eval_fraction=0.3))
    rng = np.random.Generator(np.random.PCG64(4))
    held = np.concatenate(
        [
            rng.permutation(np.flatnonzero(bunch.target == c))[: math.floor(n * 0.3 + 0.5)]
            for c, n in enumerate(DIGIT_COUNTS)
        ]
    )
    held = np.sort(held)
    kept = np.setdiff1d(np.arange(1797), held)
    np.testing.assert_array_equal(data.eval.x.numpy()[:, 0], (bunch.images[held] / 16).astype(np.float32))
    np.testing.assert_array_equal(data.train.x.numpy()[:, 0], (bunch.images[kept] / 16).astype(np.float32))
    assert data.eval.u.tolist() == bunch.target[held].tolist()


def test_digits_split_is_deterministic_and_seeded():
    a, b = load_digits(DigitsOptions()), load_digits(DigitsOptions())
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.eval.u, b.eval.u)
    c = load_digits(DigitsOptions(split_seed=1))
    assert len(c.eval) == 359 and not torch.equal(a.eval.x, c.eval.x)


def test_digits_binarisation():
    grey = load_digits(DigitsOptions())
    threshold = load_digits(DigitsOptions(binarize="threshold"))
    assert torch.equal(threshold.train.x, (grey.train.x * 16 >= 9).float())  # v/16 > 1/2 ⟺ v ≥ 9
    sample = load_digits(DigitsOptions(binarize="sample", binarize_seed=2))
    rng = np.random.Generator(np.random.PCG64(2)).spawn(2)[1]
    expected = rng.random(grey.eval.x.shape) < grey.eval.x.numpy()
    np.testing.assert_array_equal(sample.eval.x.numpy(), expected.astype(np.float32))
    assert torch.equal(sample.eval.x, load_digits(DigitsOptions(binarize="sample", binarize_seed=2)).eval.x)


def test_digits_fraction_too_small_for_an_eval_split():
    expect_error(lambda: load_digits(DigitsOptions(eval_fraction=0.001)), "data.eval_fraction", "0 evaluation")


# ================================================================================ spec and plugin
def test_spec_validates_and_the_registry_builds_mnist(tmp_path):
    written = Written("mnist", tmp_path / "data")
    spec = ica.load_spec(
        {
            "data": {"name": "mnist", "root": str(written.root), "limit_eval": 2, "binarize": "threshold"},
            "model": {"name": "ivae"},
        }
    )
    assert spec.data.name == "mnist" and spec.data.download is False
    data = ica.registry().build(spec.data, BuildContext())
    assert isinstance(data, DataSplits) and data.x_shape == (1, 28, 28) and len(data.eval) == 2
    np.testing.assert_array_equal(data.train.x.numpy(), (written.train >= 128).astype(np.float32))


@pytest.mark.parametrize(
    "data",
    [
        {"name": "mnist", "limit_train": 0},
        {"name": "mnist", "binarize": "yes"},
        {"name": "cifar10", "folder": "x"},
        {"name": "digits", "eval_fraction": 1.0},
        {"name": "svhn", "binarize_seed": -1},
    ],
)
def test_spec_rejects_bad_image_options(data):
    with pytest.raises(SpecError):
        ica.load_spec({"data": data, "model": {"name": "ivae"}})


@pytest.mark.parametrize("options", [MNISTOptions, CIFAR10Options, SVHNOptions, DigitsOptions])
def test_options_reject_unknown_keys_and_describe_every_field(options):
    with pytest.raises(ValidationError):
        options(bogus=1)
    for name, info in options.model_fields.items():
        assert info.description, f"{options.__name__}.{name} has no description"


def test_plugins_register_their_datasets():
    calls = []

    def register(kind, name, options, build, description=""):
        calls.append((kind, name, options, build, description))

    modules = {"digits": digits_plugin, "mnist": mnist_plugin, "cifar10": cifar_plugin, "svhn": svhn_plugin}
    for module in modules.values():
        module.ica_register(register)
    assert [(c[0], c[1]) for c in calls] == [("dataset", name) for name in modules]
    for call, module in zip(calls, modules.values()):
        assert call[3] is module.build and call[4] and "\n" not in call[4]
    assert not hasattr(images_module, "ica_register")  # shared helpers, not a plugin
    assert set(modules) <= set(ica.registry().names("dataset"))
