"""Fuzz (issue #27): damage each file a trained model is rebuilt from -- ``spec.json``, ``preprocessing.json``, a
seed's ``model.safetensors`` and the ``result.json`` that records their digests -- and load the model with
``ica.load`` and ``ica encode``. Every case must end *identical* (the same latents as the undamaged run) or
*refused* (an `IcaError` naming the damaged file; exit 2 with it in the one message); never *different*, never a
traceback.

Besides broken bytes (as tests/rundir/test_fuzz_rundir.py does for the files the other commands read), the damages
keep a file well-formed and change its meaning: weights swapped between seeds, copied from another model of
the run or from another run of the same spec, set to NaN or nudged; the spec's encoder, prior or latent size
edited, with and without a matching ``spec_hash``; the standardisation, binarisation or shapes of the
preprocessing edited; files copied from another run; results swapped. The counts are printed (``-s``).
"""

from __future__ import annotations

import collections
import copy
import json
import shutil
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

import ica
from conftest import TINY_SPEC
from ica.cli.app import app
from ica.errors import IcaError, UnverifiedRunWarning
from ica.spec.hashing import json_digest

from test_fuzz_rundir import raw_damages, json_damages

pytestmark = pytest.mark.slow  # every test here trains

LABEL = "vade"
SEED0, SEED1 = f"{LABEL}/seeds/0", f"{LABEL}/seeds/1"
COUNTS: collections.Counter = collections.Counter()


# ------------------------------------------------------------------------------------------ runs
@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A standardised TCL run of iVAE and VaDE (2 seeds), the same spec trained again with other seeds ("other":
    same shapes, other weights), the points to encode, and the undamaged latents."""
    root = tmp_path_factory.mktemp("load-fuzz")
    spec = copy.deepcopy(TINY_SPEC)
    spec["data"] = {**spec["data"], "standardize": True}
    ica.run(spec, out=root / "run")
    ica.run({**spec, "seeds": [0, 1], "data": {**spec["data"], "data_seed": 8}}, out=root / "other")
    x = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    np.savez(root / "points.npz", x=x)
    return {
        "root": root,
        "run": root / "run",
        "other": root / "other",
        "points": root / "points.npz",
        "latents": ica.load(root / "run", model=LABEL).transform(x),
    }


# ------------------------------------------------------------------------------------------ damages
def _edit_json(path: Path, change: Callable[[dict], None], rehash: bool = False) -> Callable[[], None]:
    def apply() -> None:
        data = json.loads(path.read_text())
        change(data)
        if rehash:
            data.pop("spec_hash", None)
            data["spec_hash"] = json_digest(data)
        path.write_text(json.dumps(data, indent=2))

    return apply


def _set(*keys: str, value: Any) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value

    return change


def _swap(a: Path, b: Path) -> Callable[[], None]:
    def apply() -> None:
        tmp = a.with_name(a.name + ".swap")
        a.rename(tmp)
        b.rename(a)
        tmp.rename(b)

    return apply


def _weights(path: Path, change: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
    """Every tensor of a weights file changed (a first tensor alone may be the decoder's: encoding ignores it)."""

    def apply() -> None:
        save_file({name: change(tensor) for name, tensor in load_file(path).items()}, path)

    return apply


def meaning_damages(case: Path, other: Path) -> dict[str, Callable[[], None]]:
    """Damages that leave every file well-formed but change what the model would be."""
    spec, pre = case / "spec.json", case / "preprocessing.json"
    w0, w1 = case / SEED0 / "model.safetensors", case / SEED1 / "model.safetensors"
    encoder = ("models", LABEL, "encoder")
    spec_edits = {
        "activation relu": _set(*encoder, "activation", value="relu"),
        "negative_slope 0.9": _set(*encoder, "negative_slope", value=0.9),
        "hidden [8]": _set(*encoder, "hidden", value=[8]),
        "latent_dim 2": _set("models", LABEL, "latent_dim", value=2),
        "components 4": _set("models", LABEL, "prior", "components", value=4),
        "spec_hash": _set("spec_hash", value="0" * 16),
    }
    damages: dict[str, Callable[[], None]] = {}
    for name, change in spec_edits.items():
        damages[f"spec {name}"] = _edit_json(spec, change)
        if name != "spec_hash":
            damages[f"spec {name} (hash matched)"] = _edit_json(spec, change, rehash=True)
    for name, change in {
        "mean[0] 5.0": lambda d: d["standardize"]["mean"].__setitem__(0, 5.0),
        "std[1] 0.5": lambda d: d["standardize"]["std"].__setitem__(1, 0.5),
        "standardize off": _set("standardize", value=None),
        "binarize threshold": _set("binarize", value="threshold"),
        "n_u 5": _set("n_u", value=5),
        "unit_interval": _set("unit_interval", value=True),
    }.items():
        damages[f"preprocessing {name}"] = _edit_json(pre, change)
    damages.update(
        {
            "weights swapped 0<->1": _swap(w0, w1),
            "weights of ivae": lambda: shutil.copy(case / "ivae/seeds/0/model.safetensors", w0),
            "weights of another run": lambda: shutil.copy(other / SEED0 / "model.safetensors", w0),
            "weights NaN": _weights(w0, lambda t: t * float("nan")),
            "weights nudged": _weights(w0, lambda t: t * 1.01),
            "spec.json of another run": lambda: shutil.copy(other / "spec.json", spec),
            "preprocessing.json of another run": lambda: shutil.copy(other / "preprocessing.json", pre),
            "seed directories swapped": _swap(case / SEED0, case / SEED1),
            "result.json of another run": lambda: shutil.copy(
                other / SEED0 / "result.json", case / SEED0 / "result.json"
            ),
            "seed 1's result.json in seed 0": lambda: shutil.copy(
                case / SEED1 / "result.json", case / SEED0 / "result.json"
            ),
            "preprocessing.json deleted": lambda: pre.unlink(),
        }
    )
    return damages


def all_damages(case: Path, other: Path) -> dict[str, Callable[[], None]]:
    found = {
        f"{name} [{damage}]": apply
        for name in ("spec.json", "preprocessing.json", f"{SEED0}/model.safetensors", f"{SEED0}/result.json")
        for damage, apply in {
            **raw_damages(case / name),
            **(json_damages(case / name) if name.endswith(".json") else {}),
        }.items()
    }
    found.update(meaning_damages(case, other))
    return found


# ------------------------------------------------------------------------------------------ outcomes
def loaded_outcome(case: Path, points: Path, latents: np.ndarray) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnverifiedRunWarning)
            z = ica.load(case, model=LABEL).transform(np.load(points)["x"])
    except IcaError as exc:
        return "refused" if exc.where and str(case) in exc.where else f"refused without naming a file: {exc}"
    except Exception as exc:  # noqa: BLE001 -- anything else is the defect this test looks for
        return f"traceback: {type(exc).__name__}: {exc}"
    return "identical" if z.shape == latents.shape and np.array_equal(z, latents) else "DIFFERENT"


