"""Peers as baselines (issue #15): models that are fitted estimators (FastICA, CEBRA) run from the same spec
as iVAE and VaDE, one seed at a time, on the same data, seeds and metrics, and resume like them.

The contract of a fitted peer (`ica.components.protocols.FittedPeer`) is `ica.testing`'s, run on every
registered model by test_contracts.py.
"""

from __future__ import annotations

import copy
import json
import types
from pathlib import Path

import numpy as np
import pytest

import ica
from conftest import TINY_SPEC
from ica.components.protocols import is_fitted_peer
from ica.components.registry import Registry
from ica.errors import IcaError, SpecError
from ica.plugin import BuildContext, Options, hookimpl
from ica.running.building import build_model, model_context, prepare_data
from ica.spec.load import load_spec

REG = ica.registry()
SPECS = Path(__file__).parents[2] / "specs"
TINY_PEERS = {"fastica": {"name": "fastica"}, "cebra": {"name": "cebra", "max_iterations": 10, "batch_size": 32}}
"""Options that make each peer quick here (a model not listed runs with its defaults)."""


def tiny(models: dict, seeds=2, **training) -> dict:
    spec = copy.deepcopy(TINY_SPEC)
    spec["models"], spec["seeds"] = models, seeds
    spec["training"].update(training)
    return spec


def peer_names() -> list[str]:
    """Every registered model that builds as a fitted peer on the tiny data (one whose optional package is
    missing cannot be built, and is left to the tests that import it or skip)."""
    spec = load_spec(tiny({n: {"name": n} for n in REG.names("model")}), REG)
    data = prepare_data(spec, REG)
    found = []
    for label, options in spec.models.items():
        try:
            model = REG.build(options, model_context(data))
        except IcaError:
            continue
        if is_fitted_peer(model):
            found.append(label)
    return found


def built_peer(name: str, seed: int = 0, **extra):
    spec = load_spec(tiny({name: {**TINY_PEERS.get(name, {"name": name}), **extra}}), REG)
    data = prepare_data(spec, REG)
    return build_model(REG, spec.models[name], data, [seed], name), data


def fitted_latents(name: str, seed: int, **extra) -> np.ndarray:
    peer, data = built_peer(name, seed, **extra)
    peer.fit(data.train.x.numpy(), data.train.u.numpy(), seed=seed, device="cpu")
    return peer.transform(data.eval.x.numpy())


def latents(run: Path, label: str, seed: int) -> np.ndarray:
    return np.load(run / label / "seeds" / str(seed) / "latents.npz")["latents"]


# ------------------------------------------------------------------------------------- the contract
def test_fastica_and_cebra_are_registered_as_models():
    assert {"fastica", "cebra"} <= set(REG.names("model"))
    assert "fastica" in peer_names()


def test_every_peer_is_held_to_the_fitted_peer_contract_by_the_kit():
    """The peer contract itself (one finite row per point, seeds honoured, global generators untouched, no seed
    axis) is `ica.testing.model_checks.fitted_peer_contract`, run on every model by test_contracts.py."""
    from ica.testing import component_checks
    from ica.testing.model_checks import fitted_peer_contract

    assert fitted_peer_contract in component_checks("model")
    fitted_peer_contract(REG, "fastica")


