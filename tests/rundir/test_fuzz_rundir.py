"""Fuzz (issue #11): damage each file of a run directory in several ways; then ``ica status``, ``ica results``,
``ica report`` and ``ica run`` (the same spec) each either end as on the undamaged directory or stop with one
clear error naming the damaged file (exit 2, no traceback). Never a different result.

Two directories are damaged: a finished run (one VaDE model, 2 seeds: its latents come with cluster
assignments), and the same run stopped at its last checkpoint (no result.json, latents or summaries), so that
``ica run`` resumes from the checkpoints and reads the training log. Rules:

* "identical": ``status --json`` and ``results --json`` print what they print for the undamaged directory,
  ``report`` writes the same report.md, and after ``ica run`` every seed's latents and the summary's cells
  equal the undamaged run's.
* "clear error": exit 2, the damaged file's path in the message, no traceback.
* Deleting a file, or cutting the training log short (what a kill in the middle of an append leaves), may
  change what the readers show -- a seed without result.json *is* unfinished, a run without summary.json *is*
  not evaluated yet -- so there the readers need only exit 0 or give a clear error; ``ica run`` must still end
  identical or with a clear error. A finished seed's deleted latents.npz is a clear error (never trained again
  to different results); a deleted checkpoint of a finished seed is never read.
* Damaged checkpoints keep a consistent digest (`ica.rundir.checkpoints.state_digest`) where they still hold a dict, so
  that the schema checks, not the digest, have to catch them; random bytes and flipped bytes are left as they are.

Figures are left out of the report (they only draw what `ica.reporting.rundirs` has read and checked) except for
damaged training logs, whose curves reach the figure code. The counts are printed at the end (``-s``).
"""

from __future__ import annotations

import collections
import json
import random
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import ica
import ica.reporting.report
from ica.cli.app import app
from ica.rundir.checkpoints import state_digest

from conftest import finished_vade_run

pytestmark = pytest.mark.slow  # every test here trains

SEED = "vade/seeds/0"
JSON_FILES = ["spec.json", "env.json", "summary.json", "vade/summary.json", f"{SEED}/result.json"]
FINISHED_FILES = JSON_FILES + [
    f"{SEED}/{n}" for n in ("latents.npz", "metrics.jsonl", "checkpoint.pt", "checkpoint.1.pt", "model.safetensors")
]
STOPPED_FILES = [f"{SEED}/{n}" for n in ("checkpoint.pt", "checkpoint.1.pt", "metrics.jsonl")]
COUNTS: collections.Counter = collections.Counter()
GOOD = ("identical", "clear error", "different (allowed)")


# ------------------------------------------------------------------------------------------- damages
def _rng(path: Path, name: str) -> random.Random:
    return random.Random(f"{path.name}:{name}")


