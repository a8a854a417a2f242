"""Issue #11, items 12 and 5 (reading side): a damaged file in a run directory is one clear error naming it
(exit 2, no traceback), never a silently different result; a grid.json cell's ``dir`` must lie inside the grid.

Each damage here was accepted, or gave a traceback, before the run-directory files were checked against their
schemas (`ica.rundir`)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ica.cli.app import app
from ica.rundir.checkpoints import state_digest

from conftest import finished_vade_run

pytestmark = pytest.mark.slow  # every test reads or damages a copy of the run trained by the module fixture made


# ----------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, Path]:
    """A finished VaDE run (2 seeds; its latents come with assignments), and its spec file."""
    return finished_vade_run(tmp_path_factory.mktemp("hardening"))


@pytest.fixture
def run(made, tmp_path) -> tuple[Path, Path]:
    spec_path, reference = made
    shutil.copytree(reference, tmp_path / "run")
    return spec_path, tmp_path / "run"


SEED0 = Path("vade/seeds/0")


def invoke(*args) -> "object":
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_clear_error(result, path: Path, *fragments: str) -> None:
    """Exit 2, one message naming ``path``, no traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    text = "".join(result.output.split())
    assert str(path) in text, result.output
    for fragment in fragments:
        assert "".join(fragment.split()) in text, result.output


def files_of(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def unfinish(out: Path) -> None:
    """Both seeds as if interrupted at their last checkpoint (step 30 of 30): resuming reads the checkpoints."""
    for seed in (0, 1):
        for name in ("result.json", "latents.npz", "model.safetensors"):
            (out / "vade" / "seeds" / str(seed) / name).unlink()
    (out / "vade" / "summary.json").unlink()
    (out / "summary.json").unlink()


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    new = change(data)  # a damage edits the value in place (returning None) or returns another one
    path.write_text(json.dumps(data if new is None else new))


# ------------------------------------------------------------------------------ result.json
RESULT_DAMAGES = {
    "an array": lambda r: [],
    "no seed": lambda r: _drop(r, "seed"),
    "no elbo": lambda r: _drop(r, "elbo"),
    "a string elbo": lambda r: r["elbo"].update(train="-12.5"),
    "another seed": lambda r: r.update(seed=1),
    "a boolean seed": lambda r: r.update(seed=False),
    "an unknown status": lambda r: r.update(status="done"),
}


@pytest.mark.parametrize("damage", list(RESULT_DAMAGES))
def test_a_damaged_result_json_is_one_clear_error_for_every_command(run, damage):
    spec_path, out = run
    path = out / SEED0 / "result.json"
    edit_json(path, RESULT_DAMAGES[damage])
    assert_clear_error(invoke("run", spec_path, "--out", out), path, "train the seed again")
    for command in (["status"], ["results", "--no-index"]):
        assert_clear_error(invoke(*command, out), path)
    if damage in ("an array", "a string elbo"):  # the report reads result.json the same way
        assert_clear_error(invoke("report", out), path)


# ------------------------------------------------------------------------------ latents.npz
def rewrite_latents(path: Path, change) -> None:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    np.savez(path, **arrays)


LATENT_DAMAGES = {
    "too few rows": (lambda a: a.update(latents=a["latents"][:40], assignments=a["assignments"][:40]), "rows"),
    "one latent too many": (lambda a: a.update(latents=np.hstack([a["latents"], a["latents"][:, :1]])), "size"),
    "integer latents": (lambda a: a.update(latents=a["latents"].astype(np.int64)), "floating"),
    "NaN latents": (lambda a: a["latents"].__setitem__((0, 0), np.nan), "non-finite"),
    "three axes": (lambda a: a.update(latents=a["latents"][:, :, None]), "shape"),
    "assignments of -7": (lambda a: a["assignments"].__setitem__(0, -7), "-7"),
    "too few assignments": (lambda a: a.update(assignments=a["assignments"][:-1]), "assignments"),
    "float assignments": (lambda a: a.update(assignments=a["assignments"].astype(float)), "assignments"),
    "no latents": (lambda a: a.pop("latents"), "latents"),
}


@pytest.mark.parametrize("damage", list(LATENT_DAMAGES))
@pytest.mark.parametrize("checksum", [True, False], ids=["checksum", "older-run-without-checksum"])
def test_damaged_latents_are_an_error_never_a_different_metric(run, damage, checksum):
    """Wrong-shape latents gave cca_mcc_out 0.0 with n_failed 0, assignments of -7 an ARI of 0.0."""
    spec_path, out = run
    change, fragment = LATENT_DAMAGES[damage]
    if not checksum:  # a run written before result.json recorded the checksum: the arrays themselves are checked
        for seed in (0, 1):
            edit_json(out / "vade" / "seeds" / str(seed) / "result.json", lambda r: _drop(r, "latents_sha256"))
    path = out / SEED0 / "latents.npz"
    rewrite_latents(path, change)
    before = json.loads((out / "summary.json").read_text())
    result = invoke("run", spec_path, "--out", out)
    assert_clear_error(result, path, "train that seed again", *(["checksum"] if checksum else [fragment]))
    assert json.loads((out / "summary.json").read_text()) == before


def test_a_latents_file_with_a_huge_header_is_refused_before_it_is_loaded(run):
    """An .npy header claiming 10^11 rows in a file of a few hundred bytes is refused from the header."""
    import io
    import zipfile

    spec_path, out = run
    edit_json(out / SEED0 / "result.json", lambda r: _drop(r, "latents_sha256"))
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False, "shape": (10**11, 2)})
    member.write(b"\0" * 64)
    path = out / SEED0 / "latents.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("latents.npy", member.getvalue())
    assert_clear_error(invoke("run", spec_path, "--out", out), path, "more than the file holds")


