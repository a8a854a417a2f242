"""``ica encode`` takes what ``ica score`` takes: an ``.npy`` of x (any name), and u, where the model needs it, from
a file of its own (``--u``), giving the latents the ``.npz`` gives; u given twice, or nowhere, is one message."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import cli, refused

pytestmark = pytest.mark.slow  # the trained runs are trained once per session


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    x, u = rng.normal(size=(40, 3)), rng.integers(0, 4, 40)
    np.savez(tmp_path / "both.npz", x=x, u=u)
    np.save(tmp_path / "new-trials.npy", x)
    np.save(tmp_path / "labels.npy", u)
    np.savez(tmp_path / "u.npz", u=u)
    np.savez(tmp_path / "behaviour.npz", state=u)
    np.savez(tmp_path / "obs.npz", observations=x)
    return tmp_path


def latents(path):
    with np.load(path) as z:
        return z["latents"]


def encode(run, model, data, out, *more):
    return cli("encode", run, "--model", model, "--data", data, "--out", out, *more)


def test_an_npy_of_x_encodes_as_the_npz_does(trained_runs, inputs):
    run = trained_runs / "tcl"
    assert encode(run, "vade", inputs / "both.npz", inputs / "a.npz").exit_code == 0
    done = encode(run, "vade", inputs / "new-trials.npy", inputs / "b.npz")
    assert done.exit_code == 0, done.output
    np.testing.assert_array_equal(latents(inputs / "a.npz"), latents(inputs / "b.npz"))
    done = encode(run, "vade", inputs / "obs.npz", inputs / "c.npz")  # an .npz of one array, as ica score reads it
    assert done.exit_code == 0, done.output
    np.testing.assert_array_equal(latents(inputs / "a.npz"), latents(inputs / "c.npz"))


def test_u_comes_from_a_file_of_its_own_where_x_is_an_npy(trained_runs, inputs):
    run = trained_runs / "tcl"
    assert encode(run, "ivae", inputs / "both.npz", inputs / "a.npz").exit_code == 0
    for u_file in (inputs / "labels.npy", inputs / "u.npz", inputs / "behaviour.npz"):  # .npy, key u, only array
        out = inputs / f"from-{u_file.stem}.npz"
        done = encode(run, "ivae", inputs / "new-trials.npy", out, "--u", u_file)
        assert done.exit_code == 0, done.output
        np.testing.assert_array_equal(latents(inputs / "a.npz"), latents(out))
    done = encode(run, "ivae", inputs / "new-trials.npy", inputs / "k.npz", "--u", inputs / "both.npz", "--u-key", "u")
    assert done.exit_code == 0, done.output
    np.testing.assert_array_equal(latents(inputs / "a.npz"), latents(inputs / "k.npz"))


def test_u_missing_given_twice_or_misnamed_is_one_message(trained_runs, inputs):
    run = trained_runs / "tcl"
    before = (inputs / "labels.npy").read_bytes()
    refused(encode(run, "ivae", inputs / "new-trials.npy", inputs / "z.npz"), "--u", "together with u", "x alone")
    refused(
        encode(run, "ivae", inputs / "both.npz", inputs / "z.npz", "--u", inputs / "labels.npy"), "--u", "holds u too"
    )
    refused(encode(run, "ivae", inputs / "new-trials.npy", inputs / "z.npz", "--u-key", "u"), "--u-key", "x alone")
    refused(encode(run, "ivae", inputs / "both.npz", inputs / "z.npz", "--u-key", "labels"), "has no array 'labels'")
    refused(
        encode(run, "ivae", inputs / "new-trials.npy", inputs / "labels.npy", "--u", inputs / "labels.npy"),
        "the --u file itself",
    )
    assert not (inputs / "z.npz").exists()
    assert (inputs / "labels.npy").read_bytes() == before  # an input is never written over