def test_fastica_is_seeded_with_random_state_seed_and_never_sees_u():
    from sklearn.decomposition import FastICA

    _, data = built_peer("fastica")
    expected = FastICA(n_components=3, whiten="unit-variance", max_iter=1000, random_state=7).fit(data.train.x.numpy())
    peer, _ = built_peer("fastica")
    peer.fit(data.train.x.numpy(), None, seed=7, device="cpu")
    np.testing.assert_allclose(
        peer.transform(data.eval.x.numpy()), expected.transform(data.eval.x.numpy()), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_array_equal(peer.transform(data.eval.x.numpy()), fitted_latents("fastica", 7))  # u unused


def test_fastica_latent_size_follows_the_options_and_is_checked():
    peer, data = built_peer("fastica", latent_dim=2)
    peer.fit(data.train.x.numpy(), None, seed=0, device="cpu")
    assert peer.transform(data.eval.x.numpy()).shape == (len(data.eval), 2)
    with pytest.raises(SpecError, match="latent_dim"):
        built_peer("fastica", latent_dim=4)  # more components than the 3 observed dimensions


# ------------------------------------------------------------------------------------- through ica.run
@pytest.mark.slow
def test_fastica_runs_beside_ivae_with_the_same_metrics(tmp_path):
    events = []
    spec = tiny({"ivae": TINY_SPEC["models"]["ivae"], "fastica": {"name": "fastica"}})
    summary = ica.run(spec, out=tmp_path, on_event=lambda name, **info: events.append((name, info)))
    cell = summary["cells"]["fastica"]
    assert cell["model"] == "fastica" and cell["status"] == {"0": "finished", "1": "finished"}
    for key in ("mcc", "cca_mcc_in", "cca_mcc_out"):
        assert cell["stats"][key]["n_failed"] == 0 and key in summary["cells"]["ivae"]["stats"]
    assert all(np.isfinite(cell["seeds"][s]["mcc"]) for s in ("0", "1"))
    assert cell["stats"].get("elbo_train", {}).get("median") is None, "a peer has no ELBO to report"
    data = prepare_data(load_spec(spec), REG)
    for seed in (0, 1):
        files = tmp_path / "fastica" / "seeds" / str(seed)
        result = json.loads((files / "result.json").read_text())
        assert result["status"] == "finished" and result["fit_seconds"] >= 0 and result["fit"]["converged"]
        assert not (files / "model.safetensors").exists() and not (files / "metrics.jsonl").exists()
        assert latents(tmp_path, "fastica", seed).shape == (len(data.eval), 3)
        np.testing.assert_array_equal(latents(tmp_path, "fastica", seed), fitted_latents("fastica", seed))
    notices = [i["message"] for n, i in events if n == "notice" and i.get("cell") == "fastica"]
    assert len(notices) == 1 and "one at a time" in notices[0]
    assert "elbo_train" not in cell["stats"]  # requires_elbo: the metric is left out, not reported as failed
    with pytest.raises(ica.IcaError, match="fitted peer"):
        ica.load(tmp_path, model="fastica")


def test_no_notice_where_seeds_are_trained_one_at_a_time_anyway(tmp_path):
    events = []
    ica.run(
        tiny({"fastica": {"name": "fastica"}}, batch_seeds=False),
        out=tmp_path,
        on_event=lambda name, **info: events.append(name),
    )
    assert "notice" not in events


def test_a_finished_peer_seed_is_read_back_not_refitted(tmp_path, monkeypatch):
    from ica.plugins.models import fastica

    fits = []
    original = fastica.FastICAPeer.fit
    monkeypatch.setattr(
        fastica.FastICAPeer, "fit", lambda self, x, u, **kw: (fits.append(kw["seed"]), original(self, x, u, **kw))[1]
    )
    spec = tiny({"fastica": {"name": "fastica"}}, seeds=3)
    first = ica.run(spec, out=tmp_path)
    assert sorted(fits) == [0, 1, 2]
    (tmp_path / "fastica" / "seeds" / "1" / "result.json").unlink()  # as if stopped before seed 1's result
    again = ica.run(spec, out=tmp_path)
    assert fits[3:] == [1], "only the unfinished seed is fitted again"
    assert again["cells"]["fastica"]["seeds"] == first["cells"]["fastica"]["seeds"]


def test_seeds_are_the_specs_seeds_whatever_else_is_run(tmp_path):
    a = ica.run(tiny({"fastica": {"name": "fastica"}}, seeds=[0, 1]), out=tmp_path / "a")
    ica.run(tiny({"fastica": {"name": "fastica"}}, seeds=[1, 2]), out=tmp_path / "b")
    np.testing.assert_array_equal(latents(tmp_path / "a", "fastica", 1), latents(tmp_path / "b", "fastica", 1))
    assert not np.allclose(latents(tmp_path / "a", "fastica", 0), latents(tmp_path / "a", "fastica", 1))
    assert a["cells"]["fastica"]["pairs"], "CCA-MCC between the seeds of a peer"


class BrokenOptions(Options):
    """No options."""


class BrokenPeer:
    """A peer whose fit raises for odd seeds."""

    def fit(self, x, u, *, seed, device):
        if seed % 2:
            raise ValueError("no convergence at all")
        self.mean = x.mean(0)

    def transform(self, x):
        return x - self.mean


def broken_plugin() -> types.ModuleType:
    module = types.ModuleType("broken_peer_plugin")

    @hookimpl
    def ica_register(register):
        register("model", "broken", BrokenOptions, lambda options, ctx: BrokenPeer(), description="Test peer.")

    module.ica_register = ica_register
    return module


def test_a_peer_seed_that_fails_to_fit_is_on_record_and_the_others_go_on(tmp_path):
    reg = Registry.load(entry_points=False, extra=[("tests", broken_plugin())])
    spec = tiny({"broken": {"name": "broken"}}, seeds=3)
    cell = ica.run(spec, out=tmp_path, reg=reg)["cells"]["broken"]
    assert cell["status"] == {"0": "finished", "1": "failed", "2": "finished"}
    assert cell["stats"]["mcc"]["n_failed"] == 1
    result = json.loads((tmp_path / "broken" / "seeds" / "1" / "result.json").read_text())
    assert "no convergence at all" in result["error"]
    assert ica.run(spec, out=tmp_path, reg=reg)["cells"]["broken"]["status"] == cell["status"]


# ------------------------------------------------------------------------------------- CEBRA
@pytest.mark.parametrize("conditional", ["discrete", "time"])
def test_cebra_seeds_every_generator_it_draws_from(conditional):
    """Same seed, same embedding; another seed, another. 'time' samples through CEBRA's own generators,
    which it seeds from the operating system unless they are re-seeded."""
    pytest.importorskip("cebra")
    z = fitted_latents("cebra", 3, conditional=conditional)
    np.testing.assert_array_equal(fitted_latents("cebra", 3, conditional=conditional), z)
    assert not np.allclose(fitted_latents("cebra", 4, conditional=conditional), z)


def test_cebra_runs_through_ica_run(tmp_path):
    pytest.importorskip("cebra")
    spec = tiny({"cebra": TINY_PEERS["cebra"]})
    cell = ica.run(spec, out=tmp_path)["cells"]["cebra"]
    assert cell["status"] == {"0": "finished", "1": "finished"} and cell["stats"]["mcc"]["n_failed"] == 0
    np.testing.assert_array_equal(latents(tmp_path, "cebra", 1), fitted_latents("cebra", 1))


def test_cebra_needs_u_for_discrete_contrasts_and_a_latent_size():
    options = load_spec(tiny({"cebra": {"name": "cebra"}}), REG).models["cebra"]
    with pytest.raises(SpecError, match="conditional"):
        REG.build(options, BuildContext(x_shape=(3,), latent_dim=3, n_u=None))
    with pytest.raises(SpecError, match="latent_dim"):
        REG.build(options, BuildContext(x_shape=(3,), latent_dim=0, n_u=4))


def test_without_cebra_installed_the_error_says_how_to_install_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "cebra" else real(name, *a))
    with pytest.raises(IcaError, match=r"pip install 'ica-toolkit\[cebra\]'"):
        built_peer("cebra")


# ------------------------------------------------------------------------------------- specs
@pytest.mark.parametrize("name", ["peers-tcl", "peers-cebra-tcl"])
def test_the_peer_specs_validate(name):
    spec = load_spec(SPECS / f"{name}.json", REG)
    names = {options.name for options in spec.models.values()}
    assert {"ivae", "vade", "fastica"} <= names
    assert ("cebra" in names) == (name == "peers-cebra-tcl")
    if name == "peers-cebra-tcl":
        assert spec.seed_list == [0, 1, 2]
