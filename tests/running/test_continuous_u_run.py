"""Runs with a continuous u (issue #30): validated, trained (grid cells packed), evaluated with the metrics that
need a discrete u saying why they skip, recorded in preprocessing.json, resumed, and loaded to encode new data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from typer.testing import CliRunner

import ica
from ica.cli.app import app
from ica.errors import IcaError
from ica.plugins.metrics.clusters import CONTINUOUS_U
from ica.running.building import raw_data, u_shuffled

MLP = {"encoder": {"name": "mlp", "hidden": [8]}, "decoder": {"name": "mlp", "hidden": [8]}}
DATA = {"name": "smooth_u", "samples": 64, "eval_samples": 32, "dim": 3, "u_dim": 2}
SPEC = {
    "name": "continuous",
    "data": DATA,
    "models": {
        "ivae": {"name": "ivae", **MLP},
        "vade": {"name": "vade", **MLP, "prior": {"name": "gmm", "components": 3}},
    },
    "training": {"steps": 12, "batch_size": 16, "log_every": 6, "compile": False},
    "seeds": 2,
    "device": "cpu",
    "grid": {"data.data_seed": [0, 1]},
}


def npz_spec(tmp_path, **model) -> dict:
    rng = np.random.default_rng(0)
    path = tmp_path / "behaviour.npz"
    np.savez(path, x=rng.normal(size=(40, 4)), u=rng.uniform(0, 200, size=(40, 2)))  # a position in cm, say
    return {
        "data": {"name": "npz", "path": str(path), "u_kind": "continuous"},
        "models": {"m": model or {"name": "ivae", "latent_dim": 2, **MLP}},
        "device": "cpu",
    }


def test_a_spec_on_an_npz_with_a_continuous_u_validates(tmp_path):
    checked = ica.check(npz_spec(tmp_path))
    assert checked["data"]["n_u"] is None and "clusters" not in checked["models"]["m"]["metrics"]
    assert checked["data"]["u_dim"] == 2
    (tmp_path / "spec.json").write_text(json.dumps(npz_spec(tmp_path)))
    shown = CliRunner().invoke(app, ["validate", str(tmp_path / "spec.json")])
    assert shown.exit_code == 0 and "u: continuous, 2 column(s)" in shown.output, shown.output


def test_a_model_that_needs_a_discrete_u_is_refused_at_validation(tmp_path):
    with pytest.raises(IcaError, match="needs discrete u; this data set's u is continuous") as caught:
        ica.check(npz_spec(tmp_path, name="cebra", latent_dim=2))
    assert caught.value.where is not None and "models.m" in caught.value.where


def test_shuffling_a_continuous_u_permutes_its_rows():
    data = raw_data(ica.load_spec({**SPEC, "grid": None}), ica.registry())
    shuffled = u_shuffled(data)
    assert shuffled.u_dim == 2 and shuffled.train.u.shape == data.train.u.shape
    assert not torch.equal(shuffled.train.u, data.train.u)
    assert sorted(shuffled.train.u[:, 0].tolist()) == sorted(data.train.u[:, 0].tolist())  # the same rows


@pytest.mark.slow
def test_ivae_trains_evaluates_and_loads_with_a_continuous_u(tmp_path):
    out = tmp_path / "run"
    events: list[tuple[str, dict]] = []
    result = ica.run(SPEC, out=out, on_event=lambda name, **info: events.append((name, info)))
    assert any("together (training.pack_cells)" in str(info.get("message")) for _, info in events)
    assert [run["dir"] for run in result["runs"].values()] == ["data_seed-0", "data_seed-1"]
    for run in result["runs"].values():
        cell, summary = run["dir"], run["summary"]
        assert summary["data"]["u_dim"] == 2 and summary["data"]["n_u"] is None
        ivae, vade = summary["cells"]["ivae"], summary["cells"]["vade"]
        assert all(status == "finished" for status in ivae["status"].values())
        assert "mcc" in ivae["stats"] and "cluster_ari" not in ivae["stats"]  # no assignments: left out
        assert "cluster_ari" in vade["stats"]  # VaDE's own clusters still agree or not between seeds
        skipped = [e for e in vade["errors"] if e["metric"] in ("cluster_ari_truth", "cluster_nmi_truth")]
        assert len(skipped) == 2 and all(e["error"] == CONTINUOUS_U for e in skipped)
        pre = json.loads((out / cell / "preprocessing.json").read_text())
        assert pre["u_kind"] == "continuous" and pre["u_dim"] == 2
        assert "assignments" not in np.load(out / cell / "ivae" / "seeds" / "0" / "latents.npz").files

    again = ica.run(SPEC, out=out)  # resumes: nothing prepares differently, nothing trains again
    first, second = (next(iter(r["runs"].values()))["summary"]["cells"]["ivae"] for r in (result, again))
    assert second == first

    cell = out / "data_seed-0"
    model = ica.load(cell, model="ivae")
    assert model.needs_u and model.u_dim == 2 and model.n_u is None
    evaluation = raw_data(model.spec, ica.registry()).eval
    z = model.transform(evaluation.x.numpy(), evaluation.u.double().numpy())
    for i, seed in enumerate(model.seeds):  # the run's own latents, from the continuous u as given
        np.testing.assert_array_equal(z[i], np.load(cell / "ivae" / "seeds" / str(seed) / "latents.npz")["latents"])
    assert model.elbo(evaluation.x.numpy(), evaluation.u.numpy()).shape == (2, 32)
    assert not np.array_equal(z, model.transform(evaluation.x.numpy(), evaluation.u.numpy() + 0.5))
    assert model.sample(5, u=np.full((5, 2), 0.5)).shape == (2, 5, 3)
    with pytest.raises(ica.errors.DataError, match="learnt no p\\(u\\)"):
        model.sample(5)
