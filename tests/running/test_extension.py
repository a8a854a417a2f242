"""Extending a finished run to more steps (`ica.running.extension`): 20 -> 40 steps ends exactly as a straight
40-step run does (latents, logs, summaries), a grid extends cell by cell, what differs is recorded, a smaller
length is one message, and an interrupted extension (while training, or while being prepared) resumes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

import ica
from conftest import TINY_SPEC, assert_same_runs
from ica.errors import IcaError
from ica.running import extension
from ica.running.extension import extend, prepare_extension
from ica.spec.hashing import LengthChange
from ica.spec.load import load_spec


def vade(steps: int, **training) -> dict:
    spec = copy.deepcopy(TINY_SPEC)
    spec["models"] = {"vade": spec["models"]["vade"]}
    spec["training"].update(steps=steps, **training)
    return spec


def record(root: Path) -> list[dict]:
    return json.loads((root / "extensions.json").read_text())["extensions"]


@pytest.mark.slow
def test_extending_20_to_40_steps_ends_as_a_straight_40_step_run(tmp_path):
    ica.run(vade(20), out=tmp_path / "extended")
    ica.run(vade(40), out=tmp_path / "straight")
    first = (tmp_path / "extended" / "vade" / "seeds" / "0" / "metrics.jsonl").read_text()
    events = []
    extend(vade(40), tmp_path / "extended", on_event=lambda name, **info: events.append((name, info)))
    assert (
        "notice",
        {
            "message": f"extending {tmp_path / 'extended'} from 20 to 40 steps: 2 seed(s) continue from "
            "their final checkpoints"
        },
    ) in events
    assert [info["step"] for name, info in events if name == "resumed"] == [20]  # continued, not trained again
    assert_same_runs(tmp_path / "extended", tmp_path / "straight", (".",), labels=("vade",))
    assert (tmp_path / "extended" / "vade" / "seeds" / "0" / "metrics.jsonl").read_text().startswith(first)
    (entry,) = record(tmp_path / "extended")
    assert (entry["unit"], entry["before"], entry["after"]) == ("steps", 20, 40)
    assert entry["continued"] == {"vade": [0, 1]} and entry["differences"] == []
    assert entry["earlier_results"]["vade"]["1"]["steps"] == 20
    assert json.loads((tmp_path / "extended" / "spec.json").read_text())["training"]["steps"] == 40
    result = json.loads((tmp_path / "extended" / "vade" / "seeds" / "0" / "result.json").read_text())
    assert result["steps"] == 40
    z = ica.load(tmp_path / "extended").transform(np.random.default_rng(0).normal(size=(5, 3)))  # digests agree
    assert z.shape == (2, 5, 3)
    assert extend(vade(40), tmp_path / "extended").summary == ica.run(vade(40), out=tmp_path / "straight").summary


@pytest.mark.slow
def test_a_last_step_that_was_no_log_step_is_recorded_and_training_is_still_the_same(tmp_path):
    ica.run(vade(15), out=tmp_path / "extended")
    ica.run(vade(30), out=tmp_path / "straight")
    extend(vade(30), tmp_path / "extended")
    (entry,) = record(tmp_path / "extended")
    assert len(entry["differences"]) == 1 and "log_every (10)" in entry["differences"][0]
    for seed in (0, 1):
        rel = f"vade/seeds/{seed}"
        np.testing.assert_array_equal(
            np.load(tmp_path / "extended" / rel / "latents.npz")["latents"],
            np.load(tmp_path / "straight" / rel / "latents.npz")["latents"],
        )
        steps = {
            run: [json.loads(line)["step"] for line in (tmp_path / run / rel / "metrics.jsonl").open()]
            for run in ("extended", "straight")
        }
        assert steps == {"extended": [10, 15, 20, 30], "straight": [10, 20, 30]}  # the line at 15, as recorded


@pytest.mark.slow
def test_a_grid_extends_every_cell(tmp_path):
    def grid(steps):
        return {**vade(steps), "grid": {"data.samples_per_segment": [40, 60]}}

    ica.run(grid(20), out=tmp_path / "extended")
    ica.run(grid(40), out=tmp_path / "straight")
    with pytest.raises(ica.SpecError, match="run it with --extend"):
        ica.run(grid(40), out=tmp_path / "extended")
    extend(grid(40), tmp_path / "extended")
    cells = ("samples_per_segment-40", "samples_per_segment-60")
    assert_same_runs(tmp_path / "extended", tmp_path / "straight", cells, labels=("vade",))
    (entry,) = record(tmp_path / "extended")
    assert entry["cells"] == list(cells) and entry["before"] == 20
    assert json.loads((tmp_path / "extended" / "grid.json").read_text())["spec"]["training"]["steps"] == 40
    for cell in cells:
        assert record(tmp_path / "extended" / cell)[0]["continued"] == {"vade": [0, 1]}


@pytest.mark.slow
def test_a_smaller_or_otherwise_different_spec_is_one_message(tmp_path):
    out = tmp_path / "run"
    ica.run(vade(20), out=out)
    for attempt in (lambda: ica.run(vade(10), out=out), lambda: extend(vade(10), out)):
        with pytest.raises(IcaError) as refused:
            attempt()
        assert "training.steps: 20 there, 10 here): a run can be extended, never shortened" in str(refused.value)
    other = vade(40, lr=0.01)
    for attempt in (lambda: ica.run(other, out=out), lambda: extend(other, out)):
        with pytest.raises(IcaError, match="made from a different spec; choose another --out") as refused:
            attempt()
        assert "--extend" not in str(refused.value)
    assert not (out / "extensions.json").exists()
    assert json.loads((out / "spec.json").read_text())["training"]["steps"] == 20


class Stop(Exception):
    pass


@pytest.mark.slow
def test_an_extension_stopped_while_training_resumes_to_the_straight_run(tmp_path):
    ica.run(vade(20), out=tmp_path / "extended")
    ica.run(vade(60), out=tmp_path / "straight")

    def stop_at_50(name, **info):
        if name == "progress" and info["step"] >= 50:
            raise Stop

    with pytest.raises(Stop):
        extend(vade(60), tmp_path / "extended", on_event=stop_at_50)
    assert not (tmp_path / "extended" / "vade" / "seeds" / "0" / "result.json").exists()
    ica.run(vade(60), out=tmp_path / "extended")  # the directory is the 60-step spec's now: a plain resume
    assert_same_runs(tmp_path / "extended", tmp_path / "straight", (".",), labels=("vade",))


@pytest.mark.slow
def test_an_extension_stopped_while_being_prepared_is_prepared_again(tmp_path, monkeypatch):
    ica.run(vade(20), out=tmp_path / "extended")
    ica.run(vade(40), out=tmp_path / "straight")
    real = extension.write_record

    def fail_on_the_spec(path, record):
        if path.name == "spec.json":
            raise Stop
        real(path, record)

    monkeypatch.setattr(extension, "write_record", fail_on_the_spec)
    with pytest.raises(Stop):
        prepare_extension(vade(40), tmp_path / "extended")
    assert not (tmp_path / "extended" / "vade" / "seeds" / "0" / "result.json").exists()  # reopened, not claimed
    monkeypatch.setattr(extension, "write_record", real)
    extend(vade(40), tmp_path / "extended")
    assert_same_runs(tmp_path / "extended", tmp_path / "straight", (".",), labels=("vade",))
    (entry,) = record(tmp_path / "extended")
    assert entry["earlier_results"]["vade"]["0"]["steps"] == 20  # kept from the first attempt


@pytest.mark.slow
def test_seeds_stopped_part_way_or_without_their_final_checkpoint_are_not_extended(tmp_path):
    out = tmp_path / "run"

    def stop_at_10(name, **info):
        if name == "progress" and info["step"] >= 10:
            raise Stop

    with pytest.raises(Stop):
        ica.run(vade(20), out=out, on_event=stop_at_10)
    with pytest.raises(IcaError, match="stopped part-way through the 20-step run"):
        prepare_extension(vade(40), out)
    ica.run(vade(20), out=out)
    (out / "vade" / "seeds" / "1" / "checkpoint.pt").unlink()
    with pytest.raises(IcaError, match="final checkpoint"):
        prepare_extension(vade(40), out)
    assert not (out / "extensions.json").exists()


def test_what_may_differ_is_worked_out_from_the_spec_and_the_earlier_results():
    def differences(steps, **training):
        spec = load_spec(vade(10 * steps, **training))
        earlier = {"vade": {"0": {"steps": steps, "step_mode": "eager"}}}
        return extension._differences(spec, earlier, LengthChange("steps", steps, 10 * steps))

    assert differences(20) == []  # a log step, eager both times (`compile: auto` at 200 steps stays eager)
    assert len(differences(15)) == 1 and "log_every (10)" in differences(15)[0]
    perturbing = differences(15, identifiability={"remedy": "perturb"})
    assert len(perturbing) == 2 and "perturbed the prior" in perturbing[1]
    compiled = differences(100_000)  # 1,000,000 steps: `compile: auto` compiles, the first part ran eagerly
    assert len(compiled) == 1 and "floating-point rounding" in compiled[0]
    assert differences(100_000, compile=False) == []


@pytest.mark.slow
def test_a_run_counted_in_epochs_extends_its_epochs(tmp_path):
    def epochs(n):
        return vade(5, epochs=n)  # 160 training points in batches of 16: 10 steps an epoch; steps is ignored

    ica.run(epochs(2), out=tmp_path / "extended")
    ica.run(epochs(4), out=tmp_path / "straight")
    with pytest.raises(IcaError, match=r"training.epochs: 2 there, 4 here\); to continue its seeds to 4 epochs"):
        ica.run(epochs(4), out=tmp_path / "extended")
    extend(epochs(4), tmp_path / "extended")
    assert_same_runs(tmp_path / "extended", tmp_path / "straight", (".",), labels=("vade",))
    (entry,) = record(tmp_path / "extended")
    assert (entry["unit"], entry["before"], entry["after"], entry["differences"]) == ("epochs", 2, 4, [])
