"""``ica.load``: every built-in model of a finished run comes back from its directory and encodes its own
evaluation points to exactly the latents (and assignments) the run saved; new data are checked first."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import ica
from conftest import DIGITS_MODELS, TCL_MODELS, unrecorded
from ica.errors import DataError, IcaError, UnverifiedRunWarning
from ica.running.building import raw_data
from ica.spec.hashing import json_digest


@pytest.fixture
def runs(trained_runs):
    """The TCL and digits runs every trained-model test reads (`conftest.trained_runs`: trained once)."""
    return trained_runs


CASES = [("tcl", label) for label in TCL_MODELS] + [("digits", label) for label in DIGITS_MODELS]


@pytest.mark.slow
@pytest.mark.parametrize("run, label", CASES)
def test_a_loaded_model_encodes_the_evaluation_points_to_the_saved_latents_exactly(runs, run, label):
    model = ica.load(runs / run, model=label)
    raw = raw_data(model.spec, ica.registry())  # as the data set builds it: load applies standardize itself
    x, u = raw.eval.x.numpy(), raw.eval.u.numpy()
    z = model.transform(x, u)
    assert z.shape[0] == 2 and model.seeds == [0, 1]
    for i, seed in enumerate(model.seeds):
        saved = np.load(runs / run / label / "seeds" / str(seed) / "latents.npz")
        np.testing.assert_array_equal(z[i], saved["latents"])
        if "assignments" in saved:
            np.testing.assert_array_equal(model.assign(x, u)[i], saved["assignments"])


@pytest.mark.slow
def test_one_seed_alone_gives_its_own_latents_without_the_seed_axis(runs):
    both = ica.load(runs / "tcl", model="vade")
    one = ica.load(runs / "tcl", model="vade", seeds=[1])
    x = raw_data(both.spec, ica.registry()).eval.x
    np.testing.assert_array_equal(one.transform(x), both.transform(x)[1])
    assert one.transform(x).ndim == 2


@pytest.mark.slow
def test_standardize_is_applied_to_new_data_with_the_training_statistics(runs):
    model = ica.load(runs / "tcl", model="vade")
    assert model.inputs.stats is not None
    raw = raw_data(model.spec, ica.registry())
    mean, std = raw.train.x.mean(0), raw.train.x.std(0)
    torch.testing.assert_close(model.inputs.stats[0][0], mean)
    torch.testing.assert_close(model.inputs.stats[1][0], std)
    shifted = raw.eval.x + 100.0  # not standardised the same way: the latents must change
    assert not np.allclose(model.transform(shifted), model.transform(raw.eval.x))


@pytest.mark.slow
def test_a_model_without_discrete_u_says_so_when_asked_to_assign(runs):
    model = ica.load(runs / "digits", model="ae")
    x = raw_data(model.spec, ica.registry()).eval.x[:4]
    with pytest.raises(DataError, match="assigns no discrete u"):
        model.assign(x)


@pytest.mark.slow
def test_new_data_of_the_wrong_kind_is_one_clear_error(runs):
    model = ica.load(runs / "tcl", model="ivae")
    x = raw_data(model.spec, ica.registry()).eval.x[:8].numpy()
    u = np.zeros(8, dtype=np.int64)
    cases = [
        ((x[:, :2], u), "shape"),
        ((np.full_like(x, np.nan), u), "non-finite"),
        ((x, None), "give u"),
        ((x, np.full(8, 4)), "0..3"),
        ((x, np.full(8, 0.5)), "one whole number per row"),
        ((x, u[:3]), "one whole number per row"),
        ((np.array(["a"] * 8), u), "must hold numbers"),
    ]
    for (xs, us), fragment in cases:
        with pytest.raises(DataError, match=fragment):
            model.transform(xs, us)


@pytest.mark.slow
def test_what_cannot_be_loaded_is_one_error_naming_it(runs, tmp_path):
    with pytest.raises(IcaError, match="has 4 models"):
        ica.load(runs / "tcl")
    with pytest.raises(IcaError, match="no model 'nope'"):
        ica.load(runs / "tcl", model="nope")
    with pytest.raises(IcaError, match="not distinct seeds"):
        ica.load(runs / "tcl", model="vade", seeds=[5])
    with pytest.raises(IcaError, match="not a run directory"):
        ica.load(tmp_path)
    with pytest.raises(IcaError, match="not a directory"):
        ica.load(tmp_path / "missing")
    copy_dir = tmp_path / "copy"
    shutil.copytree(runs / "tcl", copy_dir)
    (copy_dir / "vade" / "seeds" / "1" / "result.json").unlink()
    with pytest.raises(IcaError, match="seed 1 of 'vade' has not finished"):
        ica.load(copy_dir, model="vade")
    weights = copy_dir / "ivae" / "seeds" / "0" / "model.safetensors"
    weights.write_bytes(b"not safetensors")
    with pytest.raises(IcaError, match="not the file this model was trained with"):
        ica.load(copy_dir, model="ivae")
    unrecorded(copy_dir)  # as a run of an earlier ica: the file itself must then be read, and refused
    with pytest.raises(IcaError, match="cannot read the weights"), pytest.warns(UnverifiedRunWarning):
        ica.load(copy_dir, model="ivae")
    spec = json.loads((copy_dir / "spec.json").read_text())
    spec["models"]["flow"]["name"] = "not_installed"
    write_spec(copy_dir, spec)
    with pytest.raises(IcaError, match="installed"):
        ica.load(copy_dir, model="flow")


def write_spec(run_dir, spec):
    """``spec`` as the run's spec.json, with the spec_hash of its new contents (a consistent edit)."""
    body = {k: v for k, v in spec.items() if k != "spec_hash"}
    (run_dir / "spec.json").write_text(json.dumps({**body, "spec_hash": json_digest(body)}))


