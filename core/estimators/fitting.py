"""What ``fit`` does besides checking arrays: the user's arrays become an ``npz`` data set, the estimator's
parameters an experiment spec, and ``ica.run`` then ``ica.load`` do the rest -- so an estimator is exactly
``ica run`` on the same arrays, with nothing trained differently.

The run directory is either the user's ``run_dir`` (kept, with the ``.npz`` it was trained on beside the
run's files) or a temporary directory removed when ``fit`` returns. Its files are kept in memory (less the
resumable checkpoints and the training data), so that ``save`` can write a run directory afterwards either
way.
"""

from __future__ import annotations

import copy
import math
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ica.errors import DataError, IcaError, SpecError
from ica.rundir.enclosing import enclosing_run_directory
from ica.rundir.json_files import read_result
from ica.rundir.layout import RunLayout
from ica.rundir.writing import atomic_write, save_npz
from ica.spec.models import MAX_SEED, MAX_SEEDS, too_many_seeds
from ica.running.building import resolve_device
from ica.running.runner import Event, run
from ica.trained.loading import load
from ica.trained.model import TrainedModel

DATA_FILE = "estimator-data.npz"
"""The arrays ``fit`` was given, in the run directory (``x``, and ``u`` where the model takes u)."""

LABEL = "model"
"""The one model label of an estimator's spec."""


class InvalidParameter(SpecError, ValueError):
    """A parameter the spec refuses: an `ica` SpecError that scikit-learn code catches as a ValueError."""


class InvalidData(DataError, ValueError):
    """Arrays `ica` refuses: an `ica` DataError that scikit-learn code catches as a ValueError."""


@dataclass
class Fitted:
    """What one ``fit`` leaves: the trained model, the cell's summary, the run's files (path -> bytes)."""

    model: TrainedModel
    summary: dict[str, Any]
    files: dict[str, bytes]
    spec: dict[str, Any]


def seed_list(random_state: Any, n_seeds: Any) -> list[int]:
    """Seeds ``random_state .. random_state + n_seeds - 1`` (``random_state=None`` means 0), their count and
    range checked before the list is built (10**9 seeds would take gigabytes just to list)."""
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, (int, np.integer)) or n_seeds < 1:
        raise InvalidParameter(f"must be a whole number >= 1, got {n_seeds!r}", where="n_seeds")
    if n_seeds > MAX_SEEDS:
        raise InvalidParameter(too_many_seeds(int(n_seeds)), where="n_seeds")
    first = 0 if random_state is None else random_state
    if isinstance(first, bool) or not isinstance(first, (int, np.integer)) or first < 0:
        raise InvalidParameter(
            f"must be None or a whole number >= 0 (the first seed), got {random_state!r}; "
            "a RandomState instance cannot name the seeds of a run",
            where="random_state",
        )
    if int(first) + int(n_seeds) - 1 > MAX_SEED:
        raise InvalidParameter(
            f"the last seed, random_state + n_seeds - 1, must be at most {MAX_SEED} (2**63 - 1); "
            f"got {int(first) + int(n_seeds) - 1}",
            where="random_state",
        )
    return list(range(int(first), int(first) + int(n_seeds)))


MIN_ROWS = 4
"""Rows X needs: the run evaluates on X itself, and its metrics that fit on half of the points and score on the
other half (CCA between seeds, consistency) need 2 or more in each half (`ica.running.building`)."""


TRAINING_DEFAULTS = {"steps": 10_000, "batch_size": 64, "lr": 1e-3}
"""What the estimators' ``steps``, ``batch_size`` and ``lr`` mean when neither they nor ``training`` set them."""


def training_options(named: dict[str, Any], training: Any) -> dict[str, Any]:
    """The spec's ``training``: ``training``'s options with the named parameters that are set (not None). A
    setting given in both places is refused, naming both: one of them would otherwise be silently ignored."""
    if training is not None and not isinstance(training, dict):
        raise InvalidParameter(f"must be a dict of a spec's training options, got {training!r}", where="training")
    extra = copy.deepcopy(training or {})
    given = {key: value for key, value in named.items() if value is not None}
    for key in given:
        if key in extra:
            raise given_twice(key, given[key], "training", extra[key], f"the training's {key}", key)
    return {**TRAINING_DEFAULTS, **extra, **given}


def given_twice(
    parameter: str, value: Any, holder: str, held: Any, what: str, key: str | None = None
) -> InvalidParameter:
    """The error for a setting given both as ``parameter`` and inside the dict parameter ``holder`` (as ``key``):
    it names both, since one of them would otherwise be silently ignored."""
    key = key or parameter
    return InvalidParameter(
        f"{parameter}={value!r} and {holder}={{{key!r}: {held!r}}} both set {what}; give it in one place",
        where=f"{parameter} and {holder}.{key}",
    )


def experiment(
    model: dict[str, Any],
    data_path: Path,
    *,
    has_u: bool,
    continuous_u: bool = False,
    standardize: bool,
    seeds: list[int],
    device: str,
    training: dict[str, Any],
) -> dict[str, Any]:
    """The spec ``ica run`` would take for these settings: the npz data set, evaluated on the same file (so
    that training uses every row, and the evaluation split is the training data itself)."""
    return {
        "name": "estimator",
        "data": {
            "name": "npz",
            "path": str(data_path),
            "eval_path": str(data_path),
            "x_key": "x",
            "u_key": "u" if has_u else None,
            **({"u_kind": "continuous"} if continuous_u else {}),
            "sources_key": None,
            "standardize": bool(standardize),
        },
        "models": {LABEL: model},
        "training": training,
        "seeds": seeds,
        "device": device,
    }


