"""Estimators given a continuous u (``u_kind="continuous"``): declared, never guessed; y ``[n]`` or ``[n, d_u]``
goes to the spec's npz set as a continuous u, and transform/score take it again, checked."""

from __future__ import annotations

import numpy as np
import pytest

from ica.estimators import IVAE, IcaEstimator

TINY = {"steps": 20, "batch_size": 16, "hidden": [8], "device": "cpu"}


def data(n=64, d_u=2, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.uniform(size=(n, d_u)).astype(np.float32)
    x = (rng.normal(size=(n, 3)) * (0.5 + u[:, :1])).astype(np.float32)
    return x, u


def test_a_continuous_y_without_u_kind_is_refused_naming_it():
    x, u = data()
    with pytest.raises(ValueError, match="u_kind='continuous'"):
        IVAE(**TINY).fit(x, u[:, 0])
    with pytest.raises(ValueError, match="u_kind must be 'discrete' or 'continuous'"):
        IVAE(u_kind="position", **TINY).fit(x, u[:, 0])


@pytest.mark.slow
def test_ivae_fits_a_continuous_u_and_encodes_with_it():
    x, u = data()
    model = IVAE(u_kind="continuous", n_seeds=2, **TINY).fit(x, u)
    assert model.spec_["data"]["u_kind"] == "continuous" and model.model_.u_dim == 2
    assert not hasattr(model, "classes_")
    z = model.transform(x, u)
    assert z.shape == (64, 2) and np.isfinite(z).all()
    assert np.isfinite(model.score(x, u))
    with pytest.raises(ValueError, match=r"shape \(64, 2\)"):
        model.transform(x, u[:, 0])
    with pytest.raises(ValueError, match="NaN"):
        model.transform(x, np.where(u > 0.5, np.nan, u))
    one = IcaEstimator(model={"name": "ivae", "latent_dim": 2}, u_kind="continuous", steps=20, device="cpu")
    assert one.fit(x, u[:, 0]).model_.u_dim == 1  # [n] is one column
    assert one.transform(x, u[:, 0]).shape == (64, 2)