def raw_damages(path: Path) -> dict[str, Callable[[], None]]:
    """Damages to any file's bytes."""
    data = path.read_bytes()

    def flip() -> None:
        changed = bytearray(data)
        changed[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(changed))

    return {
        "empty": lambda: path.write_bytes(b""),
        "half": lambda: path.write_bytes(data[: len(data) // 2]),
        "random": lambda: path.write_bytes(_rng(path, "random").randbytes(max(len(data), 16))),
        "flip": flip,
        "[]": lambda: path.write_bytes(b"[]"),
        "{}": lambda: path.write_bytes(b"{}"),
        "delete": lambda: path.unlink(),
    }


def wrong_type(value: Any) -> Any:
    """A value of another JSON type than ``value``."""
    if isinstance(value, bool) or value is None:
        return "x"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return 12345
    if isinstance(value, dict):
        return [1]
    return {"x": 1}


def json_damages(path: Path) -> dict[str, Callable[[], None]]:
    """Each top-level key removed, or given a value of the wrong type; the first nested key likewise."""
    data = json.loads(path.read_text())

    def write(changed: Any) -> Callable[[], None]:
        return lambda: path.write_text(json.dumps(changed))

    damages = {}
    for key, value in data.items():
        damages[f"drop {key}"] = write({k: v for k, v in data.items() if k != key})
        damages[f"{key}: wrong type"] = write({**data, key: wrong_type(value)})
        if isinstance(value, dict) and value:
            inner = next(iter(value))
            damages[f"{key}.{inner}: wrong type"] = write({**data, key: {**value, inner: wrong_type(value[inner])}})
    return damages


def npz_damages(path: Path) -> dict[str, Callable[[], None]]:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}

    def write(**changed: Any) -> Callable[[], None]:
        def apply() -> None:
            new = {**arrays, **changed}
            np.savez(path, **{k: v for k, v in new.items() if v is not None})

        return apply

    z, u = arrays["latents"], arrays["assignments"]
    return {
        "drop latents": write(latents=None),
        "drop assignments": write(assignments=None),
        "latents: wrong type": write(latents=z.astype(np.int64)),
        "latents: wrong shape": write(latents=z[:-1]),
        "latents: one axis": write(latents=z.ravel()),
        "assignments: wrong type": write(assignments=u.astype(np.float64)),
        "assignments: wrong shape": write(assignments=u[:-1]),
        "assignments: negative": write(assignments=np.where(np.arange(len(u)) == 0, -7, u)),
    }


def checkpoint_damages(path: Path) -> dict[str, Callable[[], None]]:
    """Each top-level key removed or of the wrong type, a wrong tensor shape, a list, a dict of nothing; the
    digest kept consistent so that the schema must see it."""
    state = torch.load(path, weights_only=True)

    def write(changed: Any) -> Callable[[], None]:
        def apply() -> None:
            if isinstance(changed, dict) and "digest" in changed:
                changed["digest"] = state_digest(changed)
            torch.save(changed, path)

        return apply

    damages = {"torch []": write([]), "torch {}": write({})}
    for key in state:
        damages[f"drop {key}"] = write({k: v for k, v in state.items() if k != key})
        if key != "digest":
            damages[f"{key}: wrong type"] = write({**state, key: "x"})
    model = dict(state["model"])
    first = next(iter(model))
    model[first] = torch.zeros(*model[first].shape[:-1], model[first].shape[-1] + 1)
    damages["model: wrong shape"] = write({**state, "model": model})
    damages["step: 10**9"] = write({**state, "step": 10**9})
    return damages


def log_damages(path: Path) -> dict[str, Callable[[], None]]:
    data = path.read_bytes()
    lines = data.split(b"\n")
    return {
        "junk line": lambda: path.write_bytes(b"\n".join([lines[0], b"\x00\x9f\xff junk", *lines[1:]])),
        "step: wrong type": lambda: path.write_bytes(
            b"\n".join([lines[0], b'{"step": "abc", "loss": 1.0}', *lines[1:]])
        ),
        "torn": lambda: path.write_bytes(data + b'{"step": 40, "lo'),
    }


def damages_of(path: Path) -> dict[str, Callable[[], None]]:
    found = raw_damages(path)
    if path.suffix == ".json":
        found.update(json_damages(path))
    elif path.suffix == ".npz":
        found.update(npz_damages(path))
    elif path.suffix == ".pt":
        found.update(checkpoint_damages(path))
    elif path.suffix == ".jsonl":
        found.update(log_damages(path))
    return found


# ------------------------------------------------------------------------------------------ outcomes
def may_differ(name: str, damage: str) -> bool:
    """Damages after which the readers may truthfully show something else (module docstring)."""
    return damage == "delete" or (name.endswith("metrics.jsonl") and damage in ("empty", "half", "torn"))


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def readers(out: Path) -> dict[str, Any]:
    """What status, results and report make of ``out``: (exit code, output, normalised text of what they show)."""
    shown = {}
    for name, args in (
        ("status", ["status", out, "--json"]),
        ("results", ["results", out, "--json", "--no-index"]),
        ("report", ["report", out]),
    ):
        result = invoke(*args)
        text = result.output
        if name == "report" and result.exit_code == 0:
            text = (out / "report.md").read_text()
        shown[name] = (result, text.replace(str(out.resolve()), "RUN").replace(str(out), "RUN"))
    return shown


def run_outcome(spec_path: Path, out: Path, reference: Path) -> tuple[Any, bool]:
    result = invoke("run", spec_path, "--out", out)
    if result.exit_code != 0:
        return result, False
    same = (
        json.loads((out / "summary.json").read_text())["cells"]
        == json.loads((reference / "summary.json").read_text())["cells"]
    )
    for seed in (0, 1):
        rel = f"vade/seeds/{seed}/latents.npz"
        same = same and np.array_equal(np.load(out / rel)["latents"], np.load(reference / rel)["latents"])
    return result, same


def classify(result: Any, identical: bool, path: Path, damage: str, allow_different: bool) -> str:
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return f"traceback: {type(result.exception).__name__}: {result.exception}"
    if "Traceback" in result.output:
        return "traceback in output"
    if result.exit_code == 0:
        return "identical" if identical else "different (allowed)" if allow_different else "different"
    compact = "".join(result.output.split())
    named = str(path) in compact or (damage == "delete" and path.name in compact and str(path.parent) in compact)
    if result.exit_code == 2 and named:
        return "clear error"
    return f"exit {result.exit_code} without naming the file: {result.output.strip()[-300:]}"


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Any]:
    """The finished run, the same run stopped at its last checkpoint, the spec file, and the readers' view of
    each undamaged directory."""
    root = tmp_path_factory.mktemp("fuzz")
    spec_path, run = finished_vade_run(root)
    run.rename(root / "finished")
    shutil.copytree(root / "finished", root / "stopped")
    for seed in (0, 1):
        for name in ("result.json", "latents.npz", "model.safetensors"):
            (root / "stopped" / "vade" / "seeds" / str(seed) / name).unlink()
    for name in ("summary.json", "vade/summary.json"):
        (root / "stopped" / name).unlink()
    return {"root": root, "spec": spec_path}