# ------------------------------------------------------------------------------- checkpoints
def _first_model_tensor(state):
    key = next(iter(state["model"]))
    state["model"][key] = torch.zeros(*state["model"][key].shape[:-1], state["model"][key].shape[-1] + 1)


def _drop(container, key) -> None:
    del container[key]


def _perm(state, value):
    state["sampler"]["perm"] = value(state["sampler"]["perm"])


CHECKPOINT_DAMAGES = {
    "no model": lambda s: _drop(s, "model"),
    "no adam": lambda s: _drop(s, "adam"),
    "step 'abc'": lambda s: s.update(step="abc"),
    "step 10**9": lambda s: s.update(step=10**9),
    "a step beyond the run's": lambda s: s.update(step=31),
    "a wrong tensor shape": _first_model_tensor,
    "a missing tensor": lambda s: _drop(s["model"], next(iter(s["model"]))),
    "a missing adam moment": lambda s: _drop(s["adam"]["exp_avg"], -1),
    "a short noise state": lambda s: s.update(noise=s["noise"][:100]),
    "a float generator state": lambda s: s["sampler"].update(generator=s["sampler"]["generator"].float()),
    "a perm that is no permutation": lambda s: _perm(s, torch.zeros_like),
    "a short perm": lambda s: _perm(s, lambda p: p[:-1]),
    "a float perm": lambda s: _perm(s, lambda p: p.double()),
    "a position past the epoch": lambda s: s["sampler"].update(position=10**6),
    "another seed's": lambda s: s.update(seed=1),
    "another format": lambda s: s.update(format=2),
    "not a dict": lambda s: [s],
    "no plateau state": lambda s: s.update(plateau=None),
}


@pytest.mark.parametrize("damage", list(CHECKPOINT_DAMAGES))
def test_a_damaged_checkpoint_is_refused_naming_it_and_nothing_is_touched(run, damage):
    """Before: a missing key or step 'abc' gave a traceback, step 10**9 a 'finished' run of 10**9 steps, another
    format or a list was ignored, training restarting from step 0 over the checkpoints."""
    spec_path, out = run
    unfinish(out)
    path = out / SEED0 / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    state = CHECKPOINT_DAMAGES[damage](state) or state
    if isinstance(state, dict):  # the damage made consistently: the checks themselves must see it
        state["digest"] = state_digest(state)
    torch.save(state, path)
    before = files_of(out / "vade" / "seeds")
    assert_clear_error(invoke("run", spec_path, "--out", out), path)
    assert files_of(out / "vade" / "seeds") == before


def test_a_changed_value_in_a_checkpoint_is_seen_by_its_digest(run):
    """A byte flipped inside a tensor loads without complaint (torch checks no checksum) and would resume a
    different model."""
    spec_path, out = run
    unfinish(out)
    path = out / SEED0 / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    next(iter(state["model"].values())).view(-1)[0] += 1e-3
    torch.save(state, path)
    assert_clear_error(invoke("run", spec_path, "--out", out), path, "digest does not match")


def test_an_undamaged_checkpoint_still_resumes_to_the_same_results(made, run):
    spec_path, out = run
    unfinish(out)
    result = invoke("run", spec_path, "--out", out)
    assert result.exit_code == 0, result.output
    reference = made[1]
    for seed in (0, 1):
        rel = f"vade/seeds/{seed}"
        np.testing.assert_array_equal(
            np.load(out / rel / "latents.npz")["latents"], np.load(reference / rel / "latents.npz")["latents"]
        )
    assert (
        json.loads((out / "summary.json").read_text())["cells"]
        == json.loads((reference / "summary.json").read_text())["cells"]
    )