@pytest.mark.slow
def test_weights_that_do_not_fit_the_spec_are_refused(runs, tmp_path):
    copy_dir = tmp_path / "copy"
    shutil.copytree(runs / "tcl", copy_dir)
    spec = json.loads((copy_dir / "spec.json").read_text())
    spec["models"]["vade"]["encoder"]["hidden"] = [8]
    write_spec(copy_dir, spec)
    with pytest.raises(IcaError, match="spec.json is not the file this model was trained with"):
        ica.load(copy_dir, model="vade")
    unrecorded(copy_dir)
    with pytest.raises(IcaError, match="do not fit the model"), pytest.warns(UnverifiedRunWarning):
        ica.load(copy_dir, model="vade")


# ------------------------------------------------------------------------------------------ ica encode
def encode(*args):
    from typer.testing import CliRunner

    from ica.cli.app import app

    return CliRunner().invoke(app, ["encode", *map(str, args)])


@pytest.mark.slow
def test_ica_encode_writes_the_latents_and_assignments_of_new_data(runs, tmp_path):
    model = ica.load(runs / "tcl", model="vade")
    raw = raw_data(model.spec, ica.registry())
    np.savez(tmp_path / "new.npz", x=raw.eval.x.numpy(), u=raw.eval.u.numpy())
    done = encode(runs / "tcl", "--data", tmp_path / "new.npz", "--model", "vade", "--out", tmp_path / "z.npz")
    assert done.exit_code == 0, done.output
    written = np.load(tmp_path / "z.npz")
    assert list(written["seeds"]) == [0, 1]
    for i in (0, 1):
        saved = np.load(runs / "tcl" / "vade" / "seeds" / str(i) / "latents.npz")
        np.testing.assert_array_equal(written["latents"][i], saved["latents"])
        np.testing.assert_array_equal(written["assignments"][i], saved["assignments"])
    one = encode(
        runs / "tcl", "--data", tmp_path / "new.npz", "--model", "vade", "--seeds", "1", "--out", tmp_path / "one.npz"
    )
    assert one.exit_code == 0, one.output
    np.testing.assert_array_equal(np.load(tmp_path / "one.npz")["latents"][0], written["latents"][1])


