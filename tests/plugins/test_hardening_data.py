"""Issue #11, the data sets' part: CIFAR pickles cannot run code (6), sizes are known before anything is
loaded or generated (7), npz paths and labels that used to give tracebacks are one clear error (14), and
checking (``ica validate``, ``--dry-run``) downloads and writes nothing (15)."""

from __future__ import annotations

import hashlib
import os
import pathlib
import pickle
import struct
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from torchvision import datasets

from conftest import made_and_peak
from ica.components.checking import DownloadNeeded, checking_only
from ica.errors import DataError
from ica.plugin import DatasetOptions
from ica.plugins.datasets import cifar10 as cifar_plugin
from ica.plugins.datasets import npz_headers
from ica.plugins.datasets.cifar10 import CIFAR10Options, load_cifar10
from ica.plugins.datasets.digits import DigitsOptions, load_digits
from ica.plugins.datasets.mnist import MNISTOptions, load_mnist
from ica.plugins.datasets.npz import NPZOptions, load_npz
from ica.plugins.datasets.svhn import SVHNOptions, load_svhn
from ica.plugins.datasets.tcl import TCLOptions, generate_tcl
from ica.plugins.datasets.sprites import SpritesOptions
from ica.plugins.datasets.ts_options import TSOptions

LABELS = {"train": [3, 0, 4, 1, 5, 9], "test": [2, 6, 0, 7]}


def expect_error(call, where: str, *fragments: str) -> DataError:
    with pytest.raises(DataError) as caught:
        call()
    err = caught.value
    assert err.where == where, err
    for fragment in fragments:
        assert fragment in err.message, (fragment, err.message)
    return err


# ============================================================================ 6: CIFAR pickles
class Payload:
    """Unpickling this calls ``Path.touch(marker)``: what an attacker's code would do, harmlessly."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def pixels(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)


def write_cifar(root: Path, protocol: int = 2, byte_keys: bool = False, numpy1_names: bool = False) -> dict:
    """Tiny batches in CIFAR's format (rows of 3072 bytes, R|G|B planes row-major); returns the pixels."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    key = (lambda k: k.encode()) if byte_keys else (lambda k: k)
    written = {"train": pixels(6, 0), "test": pixels(4, 1)}

    def dump(obj, name):
        data = pickle.dumps(obj, protocol=protocol)
        if numpy1_names:  # as numpy 1.x (and the Python 2 release) name the array constructor
            data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        (folder / name).write_bytes(data)

    bounds = [0, 2, 3, 4, 5, 6]
    for b in range(5):
        part = slice(bounds[b], bounds[b + 1])
        dump(
            {
                key("batch_label"): f"training batch {b + 1} of 5",
                key("labels"): LABELS["train"][part],
                key("data"): written["train"][part].reshape(-1, 3072),
                key("filenames"): ["a.png"],
            },
            f"data_batch_{b + 1}",
        )
    dump(
        {
            key("batch_label"): "testing batch 1 of 1",
            key("labels"): LABELS["test"],
            key("data"): written["test"].reshape(-1, 3072),
        },
        "test_batch",
    )
    dump(
        {key("label_names"): ["airplane"] * 10, key("num_cases_per_batch"): 10000, key("num_vis"): 3072}, "batches.meta"
    )
    return written


@pytest.mark.parametrize(
    "protocol, byte_keys, numpy1",
    [(2, False, False), (0, False, True), (2, True, True), (4, True, False), (4, False, False)],
)
def test_real_format_cifar_batches_still_load(tmp_path, protocol, byte_keys, numpy1):
    written = write_cifar(tmp_path, protocol, byte_keys, numpy1)
    data = load_cifar10(CIFAR10Options(root=str(tmp_path), verify_checksums=False))
    assert data.train.x.shape == (6, 3, 32, 32) and data.eval.x.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(data.train.x.numpy() * 255, written["train"].astype(np.float32))
    assert data.train.u.tolist() == LABELS["train"] and data.eval.u.tolist() == LABELS["test"]