def check_device(device: Any) -> None:
    """``device`` names a device this machine has (`ica.running.building.resolve_device`), checked before ``fit``
    copies an array or writes a file: ``"cuda:3"`` on a machine of two GPUs is refused here, naming it."""
    try:
        resolve_device(device)
    except SpecError as exc:
        raise InvalidParameter(exc.message, where="device") from None


def fit_run(
    spec_for,
    x: np.ndarray,
    u: np.ndarray | None,
    run_dir: Any,
    on_event: Event | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> Fitted:
    """Write ``x`` (and ``u``, and the ``extra`` arrays: a time order's ``sequence``), run ``spec_for(data_path)``
    into the run directory and load its model; ``on_event`` gets the run's progress events
    (`ica.estimators.progress`)."""
    if run_dir is None:
        root = Path(tempfile.mkdtemp(prefix="ica-estimator-"))
        try:
            return _fit_into(spec_for, x, u, root / "run", on_event, extra)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    root = Path(run_dir)
    check_new_run_directory(root, "run_dir", "fit trains afresh and never resumes or mixes with an earlier run")
    existed = root.exists()
    try:
        return _fit_into(spec_for, x, u, root, on_event, extra)
    except BaseException:
        if not RunLayout(root).spec.exists():  # refused before the run claimed it: leave no trace of fit
            (root / DATA_FILE).unlink(missing_ok=True)
            if not existed:
                shutil.rmtree(root, ignore_errors=True)
        raise


def check_new_run_directory(root: Path, name: str, why: str) -> None:
    """``root`` may become an estimator's run directory: new or empty, and not inside another run's directory
    (whose files are that run's record, and where ``ica results`` would not look for another run)."""
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise IcaError(
            f"exists and is not an empty directory: {why}; give a new directory, or remove this one",
            where=f"{name} {root}",
        )
    inside = enclosing_run_directory(root / "spec.json")
    if inside is not None:
        raise IcaError(
            f"lies inside the run directory {inside}, whose files are that run's record; give a directory outside it",
            where=f"{name} {root}",
        )


def _fit_into(
    spec_for, x: np.ndarray, u: np.ndarray | None, root: Path, on_event: Event | None, extra: dict | None
) -> Fitted:
    root.mkdir(parents=True, exist_ok=True)
    data_path = (root / DATA_FILE).resolve()
    arrays = {"x": x, **({} if u is None else {"u": u}), **(extra or {})}
    save_npz(data_path, **arrays)
    spec = spec_for(data_path)
    try:
        summary = run(spec, out=root, on_event=on_event)
        cell = summary["cells"][LABEL]
        model = load(root, model=LABEL, seeds=_finished(root, cell, spec["seeds"]), device=spec["device"])
    except SpecError as exc:
        raise InvalidParameter(exc.message, where=exc.where) from None
    except DataError as exc:
        raise InvalidData(exc.message, where=exc.where) from None
    return Fitted(model, cell, run_files(root), spec)


def _finished(root: Path, cell: dict[str, Any], seeds: list[int]) -> list[int]:
    """The seeds that finished training; the others are named in a warning (all failed: an error)."""
    status = cell.get("status", {})
    done = [s for s in seeds if status.get(str(s)) == "finished"]
    failed = [s for s in seeds if s not in done]
    if failed:
        why = "; ".join(f"seed {s}: {_error(root, s)}" for s in failed)
        if not done:
            raise IcaError(
                f"every seed failed in training ({why}); try a lower lr, or training={{'retry_nan': 2}} (IcaEstimator)",
                where="fit",
            )
        from sklearn.exceptions import ConvergenceWarning

        warnings.warn(f"left out of the estimator, which holds seeds {done}: {why}", ConvergenceWarning, stacklevel=4)
    return done


def _error(root: Path, seed: int) -> str:
    try:
        return read_result(RunLayout(root).seed(LABEL, seed).result).error or "failed"
    except (IcaError, OSError):
        return "failed (no readable result.json)"


def consistency(cell: dict[str, Any]) -> float:
    """The mean pairwise out-of-sample CCA-MCC between the seeds (NaN with fewer than two seeds)."""
    stats = cell.get("stats", {}).get("cca_mcc_out") or {}
    value = stats.get("mean")
    return float(value) if value is not None and stats.get("n", 0) >= 1 else math.nan


def run_files(root: Path) -> dict[str, bytes]:
    """Every file of the run directory but its resumable checkpoints, locks and the training data."""
    files = {}
    for path in sorted(root.rglob("*")):
        name = path.name
        if not path.is_file() or path.is_symlink() or name.startswith(".") or name == DATA_FILE:
            continue
        if name.startswith("checkpoint") and name.endswith(".pt"):
            continue
        files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def write_run(path: Any, files: dict[str, bytes]) -> Path:
    """The run's ``files`` written, each atomically, into the new or empty directory ``path``; on a failure
    (a full disk) what was written is removed again, so a half-saved run is never left to be loaded."""
    root = Path(path)
    check_new_run_directory(root, "path", "save writes a run directory of its own")
    existed = root.exists()
    written: list[Path] = []
    try:
        for relative, data in files.items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, data)
            written.append(target)
    except BaseException:
        if existed:
            for target in written:
                target.unlink(missing_ok=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
        raise
    return root