@pytest.mark.slow
def test_ica_encode_shows_a_progress_bar_on_a_terminal_and_encodes_the_same(runs, tmp_path, monkeypatch):
    import io

    from rich.console import Console

    from ica.cli import encode as encode_module, render

    x = raw_data(ica.load(runs / "tcl", model="vade").spec, ica.registry()).eval.x.numpy()
    many = np.concatenate([x] * 120)  # 9,600 rows: three pieces of 4,096 rows
    np.savez(tmp_path / "many.npz", x=many)
    shown = io.StringIO()
    monkeypatch.setattr(render, "console", Console(file=shown, force_terminal=True, width=100))
    monkeypatch.setattr(encode_module, "PROGRESS_FROM", 1000)
    done = encode(runs / "tcl", "--data", tmp_path / "many.npz", "--model", "vade", "--out", tmp_path / "z.npz")
    assert done.exit_code == 0, done.output
    assert "encoding with vade" in shown.getvalue() and "9600/9600" in shown.getvalue()
    expected = ica.load(runs / "tcl", model="vade").transform(many)
    np.testing.assert_array_equal(np.load(tmp_path / "z.npz")["latents"], expected)


@pytest.mark.slow
def test_ica_encode_turns_every_bad_input_into_one_message_and_exit_2(runs, tmp_path):
    x = raw_data(ica.load(runs / "tcl", model="vade").spec, ica.registry()).eval.x.numpy()
    np.savez(tmp_path / "good.npz", x=x)
    np.savez(tmp_path / "other_key.npz", obs=x, spikes=x)  # one array alone would be taken as x, as ica score does
    np.savez(tmp_path / "narrow.npz", x=x[:, :2])
    (tmp_path / "pickled.npz").write_bytes(b"")
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}], dtype=object))
    (tmp_path / "adir").mkdir()
    run = runs / "tcl"
    cases = [
        ((run, "--data", tmp_path / "missing.npz", "--model", "vade"), "is not a file"),
        ((run, "--data", tmp_path / "other_key.npz", "--model", "vade"), "none is named 'x': say which with --x-key"),
        ((run, "--data", tmp_path / "narrow.npz", "--model", "vade"), "shape"),
        ((run, "--data", tmp_path / "objects.npz", "--model", "vade"), "cannot be read"),
        ((run, "--data", tmp_path / "pickled.npz", "--model", "vade"), "cannot be read"),
        ((run, "--data", tmp_path / "good.npz"), "has 4 models"),
        ((run, "--data", tmp_path / "good.npz", "--model", "ivae"), "give u"),
        ((run, "--data", tmp_path / "good.npz", "--model", "vade", "--seeds", "0,x"), "--seeds"),
        ((tmp_path, "--data", tmp_path / "good.npz"), "not a run directory"),
    ]
    for args, fragment in cases:
        done = encode(*args, "--out", tmp_path / "z.npz")
        assert done.exit_code == 2 and fragment in done.output and "Traceback" not in done.output, (args, done.output)
        assert not (tmp_path / "z.npz").exists()
    done = encode(run, "--data", tmp_path / "good.npz", "--model", "vade", "--out", tmp_path / "adir")
    assert done.exit_code == 2 and "is a directory" in done.output
    saved = run / "vade" / "seeds" / "0" / "latents.npz"
    before = saved.read_bytes()
    done = encode(run, "--data", tmp_path / "good.npz", "--model", "vade", "--out", saved)
    assert done.exit_code == 2 and "inside the run directory" in done.output and saved.read_bytes() == before


# ------------------------------------------------------------------------------------------ ica.score
def test_score_of_permuted_sign_flipped_rescaled_copies_of_the_sources_is_one():
    rng = np.random.default_rng(0)
    s = rng.laplace(size=(400, 3))
    copies = [s[:, [2, 0, 1]] * [-2.0, 1.0, 0.5], s[:, [1, 2, 0]] * [3.0, -1.0, 1.0], -s]
    stats = ica.score(copies, sources=s)["stats"]
    for name in ("mcc", "cca_mcc_in", "cca_mcc_out"):
        assert stats[name]["median"] == pytest.approx(1.0, abs=1e-6), name
    assert stats["mcc"]["n"] == 3 and stats["cca_mcc_out"]["n"] == 3  # 3 seeds, 3 pairs


def test_score_of_independent_noise_is_near_zero_out_of_sample():
    rng = np.random.default_rng(1)
    s = rng.normal(size=(2000, 3))
    noise = rng.normal(size=(4, 2000, 3))
    stats = ica.score(noise, sources=s)["stats"]
    assert stats["mcc"]["median"] < 0.06 and stats["cca_mcc_out"]["median"] < 0.06
    assert stats["cca_mcc_in"]["median"] > stats["cca_mcc_out"]["median"], "in-sample CCA fits the noise a little"