@pytest.mark.parametrize("file", ["data_batch_3", "test_batch", "batches.meta"])
@pytest.mark.parametrize("where", ["top", "nested"])
def test_a_cifar_pickle_that_would_run_code_is_refused_and_the_code_never_runs(tmp_path, file, where):
    write_cifar(tmp_path)
    marker = tmp_path / "code-ran"
    payload = Payload(str(marker))
    obj = payload if where == "top" else {"data": np.zeros((1, 3072), np.uint8), "labels": [payload]}
    path = tmp_path / "cifar-10-batches-py" / file
    path.write_bytes(pickle.dumps(obj, protocol=2))
    err = expect_error(
        lambda: load_cifar10(CIFAR10Options(root=str(tmp_path), verify_checksums=False)),
        "data.root",
        str(path),
        "asks for __builtin__.getattr",
        "refused",
    )
    assert "\n" not in err.message
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        (os.system, ("true",)),  # posix.system
        (np.load, ("x.npy",)),  # a numpy global, but not an array constructor
        (np.ndarray, ((10**12,), np.uint8)),  # ndarray may only be the type _reconstruct builds
        (__import__("_codecs").encode, ("abc", "rot13")),  # bytes, but in a codec looked up by name
    ],
)
def test_only_the_globals_cifar_needs_are_allowed(tmp_path, payload):
    class Reduce:
        def __reduce__(self):
            return payload

    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": Reduce(), "labels": []}, protocol=2))
    expect_error(
        lambda: load_cifar10(CIFAR10Options(root=str(tmp_path), verify_checksums=False)),
        "data.root",
        str(path),
        "refused",
    )


def test_checksummed_files_go_through_the_same_restricted_reader(tmp_path, monkeypatch):
    """One loader path: even a file whose md5 is (made) official is read by the restricted unpickler."""
    write_cifar(tmp_path)
    marker = tmp_path / "code-ran"
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "data_batch_2").write_bytes(pickle.dumps(Payload(str(marker)), protocol=2))
    for name in cifar_plugin.FILES.files:
        monkeypatch.setitem(cifar_plugin.md5_table(), name, hashlib.md5((folder / name).read_bytes()).hexdigest())
    expect_error(lambda: load_cifar10(CIFAR10Options(root=str(tmp_path))), "data.root", "data_batch_2", "refused")
    assert not marker.exists()


def write_mnist(root: Path) -> None:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", 6), ("t10k", 4)):
        images = np.random.default_rng(n).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.array(LABELS["train" if n == 6 else "test"], dtype=np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())


