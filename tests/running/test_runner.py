"""ica.run beyond the happy path: standardisation from training statistics, and a failed seed that stays
visible in every count (injected through a test plugin registered with pluggy)."""

from __future__ import annotations

import json
import types

import pytest
import torch
from torch import nn

import ica
from ica.plugin import Options, hookimpl
from ica.components.registry import Registry
from ica.running.building import prepare_data
from ica.spec.load import load_spec

from failing_model import failing_plugin


def test_standardize_uses_training_statistics_for_both_splits(tiny_spec):
    tiny_spec["data"]["standardize"] = True
    data = prepare_data(load_spec(tiny_spec), ica.registry())
    torch.testing.assert_close(data.train.x.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(data.train.x.std(0), torch.ones(3), atol=1e-5, rtol=0)
    tiny_spec["data"]["standardize"] = False
    raw = prepare_data(load_spec(tiny_spec), ica.registry())
    mean, std = raw.train.x.mean(0), raw.train.x.std(0)
    torch.testing.assert_close(data.eval.x, (raw.eval.x - mean) / std)  # not the evaluation split's own
    assert torch.equal(data.eval.s, raw.eval.s), "sources are never rescaled"


@pytest.mark.slow
def test_a_failed_seed_is_counted_in_every_statistic(tiny_spec, tmp_path):
    reg = Registry.load(entry_points=False, extra=[("tests", failing_plugin())])
    tiny_spec["models"] = {"failing": {"name": "failing", "fail_index": 1}}
    tiny_spec["seeds"] = 3
    summary = ica.run(tiny_spec, out=tmp_path, reg=reg)
    cell = summary["cells"]["failing"]
    assert cell["status"] == {"0": "finished", "1": "failed", "2": "finished"}
    assert cell["stats"]["mcc"]["n"] == 3 and cell["stats"]["mcc"]["n_failed"] == 1
    assert cell["stats"]["cca_mcc_out"]["n"] == 3 and cell["stats"]["cca_mcc_out"]["n_failed"] == 2
    assert cell["seeds"]["1"]["mcc"] is None and cell["seeds"]["0"]["mcc"] is not None
    assert any(e.get("seed") == 1 for e in cell["errors"])
    result = json.loads((tmp_path / "failing" / "seeds" / "1" / "result.json").read_text())
    assert result["status"] == "failed" and result["failed_at"] == 10 and result["last_finite_loss"] is None
    assert not (tmp_path / "failing" / "seeds" / "1" / "latents.npz").exists()
    # Running again keeps the failure on record rather than silently retraining or dropping it.
    again = ica.run(tiny_spec, out=tmp_path, reg=reg)
    assert again["cells"]["failing"]["status"] == cell["status"]


class PlainPrior(nn.Module):
    """A prior written the plain PyTorch way, without the seed axis: it cannot be batched across seeds."""

    conditional = True

    def __init__(self, options, ctx):
        super().__init__()
        self.net = nn.Linear(ctx.n_u, 2 * ctx.latent_dim)

    def forward(self, cond=None):
        from ica.nn.distributions import diagonal_normal

        mean, log_var = self.net(cond).chunk(2, dim=-1)
        return diagonal_normal(mean, log_var)


@pytest.mark.slow
def test_a_component_without_the_seed_axis_falls_back_to_one_seed_at_a_time(tiny_spec, tmp_path):
    module = types.ModuleType("plain_prior")

    @hookimpl
    def ica_register(register):
        register("prior", "plain", Options, PlainPrior)

    module.ica_register = ica_register
    reg = Registry.load(entry_points=False, extra=[("tests", module)])
    tiny_spec["models"] = {"ivae": {"name": "ivae", "prior": {"name": "plain"}}}
    events = []
    summary = ica.run(tiny_spec, out=tmp_path, reg=reg, on_event=lambda name, **info: events.append((name, info)))
    notices = [info["message"] for name, info in events if name == "notice"]
    assert len(notices) == 1 and "one at a time" in notices[0]
    assert [info["seeds"] for name, info in events if name == "train_start"] == [[0], [1]]
    assert summary["cells"]["ivae"]["status"] == {"0": "finished", "1": "finished"}


DIGITS_SPEC = {
    "data": {"name": "digits", "binarize": "threshold"},
    "model": {
        "name": "vade",
        "latent_dim": 3,
        "prior": {"name": "gmm", "components": 4},
        "encoder": {"name": "mlp", "hidden": [16]},
        "decoder": {"name": "mlp", "hidden": [16]},
        "likelihood": {"name": "bernoulli"},
    },
    "training": {"steps": 10, "log_every": 5},
    "seeds": 2,
    "device": "cpu",
}


@pytest.mark.slow
def test_discrete_likelihoods_report_bits_per_dimension_and_skip_grid_metrics(tmp_path):
    summary = ica.run(DIGITS_SPEC, out=tmp_path)
    stats = summary["cells"]["vade"]["stats"]
    assert "grid_mcc_out" not in stats, "no seed has grid latents, so the default metrics leave grid_mcc out"
    for seed in (0, 1):
        result = json.loads((tmp_path / "vade" / "seeds" / str(seed) / "result.json").read_text())
        elbo = result["elbo"]
        assert abs(elbo["bpd_eval"] - (-elbo["eval"] / (64 * 0.6931471805599453))) < 1e-9
    assert stats["bpd_eval"]["n"] == 2 and stats["bpd_eval"]["median"] > 0


def test_a_discrete_likelihood_on_standardised_data_is_refused():
    spec = {**DIGITS_SPEC, "data": {"name": "digits", "standardize": True}}
    try:
        ica.check(spec)
    except ica.SpecError as exc:
        assert exc.where.endswith("likelihood") and "standardize" in exc.message
    else:
        raise AssertionError("a Bernoulli likelihood on z-scored data must be refused")


@pytest.mark.slow
def test_auto_batching_trains_large_models_one_seed_at_a_time_on_the_cpu(tiny_spec, tmp_path):
    big = {"name": "mlp", "hidden": [400, 400]}  # about 330k parameters per seed: above the CPU limit
    tiny_spec["models"] = {
        "big": {"name": "ivae", "encoder": big, "decoder": big},
        "small": tiny_spec["models"]["ivae"],
    }
    tiny_spec["training"]["steps"] = 2
    events = []
    ica.run(tiny_spec, out=tmp_path, on_event=lambda name, **info: events.append((name, info)))
    groups = {(info["cell"], tuple(info["seeds"])) for name, info in events if name == "train_start"}
    assert groups == {("big", (0,)), ("big", (1,)), ("small", (0, 1))}
    notices = [info["message"] for name, info in events if name == "notice"]
    assert any("big" in m and "one at a time" in m for m in notices)
    checked = ica.check(tiny_spec)["models"]  # ica validate says so before anything trains, with the reason
    assert checked["small"]["batched"] and checked["small"]["why_not_batched"] is None
    assert not checked["big"]["batched"] and "parameters per seed" in checked["big"]["why_not_batched"]
    tiny_spec["training"]["batch_seeds"] = False
    assert ica.check(tiny_spec)["models"]["small"]["why_not_batched"] == "training.batch_seeds is false"


@pytest.mark.slow
def test_validate_lists_only_the_metrics_each_model_will_report(tiny_spec, tmp_path):
    """With the default metric list, a model without grid latents reports no grid_mcc, a fitted peer no ELBO:
    ica validate lists what ica run then writes into each summary."""
    tiny_spec["models"]["fastica"] = {"name": "fastica"}
    tiny_spec["training"]["steps"] = 2
    tiny_spec["evaluation"] = {"metrics": None}
    checked = ica.check(tiny_spec)
    summary = ica.run(tiny_spec, out=tmp_path)
    for label in ("ivae", "vade", "fastica"):
        reported = {name.split("_")[0] for name in summary["cells"][label]["stats"]} | {
            name.split("_")[0] for name in summary["cells"][label].get("cell", {})
        }
        listed = checked["models"][label]["metrics"]
        prefix = {
            "clusters": {"cluster"},
            "cca_mcc": {"cca"},
            "consistency_r2": {"consistency"},
            "effective_rank": {"active", "participation", "latent"},
        }
        # every listed metric wrote numbers, no other
        assert reported == set().union(*(prefix.get(m, {m}) for m in listed)), label
    assert "elbo" in checked["models"]["vade"]["metrics"] and "elbo" not in checked["models"]["fastica"]["metrics"]
    assert "grid_mcc" not in checked["metrics"]


@pytest.mark.slow
def test_a_diverged_seed_is_retried_alone_at_a_lower_learning_rate(tiny_spec, tmp_path):
    reg = Registry.load(entry_points=False, extra=[("tests", failing_plugin())])
    # The test model sends seed index 1 of a batch to NaN; trained alone (index 0) it recovers.
    tiny_spec["models"] = {"failing": {"name": "failing", "fail_index": 1}}
    tiny_spec["seeds"] = 3
    tiny_spec["training"].update(retry_nan=2, retry_lr_factor=0.5)
    events = []
    summary = ica.run(tiny_spec, out=tmp_path, reg=reg, on_event=lambda name, **info: events.append((name, info)))
    cell = summary["cells"]["failing"]
    assert cell["status"] == {"0": "finished", "1": "finished", "2": "finished"}
    result = json.loads((tmp_path / "failing" / "seeds" / "1" / "result.json").read_text())
    assert result["status"] == "finished" and result["lr"] == 0.0005
    assert [a["status"] for a in result["earlier_attempts"]] == ["failed"]
    assert any("seed 1 diverged; attempt 2 with lr 0.0005" in info.get("message", "") for _, info in events)
    lines = (tmp_path / "failing" / "seeds" / "1" / "metrics.jsonl").read_text().splitlines()
    assert all(abs(json.loads(line)["lr"] - 0.0005) < 1e-9 for line in lines), "the log is the retry's alone"


@pytest.mark.slow
def test_a_spec_whose_data_fail_leaves_no_run_directory_and_the_fixed_spec_runs_there(tiny_spec, tmp_path):
    """The checks (data, metrics, models) come before the directory is claimed: otherwise its spec.json
    would refuse the corrected spec as 'a different spec'."""
    import numpy as np
    import pytest

    from ica.errors import IcaError

    out = tmp_path / "run"
    broken = {**tiny_spec, "data": {"name": "npz", "path": str(tmp_path / "missing.npz")}}
    with pytest.raises(IcaError):
        ica.run(broken, out=out)
    assert not out.exists()
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.normal(size=(60, 3)), u=np.arange(60) % 3, s=rng.normal(size=(60, 3)))
    fixed = {**broken, "data": {"name": "npz", "path": str(tmp_path / "data.npz")}}
    assert set(ica.run(fixed, out=out)["cells"]) == {"ivae", "vade"}


@pytest.mark.slow
def test_a_run_directory_of_ica_0_2_0_resumes_after_training_compile_changed_its_default(tiny_spec, tmp_path):
    """0.2.0 wrote training.compile false into spec.json and hashed it so; this version's default is "auto".
    The same spec file still resumes the directory (and a different spec is still refused)."""
    import hashlib
    import json as json_module

    from ica.spec.load import load_spec, spec_json

    ica.run(tiny_spec, out=tmp_path / "run")
    old = spec_json(load_spec(tiny_spec))
    assert old["training"]["compile"] == "auto"
    old["training"]["compile"] = False  # as 0.2.0 wrote it, with its hash
    digest = hashlib.sha256(json_module.dumps(old, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    (tmp_path / "run" / "spec.json").write_text(json_module.dumps({**old, "spec_hash": digest}))
    events = []
    ica.run(tiny_spec, out=tmp_path / "run", on_event=lambda name, **info: events.append(name))
    assert "train_start" not in events  # every seed was finished: nothing trained again
    other = {**tiny_spec, "training": {**tiny_spec["training"], "lr": 0.5}}
    with pytest.raises(ica.IcaError, match="different spec"):
        ica.run(other, out=tmp_path / "run")
