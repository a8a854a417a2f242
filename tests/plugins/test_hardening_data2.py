"""Issue #27, data sets: data that carries nothing to learn is refused, whichever plugin made it (5), and a data
path that is no data file names the field and the file (9)."""

from __future__ import annotations

import errno
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import ica.plugins.datasets.npz_files as npz_files
from ica.components.protocols import DataSplits, Split
from ica.components.registry import Registry
from ica.errors import DataError, IcaError, SpecError
from ica.plugin import DatasetOptions, hookimpl
from ica.plugins.datasets.npz import NPZOptions, load_npz
from ica.running.validate import check

IVAE = {"name": "ivae", "encoder": {"name": "mlp", "hidden": [8]}, "decoder": {"name": "mlp", "hidden": [8]}}


def npz_spec(path: Path, model: dict = IVAE, **data) -> dict:
    return {
        "data": {"name": "npz", "path": str(path), **data},
        "models": {"m": model},
        "seeds": 1,
        "device": "cpu",
        "training": {"steps": 2, "batch_size": 8},
    }


def refused(spec: dict, reg: Registry | None = None) -> IcaError:
    with pytest.raises(IcaError) as info:
        check(spec, reg)
    return info.value


# ------------------------------------------------------------------------------------ 5: no features
@pytest.mark.parametrize("shape", [(200, 0), (200, 3, 0), (200, 0, 4)])
def test_npz_observations_without_values_are_refused(tmp_path, shape):
    """x of shape (200, 0) validated and trained, reporting CCA-MCC 0.333 and ARI 1.000 on no information."""
    path = tmp_path / "empty.npz"
    np.savez(path, x=np.zeros(shape, np.float32), u=np.repeat(np.arange(4), 50), s=np.ones((200, 2)))
    err = refused(npz_spec(path))
    assert err.where == "data.x_key" and str(path) in err.message and f"{list(shape)}" in err.message
    assert "hold no values" in err.message


def test_npz_sources_without_columns_are_refused(tmp_path):
    path = tmp_path / "no_sources.npz"
    np.savez(path, x=np.random.default_rng(0).normal(size=(100, 3)), s=np.zeros((100, 0)))
    with pytest.raises(DataError) as info:
        load_npz(NPZOptions(path=str(path)))
    assert info.value.where == "data.sources_key" and "no sources" in info.value.message


def test_one_value_of_u_is_refused_for_a_model_that_needs_u(tmp_path):
    """iVAE's p(z|u) with one u is a plain VAE with a learnt Gaussian prior: nothing makes it identifiable."""
    path = tmp_path / "one_u.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(100, 3)), u=np.zeros(100, np.int64), s=rng.normal(size=(100, 3)))
    err = refused(npz_spec(path))
    assert isinstance(err, SpecError) and err.where == "models.m" and "at least 2 values" in err.message
    vade = {**IVAE, "name": "vade", "prior": {"name": "gmm", "components": 3}}
    assert check(npz_spec(path, vade))["data"]["n_u"] == 1  # a model that does not need u trains on it


def test_cebra_contrasting_by_a_single_u_is_refused(tmp_path):
    pytest.importorskip("cebra")
    path = tmp_path / "one_u.npz"
    np.savez(path, x=np.random.default_rng(0).normal(size=(100, 3)), u=np.zeros(100, np.int64))
    err = refused(npz_spec(path, {"name": "cebra", "latent_dim": 2}))
    assert err.where == "models.m" and "only one value" in err.message


class BareOptions(DatasetOptions):
    """A third-party data set that returns whatever the test gives it."""


def plugin(splits: DataSplits) -> Registry:
    module = types.ModuleType("bare_plugin")
    module.ica_register = hookimpl(lambda register: register("dataset", "bare", BareOptions, lambda o, c: splits))
    return Registry.load(entry_points=False, extra=[("tests", module)])


def splits(n_train: int = 20, n_eval: int = 10, x_shape=(3,), eval_shape=None, sources: int | None = 3) -> DataSplits:
    def split(n: int, shape) -> Split:
        s = None if sources is None else torch.randn(n, sources)
        return Split(torch.randn(n, *shape), torch.arange(n) % 2, s)

    return DataSplits(split(n_train, x_shape), split(n_eval, eval_shape or x_shape), n_u=2)


@pytest.mark.parametrize(
    "data, fragment",
    [
        (splits(x_shape=(0,)), "each example x has shape [0], which holds no values"),
        (splits(x_shape=(2, 0)), "each example x has shape [2, 0]"),
        (splits(n_eval=0), "the evaluation split has 0 example(s); each split needs at least 2"),
        (splits(n_eval=1), "the evaluation split has 1 example(s)"),
        (splits(n_train=1), "the training split has 1 example(s)"),
        (splits(sources=0), "the sources s have no columns"),
        (splits(eval_shape=(4,)), "evaluation examples have shape [4], training examples [3]"),
    ],
)
def test_any_plugin_s_data_without_information_is_refused(tiny_spec, data, fragment):
    """The core checks what every data set returns: a plugin's empty split or featureless x is one message."""
    tiny_spec["data"] = {"name": "bare"}
    tiny_spec["models"] = {"m": {**IVAE, "latent_dim": 2}}
    err = refused(tiny_spec, plugin(data))
    assert isinstance(err, DataError) and err.where == "data" and fragment in err.message


def test_a_plugin_s_sound_data_is_accepted(tiny_spec):
    tiny_spec["data"] = {"name": "bare"}
    tiny_spec["models"] = {"m": {**IVAE, "latent_dim": 2}}
    assert check(tiny_spec, plugin(splits()))["data"]["n_eval"] == 10


# ----------------------------------------------------------------------- 9: not a data file at all
@pytest.mark.parametrize(
    "path, fragment",
    [
        ("/proc/self/mem", "it is in /proc"),
        ("/proc/self/status", "it is in /proc"),
        ("/sys/kernel/mm/transparent_hugepage/enabled", "it is in /sys"),
    ],
)
def test_kernel_files_are_refused_naming_the_field_and_file(path, fragment):
    """/proc/self/mem is a regular file by its mode; reading it ended in a bare 'Input/output error'."""
    if not Path(path).is_file():
        pytest.skip(f"{path} is not there on this system")
    with pytest.raises(DataError) as info:
        load_npz(NPZOptions(path=path))
    assert info.value.where == "data.path" and fragment in info.value.message
    assert "not a data file" in info.value.message


def test_an_eval_path_in_proc_names_its_own_field(tmp_path):
    path = tmp_path / "ok.npz"
    np.savez(path, x=np.zeros((10, 3)))
    with pytest.raises(DataError) as info:
        load_npz(NPZOptions(path=str(path), eval_path="/proc/self/environ"))
    assert info.value.where == "data.eval_path" and "it is in /proc" in info.value.message


def test_a_read_that_fails_names_the_field_and_the_file(tmp_path, monkeypatch):
    path = tmp_path / "data.npz"
    np.savez(path, x=np.zeros((10, 3)))

    class Failing:
        def read(self, n):
            raise OSError(errno.EIO, "Input/output error")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(npz_files, "open_regular", lambda resolved, where: Failing())
    with pytest.raises(DataError) as info:
        load_npz(NPZOptions(path=str(path)))
    assert info.value.where == "data.path"
    assert info.value.message == f"{path} cannot be read (Input/output error)"