@pytest.mark.slow
def test_score_of_a_runs_saved_latents_equals_the_runs_own_summary(runs):
    summary = json.loads((runs / "tcl" / "summary.json").read_text())["cells"]["vade"]
    model = ica.load(runs / "tcl", model="vade")
    points = raw_data(model.spec, ica.registry()).eval
    saved = [np.load(runs / "tcl" / "vade" / "seeds" / str(s) / "latents.npz") for s in model.seeds]
    scored = ica.score(
        [f["latents"] for f in saved],
        sources=points.s,
        labels=points.u,
        assignments=np.stack([f["assignments"] for f in saved]),
        seeds=model.seeds,
    )
    # Scoring has embeddings, not networks: no ELBO and no untrained-network controls to compare; and given no
    # observations, no observation controls.
    expected = {
        k: v
        for k, v in summary["stats"].items()
        if not k.startswith(("elbo", "bpd")) and not k.endswith(("_untrained", "_observations"))
    }
    assert set(expected) >= {"mcc", "cca_mcc_out", "cluster_ari", "cluster_ari_truth", "affine_r2", "consistency_r2"}
    assert scored["stats"] == expected
    trained_pairs = [{k: v for k, v in p.items() if not k.endswith("_untrained")} for p in summary["pairs"]]
    assert scored["pairs"] == trained_pairs


def test_score_refuses_embeddings_it_cannot_compare():
    z = np.zeros((2, 10, 3))
    cases = [
        (dict(embeddings=np.zeros((10, 3))), "seeds, points, dims"),
        (dict(embeddings=[np.zeros((10, 3)), np.zeros((9, 3))]), "same points"),
        (dict(embeddings=[np.full((10, 3), np.nan)]), "non-finite"),
        (dict(embeddings=z, sources=np.zeros((9, 3))), "10 rows"),
        (dict(embeddings=z, labels=np.full(10, 0.5)), "integers"),
        (dict(embeddings=z, assignments=np.zeros((2, 9), dtype=int)), "one cluster per point"),
        (dict(embeddings=z, seeds=[0, 0]), "once"),
        (dict(embeddings=[]), "no embeddings"),
    ]
    for kwargs, fragment in cases:
        with pytest.raises(DataError, match=fragment):
            ica.score(**kwargs)


def test_score_with_the_observations_gives_the_floors_a_run_reports_beside_mcc():
    rng = np.random.default_rng(2)
    s = rng.laplace(size=(500, 3))
    x = s @ rng.normal(size=(3, 3))
    without = ica.score([s, -s], sources=s)["cell"]
    cell = ica.score([s, -s], sources=s, observations=x)["cell"]
    assert "mcc_fastica" not in without and "mcc_observations" not in without
    assert 0 < cell["mcc_observations"] < 1 and cell["mcc_fastica"] > 0.9  # FastICA unmixes a linear mixture


# ------------------------------------------------------------------------------- posterior and ELBO
@pytest.mark.slow
@pytest.mark.parametrize("label", ["ivae", "vade", "hashed"])
def test_the_posterior_mean_is_the_representation_and_the_elbo_is_the_runs(runs, label):
    model = ica.load(runs / "tcl", model=label)
    raw = raw_data(model.spec, ica.registry())
    mean, log_var = model.posterior(raw.eval.x, raw.eval.u)
    np.testing.assert_array_equal(mean, model.transform(raw.eval.x, raw.eval.u))
    assert log_var.shape == mean.shape and np.isfinite(log_var).all()
    elbo = model.elbo(raw.train.x, raw.train.u)  # from each seed's fresh `elbo` stream, as the run's train ELBO
    assert elbo.shape == (2, len(raw.train))
    for i, seed in enumerate(model.seeds):
        result = json.loads((runs / "tcl" / label / "seeds" / str(seed) / "result.json").read_text())
        assert elbo[i].astype(np.float64).mean() == pytest.approx(result["elbo"]["train"], rel=1e-6)


@pytest.mark.slow
def test_a_flow_has_no_posterior_but_an_elbo(runs):
    model = ica.load(runs / "tcl", model="flow")
    x = raw_data(model.spec, ica.registry()).eval.x[:16]
    with pytest.raises(DataError, match="has no posterior"):
        model.posterior(x)
    assert model.elbo(x).shape == (2, 16)
