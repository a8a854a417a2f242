"""A run writes down what training did to its data (``preprocessing.json``), and a loaded model prepares new data
the same way without the training data: the npz set's labels, an image set's binarisation and pixel range,
``standardize``'s statistics. A run from before the file existed still loads; a file of another format or a
damaged one is one error naming it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import ica
from conftest import unrecorded
from ica.errors import DataError, IcaError, UnverifiedRunWarning
from ica.rundir.damage import RunFileError
from ica.running.building import raw_data

MLP = {"encoder": {"name": "mlp", "hidden": [8]}, "decoder": {"name": "mlp", "hidden": [8]}}
TRAINING = {"steps": 10, "batch_size": 16, "log_every": 5}


def npz_run(root, labels=(10, 20, 35)):
    """A run on an npz file whose u labels are not 0..n_u-1; the file is deleted once the run is done."""
    rng = np.random.default_rng(0)
    u = np.repeat(np.asarray(labels), 30)
    x = rng.normal(size=(len(u), 4)) + u[:, None] / 10
    path = root / "data.npz"
    np.savez(path, x=x, u=u)
    spec = {
        "data": {"name": "npz", "path": str(path), "standardize": True},
        "seeds": 2,
        "device": "cpu",
        "models": {"ivae": {"name": "ivae", "latent_dim": 2, **MLP}},
        "training": TRAINING,
    }
    ica.run(spec, out=root / "run")
    evaluation = slice(len(u) - round(len(u) * 0.2), None)  # the npz set's default: the last 20% of rows
    path.unlink()
    return root / "run", x[evaluation], u[evaluation]


@pytest.mark.slow
def test_a_model_loads_and_encodes_without_its_training_data_labels_mapped_as_in_training(tmp_path):
    run, x, u = npz_run(tmp_path)
    stored = json.loads((run / "preprocessing.json").read_text())
    assert stored["u_labels"] == [10, 20, 35] and stored["x_shape"] == [4] and len(stored["standardize"]["mean"]) == 4
    model = ica.load(run)
    z = model.transform(x, u)  # the file's own labels, 10, 20 and 35
    for i, seed in enumerate(model.seeds):
        np.testing.assert_array_equal(z[i], np.load(run / "ivae" / "seeds" / str(seed) / "latents.npz")["latents"])
    with pytest.raises(DataError, match="u holds 11, which is not one of the labels"):
        model.transform(x, np.full(len(x), 11))


@pytest.mark.slow
def test_a_run_without_preprocessing_json_builds_its_data_again(tmp_path):
    spec = {
        "data": {
            "name": "tcl",
            "segments": 3,
            "samples_per_segment": 30,
            "eval_samples_per_segment": 10,
            "dim": 2,
            "standardize": True,
        },
        "seeds": 1,
        "device": "cpu",
        "models": {"vade": {"name": "vade", **MLP, "prior": {"name": "gmm", "components": 3}}},
        "training": TRAINING,
    }
    ica.run(spec, out=tmp_path / "run")
    x = raw_data(ica.load(tmp_path / "run").spec, ica.registry()).eval.x
    z = ica.load(tmp_path / "run").transform(x)
    (tmp_path / "run" / "preprocessing.json").unlink()  # as a run of ica 0.2.0 left it
    with pytest.raises(RunFileError, match="preprocessing.json is damaged: it is missing, though"):
        ica.load(tmp_path / "run")  # a seed that recorded its digest cannot do without it
    unrecorded(tmp_path / "run")
    with pytest.warns(UnverifiedRunWarning, match="cannot be verified"):
        np.testing.assert_array_equal(ica.load(tmp_path / "run").transform(x), z)


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("binarised")
    grids = {"channels": 4, "latent_dim": 2, "residual_blocks": 1, "likelihood": {"name": "bernoulli"}}
    for mode in ("threshold", "sample"):
        spec = {
            "data": {"name": "digits", "binarize": mode, "binarize_seed": 3},
            "seeds": 1,
            "device": "cpu",
            "models": {"ae": {"name": "ae", **grids}},
            "training": TRAINING,
        }
        ica.run(spec, out=root / mode)
    return root


def grey_levels(model):
    spec = model.spec.model_copy(update={"data": model.spec.data.model_copy(update={"binarize": "none"})})
    return raw_data(spec, ica.registry()).eval.x.numpy()


@pytest.mark.slow
def test_grey_pixels_are_thresholded_as_in_training(digits_runs):
    model = ica.load(digits_runs / "threshold")
    grey = grey_levels(model)
    saved = np.load(digits_runs / "threshold" / "ae" / "seeds" / "0" / "latents.npz")["latents"]
    np.testing.assert_array_equal(model.transform(grey), saved)  # grey in, the binarised evaluation split's latents
    np.testing.assert_array_equal(model.transform((grey > 0.5).astype(np.float32)), saved)  # 0/1 data unchanged
    with pytest.raises(DataError, match="divide by 255"):
        model.transform(grey * 255)


@pytest.mark.slow
def test_sample_binarisation_of_new_data_is_one_fixed_draw(digits_runs):
    model = ica.load(digits_runs / "sample")
    grey = grey_levels(model)
    np.testing.assert_array_equal(model.transform(grey), model.transform(grey))
    binary = raw_data(model.spec, ica.registry()).eval.x.numpy()  # the evaluation split as training drew it
    saved = np.load(digits_runs / "sample" / "ae" / "seeds" / "0" / "latents.npz")["latents"]
    np.testing.assert_array_equal(model.transform(binary), saved)
    assert not np.array_equal(model.transform(grey), saved)  # its own stream, not the evaluation split's


@pytest.mark.slow
def test_a_preprocessing_json_of_another_format_or_damaged_is_one_error_naming_it(tmp_path):
    run, _, _ = npz_run(tmp_path)
    path = run / "preprocessing.json"
    good = json.loads(path.read_text())
    path.write_text(json.dumps({**good, "format": 2}))
    with pytest.raises(IcaError, match="version of ica this one cannot read") as caught:
        ica.load(run)
    assert caught.value.where == str(path)
    for damage, fragment in [
        ({"standardize": {"mean": [0.0] * 4, "std": [-1.0] * 4}}, "greater than 0"),
        ({"x_shape": [5]}, "4 means"),
        ({"u_labels": [1, 2]}, "u_labels names 2"),
    ]:
        path.write_text(json.dumps({**good, **damage}))
        with pytest.raises(RunFileError, match=fragment):
            ica.load(run)
    shutil.rmtree(run)
