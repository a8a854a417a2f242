"""The compiled training step (`ica.training.compiled`): it trains exactly the model the eager step trains
(within float32 rounding), keeps a batched seed equal to the seed alone, resumes to the uninterrupted result
in its own mode, isolates a diverging seed, and falls back to eager with one line where a model cannot
compile. Inductor's generated code is checked once, on iVAE and VaDE trained together (`runs`); a cold
inductor compile costs 10-50 s on 2 cores, so the tests of the step's logic trace the same graph on the
``aot_eager`` backend (`traced_compile`), and the rest of the suite runs eager."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

import ica
from conftest import TINY_SPEC, built_once, compile_failure
from ica.components.protocols import LossOutput, Representation, Split
from ica.running.building import build_model, prepare_data
from ica.spec.load import load_spec
from ica.training import compile_choice as compile_choice_module
from ica.training.compile_choice import compile_choice
from ica.training.loop import Trainer


MLP = {"encoder": {"name": "mlp", "hidden": [16]}, "decoder": {"name": "mlp", "hidden": [16]}}
MODELS = {
    "ivae": {"name": "ivae", **MLP},
    "vade": {"name": "vade", **MLP, "prior": {"name": "gmm", "components": 5}},
    "hashed": {"name": "vade", **MLP, "prior": {"name": "rademacher", "bits": 3}},
}
INDUCTOR = ("ivae", "vade")
"""The models whose inductor-compiled step is checked against eager (a cold compile costs ~10 s each); the
others' compiled graphs are checked on ``aot_eager``."""


def spec(compile, labels=tuple(MODELS), **training):
    out = copy.deepcopy(TINY_SPEC)
    out["models"] = {label: MODELS[label] for label in labels}
    out["training"] = {**out["training"], "compile": compile, **training}
    return out


def latents(run, label, seed):
    return np.load(run / label / "seeds" / str(seed) / "latents.npz")["latents"]


