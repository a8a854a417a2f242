"""Issue #27, items 1, 3, 6, 7, 8, 14 and 16 where they meet trained models and the estimators: a model is
rebuilt only from files whose recorded digests check; preprocessing.json is written once and a resume on other
data is refused; a setting given twice to an estimator is an error naming both; sizes are checked before
anything is built; tiny inputs, saving into a run and huge samples are clear errors. (The damage fuzz over
these files is tests/rundir/test_fuzz_load.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

import ica
from conftest import cli, unrecorded
from ica.errors import DataError, IcaError, UnverifiedRunWarning
from ica.estimators import IcaEstimator, VaDE

VADE = {
    "name": "vade",
    "latent_dim": 2,
    "encoder": {"name": "mlp", "hidden": [8]},
    "decoder": {"name": "mlp", "hidden": [8]},
    "prior": {"name": "gmm", "components": 3},
}


@pytest.fixture
def run(trained_runs, tmp_path):
    """A copy of the shared TCL run (standardised; vade among its models), free to damage."""
    shutil.copytree(trained_runs / "tcl", tmp_path / "run")
    return tmp_path / "run"


# ------------------------------------------------------------------------------------------ item 1
@pytest.mark.slow
def test_a_finished_seed_records_the_digest_of_every_file_its_model_is_rebuilt_from(run):
    import hashlib

    result = json.loads((run / "vade/seeds/1/result.json").read_text())
    files = {
        "spec.json": run / "spec.json",
        "preprocessing.json": run / "preprocessing.json",
        "model.safetensors": run / "vade/seeds/1/model.safetensors",
    }
    assert result["rebuilt_from"] == {
        name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()
    }


@pytest.mark.slow
def test_nan_weights_are_refused_by_encode_even_in_a_run_without_digests(run, tmp_path):
    weights = run / "vade/seeds/0/model.safetensors"
    save_file({k: v * float("nan") for k, v in load_file(weights).items()}, weights)
    np.savez(tmp_path / "new.npz", x=np.zeros((5, 3), np.float32))
    for strip in (False, True):
        if strip:
            unrecorded(run)
        done = cli("encode", run, "--model", "vade", "--data", tmp_path / "new.npz", "--out", tmp_path / "z.npz")
        assert done.exit_code == 2 and str(weights) in "".join(done.output.split()), done.output
        assert not (tmp_path / "z.npz").exists()


@pytest.mark.slow
def test_a_run_without_digests_loads_with_one_notice_and_an_edited_spec_hash_is_refused(run):
    unrecorded(run)
    with pytest.warns(UnverifiedRunWarning, match="cannot be verified") as caught:
        ica.load(run, model="vade")
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    spec = json.loads((run / "spec.json").read_text())
    (run / "spec.json").write_text(json.dumps({**spec, "spec_hash": "0" * 16}))
    with pytest.raises(IcaError, match="spec_hash '0000000000000000' is not the digest") as refused:
        ica.load(run, model="vade")
    assert refused.value.where == str(run / "spec.json")


@pytest.mark.slow
def test_preprocessing_json_is_written_once_and_a_resume_on_other_data_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.normal(size=(60, 3)).astype(np.float32))
    spec = {
        "data": {"name": "npz", "path": str(tmp_path / "data.npz"), "standardize": True},
        "models": {"v": VADE},
        "training": {"steps": 4, "batch_size": 8},
        "seeds": 2,
        "device": "cpu",
    }
    ica.run(spec, out=tmp_path / "run")
    written = (tmp_path / "run" / "preprocessing.json").read_bytes()
    (tmp_path / "run" / "v" / "seeds" / "1" / "result.json").unlink()  # seed 1 is to be trained again
    ica.run(spec, out=tmp_path / "run")  # resumed on the same data: the file is kept byte for byte
    assert (tmp_path / "run" / "preprocessing.json").read_bytes() == written
    (tmp_path / "run" / "v" / "seeds" / "1" / "result.json").unlink()
    np.savez(tmp_path / "data.npz", x=rng.normal(loc=3.0, size=(60, 3)).astype(np.float32))
    with pytest.raises(IcaError, match=r"prepares differently .*standardize.mean differs") as refused:
        ica.run(spec, out=tmp_path / "run")  # seed 1 would train on other data than seed 0
    assert refused.value.where == str(tmp_path / "run" / "preprocessing.json")
    assert (tmp_path / "run" / "preprocessing.json").read_bytes() == written
    assert not (tmp_path / "run" / "v" / "seeds" / "1" / "result.json").exists()


@pytest.mark.slow
def test_weights_of_another_model_in_a_run_without_digests_are_one_error_naming_the_file(run):
    unrecorded(run)
    shutil.copy(run / "ivae/seeds/1/model.safetensors", run / "vade/seeds/1/model.safetensors")
    with pytest.raises(IcaError, match="holds another model's weights") as refused, pytest.warns(UnverifiedRunWarning):
        ica.load(run, model="vade")
    assert refused.value.where == str(run / "vade/seeds/1/model.safetensors")


# ------------------------------------------------------------------------------------------ item 3
@pytest.mark.slow
def test_a_training_setting_given_twice_to_an_estimator_is_an_error_naming_both():
    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    est = IcaEstimator(model=VADE, training={"steps": 300, "batch_size": 16}, steps=5, device="cpu")
    with pytest.raises(ValueError, match=r"steps=5 and training=\{'steps': 300\}") as refused:
        est.fit(X)
    assert refused.value.where == "steps and training.steps"
    fitted = IcaEstimator(model=VADE, training={"steps": 3, "batch_size": 16}, lr=0.01, device="cpu").fit(X)
    assert fitted.spec_["training"] == {"steps": 3, "batch_size": 16, "lr": 0.01}  # training's, not defaults
    assert json.loads(fitted._run_files["model/seeds/0/result.json"])["steps"] == 3


# ------------------------------------------------------------------------------------------ item 6
@pytest.mark.slow
def test_a_huge_seed_count_is_refused_before_the_seeds_are_listed():
    # The peak of this process alone: ru_maxrss carries over the high-water mark of the process that started it
    # (a pytest worker after many tests), while /proc's VmHWM belongs to the new program only.
    script = (
        "import numpy as np, resource, time\nfrom ica.estimators import VaDE\nt = time.time()\n"
        "try:\n    VaDE(n_seeds=10**9).fit(np.zeros((10, 3)))\nexcept ValueError as e:\n    print(e)\n"
        "try:\n    peak = next(int(s.split()[1]) for s in open('/proc/self/status') if s.startswith('VmHWM'))\n"
        "except OSError:\n    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(time.time() - t, peak)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120).stdout
    message, numbers = out.strip().splitlines()[-2:]
    seconds, rss_kb = map(float, numbers.split())
    assert "n_seeds: 1,000,000,000 seeds; at most 10,000" in message
    assert seconds < 1 and rss_kb < 2_000_000  # listing 10**9 seeds alone took 24 GB


def test_a_refused_fit_leaves_nothing_in_the_run_dir_it_was_given(tmp_path):
    X = np.zeros((10, 3), np.float32)
    with pytest.raises(ValueError, match="lr"):
        VaDE(lr=-1.0, steps=2, run_dir=tmp_path / "fresh").fit(X)
    assert not (tmp_path / "fresh").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="lr"):
        VaDE(lr=-1.0, steps=2, run_dir=tmp_path / "empty").fit(X)
    assert list((tmp_path / "empty").iterdir()) == []


# ------------------------------------------------------------------------------------------ item 8
@pytest.mark.slow
def test_too_few_rows_to_evaluate_on_get_scikit_learns_message():
    X = np.random.default_rng(0).normal(size=(4, 3))
    for seeds in (1, 2):
        with pytest.raises(ValueError, match=r"3 sample\(s\) .* minimum of 4 is required"):
            VaDE(n_seeds=seeds, steps=2, device="cpu").fit(X[:3])
    assert VaDE(n_seeds=2, steps=2, device="cpu").fit(X).transform_all(X).shape == (2, 4, 2)


@pytest.mark.slow
def test_an_evaluation_split_too_small_for_the_metrics_is_refused_before_training(tmp_path):
    np.savez(tmp_path / "train.npz", x=np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32))
    np.savez(tmp_path / "eval.npz", x=np.zeros((3, 3), np.float32))
    spec = {
        "data": {"name": "npz", "path": str(tmp_path / "train.npz"), "eval_path": str(tmp_path / "eval.npz")},
        "models": {"v": VADE},
        "training": {"steps": 2, "batch_size": 8},
        "seeds": 2,
        "device": "cpu",
    }
    with pytest.raises(IcaError, match="the eval split has 3 points, .* need at least 4"):
        ica.run(spec, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    ica.run({**spec, "evaluation": {"metrics": [{"name": "elbo"}]}}, out=tmp_path / "run")  # fits on no part


# ------------------------------------------------------------------------------------------ item 14
@pytest.mark.slow
def test_an_estimator_never_saves_or_trains_inside_another_run_directory(run, tmp_path):
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    est = VaDE(steps=2, device="cpu").fit(X)
    with pytest.raises(IcaError, match=f"lies inside the run directory {run.resolve()}"):
        est.save(run / "mine")
    with pytest.raises(IcaError, match="lies inside the run directory"):
        VaDE(steps=2, run_dir=run / "vade" / "mine").fit(X)
    assert not (run / "mine").exists() and not (run / "vade" / "mine").exists()
    assert ica.load(est.save(tmp_path / "saved")).seeds == [0]


# ------------------------------------------------------------------------------------------ item 16
@pytest.mark.slow
def test_sampling_more_than_memory_holds_is_refused_before_drawing(trained_runs):
    model = ica.load(trained_runs / "tcl", model="vade")
    started = time.time()
    for call in (lambda: model.sample(10**12), lambda: model.sample_latents(10**12)):
        with pytest.raises(DataError, match=r"1,000,000,000,000 draws of 2 seed\(s\) need about .* TB") as refused:
            call()
        assert refused.value.where == "n"
    assert time.time() - started < 5
    assert model.sample(7).shape == (2, 7, 3)
