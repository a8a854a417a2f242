"""TCL and PCL as scikit-learn estimators: scikit-learn's own checks, TCL's y as segments of any labels (needed to
fit and score, not to transform or predict), PCL's rows in time order (one recording, or several by ``sequence``),
and each equal to ``ica run`` with the same settings."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import ica
from ica.errors import DataError
from ica.estimators import PCL, TCL
from ica.plugins.datasets.tcl import generate_tcl
from ica.plugins.datasets.tcl_options import TCLOptions

pytestmark = pytest.mark.slow  # every test fits an estimator

TINY = dict(steps=3, device="cpu", hidden=[8])


@parametrize_with_checks([TCL(**TINY), PCL(**TINY)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def segments():
    data = generate_tcl(TCLOptions(dim=3, segments=4, samples_per_segment=60, mixing_layers=1, data_seed=2))
    return data.train.x.numpy(), np.array(["w", "x", "y", "z"])[data.train.u.numpy()]


def test_tcl_takes_labels_as_segments_and_needs_them_only_to_fit_and_score():
    X, y = segments()
    est = TCL(n_components=3, **TINY | {"steps": 30}).fit(X, y)
    assert est.transform(X).shape == (len(X), 3)
    assert set(est.predict(X)) <= set(y)
    assert np.isfinite(est.score(X, y))
    with pytest.raises(ValueError, match="pass y"):
        est.score(X)
    assert next(iter(est.spec_["models"].values()))["feature_nonlinearity"] == "abs"


def test_pcl_reads_rows_as_one_recording_or_as_the_recordings_given(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3)).cumsum(0).astype(np.float32)
    one = PCL(n_components=2, random_state=1, run_dir=tmp_path / "one", **TINY | {"steps": 10}).fit(X)
    two = PCL(n_components=2, random_state=1, run_dir=tmp_path / "two", **TINY | {"steps": 10})
    two.fit(X, sequence=np.repeat([0, 1], 100))
    assert np.load(tmp_path / "one" / "estimator-data.npz")["sequence"].tolist() == [0] * 200
    assert np.load(tmp_path / "two" / "estimator-data.npz")["sequence"].tolist() == [0] * 100 + [1] * 100
    assert not np.array_equal(one.transform(X), two.transform(X))  # 199 pairs against 198: another training
    assert one.transform(X).shape == (200, 2) and not hasattr(one, "predict")
    with pytest.raises(DataError, match="one whole number per row"):
        PCL(**TINY).fit(X, sequence=np.zeros(3))
    with pytest.raises(DataError, match="not contiguous"):
        PCL(**TINY).fit(X, sequence=np.r_[np.zeros(50), np.ones(100), np.zeros(50)].astype(int))


def test_pcl_equals_ica_run_on_the_same_recording(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 3)).cumsum(0).astype(np.float32)
    est = PCL(n_components=2, random_state=0, **TINY | {"steps": 15}).fit(X)
    np.savez(tmp_path / "d.npz", x=X, sequence=np.zeros(120, np.int64))
    spec = {
        "data": {"name": "npz", "path": str(tmp_path / "d.npz"), "eval_path": str(tmp_path / "d.npz"), "u_key": None},
        "models": {"m": {"name": "pcl", "latent_dim": 2, "encoder": {"name": "mlp", "hidden": [8]}}},
        "training": {"steps": 15, "batch_size": 64},
        "seeds": [0],
        "device": "cpu",
    }
    ica.run(spec, out=tmp_path / "run")
    np.testing.assert_array_equal(est.transform(X), ica.load(tmp_path / "run").transform(X))
