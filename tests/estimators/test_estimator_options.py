"""The estimators' model options, ``verbose`` and ``device``: a likelihood, prior, encoder or decoder reaches the
trained model from a named parameter; a setting given twice is an error naming both; a fit shows its progress
only when asked (a bar where someone watches, whole lines in joblib's workers); a device this machine lacks is
refused before anything is written."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from rich.console import Console
from sklearn.base import clone

from ica.estimators import GMMFlow, IcaEstimator, IVAE, VaDE
from ica.estimators.progress import FitProgress, check_verbose, display_mode

TINY = dict(steps=3, device="cpu")
NET = {"encoder": {"name": "mlp", "hidden": [8]}, "decoder": {"name": "mlp", "hidden": [8]}}
VADE = {"name": "vade", "latent_dim": 2, **NET, "prior": {"name": "gmm", "components": 3}}


def data(n=40, d=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


# ------------------------------------------------------------------------------------------ the parts
def test_every_estimator_writes_its_parts_into_the_model_entry():
    learnt = {"name": "gaussian", "learn_scale": True}
    vade = VaDE(n_clusters=3, hidden=[8], likelihood=learnt, prior={"name": "gmm", "learn_weights": False})
    assert vade._model_options() == {
        "name": "vade",
        "latent_dim": 2,
        "likelihood": learnt,
        "encoder": {"name": "mlp", "hidden": [8]},
        "decoder": {"name": "mlp", "hidden": [8]},
        "prior": {"name": "gmm", "learn_weights": False, "components": 3},
    }
    ivae = IVAE(likelihood="bernoulli", prior={"name": "conditional", "parameterisation": "mlp"}, encoder="mlp")
    assert ivae._model_options() == {
        "name": "ivae",
        "latent_dim": 2,
        "likelihood": {"name": "bernoulli"},
        "prior": {"name": "conditional", "parameterisation": "mlp"},
        "encoder": {"name": "mlp"},
    }
    tanh = VaDE(hidden=[4], encoder={"name": "mlp", "activation": "tanh"})._model_options()
    assert tanh["encoder"] == {"name": "mlp", "activation": "tanh", "hidden": [4]}  # hidden sizes the part given
    assert VaDE(prior="rademacher")._model_options()["prior"] == {"name": "rademacher"}  # sized by its own bits
    flow = GMMFlow(n_clusters=3, prior={"name": "gmm", "learn_weights": False})._model_options()
    assert flow["prior"] == {"name": "gmm", "learn_weights": False, "components": 3}
    model = {k: v for k, v in VADE.items() if k != "decoder"}
    generic = IcaEstimator(model=model, likelihood="bernoulli", decoder={"name": "mlp", "hidden": [16]})
    options = generic._model_options()
    assert options["likelihood"] == {"name": "bernoulli"} and options["decoder"] == {"name": "mlp", "hidden": [16]}
    assert "likelihood" not in model and "decoder" not in model  # the user's dict is left as it was


def test_the_new_parameters_are_scikit_learn_parameters():
    est = VaDE(likelihood="bernoulli", verbose=True)
    params = est.get_params()
    assert params["likelihood"] == "bernoulli" and params["verbose"] is True and params["prior"] is None
    copy = clone(est.set_params(likelihood={"name": "gaussian", "scale": 0.5}, verbose=2))
    assert copy.get_params() == est.get_params() and copy.likelihood == {"name": "gaussian", "scale": 0.5}
    for cls in (IcaEstimator, IVAE, VaDE, GMMFlow):
        names = cls().get_params()
        assert {"prior", "verbose", "device"} <= set(names), cls
        assert names["verbose"] is False and names["device"] == "auto"


@pytest.mark.parametrize(
    "estimator, where, message",
    [
        (
            IcaEstimator(model={**VADE, "likelihood": {"name": "gaussian"}}, likelihood="bernoulli", **TINY),
            "likelihood and model.likelihood",
            "likelihood='bernoulli' and model={'likelihood': {'name': 'gaussian'}} both set the model's likelihood",
        ),
        (
            IcaEstimator(model=VADE, prior="gmm", **TINY),
            "prior and model.prior",
            "prior='gmm' and model={'prior': {'name': 'gmm', 'components': 3}} both set the model's prior",
        ),
        (IcaEstimator(model=VADE, encoder="mlp", **TINY), "encoder and model.encoder", "both set the model's encoder"),
        (IcaEstimator(model=VADE, decoder="mlp", **TINY), "decoder and model.decoder", "both set the model's decoder"),
        (
            VaDE(hidden=[8], encoder={"name": "mlp", "hidden": [4]}, **TINY),
            "hidden and encoder.hidden",
            "hidden=[8] and encoder={'hidden': [4]} both set the encoder's hidden",
        ),
        (
            VaDE(n_clusters=3, prior={"name": "gmm", "components": 5}, **TINY),
            "n_clusters and prior.components",
            "n_clusters=3 and prior={'components': 5} both set the prior's components",
        ),
        (
            GMMFlow(n_clusters=10, prior={"name": "gmm", "components": 5}, **TINY),
            "n_clusters and prior.components",
            "n_clusters=10 and prior={'components': 5}",
        ),
    ],
)
def test_a_setting_given_twice_is_an_error_naming_both(estimator, where, message, tmp_path):
    """Refused in ``fit`` before a file is written, as the training's settings are
    (tests/trained/test_hardening_load.py)."""
    with pytest.raises(ValueError, match="give it in one place") as refused:
        estimator.set_params(run_dir=tmp_path / "fit").fit(data())
    assert message in str(refused.value) and refused.value.where == where
    assert not (tmp_path / "fit").exists()


@pytest.mark.parametrize("value", [3, ["gaussian"], {"scale": 0.5}, {"name": 3}])
def test_a_part_is_a_name_or_options_with_their_name(value):
    with pytest.raises(ValueError, match="must be a component's name") as refused:
        VaDE(likelihood=value, **TINY).fit(data())
    assert refused.value.where == "likelihood"


@pytest.mark.slow
def test_the_likelihood_reaches_the_trained_model():
    X = data()
    learnt = {"name": "gaussian", "learn_scale": True}
    est = VaDE(n_clusters=3, hidden=[8], likelihood=learnt, steps=20, device="cpu").fit(X)
    assert est.spec_["models"]["model"]["likelihood"] == learnt
    likelihood = est.model_.groups[0][1].likelihood
    assert isinstance(likelihood.log_scale, torch.nn.Parameter)
    assert not torch.allclose(likelihood.log_scale, torch.full_like(likelihood.log_scale, float(np.log(0.1))))
    binary = (X > 0).astype(np.float32)
    generic = IcaEstimator(model={k: v for k, v in VADE.items()}, likelihood="bernoulli", **TINY).fit(binary)
    assert type(generic.model_.groups[0][1].likelihood).__name__ == "BernoulliLikelihood"
    assert generic.spec_["models"]["model"]["likelihood"] == {"name": "bernoulli"}
    ivae = IVAE(hidden=[8], prior={"name": "conditional", "parameterisation": "mlp"}, **TINY)
    assert ivae.fit(X, np.arange(40) % 2).spec_["models"]["model"]["prior"]["parameterisation"] == "mlp"


# ------------------------------------------------------------------------------------------ verbose
def test_verbose_is_a_level_or_none():
    assert [check_verbose(v) for v in (None, False, True, 0, 2, np.int64(1))] == [None, 0, 1, 0, 2, 1]
    for bad in (-1, 1.5, "yes"):
        with pytest.raises(ValueError, match="verbose: must be None, True/False or a whole number"):
            check_verbose(bad)
        with pytest.raises(ValueError, match="verbose: must be"):
            VaDE(verbose=bad, **TINY).fit(data())


def test_a_bar_where_someone_watches_whole_lines_in_a_worker_thread():
    """An interactive terminal gets the bar (verbose True or None); a file gets lines (True) or nothing (None);
    a thread beside the main one (joblib's threading backend) never gets a bar, which one terminal cannot
    show for two fits at once (rich refuses a second live display)."""
    terminal = Console(force_terminal=True, force_interactive=True)
    file = Console(force_terminal=False, force_interactive=False)
    assert [display_mode(v, terminal) for v in (False, True, None, 2)] == ["off", "live", "live", "live"]
    assert [display_mode(v, file) for v in (False, True, None, 2)] == ["off", "lines", "off", "lines"]
    seen = {}

    def in_thread():
        seen["modes"] = [display_mode(v, terminal) for v in (False, True, None)]

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert seen["modes"] == ["off", "lines", "off"]


def events(progress: FitProgress, steps: int = 100, every: int = 5) -> None:
    progress.event("run_start", out="somewhere")
    progress.event("train_start", cell="model", seeds=[0, 1], step=0, steps=steps)
    for step in range(every, steps + 1, every):
        progress.event("progress", cell="model", seeds=[0, 1], step=step, steps=steps, loss=[1.0 + step, None])
    progress.event("notice", cell="model", message="training seeds 0,1 eagerly")
    progress.event("train_end", cell="model", seeds=[0, 1], step=steps, seconds=0.25)


def test_lines_come_about_every_tenth_of_the_steps_each_written_whole(monkeypatch, capsys):
    writes: list[str] = []
    monkeypatch.setattr(sys.stderr, "write", writes.append)
    with FitProgress(True, "vade") as progress:
        assert progress.mode == "lines"  # captured stderr is no terminal
        events(progress)
    assert len(writes) == 12 and all(w.endswith("\n") and w.count("\n") == 1 for w in writes)
    assert writes[0] == "vade seeds 0,1: training from step 0 to 100\n"
    assert writes[1].startswith("vade seeds 0,1: step 10/100 loss 11, failed (")
    assert writes[-2].startswith("vade seeds 0,1: step 100/100 loss 101, failed")
    assert writes[-1] == "vade seeds 0,1: trained to step 100 in 0.2 s\n"
    assert not any("notice" in w for w in writes)  # notices from verbose=2 on
    writes.clear()
    with FitProgress(2, "vade") as progress:
        events(progress)
    assert "notice: training seeds 0,1 eagerly\n" in writes
    writes.clear()
    for quiet in (False, None):
        with FitProgress(quiet, "vade") as progress:
            events(progress)
    assert writes == []


def test_the_live_bar_shows_steps_losses_and_time(monkeypatch, capsys):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    with FitProgress(None, "vade") as progress:
        assert progress.mode == "live"
        events(progress, steps=40, every=20)
    err = capsys.readouterr().err
    assert "vade seeds 0,1" in err and "40/40" in err and "loss 41, failed" in err and "0:00:0" in err


@pytest.mark.slow
def test_a_verbose_fit_shows_its_progress_and_a_quiet_one_nothing(monkeypatch, capfd):
    X = data()
    VaDE(n_clusters=3, hidden=[8], n_seeds=2, steps=3, device="cpu", verbose=True).fit(X)
    err = capfd.readouterr().err
    assert "vade seeds 0,1: training from step 0 to 3" in err and "vade seeds 0,1: step 3/3 loss " in err
    assert "vade seeds 0,1: trained to step 3 in" in err
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    IVAE(hidden=[8], steps=3, device="cpu", verbose=None).fit(X, np.arange(40) % 2)
    out, err = capfd.readouterr()
    assert out == "" and "ivae seed 0" in err and "3/3" in err and "━" in err
    VaDE(n_clusters=3, hidden=[8], **TINY).fit(X)  # verbose=False, even on a terminal
    assert capfd.readouterr() == ("", "")


GRID_SEARCH = """
import sys
import numpy as np
from sklearn.model_selection import GridSearchCV
from ica.estimators import VaDE
X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
for verbose in (True, None):  # one process: loky's two workers serve both searches
    est = VaDE(hidden=[8], steps=3, device="cpu", verbose=verbose)
    GridSearchCV(est, {"n_clusters": [2, 3]}, cv=2, n_jobs=2, refit=False).fit(X)
    print(f"=== verbose={verbose} done", file=sys.stderr, flush=True)
"""


@pytest.mark.slow
def test_fits_in_joblib_workers_write_whole_lines_naming_their_worker():
    """GridSearchCV(n_jobs=2) fits in two loky processes that share stderr (here one that says it is an
    interactive terminal): with verbose=True each writes whole lines naming its process, never a bar; with
    verbose=None, nothing."""
    env = {"OMP_NUM_THREADS": "1", "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", GRID_SEARCH], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    shown, _, rest = done.stderr.partition("=== verbose=True done")
    quiet, _, _ = rest.partition("=== verbose=None done")
    lines = [line for line in shown.splitlines() if "vade" in line]
    assert len(lines) == 12, done.stderr  # 2 settings x 2 folds, 3 lines each
    assert all(line.startswith("[LokyProcess-") for line in lines), done.stderr
    assert "\x1b[" not in shown  # no bar, no cursor movement
    assert "=== verbose=None done" in done.stderr and [line for line in quiet.splitlines() if "vade" in line] == []


# ------------------------------------------------------------------------------------------ device
@pytest.mark.parametrize("device, words", [("cuda:7", "cuda:7"), ("tpu", "unknown device 'tpu'"), ("cpu:1", "cpu:1")])
def test_a_device_this_machine_lacks_is_refused_before_anything_is_written(device, words, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device: ") as refused:
        VaDE(steps=3, device=device, run_dir=tmp_path / "fit").fit(data())
    assert words in str(refused.value) and refused.value.where == "device"
    assert not (tmp_path / "fit").exists()


def test_a_prior_that_gives_its_components_needs_no_n_clusters():
    """``n_clusters`` left at its default (None) leaves a gmm prior's own components alone; where neither says,
    the mixture has 10 (the default n_clusters had before)."""
    from ica.estimators import GMMFlow, VaDE
    from ica.estimators.options import mixture_prior

    assert mixture_prior({"prior": {"name": "gmm", "components": 5}}, None)["prior"]["components"] == 5
    assert mixture_prior({}, None)["prior"] == {"name": "gmm", "components": 10}
    assert mixture_prior({}, 3)["prior"] == {"name": "gmm", "components": 3}
    assert VaDE().get_params()["n_clusters"] is None and GMMFlow().get_params()["n_clusters"] is None