def encoded_outcome(case: Path, points: Path, latents: np.ndarray, out: Path) -> str:
    result = CliRunner().invoke(app, ["encode", str(case), "--model", LABEL, "--data", str(points), "--out", str(out)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return f"traceback: {type(result.exception).__name__}: {result.exception}"
    if result.exit_code == 2:
        compact = "".join(result.output.split())
        return "refused" if str(case) in compact else f"refused without naming a file: {result.output[-200:]}"
    if result.exit_code != 0:
        return f"exit {result.exit_code}: {result.output[-200:]}"
    z = np.load(out)["latents"]
    return "identical" if z.shape == latents.shape and np.array_equal(z, latents) else "DIFFERENT"


@pytest.fixture(scope="module", autouse=True)
def counts():
    yield
    if COUNTS:
        print("\nload fuzz:", ", ".join(f"{k}: {v}" for k, v in sorted(COUNTS.items())))


def test_every_damage_to_what_a_model_is_rebuilt_from_is_refused_or_changes_nothing(runs, tmp_path):
    probe = tmp_path / "probe" / "run"
    shutil.copytree(runs["run"], probe)
    names = list(all_damages(probe, runs["other"]))
    assert len(names) > 80
    problems = []
    for i, name in enumerate(names):
        case = tmp_path / f"case-{i}" / "run"
        shutil.copytree(runs["run"], case)
        all_damages(case, runs["other"])[name]()
        outcomes = {
            "ica.load": loaded_outcome(case, runs["points"], runs["latents"]),
            "ica encode": encoded_outcome(case, runs["points"], runs["latents"], tmp_path / f"z-{i}.npz"),
        }
        for where, outcome in outcomes.items():
            COUNTS[f"{where} {outcome if outcome in ('identical', 'refused', 'DIFFERENT') else 'BAD'}"] += 1
            if outcome not in ("identical", "refused"):
                problems.append(f"{name}: {where}: {outcome}")
        shutil.rmtree(case.parent)
    COUNTS["cases"] = len(names)
    assert not problems, "\n".join(problems)
