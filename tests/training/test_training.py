"""The training loop and its parts: per-seed Adam and plateau schedule, determinism, resume, failures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import ica
from ica.training.optim import SeedAdam, SeedPlateau
from ica.components.protocols import Batch, LossOutput, Representation, Split
from ica.spec.load import load_spec
from ica.running.building import build_model, prepare_data
from ica.training.sampling import SeedSampler
from ica.training.loop import Trainer


def test_seed_adam_matches_torch_adam_per_seed():
    torch.manual_seed(0)
    target = torch.randn(2, 3, 4)
    ours = nn.Parameter(torch.randn(2, 3, 4))
    theirs = [nn.Parameter(ours[i].detach().clone()) for i in range(2)]
    opt = SeedAdam([ours], seeds=2, lr=0.01)
    opt.set_rates(torch.tensor([0.01, 0.003]))  # a different rate per seed, as the plateau schedule makes
    torch_opts = [torch.optim.Adam([theirs[0]], lr=0.01), torch.optim.Adam([theirs[1]], lr=0.003)]
    for _ in range(50):
        opt.zero_grad()
        ((ours - target) ** 3).abs().sum().backward()
        opt.step()
        for p, o, t in zip(theirs, torch_opts, target):
            o.zero_grad()
            ((p - t) ** 3).abs().sum().backward()
            o.step()
    for i in range(2):
        torch.testing.assert_close(ours[i].detach(), theirs[i].detach(), rtol=1e-5, atol=1e-6)


def test_seed_adam_with_one_shared_rate_matches_torch_adam():
    torch.manual_seed(1)
    ours = nn.Parameter(torch.randn(1, 5))
    theirs = nn.Parameter(ours.detach().clone())
    opt, ref = SeedAdam([ours], seeds=1, lr=0.02), torch.optim.Adam([theirs], lr=0.02)
    for _ in range(30):
        for p, o in ((ours, opt), (theirs, ref)):
            o.zero_grad()
            (p.sin() * p).sum().backward()
            o.step()
    torch.testing.assert_close(ours.detach(), theirs.detach(), rtol=1e-6, atol=1e-7)


def test_plateau_cuts_only_the_seed_that_stopped_improving():
    p = nn.Parameter(torch.zeros(2, 1))
    opt = SeedAdam([p], seeds=2, lr=1.0)
    sched = SeedPlateau(opt, factor=0.5, patience=1, threshold=0.0, min_lr=0.3)
    for values in ([5.0, 5.0], [4.0, 5.0], [3.0, 5.0], [2.0, 5.0]):
        sched.step(torch.tensor(values))
    assert opt.lr.tolist() == [1.0, 0.5]
    for _ in range(6):
        sched.step(torch.tensor([1.0, 5.0]))
    assert opt.lr[1].item() == pytest.approx(0.3)  # never below min_lr


def test_plateau_handles_negative_losses():
    opt = SeedAdam([nn.Parameter(torch.zeros(1, 1))], seeds=1, lr=1.0)
    sched = SeedPlateau(opt, factor=0.5, patience=0, threshold=0.01, min_lr=0.0)
    sched.step(torch.tensor([-100.0]))
    sched.step(torch.tensor([-100.5]))  # better by 0.5 < 1% of |best|: not an improvement
    assert opt.lr.item() == 0.5


def test_sampler_gives_each_seed_its_own_order_and_covers_each_epoch():
    sampler = SeedSampler(n=10, batch_size=5, seeds=[0, 1], device=torch.device("cpu"))
    first, second = sampler.next(), sampler.next()
    epoch = torch.cat([first, second], dim=1)
    for row in epoch:
        assert sorted(row.tolist()) == list(range(10))
    assert not torch.equal(epoch[0], epoch[1])
    alone = SeedSampler(n=10, batch_size=5, seeds=[1], device=torch.device("cpu"))
    assert torch.equal(alone.next()[0], first[1])


def test_seeds_with_their_own_splits_draw_what_each_would_draw_alone_and_resume_exactly():
    """Packed grid cells: seed 3 draws from rows 0-9, seed 5 from rows 10-24 of the concatenated splits."""
    cpu = torch.device("cpu")
    packed = SeedSampler(n=[10, 15], batch_size=4, seeds=[3, 5], device=cpu, offsets=[0, 10])
    alone = [
        SeedSampler(n=10, batch_size=4, seeds=[3], device=cpu),
        SeedSampler(n=15, batch_size=4, seeds=[5], device=cpu),
    ]
    steps = [packed.next() for _ in range(7)]  # seed 3: 2 batches per epoch, seed 5: 3
    for i, (sampler, offset) in enumerate(zip(alone, (0, 10))):
        for step in steps:
            assert torch.equal(step[i] - offset, sampler.next()[0])
    states = [packed.seed_state(i) for i in range(2)]
    resumed = SeedSampler(n=[10, 15], batch_size=4, seeds=[3, 5], device=cpu, offsets=[0, 10])
    resumed.load_seed_states(states)
    for _ in range(5):
        assert torch.equal(resumed.next(), packed.next())
    with pytest.raises(ValueError, match="at least batch_size"):
        SeedSampler(n=[10, 3], batch_size=4, seeds=[0, 1], device=cpu, offsets=[0, 10])


@pytest.mark.slow
def test_same_spec_and_seed_give_identical_latents(tiny_spec, tmp_path):
    ica.run(tiny_spec, out=tmp_path / "a")
    ica.run(tiny_spec, out=tmp_path / "b")
    for cell in ("ivae", "vade"):
        for seed in (0, 1):
            za = np.load(tmp_path / "a" / cell / "seeds" / str(seed) / "latents.npz")["latents"]
            zb = np.load(tmp_path / "b" / cell / "seeds" / str(seed) / "latents.npz")["latents"]
            assert np.array_equal(za, zb)
    a = np.load(tmp_path / "a" / "ivae" / "seeds" / "0" / "latents.npz")["latents"]
    b = np.load(tmp_path / "a" / "ivae" / "seeds" / "1" / "latents.npz")["latents"]
    assert not np.array_equal(a, b), "different seeds must give different runs"


@pytest.mark.slow
def test_training_lowers_the_loss(tiny_spec, tmp_path):
    tiny_spec["training"].update(steps=300, log_every=50, checkpoint_every=300)
    tiny_spec["models"] = {"ivae": tiny_spec["models"]["ivae"]}
    tiny_spec["seeds"] = 1
    ica.run(tiny_spec, out=tmp_path)
    lines = [
        json.loads(line) for line in (tmp_path / "ivae" / "seeds" / "0" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [line["step"] for line in lines] == [50, 100, 150, 200, 250, 300]
    assert lines[-1]["loss"] < lines[0]["loss"]
    assert {"loss", "log_likelihood", "kl", "lr"} <= set(lines[0])


class Interrupt(Exception):
    pass


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_result(tiny_spec, tmp_path):
    tiny_spec["training"].update(steps=40, checkpoint_every=10, log_every=5)
    ica.run(tiny_spec, out=tmp_path / "whole")

    def stop_midway(name, **info):
        if name == "progress" and info["cell"] == "vade" and info["step"] == 25:
            raise Interrupt

    with pytest.raises(Interrupt):
        ica.run(tiny_spec, out=tmp_path / "cut", on_event=stop_midway)
    events = []
    summary = ica.run(tiny_spec, out=tmp_path / "cut", on_event=lambda name, **info: events.append((name, info)))
    resumed = [info for name, info in events if name == "resumed"]
    assert resumed and resumed[0]["step"] == 20, "the vade seed should resume from its step-20 checkpoint"
    skipped = [info for name, info in events if name == "cell_start" and info["cell"] == "ivae"]
    assert skipped[0]["todo"] == [], "finished seeds are not trained again"
    for cell in ("ivae", "vade"):
        for seed in (0, 1):
            rel = f"{cell}/seeds/{seed}"
            za = np.load(tmp_path / "whole" / rel / "latents.npz")["latents"]
            zb = np.load(tmp_path / "cut" / rel / "latents.npz")["latents"]
            np.testing.assert_array_equal(za, zb)
            log_a = (tmp_path / "whole" / rel / "metrics.jsonl").read_text()
            log_b = (tmp_path / "cut" / rel / "metrics.jsonl").read_text()
            assert log_a == log_b
    whole = json.loads((tmp_path / "whole" / "summary.json").read_text())
    assert whole["cells"] == summary["cells"]


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["newest", "all"])
def test_an_unreadable_checkpoint_falls_back_to_an_older_one_or_is_a_clear_error(tiny_spec, tmp_path, damage):
    tiny_spec["models"] = {"vade": tiny_spec["models"]["vade"]}
    tiny_spec["training"].update(steps=40, checkpoint_every=10, log_every=5)
    ica.run(tiny_spec, out=tmp_path / "whole")

    def stop_midway(name, **info):
        if name == "progress" and info["step"] == 25:
            raise Interrupt

    with pytest.raises(Interrupt):
        ica.run(tiny_spec, out=tmp_path / "cut", on_event=stop_midway)
    seed0 = tmp_path / "cut" / "vade" / "seeds" / "0"
    assert sorted(p.name for p in seed0.glob("checkpoint*.pt")) == ["checkpoint.1.pt", "checkpoint.pt"]
    damaged = [seed0 / "checkpoint.pt"] + ([seed0 / "checkpoint.1.pt"] if damage == "all" else [])
    for path in damaged:
        path.write_bytes(path.read_bytes()[:100])
    events = []
    if damage == "all":
        with pytest.raises(ica.IcaError, match="corrupt or unreadable") as info:
            ica.run(tiny_spec, out=tmp_path / "cut")
        assert "checkpoint" in info.value.where
        assert not (seed0 / "result.json").exists()
        return
    ica.run(tiny_spec, out=tmp_path / "cut", on_event=lambda name, **info: events.append((name, info)))
    assert [i["step"] for n, i in events if n == "resumed"] == [10], "both seeds resume from the older step"
    assert any("checkpoint.pt is unreadable" in i["message"] for n, i in events if n == "notice")
    for seed in (0, 1):
        rel = f"vade/seeds/{seed}"
        np.testing.assert_array_equal(
            np.load(tmp_path / "whole" / rel / "latents.npz")["latents"],
            np.load(tmp_path / "cut" / rel / "latents.npz")["latents"],
        )
        assert (tmp_path / "whole" / rel / "metrics.jsonl").read_text() == (
            tmp_path / "cut" / rel / "metrics.jsonl"
        ).read_text()


class FlakyModel(nn.Module):
    """A model whose seed with index 1 produces a NaN loss from step 12 on (the test's failure injection)."""

    needs_u = False

    def __init__(self, seeds: int):
        super().__init__()
        self.w = nn.Parameter(torch.ones(seeds, 1, 2))
        self.calls = 0

    def noise_shape(self, batch_size):
        return None

    def loss(self, batch: Batch, noise):
        self.calls += 1
        loss = ((batch.x - self.w) ** 2).sum(-1)
        if self.calls >= 12:
            poison = torch.zeros_like(loss)
            poison[1] = float("nan")
            loss = loss + poison
        return LossOutput(loss)

    def represent(self, batch):
        return Representation(batch.x + self.w)


@pytest.mark.slow
def test_a_diverging_seed_is_marked_failed_and_the_others_continue():
    model = FlakyModel(seeds=3)
    spec = load_spec(
        {
            "data": {"name": "tcl"},
            "model": {"name": "ivae"},
            "training": {"steps": 30, "batch_size": 4, "log_every": 5, "scheduler": None},
        }
    )
    train = Split(torch.randn(20, 2))
    statuses = Trainer(model, train, [0, 1, 2], spec.training).run()
    assert [s.failed for s in statuses] == [False, True, False]
    assert statuses[1].failed_at == 15 and statuses[1].last_finite_loss is not None
    assert torch.isfinite(model.w[0]).all() and torch.isfinite(model.w[2]).all()


@pytest.mark.slow
def test_a_seed_trained_in_a_batch_matches_the_seed_trained_alone(tiny_spec, tmp_path):
    tiny_spec["training"]["steps"] = 60
    tiny_spec["seeds"] = [0, 1, 2]
    ica.run(tiny_spec, out=tmp_path / "batched")
    tiny_spec["training"]["batch_seeds"] = False
    ica.run(tiny_spec, out=tmp_path / "alone")
    for cell in ("ivae", "vade"):
        for seed in (0, 1, 2):
            rel = f"{cell}/seeds/{seed}/latents.npz"
            batched = np.load(tmp_path / "batched" / rel)
            alone = np.load(tmp_path / "alone" / rel)
            np.testing.assert_allclose(batched["latents"], alone["latents"], rtol=1e-4, atol=1e-5)
            if "assignments" in alone:
                assert (batched["assignments"] == alone["assignments"]).mean() > 0.95


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_training_step_on_cuda_never_waits_for_the_device(tiny_spec):
    """Issue #3: no host-device synchronisation in the inner loop (only at log and checkpoint time)."""
    spec = load_spec(tiny_spec)
    data = prepare_data(spec, ica.registry())
    device = torch.device("cuda")
    train = data.train.to(device)
    model = build_model(ica.registry(), spec.models["vade"], data, [0, 1], "vade").to(device)
    trainer = Trainer(model, train, [0, 1], spec.training)
    trainer.one_step()  # first epoch's permutation is drawn on the host and copied once
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            trainer.one_step()
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.slow
def test_epochs_count_whole_passes_over_the_training_split(tiny_spec, tmp_path):
    tiny_spec["models"] = {"ivae": tiny_spec["models"]["ivae"]}
    tiny_spec["training"].update(epochs=3, log_every=1)  # 4 segments x 40 = 160 points, batch 16: 10 per epoch
    ica.run(tiny_spec, out=tmp_path)
    lines = (tmp_path / "ivae" / "seeds" / "0" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == 30 and len(lines) == 30


def test_resume_drops_a_log_line_torn_by_a_kill(tmp_path):
    from ica.rundir.layout import SeedFiles
    from ica.training.checkpoints import truncate_log

    files = SeedFiles(tmp_path)
    files.metrics.write_text('{"step": 10, "loss": 1.0}\n{"step": 20, "loss": 0.5}\n{"step": 30, "lo')
    truncate_log(files, 20)
    assert files.metrics.read_text() == '{"step": 10, "loss": 1.0}\n{"step": 20, "loss": 0.5}\n'


@pytest.mark.slow
def test_a_seeds_checkpoint_holds_only_its_own_state(tiny_spec, tmp_path):
    """torch.save writes the whole storage behind a view: a seed's slice of the stacked state must be copied,
    or each of S checkpoints would hold all S seeds' state (S times the disk and the time)."""
    tiny_spec["models"] = {"ivae": tiny_spec["models"]["ivae"]}
    sizes = {}
    for seeds in (1, 4):
        tiny_spec["seeds"] = seeds
        ica.run(tiny_spec, out=tmp_path / str(seeds))
        sizes[seeds] = (tmp_path / str(seeds) / "ivae" / "seeds" / "0" / "checkpoint.pt").stat().st_size
    assert sizes[4] < 1.1 * sizes[1], sizes
