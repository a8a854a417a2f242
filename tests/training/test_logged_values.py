"""Values components log (`ica.components.protocols.LogsValues`): a Gaussian likelihood's learnt σ is in each
seed's metrics.jsonl at every log step, equal to the module's own scale, eager and compiled alike; a fixed σ
logs nothing; the report draws it as a training curve; clashing keys never overwrite the trainer's."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

import ica
from conftest import TINY_SPEC
from ica.reporting import plots
from ica.reporting.curves import training_figure
from ica.reporting.experiment import load_experiment
from ica.rundir.layout import SeedFiles
from ica.running.building import build_model, prepare_data
from ica.spec.load import load_spec
from ica.training.loop import Trainer, logged_values

LEARNT = {"name": "gaussian", "scale": 0.5, "learn_scale": True}


def tiny(compile=False, likelihood=LEARNT):
    spec = copy.deepcopy(TINY_SPEC)
    spec["models"] = {"ivae": {**spec["models"]["ivae"], "likelihood": likelihood}}
    spec["training"] = {**spec["training"], "compile": compile, "lr": 0.05}
    return spec


def train(spec, root):
    """Train the spec's iVAE (2 seeds) with each seed's metrics.jsonl under ``root``; the trainer and lines."""
    validated = load_spec(spec)
    data = prepare_data(validated, ica.registry())
    model = build_model(ica.registry(), validated.models["ivae"], data, [0, 1], "ivae")
    files = [SeedFiles(root / str(seed)) for seed in (0, 1)]
    for f in files:
        f.root.mkdir(parents=True)
    trainer = Trainer(model, data.train, [0, 1], validated.training, files)
    trainer.run()
    lines = [[json.loads(line) for line in f.metrics.read_text().splitlines()] for f in files]
    return trainer, lines


def assert_scale_logged(trainer, lines):
    scale = trainer.model.likelihood.log_scale.detach().exp()[:, 0].tolist()
    for seed, seed_lines in enumerate(lines):
        assert [line["step"] for line in seed_lines] == [10, 20, 30]
        assert all("likelihood_scale" in line for line in seed_lines)
        assert seed_lines[-1]["likelihood_scale"] == pytest.approx(scale[seed], rel=1e-6)
        assert seed_lines[0]["likelihood_scale"] != pytest.approx(0.5, abs=1e-4), "σ is learnt: it moved"
    assert lines[0][-1]["likelihood_scale"] != lines[1][-1]["likelihood_scale"], "each seed logs its own σ"


@pytest.mark.slow
def test_the_learnt_scale_is_logged_at_every_log_step_eagerly(tmp_path):
    trainer, lines = train(tiny(), tmp_path)
    assert trainer.step_mode == "eager"
    assert_scale_logged(trainer, lines)


@pytest.mark.slow
def test_a_fixed_scale_logs_nothing_more(tmp_path):
    _, fixed = train(tiny(likelihood={"name": "gaussian", "scale": 0.5}), tmp_path / "fixed")
    _, learnt = train(tiny(), tmp_path / "learnt")
    assert "likelihood_scale" in learnt[0][-1]
    assert set(fixed[0][-1]) == set(learnt[0][-1]) - {"likelihood_scale"}


@pytest.mark.slow
def test_the_learnt_scale_is_logged_when_the_step_is_compiled(traced_compile, tmp_path):
    trainer, lines = train(tiny(compile=True), tmp_path)
    assert trainer.step_mode == "compiled"
    assert_scale_logged(trainer, lines)


@pytest.mark.slow
def test_the_report_draws_the_learnt_scale(tmp_path):
    ica.run(tiny(), out=tmp_path / "learnt")
    exp = load_experiment(tmp_path / "learnt")
    figure = training_figure(exp, exp.runs[0], plots.colours_for(exp.labels))
    assert "likelihood_scale" in figure.caption
    ica.run(tiny(likelihood={"name": "gaussian"}), out=tmp_path / "fixed")
    exp = load_experiment(tmp_path / "fixed")
    assert "likelihood_scale" not in training_figure(exp, exp.runs[0], plots.colours_for(exp.labels)).caption


class Logs(nn.Module):
    def __init__(self, values):
        super().__init__()
        self.values = values

    def logged(self):
        return self.values


def test_a_key_already_taken_is_written_under_the_modules_path():
    model = nn.Module()
    model.a = Logs({"loss": torch.tensor([1.0, 2.0]), "scale": torch.tensor([[1.0, 3.0], [2.0, 4.0]])})
    model.b = Logs({"scale": torch.tensor([5.0, 6.0])})
    model.c = nn.Linear(1, 1)  # no hook: not asked
    assert logged_values(model, 2, {"loss", "lr"}) == {"a.loss": [1.0, 2.0], "scale": [2.0, 3.0], "b.scale": [5.0, 6.0]}


def test_a_value_that_is_not_one_per_seed_is_a_clear_error():
    model = nn.Module()
    model.likelihood = Logs({"scale": torch.tensor([1.0, 2.0, 3.0])})
    with pytest.raises(ica.IcaError, match=r"Logs.logged\(\) gave 'scale' of shape .*3.*; expected one value per seed"):
        logged_values(model, 2, set())
