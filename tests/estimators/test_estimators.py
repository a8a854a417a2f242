"""`ica.estimators`: `ica`'s models as scikit-learn estimators.

An estimator is ``ica run`` on the user's arrays, so the central test trains the same settings both ways
and asks for identical latents. scikit-learn's own estimator checks run on every estimator (tiny: a few
steps), with the checks iVAE cannot pass -- its encoder needs u, which ``transform(X)`` alone lacks --
listed with that reason and held strict, so a check that starts passing is noticed.
"""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import ica
from ica.errors import IcaError, SpecError
from ica.estimators import GMMFlow, IcaEstimator, IVAE, VaDE

pytestmark = pytest.mark.slow  # almost every test fits an estimator

TINY = dict(steps=3, device="cpu")
NET = {"encoder": {"name": "mlp", "hidden": [8]}, "decoder": {"name": "mlp", "hidden": [8]}}

IVAE_NEEDS_U = "iVAE's encoder q(z|x,u) needs u: transform(X) without y cannot encode"
IVAE_EXPECTED = {
    name: IVAE_NEEDS_U
    for name in (  # each calls transform, predict or score without y
        "check_estimators_dtypes",
        "check_dtype_object",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_transformer_data_not_an_array",
        "check_transformer_general",
        "check_transformer_preserve_dtypes",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_dict_unchanged",
        "check_fit_idempotent",
    )
}


def expected_failures(estimator) -> dict[str, str]:
    return IVAE_EXPECTED if isinstance(estimator, IVAE) else {}


@parametrize_with_checks(
    [
        VaDE(hidden=[8], n_clusters=3, n_seeds=2, **TINY),
        IVAE(hidden=[8], **TINY),
        GMMFlow(transforms=1, hidden=[8], n_clusters=3, **TINY),
        IcaEstimator(model={"name": "vade", **NET, "prior": {"name": "gmm", "components": 3}}, n_components=2, **TINY),
    ],
    expected_failed_checks=expected_failures,
    xfail_strict=True,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_ivae_fails_only_for_want_of_u():
    """The checks listed for iVAE fail because transform lacks y, and for no other reason: with y, the same
    fitted model transforms, predicts nothing and pickles."""
    X, y = data()
    est = IVAE(hidden=[8], **TINY).fit(X, y)
    with pytest.raises(ValueError, match="pass y"):
        est.transform(X)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.transform(X, y), est.transform(X, y))
    assert not hasattr(est, "predict")
    assert est.__sklearn_tags__().target_tags.required and not VaDE().__sklearn_tags__().target_tags.required


def data(n=60, d=4, seed=0):
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(3), n // 3)
    x = rng.normal(size=(n, d)) + 2.0 * u[:, None]
    return x, u


def run_by_hand(tmp_path, model, *, x, u=None, seeds, standardize=False, steps=3, batch_size=64, lr=1e-3):
    """``ica run`` on the spec written out in full, on an npz written here: what the estimator should equal."""
    path = tmp_path / "by_hand.npz"
    np.savez(path, **({"x": x.astype(np.float32)} if u is None else {"x": x.astype(np.float32), "u": u}))
    spec = {
        "data": {
            "name": "npz",
            "path": str(path),
            "eval_path": str(path),
            "u_key": None if u is None else "u",
            "sources_key": None,
            "standardize": standardize,
        },
        "models": {"m": model},
        "training": {"steps": steps, "batch_size": batch_size, "lr": lr},
        "seeds": seeds,
        "device": "cpu",
    }
    out = tmp_path / "by_hand"
    summary = ica.run(spec, out=out)
    return out, summary["cells"]["m"]


def test_an_estimator_equals_ica_run_with_the_same_settings(tmp_path):
    X, _ = data()
    est = VaDE(n_components=2, n_clusters=3, hidden=[8], n_seeds=2, random_state=3, steps=20, device="cpu")
    est.fit(X)
    model = {"name": "vade", "latent_dim": 2, **NET, "prior": {"name": "gmm", "components": 3}}
    out, cell = run_by_hand(tmp_path, model, x=X, seeds=[3, 4], steps=20)
    assert est.seeds_ == [3, 4]
    for i, seed in enumerate((3, 4)):  # the run's eval split is X itself
        saved = np.load(out / "m" / "seeds" / str(seed) / "latents.npz")
        np.testing.assert_array_equal(est.transform_all(X)[i], saved["latents"])
        np.testing.assert_array_equal(est.model_.assign(X)[i], saved["assignments"])
    np.testing.assert_array_equal(est.transform(X), ica.load(out).transform(X)[0])
    np.testing.assert_array_equal(est.predict(X), ica.load(out).assign(X)[0])
    assert est.consistency_ == cell["stats"]["cca_mcc_out"]["mean"]
    assert est.score(X) == pytest.approx(float(np.mean(ica.load(out).elbo(X))), rel=1e-6)