def write_svhn(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", 6), ("test", 4)):
        x = np.ascontiguousarray(pixels(n, n).transpose(2, 3, 1, 0))
        labels = np.array(LABELS[name], dtype=np.uint8)
        scipy.io.savemat(root / f"{name}_32x32.mat", {"X": x, "y": np.where(labels == 0, 10, labels).reshape(-1, 1)})


def test_no_image_loader_unpickles_or_torch_loads(tmp_path, monkeypatch):
    """Siblings of 6: MNIST (idx files), SVHN (scipy.io.loadmat) and CIFAR-10 never reach an unrestricted
    unpickler or torch.load (torchvision's CIFAR10 calls pickle.load)."""

    def forbidden(*args, **kwargs):
        raise AssertionError("an unrestricted unpickler was used")

    for name in ("load", "loads"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    write_cifar(tmp_path / "c")
    write_mnist(tmp_path / "m")
    write_svhn(tmp_path / "s")
    assert len(load_cifar10(CIFAR10Options(root=str(tmp_path / "c"), verify_checksums=False)).train) == 6
    assert len(load_mnist(MNISTOptions(root=str(tmp_path / "m"))).train) == 6
    assert len(load_svhn(SVHNOptions(root=str(tmp_path / "s"), verify_checksums=False)).train) == 6


# ============================================================================ 7: sizes first
BUILT_IN = [TCLOptions, NPZOptions, DigitsOptions, MNISTOptions, CIFAR10Options, SVHNOptions, TSOptions, SpritesOptions]


@pytest.mark.parametrize("options", BUILT_IN)
def test_every_built_in_data_set_estimates_its_memory(options):
    assert options.estimated_bytes is not DatasetOptions.estimated_bytes


def test_image_estimates_follow_the_set_sizes_and_limits_without_reading(tmp_path):
    root = str(tmp_path / "nowhere")  # nothing there: the estimate reads nothing
    full = CIFAR10Options(root=root).estimated_bytes()
    assert full >= (50000 + 10000) * 3072 * (1 + 4)  # the uint8 files as read, the float32 x kept
    small = CIFAR10Options(root=root, limit_train=10, limit_eval=10).estimated_bytes()
    assert small < full and small >= 60000 * 3072
    assert MNISTOptions(root=root).estimated_bytes() >= 70000 * 784 * 5
    assert SVHNOptions(root=root).estimated_bytes() >= (73257 + 26032) * 3072 * 5
    assert SVHNOptions(root=root, binarize="threshold").estimated_bytes() > SVHNOptions(root=root).estimated_bytes()
    assert not (tmp_path / "nowhere").exists()


def _built_bytes(data) -> int:
    return sum(
        t.numel() * t.element_size()
        for split in (data.train, data.eval)
        for t in (split.x, split.u, split.s)
        if t is not None
    )


def test_small_estimates_cover_what_is_built():
    options = DigitsOptions()
    assert options.estimated_bytes() >= _built_bytes(load_digits(options))
    options = TCLOptions(segments=10, samples_per_segment=2000, dim=6)
    data, peak = made_and_peak(lambda: generate_tcl(options))
    assert options.estimated_bytes() >= max(peak, _built_bytes(data))


@pytest.mark.parametrize(
    "changes, at_least",
    [
        ({"segments": 10**9}, 2 * 10**9 * 5 * 8),  # means and stds [segments, dim] come first
        ({"dim": 10**6}, 10**6 * 10**6 * 8),  # the mixing matrices
        ({"samples_per_segment": 10**12}, 20 * 10**12 * 5 * 4),
        ({"eval_samples_per_segment": 10**12}, 20 * 10**12 * 5 * 4),
        ({"segments": 10**9, "samples_per_segment": 10**12, "dim": 10**6}, 10**27),
    ],
)
def test_tcl_estimates_huge_sizes_without_generating(changes, at_least):
    estimate, peak = made_and_peak(TCLOptions(**changes).estimated_bytes)
    assert estimate >= at_least and peak < 10**6


def npz_with_header(
    path: Path, shape: tuple, descr: str = "<f8", data: bytes = b"", compression: int = zipfile.ZIP_STORED
) -> Path:
    """An .npz whose x.npy claims ``shape`` but holds only ``data``."""
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr("x.npy", npy)
    return path


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_an_npz_header_claiming_a_huge_array_is_estimated_and_refused_before_allocating(tmp_path, compression):
    path = npz_with_header(tmp_path / "huge.npz", (10**11, 5), compression=compression)
    assert path.stat().st_size < 1000
    options = NPZOptions(path=str(path))
    assert options.estimated_bytes() >= 10**11 * 5 * (8 + 4)
    err = expect_error(lambda: load_npz(options), "data.x_key", str(path), "'x'", "[100000000000, 5]", "truncated")
    assert "\n" not in err.message


def test_an_npz_array_larger_than_memory_is_refused_before_allocating(tmp_path, monkeypatch):
    path = tmp_path / "ok.npz"
    np.savez(path, x=np.zeros((100, 5)))
    monkeypatch.setattr(npz_headers, "host_available", lambda: 1000)
    expect_error(lambda: load_npz(NPZOptions(path=str(path))), "data.x_key", str(path), "'x'", "available")


def test_npz_estimates_come_from_the_headers(tmp_path):
    path, eval_path = tmp_path / "a.npz", tmp_path / "b.npz"
    np.savez(path, x=np.zeros((100, 5)), u=np.zeros(100, dtype=np.int32), s=np.zeros((100, 2), np.float32))
    np.savez_compressed(eval_path, x=np.zeros((30, 5)), u=np.zeros(30, dtype=np.int32), s=np.zeros((30, 2)))
    one = NPZOptions(path=str(path)).estimated_bytes()
    assert one >= 100 * 5 * (8 + 4) + 100 * (4 + 8) + 100 * 2 * 4
    both = NPZOptions(path=str(path), eval_path=str(eval_path)).estimated_bytes()
    assert both > one
    assert both >= _built_bytes(load_npz(NPZOptions(path=str(path), eval_path=str(eval_path))))
    assert NPZOptions(path=str(tmp_path / "absent.npz")).estimated_bytes() is None  # loading says why


# ============================================================================ 14: npz paths, labels
def bad_path(kind: str, tmp_path: Path) -> str:
    if kind == "loop":
        os.symlink(tmp_path / "b.npz", tmp_path / "a.npz")
        os.symlink(tmp_path / "a.npz", tmp_path / "b.npz")
        return str(tmp_path / "a.npz")
    if kind == "nouser":
        return "~no_such_user_ica_11/x.npz"
    if kind == "nul":
        return str(tmp_path / "x\0.npz")
    if kind == "fifo":
        os.mkfifo(tmp_path / "fifo.npz")
        return str(tmp_path / "fifo.npz")
    if kind == "device":
        return "/dev/null"
    raise AssertionError(kind)


@pytest.mark.parametrize("field", ["path", "eval_path"])
@pytest.mark.parametrize(
    "kind, fragment",
    [
        ("loop", "symbolic link loop"),
        ("nouser", "home directory"),
        ("nul", "NUL byte"),
        ("fifo", "not a regular file (it is a FIFO)"),
        ("device", "not a regular file (it is a device)"),
    ],
)
def test_bad_npz_paths_are_one_clear_error(tmp_path, field, kind, fragment):
    good = tmp_path / "good.npz"
    np.savez(good, x=np.zeros((10, 2)))
    path = bad_path(kind, tmp_path)
    options = NPZOptions(**{"path": str(good), field: path})
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(_error_of(lambda: load_npz(options))), daemon=True)
    worker.start()
    worker.join(20)
    if worker.is_alive():  # a FIFO opened for reading blocks until a writer comes: unblock it, then fail
        with open(path, "wb"):
            pass
        pytest.fail(f"loading {path!r} blocked")
    err = outcome[0]
    assert isinstance(err, DataError), err
    assert err.where == f"data.{field}" and fragment in err.message, err
    assert options.estimated_bytes() is None  # the estimate never raises (nor blocks)


def _error_of(call):
    try:
        call()
    except BaseException as exc:  # noqa: BLE001 - the test inspects whatever escaped
        return exc
    return None


@pytest.mark.parametrize(
    "u, fragment",
    [
        (np.array([0, 1, 2**64 - 1, 1, 0, 1, 0, 1, 0, 1], dtype=np.uint64), "18446744073709551615"),
        (np.array([0, 1, 2**63, 1, 0, 1, 0, 1, 0, 1], dtype=np.uint64), "9223372036854775808"),
        (np.array([0, 1, 1e20, 1, 0, 1, 0, 1, 0, 1]), "1e+20"),
    ],
)
def test_labels_beyond_int64_are_too_large_not_negative(tmp_path, u, fragment):
    path = tmp_path / "big.npz"
    np.savez(path, x=np.zeros((10, 2)), u=u)
    err = expect_error(lambda: load_npz(NPZOptions(path=str(path))), "data.u_key", "too large", fragment, "row 2")
    assert "negative" not in err.message and "whole numbers" not in err.message


def test_large_but_valid_unsigned_labels_and_uint64_x_load(tmp_path):
    path = tmp_path / "fine.npz"
    big = np.iinfo(np.int64).max
    np.savez(
        path,
        x=np.arange(20, dtype=np.uint64).reshape(10, 2) * np.uint64(2**62),
        u=np.array([0, big, 0, big, 0, big, 0, big, 0, big], dtype=np.uint64),
    )
    data = load_npz(NPZOptions(path=str(path)))
    assert data.info["u_labels"] == [0, big] and data.train.x.dtype == torch.float32


# ============================================================================ 15: checking changes nothing
IMAGE_SETS = {
    "mnist": (
        MNISTOptions,
        load_mnist,
        datasets.MNIST,
        {},
        ["MNIST/raw/train-images-idx3-ubyte.gz", "MNIST/raw/t10k-labels-idx1-ubyte"],
    ),
    "cifar10": (
        CIFAR10Options,
        load_cifar10,
        datasets.CIFAR10,
        {"verify_checksums": False},
        ["cifar-10-python.tar.gz", "cifar-10-batches-py/data_batch_1", "cifar-10-batches-py/batches.meta"],
    ),
    "svhn": (SVHNOptions, load_svhn, datasets.SVHN, {"verify_checksums": False}, ["train_32x32.mat", "test_32x32.mat"]),
}


@pytest.fixture
def no_downloads(monkeypatch):
    calls = []
    for _, _, official, _, _ in IMAGE_SETS.values():
        monkeypatch.setattr(official, "download", lambda self, *a, **k: calls.append(self))
    return calls


@pytest.mark.parametrize("name", list(IMAGE_SETS))
def test_checking_says_what_run_would_download_and_downloads_nothing(tmp_path, no_downloads, name):
    options, load, _, extra, expected = IMAGE_SETS[name]
    root = tmp_path / "data"
    with checking_only(), pytest.raises(DownloadNeeded) as caught:
        load(options(root=str(root), download=True, **extra))
    err = caught.value
    assert err.root == str(root) and err.where == "data.download"
    for rel in expected:
        assert str(root / rel) in err.files
    assert f"ica run will download them into {root}" in err.message and 'Set "download"' not in err.message
    assert no_downloads == [] and not root.exists()


@pytest.mark.parametrize("name", list(IMAGE_SETS))
def test_checking_without_download_keeps_the_missing_files_error(tmp_path, no_downloads, name):
    options, load, _, extra, _ = IMAGE_SETS[name]
    with checking_only():
        err = expect_error(
            lambda: load(options(root=str(tmp_path / "data"), **extra)),
            "data.root",
            "download is off",
            '"download": true',
        )
    assert not isinstance(err, DownloadNeeded) and no_downloads == []


def test_validate_of_a_spec_that_downloads_creates_nothing(tiny_spec, tmp_path, no_downloads):
    from ica.running.validate import check

    root = tmp_path / "data"
    tiny_spec["data"] = {"name": "cifar10", "root": str(root), "download": True}
    tiny_spec["models"] = {"ivae": {"name": "ivae", "latent_dim": 2}}
    report = check(tiny_spec)
    assert report["downloads"]["root"] == str(root)
    assert str(root / "cifar-10-python.tar.gz") in report["downloads"]["files"]
    assert no_downloads == [] and not root.exists() and sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize("name", list(IMAGE_SETS))
def test_a_failed_download_does_not_ask_for_download_again(tmp_path, monkeypatch, name):
    options, load, official, extra, _ = IMAGE_SETS[name]

    def no_network(self, *args, **kwargs):
        raise RuntimeError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(official, "download", no_network)
    root = tmp_path / "data"
    err = expect_error(
        lambda: load(options(root=str(root), download=True, **extra)),
        "data.download",
        "downloading into",
        "failed",
        "name resolution",
        "place the official files",
    )
    assert '"download": true' not in err.message.lower()


def test_a_download_that_creates_nothing_says_so_truthfully(tmp_path):
    from ica.plugins.datasets import images, mnist

    root = tmp_path / "data"
    err = expect_error(
        lambda: images.ensure_files(mnist.FILES, root, True, lambda r: None),
        "data.download",
        "did not create",
        "place the official files",
        str(root / mnist.FILES.folder),
    )
    assert '"download": true' not in err.message.lower()


def test_a_checksum_mismatch_names_the_remedy_the_spec_allows(tmp_path):
    write_cifar(tmp_path)
    off = expect_error(
        lambda: load_cifar10(CIFAR10Options(root=str(tmp_path))), "data.verify_checksums", 'set "download": true'
    )
    assert "run again" not in off.message
    on = expect_error(
        lambda: load_cifar10(CIFAR10Options(root=str(tmp_path), download=True)),
        "data.verify_checksums",
        "run again",
        '"verify_checksums": false',
    )
    assert 'set "download": true' not in on.message