@pytest.fixture(scope="module", autouse=True)
def counts():
    yield
    if COUNTS:
        print(
            "\nrun-directory fuzz:",
            sum(COUNTS.values()) // 4,
            "damaged directories;",
            ", ".join(f"{k}: {v}" for k, v in sorted(COUNTS.items())),
        )


def fuzz(bases: dict[str, Any], base: str, name: str, tmp_path: Path) -> list[str]:
    """Every damage of one file of one base directory; the problems found (none expected)."""
    root, problems = bases["root"], []
    probe = tmp_path / "undamaged" / "run"  # every copy is called "run": a report may show the directory's name
    shutil.copytree(root / base, probe)
    view = readers(probe)
    kinds = list(damages_of(probe / name))
    for i, damage in enumerate(kinds):
        case = tmp_path / f"case-{i}" / "run"
        shutil.copytree(root / base, case)
        path = case / name
        damages_of(path)[damage]()
        allowed = may_differ(name, damage)
        outcomes = {}
        for reader, (result, text) in readers(case).items():
            outcomes[reader] = classify(result, text == view[reader][1], path, damage, allowed)
        result, same = run_outcome(bases["spec"], case, root / "finished")
        outcomes["run"] = classify(result, same, path, damage, False)
        for command, outcome in outcomes.items():
            good = outcome in GOOD
            COUNTS[f"{command} {outcome if good else 'BAD'}"] += 1
            if not good:
                problems.append(f"{base} {name} [{damage}] ica {command}: {outcome}")
        shutil.rmtree(case.parent)
    return problems


@pytest.fixture
def no_figures(monkeypatch, request):
    """The report without its figures (drawing is slow, and draws only what was read and checked)."""
    if not request.node.callspec.params["name"].endswith("metrics.jsonl"):
        monkeypatch.setattr(ica.reporting.report, "make_figures", lambda exp, *options: [])


@pytest.mark.parametrize("name", FINISHED_FILES)
def test_a_damaged_file_of_a_finished_run_gives_the_same_results_or_one_clear_error(bases, name, tmp_path, no_figures):
    problems = fuzz(bases, "finished", name, tmp_path)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", STOPPED_FILES)
def test_a_damaged_checkpoint_or_log_of_a_stopped_run_resumes_identically_or_is_one_clear_error(
    bases, name, tmp_path, no_figures
):
    problems = fuzz(bases, "stopped", name, tmp_path)
    assert not problems, "\n".join(problems)