def test_ivae_takes_y_as_u_of_any_labels_and_standardizes_as_a_run(tmp_path):
    X, u = data()
    labels = np.array(["seg-a", "seg-b", "seg-c"])[u]  # sorted, so their codes are u itself
    est = IVAE(n_components=2, hidden=[8], standardize=True, steps=20, device="cpu").fit(X, labels)
    model = {"name": "ivae", "latent_dim": 2, **NET}
    out, _ = run_by_hand(tmp_path, model, x=X, u=u, seeds=[0], standardize=True, steps=20)
    saved = np.load(out / "m" / "seeds" / "0" / "latents.npz")["latents"]
    np.testing.assert_array_equal(est.transform(X, labels), saved)
    np.testing.assert_array_equal(est.fit_transform(X, labels), saved)
    assert est.classes_.tolist() == ["seg-a", "seg-b", "seg-c"] and math.isnan(est.consistency_)
    with pytest.raises(ValueError, match=r"labels not seen in fit: \['seg-z'\]"):
        est.transform(X[:2], np.array(["seg-a", "seg-z"]))
    with pytest.raises(ValueError, match="requires y to be passed"):
        IVAE(**TINY).fit(X)


def test_the_generic_estimator_reaches_every_option_and_takes_y_as_u():
    X, u = data()
    ivae = IVAE(n_components=2, hidden=[8], **TINY).fit(X, u)
    generic = IcaEstimator(model={"name": "ivae", **NET}, n_components=2, **TINY).fit(X, u)
    np.testing.assert_array_equal(generic.transform(X, u), ivae.transform(X, u))
    with pytest.raises(ValueError, match="pass y"):
        generic.transform(X)
    with pytest.raises(ValueError, match="latent_dim is required"):  # n_components=None: the model's own
        IcaEstimator(model={"name": "vade", **NET}, **TINY).fit(X)
    scheduled = IcaEstimator(model={"name": "vade", **NET}, n_components=2, training={"scheduler": None}, **TINY)
    scheduled.fit(X)
    assert scheduled.spec_["training"]["scheduler"] is None and scheduled.transform(X).shape == (60, 2)


def test_gmmflow_equals_its_run_and_keeps_the_feature_count(tmp_path):
    X, _ = data()
    est = GMMFlow(n_clusters=3, transforms=1, hidden=[8], steps=20, device="cpu").fit(X)
    model = {"name": "gmmflow", "transforms": 1, "hidden": [8], "prior": {"name": "gmm", "components": 3}}
    out, _ = run_by_hand(tmp_path, model, x=X, seeds=[0], steps=20)
    np.testing.assert_array_equal(est.transform(X), np.load(out / "m" / "seeds" / "0" / "latents.npz")["latents"])
    assert est.transform(X).shape == (60, 4) and est.get_feature_names_out().tolist()[-1] == "gmmflow3"


def test_fitting_twice_trains_afresh_and_params_reach_the_spec():
    X, _ = data()
    est = VaDE(n_clusters=3, hidden=[8], **TINY).fit(X)
    first = est.transform(X)
    est.set_params(n_clusters=4).fit(X[::-1])
    assert est.spec_["models"]["model"]["prior"]["components"] == 4
    copy = clone(est)
    assert copy.get_params() == est.get_params() and not hasattr(copy, "model_")
    np.testing.assert_array_equal(copy.set_params(n_clusters=3).fit(X).transform(X), first)


def test_a_kept_run_dir_saves_and_loads_back(tmp_path):
    X, _ = data()
    est = VaDE(n_clusters=3, hidden=[8], n_seeds=2, run_dir=tmp_path / "fit", **TINY).fit(X)
    assert est.run_dir_ == tmp_path / "fit" and (tmp_path / "fit" / "spec.json").exists()
    np.testing.assert_array_equal(ica.load(tmp_path / "fit").transform(X), est.transform_all(X))
    saved = est.save(tmp_path / "saved")
    assert not list(saved.rglob("checkpoint*.pt")) and not (saved / "estimator-data.npz").exists()
    np.testing.assert_array_equal(ica.load(saved).transform(X), est.transform_all(X))
    with pytest.raises(IcaError, match="not an empty directory"):
        est.save(tmp_path / "saved")
    with pytest.raises(IcaError, match="fit trains afresh"):
        VaDE(n_clusters=3, hidden=[8], run_dir=tmp_path / "fit", **TINY).fit(X)