def losses(run, label, seed):
    return [json.loads(line)["loss"] for line in (run / label / "seeds" / str(seed) / "metrics.jsonl").open()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The models trained eagerly and compiled, and the compiled run's notices: once per session, however
    pytest-xdist spreads this module's tests (`conftest.built_once`). Inductor's code, so it needs a C++ compiler
    (probed here, not at import: collecting this file compiles nothing)."""
    why_not = compile_failure()
    if why_not:
        pytest.skip(f"torch.compile cannot build kernels here ({why_not})")

    def train(root):
        notices = []
        ica.run(spec(False), out=root / "eager")
        ica.run(
            spec(True, INDUCTOR),
            out=root / "compiled",
            on_event=lambda name, **info: notices.append(info["message"]) if name == "notice" else None,
        )
        (root / "notices.json").write_text(json.dumps(notices))

    root = built_once(tmp_path_factory, "compiled", train)
    return root, json.loads((root / "notices.json").read_text())


def assert_trained_alike(compiled, eager, label):
    for seed in (0, 1):
        result = json.loads((compiled / label / "seeds" / str(seed) / "result.json").read_text())
        assert result["step_mode"] == "compiled" and result["compile_seconds"] > 0
        assert json.loads((eager / label / "seeds" / str(seed) / "result.json").read_text())["step_mode"] == "eager"
        np.testing.assert_allclose(losses(compiled, label, seed), losses(eager, label, seed), rtol=1e-5)
        np.testing.assert_allclose(latents(compiled, label, seed), latents(eager, label, seed), rtol=0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("label", INDUCTOR)
def test_the_compiled_step_trains_what_the_eager_step_trains(runs, label):
    root, notices = runs
    assert not [n for n in notices if "eagerly" in n], notices
    assert_trained_alike(root / "compiled", root / "eager", label)


@pytest.mark.slow
@pytest.mark.parametrize("label", sorted(set(MODELS) - set(INDUCTOR)))
def test_the_traced_step_trains_what_the_eager_step_trains(traced_compile, tmp_path, label):
    for compiled in (False, True):
        ica.run(spec(compiled, (label,)), out=tmp_path / str(compiled))
    assert_trained_alike(tmp_path / "True", tmp_path / "False", label)


@pytest.mark.slow
def test_a_seed_batched_equals_the_seed_alone_compiled(traced_compile, tmp_path):
    for batched in (True, False):
        one = spec(True, ("vade",), batch_seeds=batched)
        ica.run(one, out=tmp_path / str(batched))
    for seed in (0, 1):
        for batched in ("True", "False"):
            result = json.loads((tmp_path / batched / "vade" / "seeds" / str(seed) / "result.json").read_text())
            assert result["step_mode"] == "compiled"
        np.testing.assert_allclose(
            latents(tmp_path / "False", "vade", seed), latents(tmp_path / "True", "vade", seed), rtol=1e-4, atol=1e-5
        )


class Interrupt(Exception):
    pass


@pytest.mark.slow
def test_an_interrupted_compiled_run_resumes_to_the_uninterrupted_result(traced_compile, tmp_path):
    one = spec(True, ("ivae",), steps=40, checkpoint_every=10, log_every=5)
    ica.run(one, out=tmp_path / "whole")

    def stop_midway(name, **info):
        if name == "progress" and info["step"] == 25:
            raise Interrupt

    with pytest.raises(Interrupt):
        ica.run(one, out=tmp_path / "cut", on_event=stop_midway)
    ica.run(one, out=tmp_path / "cut")
    for seed in (0, 1):
        np.testing.assert_array_equal(
            latents(tmp_path / "cut", "ivae", seed), latents(tmp_path / "whole", "ivae", seed)
        )
        assert losses(tmp_path / "cut", "ivae", seed) == losses(tmp_path / "whole", "ivae", seed)


class Shrinking(nn.Module):
    """loss = |x - w|² + log c: Adam walks every c down by about lr a step, so the seed whose c starts at 0.004
    reaches log of a negative number (NaN) within a few steps; the others stay finite for hundreds."""

    needs_u = False

    def __init__(self, c):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(len(c), 1, 2))
        self.c = nn.Parameter(torch.tensor(c).reshape(-1, 1))

    def noise_shape(self, batch_size):
        return None

    def loss(self, batch, noise):
        return LossOutput(((batch.x - self.w) ** 2).sum(-1) + self.c.log())

    def represent(self, batch):
        return Representation(batch.x + self.w)


@pytest.mark.slow
@pytest.mark.parametrize("compile", [False, True])
def test_a_diverging_seed_fails_alone_in_either_mode(traced_compile, compile):
    training = load_spec(
        {
            "data": {"name": "tcl"},
            "model": {"name": "ivae"},
            "training": {"steps": 30, "batch_size": 4, "log_every": 5, "scheduler": None, "compile": compile},
        }
    ).training
    train = Split(torch.randn(20, 2, generator=torch.Generator().manual_seed(0)))
    model = Shrinking([1.0, 0.004, 1.0])
    trainer = Trainer(model, train, [0, 1, 2], training)
    statuses = trainer.run()
    assert trainer.step_mode == ("compiled" if compile else "eager")
    assert [s.failed for s in statuses] == [False, True, False] and statuses[1].failed_at == 10
    assert torch.isfinite(model.w[[0, 2]]).all()
    reference = Shrinking([1.0, 1.0])  # the two healthy seeds trained without the failing one
    Trainer(reference, train, [0, 2], training.model_copy(update={"compile": False})).run()
    torch.testing.assert_close(model.w.detach()[[0, 2]], reference.w.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_model_that_cannot_compile_trains_eagerly_with_one_notice():
    data = prepare_data(load_spec(spec(True)), ica.registry())
    notices = []
    flow = load_spec({**spec(True), "models": {"flow": {"name": "gmmflow", "transforms": 1, "hidden": [8]}}})
    model = build_model(ica.registry(), flow.models["flow"], data, [0, 1], "flow")
    trainer = Trainer(
        model,
        data.train,
        [0, 1],
        flow.training.model_copy(update={"steps": 3}),
        on_event=lambda name, **info: notices.append(info["message"]) if name == "notice" else None,
    )
    trainer.run()
    assert trainer.step_mode == "eager" and len([n for n in notices if "did not compile" in n]) == 1
    assert trainer.optimizer.step_count == 3  # the failed attempt did not count a step


def test_auto_compiles_where_the_expected_saving_pays_for_compiling(monkeypatch):
    """A lone model of the quick start's size (20,000 steps of 3 seeds, about 27 s saved) compiles only with a
    warm cache (8 s), not a cold one (32 s); the quick start's two models share the cold cost (20 s each) and
    compile; Fig. 2's cells (70,000 steps of 10 seeds) compile either way."""
    for cache, lone in (("cold", False), ("warm", True)):
        monkeypatch.setattr(compile_choice_module, "compile_cache_state", lambda cache=cache: cache)
        quick = compile_choice("auto", 20_000, seeds=3)
        assert quick.compiles is lone and quick.cache == cache and quick.models == 1, quick
        assert quick.compile_cost_s == compile_choice_module.COMPILE_SECONDS[cache]
        with compile_choice_module.planned_models(2):
            pair = compile_choice("auto", 20_000, seeds=3)
        assert pair.compiles and pair.models == 2, pair
        assert pair.compile_cost_s == (20.0 if cache == "cold" else 8.0)
        assert compile_choice("auto", 70_000, seeds=10).compiles
        assert not compile_choice("auto", 30, seeds=2).compiles
    assert 20 < compile_choice("auto", 20_000, seeds=3).expected_saving_s < 35
    assert compile_choice(True, 1).compiles and not compile_choice(False, 10**6).compiles
    assert not compile_choice("auto", None).compiles  # epochs whose steps are not known yet
    assert (
        compile_choice("auto", 20_000, device="cuda").compiles
        and not compile_choice("auto", 100, device="cuda").compiles
    )
    saving = [compile_choice_module.expected_saving_per_step(s) for s in (1, 2, 3, 10, 30, 50, 100)]
    assert saving == sorted(saving), "more seeds together never save less per step"


def test_a_trainer_compiles_as_the_choice_says(monkeypatch):
    monkeypatch.setattr(compile_choice_module, "compile_cache_state", lambda: "warm")
    long = load_spec(spec("auto", steps=20_000))
    data = prepare_data(long, ica.registry())
    model = build_model(ica.registry(), long.models["ivae"], data, [0], "ivae")
    assert Trainer(model, data.train, [0], long.training).step_mode == "compiled"
    monkeypatch.setattr(compile_choice_module, "compile_cache_state", lambda: "cold")
    assert Trainer(model, data.train, [0], long.training).step_mode == "eager"
    assert load_spec(TINY_SPEC).training.compile == "auto"


@pytest.mark.parametrize(
    "encoder, reason", [({"name": "mlp", "hidden": [16], "dropout": 0.2, "dropout_after": [1]}, "dropout")]
)
def test_in_step_randomness_of_the_seeds_own_streams_keeps_a_model_eager(encoder, reason):
    """Dropout masks come from each seed's generator; a graph would draw them from one stream of its own."""
    dropped = load_spec({**spec(True), "models": {"ivae": {"name": "ivae", "encoder": encoder}}})
    data = prepare_data(dropped, ica.registry())
    model = build_model(ica.registry(), dropped.models["ivae"], data, [0, 1], "ivae")
    notices = []
    trainer = Trainer(
        model,
        data.train,
        [0, 1],
        dropped.training,
        on_event=lambda name, **info: notices.append(info["message"]) if name == "notice" else None,
    )
    assert trainer.step_mode == "eager" and any(reason in n for n in notices), notices


@pytest.mark.slow
def test_batch_norm_running_statistics_are_kept_by_the_compiled_step(traced_compile, tmp_path):
    """Batch norm changes its buffers in every training step; the compiled step is used only where a trial
    shows it changes them as the eager step does, and then trains the grid models like eager."""
    grids = {"channels": 4, "latent_dim": 2, "residual_blocks": 1, "batch_norm": True}
    digits = {
        "data": {"name": "digits"},
        "models": {"ae": {"name": "ae", **grids}},
        "seeds": 2,
        "device": "cpu",
        "training": {"steps": 10, "batch_size": 16, "log_every": 5},
    }
    for mode in (False, True):
        ica.run({**digits, "training": {**digits["training"], "compile": mode}}, out=tmp_path / str(mode))
    for seed in (0, 1):
        result = json.loads((tmp_path / "True" / "ae" / "seeds" / str(seed) / "result.json").read_text())
        assert result["step_mode"] == "compiled"
        np.testing.assert_allclose(
            latents(tmp_path / "True", "ae", seed), latents(tmp_path / "False", "ae", seed), rtol=0, atol=1e-5
        )


def test_a_compiled_step_lets_a_long_lived_process_keep_many_compiled_models():
    """Every CompiledStep compiles one function; torch's default of 8 variants made the ninth model of one process
    train eagerly (seen in the test suite), so building a compiled step raises the limit to RECOMPILE_LIMIT."""
    from ica.training.compiled import RECOMPILE_LIMIT

    dynamo = torch._dynamo.config  # set and restored by hand: monkeypatch would delete the option on undoing
    before = dynamo.recompile_limit
    dynamo.recompile_limit = 8
    try:
        data = prepare_data(load_spec(spec(True)), ica.registry())
        ivae = load_spec(spec(True)).models["ivae"]
        model = build_model(ica.registry(), ivae, data, [0, 1], "ivae")
        trainer = Trainer(model, data.train, [0, 1], load_spec(spec(True)).training)
        assert trainer.compiled is not None  # nothing compiles until the first step: this test stays quick
        assert dynamo.recompile_limit == RECOMPILE_LIMIT
    finally:
        dynamo.recompile_limit = before
