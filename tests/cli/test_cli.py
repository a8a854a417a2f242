"""The command line through typer's CliRunner: output, exit codes, and clean errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ica.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def write(tmp_path, spec: dict, name: str = "spec.json"):
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return str(path)


def assert_clean_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


def test_list_shows_every_kind():
    result = invoke("list")
    assert result.exit_code == 0
    for name in ["tcl", "npz", "mlp", "gaussian", "conditional", "gmm", "ivae", "vade", "mcc", "cca_mcc"]:
        assert name in result.output


def test_list_json_of_one_kind():
    result = invoke("list", "prior", "--json")
    assert result.exit_code == 0
    listing = json.loads(result.output)
    assert {c["name"] for c in listing["components"]} >= {"conditional", "gmm"}
    assert {c["kind"] for c in listing["components"]} == {"prior"}
    assert all(c["plugin"] and c["version"] for c in listing["components"])
    assert listing["failures"] == []


def test_list_unknown_kind():
    assert_clean_error(invoke("list", "priors"), "unknown kind 'priors'")


def test_show_lists_options_with_defaults():
    result = invoke("show", "gmm")
    assert result.exit_code == 0
    assert "components" in result.output and "40" in result.output
    assert "provided by ica" in result.output and "module ica.plugins.priors.gmm" in result.output


def test_show_unknown_name_suggests():
    assert_clean_error(invoke("show", "vadee"), "did you mean 'vade'")


def test_validate_good_spec(tmp_path, tiny_spec):
    result = invoke("validate", write(tmp_path, tiny_spec))
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    assert not (tmp_path / "runs").exists()


def test_schema_is_json():
    result = invoke("schema")
    assert result.exit_code == 0
    assert "models" in json.loads(result.output)["properties"]


@pytest.mark.parametrize(
    "mutate, fragments",
    [
        (lambda s: s["models"]["vade"]["prior"].update(name="gmmm"), ["models.vade.prior", "did you mean 'gmm'"]),
        (lambda s: s["training"].update(steps="lots"), ["training.steps"]),
        (lambda s: s["training"].update(batch_size=0), ["training.batch_size", "greater than or equal to 1"]),
        (lambda s: s.update(device="tpu"), ["device"]),
        (lambda s: s["data"].update(segments=1), ["data.segments"]),
        (lambda s: s.update(evaluation={"metrics": [{"name": "mccc"}]}), ["evaluation.metrics[0]", "'mcc'"]),
    ],
)
def test_validate_rejects_bad_specs_cleanly(tmp_path, tiny_spec, mutate, fragments):
    mutate(tiny_spec)
    assert_clean_error(invoke("validate", write(tmp_path, tiny_spec)), *fragments)


def test_validate_invalid_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{ not json")
    assert_clean_error(invoke("validate", str(path)), "invalid JSON", "line 1")


def test_validate_missing_data_file(tmp_path, tiny_spec):
    tiny_spec["data"] = {"name": "npz", "path": str(tmp_path / "missing.npz")}
    tiny_spec["models"]["vade"]["latent_dim"] = 2
    tiny_spec["models"].pop("ivae")
    assert_clean_error(invoke("validate", write(tmp_path, tiny_spec)), "missing.npz")


def test_validate_ivae_without_u(tmp_path, tiny_spec):
    np.savez(tmp_path / "x.npz", x=np.random.default_rng(0).normal(size=(50, 3)).astype("float32"))
    tiny_spec["data"] = {"name": "npz", "path": str(tmp_path / "x.npz")}
    tiny_spec["models"]["ivae"]["latent_dim"] = 2
    tiny_spec["models"]["vade"]["latent_dim"] = 2
    assert_clean_error(invoke("validate", write(tmp_path, tiny_spec)), "models.ivae", "needs u")


def test_validate_vade_with_a_non_mixture_prior(tmp_path, tiny_spec):
    tiny_spec["models"]["vade"]["prior"] = {"name": "conditional"}
    assert_clean_error(invoke("validate", write(tmp_path, tiny_spec)), "models.vade", "mixture prior")


def test_validate_mcc_without_sources(tmp_path, tiny_spec):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", x=rng.normal(size=(50, 3)).astype("float32"), u=rng.integers(0, 3, 50))
    tiny_spec["data"] = {"name": "npz", "path": str(tmp_path / "x.npz")}
    tiny_spec["models"] = {"vade": {"name": "vade", "latent_dim": 2}}
    tiny_spec["evaluation"] = {"metrics": [{"name": "mcc"}]}
    assert_clean_error(invoke("validate", write(tmp_path, tiny_spec)), "evaluation.metrics[0]", "sources")


@pytest.mark.slow
def test_run_end_to_end(tmp_path, tiny_spec):
    out = tmp_path / "run"
    result = invoke("run", write(tmp_path, tiny_spec), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "MCC to sources" in result.output and "floors" in result.output
    for name in ("spec.json", "env.json", "summary.json"):
        assert (out / name).exists()
    for cell in ("ivae", "vade"):
        for seed in (0, 1):
            seed_dir = out / cell / "seeds" / str(seed)
            for name in ("metrics.jsonl", "latents.npz", "model.safetensors", "checkpoint.pt", "result.json"):
                assert (seed_dir / name).exists(), seed_dir / name
    summary = json.loads((out / "summary.json").read_text())
    vade = summary["cells"]["vade"]
    assert vade["stats"]["mcc"]["n"] == 2 and vade["stats"]["cca_mcc_out"]["n"] == 1
    assert set(vade["cell"]) == {
        "mcc_observations",
        "mcc_fastica",
        "affine_r2_observations",
        "affine_mcc_observations",
        "mcc_spearman_observations",
        "mcc_spearman_fastica",
    }
    latents = np.load(out / "vade" / "seeds" / "0" / "latents.npz")
    assert latents["latents"].shape == (4 * 20, 3)  # every held-out point, d_z = 3
    assert latents["assignments"].shape == (4 * 20,)
    assert not list(out.rglob("*.tmp")), "no temporary files are left behind"


@pytest.mark.slow
def test_run_into_a_directory_of_another_spec_is_refused(tmp_path, tiny_spec):
    out = tmp_path / "run"
    tiny_spec["training"]["steps"] = 10
    assert invoke("run", write(tmp_path, tiny_spec), "--out", str(out)).exit_code == 0
    tiny_spec["training"]["steps"] = 20
    result = invoke("run", write(tmp_path, tiny_spec, "other.json"), "--out", str(out))
    assert_clean_error(result, "different spec")


def test_run_bad_device_option(tmp_path, tiny_spec):
    assert_clean_error(invoke("run", write(tmp_path, tiny_spec), "--device", "gpu"), "--device")


@pytest.mark.slow
def test_a_full_disk_is_a_clear_error_and_leaves_finished_results_intact(tiny_spec, tmp_path, monkeypatch):
    import errno
    import os

    import ica.rundir.writing

    tiny_spec["models"] = {"ivae": tiny_spec["models"]["ivae"]}
    out = tmp_path / "run"
    ica.run(tiny_spec, out=out)
    (out / "ivae" / "seeds" / "1" / "result.json").unlink()  # seed 1 must be evaluated again: writes follow
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(tiny_spec))

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ica.rundir.writing.os, "fsync", no_space)
    result = CliRunner().invoke(app, ["run", str(spec_path), "--out", str(out)])
    assert result.exit_code == 2 and "No space left on device" in result.output
    assert "Traceback" not in result.output
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before, "nothing finished was touched and no partial file was left"


def test_progress_lines_summarise_many_seeds():
    """A packed grid trains 50 seeds in one loop: progress lines give their median and range, not 50 losses."""
    from ica.cli.render import losses_text, seeds_text

    assert seeds_text((0, 1)) == "seeds 0,1" and seeds_text((3,)) == "seed 3"
    assert losses_text([1.5, None]) == "1.5, failed"
    many = [float(v) for v in range(1, 10)] + [None]  # 1..9 and one failed seed
    assert seeds_text(tuple(range(10))) == "10 seeds"
    assert losses_text(many) == "median 5 [1, 9], 1 failed"
    assert losses_text([2.0, 4.0, 6.0, 8.0] * 2) == "median 5 [2, 8]"
    assert losses_text([None] * 8) == "all 8 failed"