# ------------------------------------------------------------------------------ metrics.jsonl
def test_junk_in_the_training_log_is_an_error_naming_the_line_but_a_torn_last_line_is_not(made, run):
    spec_path, out = run
    unfinish(out)
    log = out / SEED0 / "metrics.jsonl"
    lines = log.read_bytes().split(b"\n")
    log.write_bytes(b"\n".join([lines[0], b'{"step": "abc", "loss": 1.0}', *lines[1:]]))
    before = files_of(out / "vade" / "seeds")
    assert_clear_error(invoke("run", spec_path, "--out", out), log, "line 2", "step")
    assert files_of(out / "vade" / "seeds") == before
    assert_clear_error(invoke("report", out), log, "line 2")

    log.write_bytes(b"\n".join(lines[:1]) + b"\n\x00\xff\xfe junk \x80\n" + b"\n".join(lines[1:]))
    assert_clear_error(invoke("run", spec_path, "--out", out), log, "line 2")

    good = (made[1] / SEED0 / "metrics.jsonl").read_bytes()
    log.write_bytes(good + b'{"step": 40, "loss": 2')  # a kill in the middle of an append
    assert invoke("report", out).exit_code == 0
    result = invoke("run", spec_path, "--out", out)
    assert result.exit_code == 0, result.output
    assert log.read_bytes() == good


# ------------------------------------------------------------------------------- summaries and specs
SUMMARY_DAMAGES = {
    "vade/summary.json": lambda s: s["stats"]["mcc"].update(median="0.6"),
    "summary.json": lambda s: s["cells"]["vade"]["pairs"][0].update(seeds="0-1"),
    "spec.json": lambda s: [],
}


@pytest.mark.parametrize("name", list(SUMMARY_DAMAGES))
def test_damaged_summaries_and_specs_are_one_error_for_status_results_and_report(run, name):
    _, out = run
    path = out / name
    edit_json(path, SUMMARY_DAMAGES[name])
    readers = (["status"], ["results", "--no-index"]) + (() if name == "vade/summary.json" else (["report"],))
    for command in readers:  # the report reads a finished run's cells from summary.json, not vade/summary.json
        assert_clear_error(invoke(*command, out), path)


def test_a_damaged_cell_summary_is_written_again_by_ica_run(made, run):
    spec_path, out = run
    edit_json(out / "vade" / "summary.json", SUMMARY_DAMAGES["vade/summary.json"])
    assert invoke("run", spec_path, "--out", out).exit_code == 0
    assert json.loads((out / "vade" / "summary.json").read_text()) == json.loads(
        (made[1] / "vade" / "summary.json").read_text()
    )


# ------------------------------------------------------------------------------------ grid.json
def make_grid(made, root: Path, cells) -> Path:
    grid = root / "grid"
    grid.mkdir()
    shutil.copytree(made[1], grid / "cell-a")
    (grid / "grid.json").write_text(json.dumps({"name": "g", "spec_hash": "0", "axes": {"seeds": [2]}, "cells": cells}))
    return grid


def test_a_grid_cell_inside_the_grid_is_read(made, tmp_path):
    grid = make_grid(made, tmp_path, [{"name": "a", "dir": "cell-a", "settings": {"seeds": 2}}])
    for command in (["status"], ["results", "--no-index"], ["report"]):
        result = invoke(*command, grid)
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize("where", ["absolute", "dotdot", "separator", "symlink", "dot", "duplicate", "settings"])
def test_a_grid_cell_outside_the_grid_or_with_bad_settings_is_refused(made, tmp_path, where):
    """A cell whose dir was /abs/path made status, results and report show another experiment under that
    cell's settings; ``settings: [1]`` gave a traceback."""
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(made[1], elsewhere)
    cell = {
        "name": "b",
        "settings": {"seeds": 2},
        "dir": {
            "absolute": str(elsewhere),
            "dotdot": "../elsewhere",
            "separator": "cell-a/vade",
            "symlink": "link",
            "dot": ".",
            "duplicate": "cell-a",
            "settings": "cell-a",
        }[where],
    }
    if where == "settings":
        cell["settings"] = [1]
    grid = make_grid(made, tmp_path, [{"name": "a", "dir": "cell-a", "settings": {"seeds": 2}}, cell])
    if where == "symlink":
        os.symlink(elsewhere, grid / "link")
    if where == "settings":
        grid_data = json.loads((grid / "grid.json").read_text())
        grid_data["cells"] = grid_data["cells"][1:]
        (grid / "grid.json").write_text(json.dumps(grid_data))
    for command in (["status"], ["results", "--no-index"], ["report"]):
        assert_clear_error(invoke(*command, grid), grid / "grid.json", "cells.")


@pytest.mark.parametrize("link", ["vade", "vade/seeds/1"])
def test_a_model_or_seed_folder_linked_from_elsewhere_is_refused_by_the_readers(made, tmp_path, link):
    """``R/vade`` as a link to another run's folder made status, results and report show that run's seeds as
    this run's (writes through such a link are refused too)."""
    out = tmp_path / "run"
    shutil.copytree(made[1], out)
    shutil.copytree(made[1], tmp_path / "elsewhere")
    shutil.rmtree(out / link)
    os.symlink(tmp_path / "elsewhere" / link, out / link)
    for command in (["status"], ["results", "--no-index"], ["report"]):
        assert_clear_error(invoke(*command, out), out / link, "symbolic link")