def test_a_saved_temporary_fit_loads_without_its_training_data(tmp_path):
    """run_dir=None: the .npz fit wrote is gone with its temporary directory; the saved run still loads,
    from its preprocessing.json, and transforms exactly as the estimator does (standardised too)."""
    X, _ = data()
    est = VaDE(n_clusters=3, hidden=[8], standardize=True, **TINY).fit(X)
    assert est.run_dir_ is None and not Path(est.spec_["data"]["path"]).exists()
    saved = est.save(tmp_path / "saved")
    np.testing.assert_array_equal(ica.load(saved).transform(X), est.transform(X))
    unpickled = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(ica.load(unpickled.save(tmp_path / "again")).transform(X), est.transform(X))
    assert json.loads((saved / "summary.json").read_text())["cells"]["model"]["model"] == "vade"


def test_grid_search_scores_by_mean_elbo_in_a_pipeline():
    X, _ = data()
    pipe = make_pipeline(StandardScaler(), VaDE(hidden=[8], **TINY))
    cv = KFold(2, shuffle=True, random_state=0)
    search = GridSearchCV(pipe, {"vade__n_clusters": [2, 3]}, cv=cv).fit(X)
    by_hand = []
    for k in (2, 3):  # the score GridSearchCV reports is the mean ELBO of each held-out fold
        scores = [clone(pipe).set_params(vade__n_clusters=k).fit(X[a]).score(X[b]) for a, b in cv.split(X)]
        by_hand.append(np.mean(scores))
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], by_hand, rtol=1e-6)
    assert search.best_estimator_.transform(X).shape == (60, 2)


def test_bad_input_gets_the_errors_scikit_learn_words(tmp_path):
    X, _ = data()
    est = VaDE(n_clusters=3, hidden=[8], **TINY)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.fit(np.where(np.eye(60, 4, dtype=bool), np.nan, X))
    est.fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but VaDE is expecting 4 features as input"):
        est.transform(X[:, :3])
    with pytest.raises(ValueError, match="Found array with 1 sample"):
        VaDE(**TINY).fit(X[:1])


def test_bad_parameters_are_ica_errors_that_are_also_value_errors():
    X, _ = data()
    with pytest.raises(SpecError) as caught:
        VaDE(n_clusters=0, **TINY).fit(X)
    assert isinstance(caught.value, ValueError) and "components" in str(caught.value)
    with pytest.raises(ValueError, match="random_state: must be None or a whole number"):
        VaDE(random_state=np.random.RandomState(0), **TINY).fit(X)
    with pytest.raises(ValueError, match="n_seeds: must be a whole number >= 1"):
        VaDE(n_seeds=0, **TINY).fit(X)
    with pytest.raises(ValueError, match="n_components=3 contradicts"):
        IcaEstimator(model={"name": "vade", "latent_dim": 2}, n_components=3, **TINY).fit(X)


def test_fit_is_silent(capfd):
    X, _ = data()
    VaDE(n_clusters=3, hidden=[8], n_seeds=2, **TINY).fit(X)
    assert capfd.readouterr() == ("", "")


def test_seeds_that_fail_in_training_are_left_out_with_a_warning():
    """lr=3 makes some of six seeds' losses non-finite within 30 steps (and not all of them): the estimator
    keeps the others and says which it left out and why; with every seed failed, fit is an error."""
    from sklearn.exceptions import ConvergenceWarning

    X, _ = data()
    with pytest.warns(ConvergenceWarning, match="left out of the estimator") as caught:
        est = VaDE(n_clusters=3, hidden=[8], n_seeds=6, steps=30, lr=3.0, device="cpu").fit(X)
    assert 0 < len(est.seeds_) < 6 and est.transform_all(X).shape == (len(est.seeds_), 60, 2)
    left_out = [s for s in range(6) if s not in est.seeds_]
    assert f"seed {left_out[0]}: loss became non-finite" in str(caught[0].message)
    with pytest.raises(IcaError, match="every seed failed in training .seed 0: loss became non-finite"):
        VaDE(n_clusters=3, hidden=[8], n_seeds=2, steps=30, lr=100.0, device="cpu").fit(X)
