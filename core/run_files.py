"""Checked readers for every file `ica` reads back from a run directory (issue #11, item 12).

A run directory is input like any other: a disk, a copy cut short, an editor or another program can damage
any file in it. Each file read back is checked against a schema before anything uses it -- pydantic models
for the JSON files (strict types; extra keys allowed, since files grow over versions), shapes, dtypes and
ranges for arrays and checkpoints -- so that a damaged file is one `RunFileError` naming it, what is wrong
and what to do, never a traceback and never a silently different result. ``index.json`` is never read.

Which file is read where: ``result.json`` and ``latents.npz`` by `ica.outcomes.load_outcome` (``ica run``),
`ica.collect` (``ica status``, ``ica results``) and `ica.report_read` (``ica report``); checkpoints by
`ica.train.Trainer.checkpoint_states`; ``metrics.jsonl`` by `ica.train.truncate_log` (resuming) and the
report; ``spec.json``, ``summary.json`` and ``grid.json`` by status, results and report.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Type, TypeVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ica.errors import IcaError

# ------------------------------------------------------------------------------------------ errors
RESULT_ADVICE = "delete this result.json to train the seed again"
LATENTS_ADVICE = "delete result.json beside it to train that seed again"
SUMMARY_ADVICE = "run the same spec again (`ica run`) to evaluate it and write this file again"
SPEC_ADVICE = ("delete it and run the spec this directory was made from (`ica run SPEC --out DIR`) to write it "
               "again, or remove the directory")
GRID_ADVICE = "delete it and run the grid spec again (`ica run`) to write it again"
CHECKPOINT_ADVICE = ("delete it to resume from an older checkpoint, or delete all of the seed's checkpoint*.pt "
                     "and metrics.jsonl to train it from the start")


class RunFileError(IcaError):
    """A file of a run directory that is damaged, unreadable or not what `ica` wrote there."""


def damaged(path: Path, problem: str, advice: str) -> RunFileError:
    """One message: the file (as ``where``), what is wrong with it, and what to do."""
    return RunFileError(f"{path.name} is damaged: {problem}; {advice}", where=str(path))


# ---------------------------------------------------------------------------------------- schemas
Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[int, Field(ge=0)]
SeedKey = Annotated[str, Field(pattern=r"^[0-9]+$")]
"""A seed as a JSON object key: ``"0"``, ``"12"``."""
Label = Annotated[str, Field(min_length=1, max_length=255)]


def plain_name(value: str, what: str) -> str:
    """A name used as one directory of a run (a model label, a grid cell's ``dir``): no path in it."""
    if value in ("", ".", "..") or "/" in value or "\\" in value or "\0" in value or os.path.isabs(value):
        raise ValueError(f"{what} {value!r} is not a plain directory name (no '..', no separators, not absolute)")
    return value


def plain_labels(labels: dict[str, Any]) -> dict[str, Any]:
    """A mapping keyed by model labels (a spec's ``models``, a summary's ``cells``): each a plain name."""
    for label in labels:
        plain_name(label, "model label")
    return labels


def no_link(*paths: Path) -> Path:
    """The last of ``paths`` (folders of one run: a model's, its ``seeds``, a seed's), each refused when it is a
    symbolic link: ica never follows links inside a run directory when writing, so reading through one would
    show another run's files as this run's."""
    for path in paths:
        if path.is_symlink():
            raise RunFileError("is a symbolic link; ica does not follow links inside a run directory (replace it "
                               "with the real folder, or remove it)", where=str(path))
    return paths[-1]


class _File(BaseModel):
    """A JSON file ``ica`` wrote: strict types, unknown keys kept (a later version may add some)."""

    model_config = ConfigDict(strict=True, extra="allow")


class ResultFile(_File):
    """``<label>/seeds/<seed>/result.json``: a trained seed's outcome."""

    seed: NonNegative
    status: Literal["finished", "failed"]
    steps: NonNegative
    elbo: Optional[dict[str, Optional[Finite]]] = None
    error: Optional[str] = None
    failed_at: Optional[NonNegative] = None
    last_finite_loss: Optional[Finite] = None
    train_seconds: Optional[Finite] = None
    latents_sha256: Optional[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = None

    @model_validator(mode="after")
    def _finished_has_elbo(self) -> "ResultFile":
        if self.status != "finished":
            return self
        if not self.elbo:
            raise ValueError("a finished seed's result has no 'elbo'")
        missing = [key for key in ("train", "eval") if key not in self.elbo]
        empty = [key for key, value in self.elbo.items() if value is None]
        if missing or empty:
            raise ValueError(f"a finished seed's 'elbo' has no {(missing or empty)[0]!r} value")
        return self


class Stats(_File):
    """One metric's statistics over seeds or pairs (`ica.evaluate.quartiles`)."""

    n: NonNegative
    n_failed: NonNegative
    median: Optional[Finite]
    q25: Optional[Finite]
    q75: Optional[Finite]
    mean: Optional[Finite]

    @model_validator(mode="after")
    def _counts(self) -> "Stats":
        if self.n_failed > self.n:
            raise ValueError(f"'n_failed' ({self.n_failed}) is more than 'n' ({self.n})")
        return self


class Pair(_File):
    """One pair of seeds and each pairwise metric's value (None for a failure)."""

    seeds: list[NonNegative] = Field(min_length=2, max_length=2)
    __pydantic_extra__: dict[str, Optional[Finite]] = Field(init=False)


class CellSummary(_File):
    """``<label>/summary.json`` (and each entry of the run summary's ``cells``). Every key ica writes is
    required: a key gone missing would otherwise show as an empty value, silently."""

    model: str
    stats: dict[str, Stats]
    seeds: dict[SeedKey, dict[str, Optional[Finite]]]
    pairs: list[Pair]
    cell: dict[str, Optional[Finite]]
    errors: list[dict[str, Any]]
    status: dict[SeedKey, Literal["finished", "failed"]]


class RunSummary(_File):
    """``<out>/summary.json``: the run's cells, written when every model is evaluated."""

    name: Optional[str]
    spec_hash: str
    device: str
    split: Literal["eval", "train"]
    data: dict[str, Any]
    cells: dict[Label, CellSummary]

    _plain_labels = field_validator("cells")(plain_labels)


class ModelEntry(_File):
    name: str


class MetricEntry(_File):
    name: str


class EvaluationEntry(_File):
    split: Literal["eval", "train"] = "eval"
    metrics: Optional[list[MetricEntry]] = None


class SpecBody(_File):
    """A spec as ``ica run`` writes it out (`ica.spec.spec_json`): every section present, since results
    compare runs by them. Only the parts status, results and report use are looked into."""

    name: Optional[str]
    data: dict[str, Any]
    models: dict[Label, ModelEntry] = Field(min_length=1)
    training: dict[str, Any]
    seeds: Annotated[int, Field(ge=1)] | Annotated[list[NonNegative], Field(min_length=1)]
    evaluation: EvaluationEntry
    device: str
    grid: Optional[dict[str, Any]] = None

    _plain_labels = field_validator("models")(plain_labels)

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: int | list[int]) -> int | list[int]:
        if isinstance(seeds, list) and len(set(seeds)) != len(seeds):
            raise ValueError("the seeds are not distinct")
        return seeds

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


class RunSpecFile(SpecBody):
    """``<out>/spec.json``: the spec, and the hash that ties the directory to it."""

    spec_hash: str


class GridCellEntry(_File):
    name: Optional[str] = None
    dir: str
    settings: dict[str, Any] = {}

    @field_validator("dir")
    @classmethod
    def _plain_dir(cls, value: str) -> str:
        return plain_name(value, "'dir'")


class GridFile(_File):
    """``<grid>/grid.json``: the grid's cells, each a run in its own sub-directory of the grid."""

    name: Optional[str] = None
    spec_hash: Optional[str] = None
    axes: Optional[dict[str, Any]] = None
    spec: Optional[SpecBody] = None  # the grid's spec: its labels and seeds are those of a cell not started
    cells: list[GridCellEntry]


class MetricsLine(_File):
    """One line of ``metrics.jsonl``: the step, then numbers and flags (`ica.train.Trainer.log`)."""

    step: NonNegative
    __pydantic_extra__: dict[str, Optional[float | bool]] = Field(init=False)


# ------------------------------------------------------------------------------------ JSON files
class _Refused(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Refused(f"the key {key!r} appears twice")
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise _Refused(f"it holds {name}, which is not JSON (ica writes no such value)")


def _parse_json(text: str, *, constants: bool = False) -> Any:
    """JSON as ``ica`` writes it: no duplicate keys, and no NaN or Infinity unless ``constants``."""
    if constants:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)


def _read_bytes(path: Path, advice: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise RunFileError(f"{path.name} is missing; {advice}", where=str(path)) from None
    except OSError as exc:
        raise RunFileError(f"cannot read {path.name}: {exc.strerror or exc}", where=str(path)) from None


def read_json_file(path: Path, advice: str) -> Any:
    """A JSON file's value, or a `RunFileError` naming the file: unreadable, not UTF-8, not JSON."""
    raw = _read_bytes(path, advice)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise damaged(path, f"it is not UTF-8 text (byte {exc.start})", advice) from None
    try:
        return _parse_json(text)
    except _Refused as exc:
        raise damaged(path, str(exc), advice) from None
    except json.JSONDecodeError as exc:
        raise damaged(path, f"it is not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})", advice) from None
    except (ValueError, RecursionError) as exc:  # an integer of 5000 digits, nesting 100,000 deep
        raise damaged(path, f"it is not JSON ica wrote ({type(exc).__name__}: {exc})", advice) from None


def validation_problem(exc: ValidationError) -> str:
    """The first problem pydantic found, as 'field: what is wrong (got value)'."""
    err = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in err["loc"])
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    got = repr(err.get("input"))
    got = got if len(got) <= 60 else got[:57] + "..."
    shown = f"{message} (got {got})" if err["type"] not in ("missing", "value_error") else message
    return f"{field}: {shown}" if field else shown


M = TypeVar("M", bound=BaseModel)


def checked(model: Type[M], data: Any, path: Path, advice: str) -> M:
    """``data`` (read from ``path``) validated by ``model``, or a `RunFileError` naming the file and field."""
    if not isinstance(data, dict):
        raise damaged(path, f"it holds a JSON {_json_kind(data)}, not an object", advice)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise damaged(path, validation_problem(exc), advice) from None


def _json_kind(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)


def read_checked(path: Path, model: Type[M], advice: str) -> tuple[M, dict[str, Any]]:
    """The file validated, and its plain dict (which consumers that index dicts keep using)."""
    data = read_json_file(path, advice)
    return checked(model, data, path, advice), data


def seed_of_directory(path: Path) -> int | None:
    """The seed a ``seeds/<seed>/...`` file belongs to, from its directory's name."""
    name = path.parent.name
    return int(name) if name.isascii() and name.isdigit() and path.parent.parent.name == "seeds" else None


def read_result(path: Path) -> tuple[ResultFile, dict[str, Any]]:
    """A seed's ``result.json``; its ``seed`` must be the seed of its directory."""
    result, data = read_checked(path, ResultFile, RESULT_ADVICE)
    expected = seed_of_directory(path)
    if expected is not None and result.seed != expected:
        raise damaged(path, f"it is the result of seed {result.seed}, but lies in seed {expected}'s directory",
                      RESULT_ADVICE)
    return result, data


def read_run_spec(path: Path) -> tuple[RunSpecFile, dict[str, Any]]:
    return read_checked(path, RunSpecFile, SPEC_ADVICE)


def read_run_summary(path: Path) -> tuple[RunSummary, dict[str, Any]]:
    return read_checked(path, RunSummary, SUMMARY_ADVICE)


def read_cell_summary(path: Path) -> tuple[CellSummary, dict[str, Any]]:
    return read_checked(path, CellSummary, SUMMARY_ADVICE)


def read_grid(directory: Path) -> tuple[GridFile, dict[str, Any]]:
    """``directory/grid.json``, every cell's ``dir`` a sub-directory of the grid (following symlinks)."""
    path = directory / "grid.json"
    grid, data = read_checked(path, GridFile, GRID_ADVICE)
    root = directory.resolve()
    seen: dict[str, int] = {}
    for i, cell in enumerate(grid.cells):
        target = (directory / cell.dir).resolve()
        if target.parent != root:
            raise damaged(path, f"cells.{i}.dir: {cell.dir!r} leads outside the grid's directory (to {target})",
                          GRID_ADVICE)
        if cell.dir in seen:
            raise damaged(path, f"cells.{i}.dir: cell {seen[cell.dir]} has the same directory {cell.dir!r}",
                          GRID_ADVICE)
        seen[cell.dir] = i
    return grid, data


# --------------------------------------------------------------------------------- metrics.jsonl
TORN_PREFIX = b'{"step": '
"""How every line `Trainer.log` appends begins: a kill in the middle of an append leaves a prefix of a line."""


def read_metrics_lines(path: Path, advice: str) -> list[tuple[str, dict[str, Any]]]:
    """Each line of a ``metrics.jsonl`` as (its text, its value).

    The last line may be torn by a kill in the middle of an append (it then has no newline and is a prefix of
    a line `Trainer.log` writes): it is left out, as it always was. Anything else that is not such a line --
    a non-numeric step, binary junk -- is a `RunFileError` naming the file and the line.
    """
    raw = _read_bytes(path, advice)
    *complete, tail = raw.split(b"\n")
    lines = []
    for number, line in enumerate(complete, 1):
        if line.strip():
            lines.append(_metrics_line(path, number, line, advice))
    if tail.strip():
        try:
            lines.append(_metrics_line(path, len(complete) + 1, tail, advice))
        except RunFileError:
            if not _torn(tail):
                raise
    return lines


def _torn(tail: bytes) -> bool:
    """A prefix of a line as `Trainer.log` writes it (ASCII JSON starting with the step), cut short."""
    return (tail.startswith(TORN_PREFIX) or TORN_PREFIX.startswith(tail)) and tail.isascii() and \
        all(32 <= b < 127 for b in tail)


def _metrics_line(path: Path, number: int, line: bytes, advice: str) -> tuple[str, dict[str, Any]]:
    where = f"line {number}"
    try:
        text = line.decode("utf-8")
        value = _parse_json(text, constants=True)  # the log writes NaN and Infinity as json.dumps does
    except UnicodeDecodeError:
        raise damaged(path, f"{where} is not text", advice) from None
    except (ValueError, RecursionError) as exc:
        raise damaged(path, f"{where} is not a JSON line ica wrote ({str(exc)[:80]})", advice) from None
    if not isinstance(value, dict):
        raise damaged(path, f"{where} holds a JSON {_json_kind(value)}, not an object", advice)
    try:
        MetricsLine.model_validate(value)
    except ValidationError as exc:
        raise damaged(path, f"{where}: {validation_problem(exc)}", advice) from None
    return text, value


# ---------------------------------------------------------------------------------- latents.npz
LATENT_KEYS = ("latents", "assignments", "grid_shape")


@dataclass
class Latents:
    """A finished seed's ``latents.npz``, checked."""

    latents: np.ndarray
    assignments: np.ndarray | None
    grid_shape: tuple[int, ...] | None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_latents(path: Path, digest: str | None = None, rows: int | None = None) -> Latents:
    """A finished seed's latents, checked: the checksum its result.json records (when it records one), then
    every array's header before it is loaded (a 2-D floating ``latents`` of ``rows`` rows where known, 1-D
    integer ``assignments`` >= 0 of the same length, a ``grid_shape`` holding the latents), then the values
    (finite). Never unpickles."""
    raw = _read_bytes(path, LATENTS_ADVICE)
    if digest is not None and sha256(raw) != digest:
        raise damaged(path, "its contents differ from what the seed wrote (the checksum in result.json does not "
                      "match)", LATENTS_ADVICE)
    try:
        arrays = _load_arrays(raw, path)
    except RunFileError:
        raise
    except Exception as exc:  # a truncated zip, an unreadable header, a pickle (refused)
        raise damaged(path, f"it cannot be read as the arrays ica wrote ({type(exc).__name__}: {exc})",
                      LATENTS_ADVICE) from None
    return _check_latents(path, arrays, rows)


def _load_arrays(raw: bytes, path: Path) -> dict[str, np.ndarray]:
    """The arrays ica reads from the file, each header checked against the bytes the file really holds."""
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        names = {n[:-4]: n for n in zf.namelist() if n.endswith(".npy")}
        if "latents" not in names:
            raise damaged(path, "it holds no 'latents' array", LATENTS_ADVICE)
        arrays = {}
        for key in LATENT_KEYS:
            if key not in names:
                continue
            info = zf.getinfo(names[key])
            with zf.open(info) as f:
                shape, dtype = _array_header(f)
            if dtype.hasobject:
                raise damaged(path, f"'{key}' is an array of Python objects (ica writes numbers only)", LATENTS_ADVICE)
            if math.prod(shape) * dtype.itemsize > info.file_size:
                raise damaged(path, f"'{key}' claims shape {shape}, more than the file holds", LATENTS_ADVICE)
            with zf.open(info) as f:
                arrays[key] = np.lib.format.read_array(f, allow_pickle=False)
    return arrays


def _array_header(f: Any) -> tuple[tuple[int, ...], np.dtype]:
    """An .npy member's shape and dtype, read before any of its data."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"an .npy format version ica does not write ({version})")
    return shape, dtype


def _check_latents(path: Path, arrays: dict[str, np.ndarray], rows: int | None) -> Latents:
    z = arrays["latents"]

    def bad(problem: str) -> RunFileError:
        return damaged(path, problem, LATENTS_ADVICE)

    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise bad(f"'latents' has shape {z.shape}, not (points, latent size)")
    if z.dtype.kind != "f":
        raise bad(f"'latents' are {z.dtype}, not floating-point numbers")
    if rows is not None and z.shape[0] != rows:
        raise bad(f"'latents' has {z.shape[0]} rows, but the evaluation split has {rows} points")
    if not np.isfinite(z).all():
        raise bad("'latents' hold non-finite values (a finished seed's latents are finite)")
    assignments = arrays.get("assignments")
    if assignments is not None:
        if assignments.ndim != 1 or assignments.dtype.kind not in "iu":
            raise bad(f"'assignments' are {assignments.dtype} of shape {assignments.shape}, not one integer per "
                      "point")
        if assignments.shape[0] != z.shape[0]:
            raise bad(f"there are {assignments.shape[0]} 'assignments' for {z.shape[0]} points")
        if assignments.size and assignments.min() < 0:
            raise bad(f"'assignments' hold {assignments.min()}, not a cluster index (0 or more)")
    grid = arrays.get("grid_shape")
    shape = None
    if grid is not None:
        if grid.ndim != 1 or grid.dtype.kind not in "iu" or grid.size == 0 or (grid < 1).any():
            raise bad(f"'grid_shape' is {grid.tolist()!r}, not a list of positive sizes")
        shape = tuple(int(n) for n in grid)
        if math.prod(shape) != z.shape[1]:
            raise bad(f"'grid_shape' {list(shape)} does not hold the {z.shape[1]} latents per point")
    return Latents(z, assignments, shape)


# ---------------------------------------------------------------------------------- checkpoints
@dataclass(frozen=True)
class CheckpointExpectation:
    """What one seed's checkpoint must hold for a trainer to resume from it (`ica.train.Trainer`): shapes and
    dtypes come from the model and optimiser being resumed, sizes from its sampler and generators."""

    seed: int
    total_steps: int
    model: dict[str, tuple[tuple[int, ...], Any]]  # key -> (this seed's shape, dtype)
    adam: list[tuple[tuple[int, ...], Any]]  # one per optimised parameter
    scheduler: bool
    perm_length: int  # the seed's sampler draws permutations of this many examples
    positions: int  # batches per epoch: the sampler's position lies in 0..positions
    order_state: tuple[int, str]  # (size of the generator state, device) of the sampler's generator
    noise_state: tuple[int, str]  # the same for the reparameterisation noise


class _Bad(Exception):
    pass


def check_checkpoint(state: Any, path: Path, expect: CheckpointExpectation) -> dict[str, Any]:
    """``state`` (loaded from ``path`` with ``weights_only``) as `ica.train.Trainer.save_checkpoints` writes it,
    or a `RunFileError` naming the file and what is wrong. Nothing is loaded into a model before this passes,
    so a damaged checkpoint never half-resumes a run and never makes it start again over the files."""
    from ica.train import CHECKPOINT_FORMAT

    if not isinstance(state, dict):
        raise damaged(path, f"it holds a {type(state).__name__}, not an ica checkpoint (a dict)", CHECKPOINT_ADVICE)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise RunFileError(f"{path.name} is not a checkpoint this version of ica can resume (format "
                           f"{state.get('format')!r}, expected {CHECKPOINT_FORMAT}); nothing was changed: use the "
                           "ica version that wrote it, or delete the seed's checkpoint*.pt and metrics.jsonl to "
                           "train it from the start", where=str(path))
    digest = state.get("digest")
    if digest is not None and digest != state_digest(state):
        raise damaged(path, "its contents differ from what was written (its digest does not match)", CHECKPOINT_ADVICE)
    try:
        _check_state(state, expect)
    except _Bad as exc:
        raise damaged(path, str(exc), CHECKPOINT_ADVICE) from None
    return state


def state_digest(state: dict[str, Any]) -> str:
    """SHA-256 of a checkpoint's contents (every tensor's dtype, shape and bytes; every other value's type and
    repr), less its ``digest``: a byte flipped inside a tensor loads without complaint, so it is checked here.
    Checkpoints written before digests were recorded have none and are checked by their schema only."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in state.items() if k != "digest"})
    return h.hexdigest()


def _feed(h: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        t = value.detach().to("cpu").contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}:".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        h.update(f"D{len(value)}:".encode())
        for key in sorted(value, key=repr):
            _feed(h, key)
            _feed(h, value[key])
    elif isinstance(value, (list, tuple)):
        h.update(f"L{len(value)}:".encode())
        for item in value:
            _feed(h, item)
    else:
        h.update(f"{type(value).__name__}:{value!r};".encode())


def _check_state(state: dict[str, Any], expect: CheckpointExpectation) -> None:
    seed = _integer(state, "seed")
    if seed != expect.seed:
        raise _Bad(f"it is seed {seed}'s checkpoint, in seed {expect.seed}'s directory")
    step = _integer(state, "step")
    if not 0 <= step <= expect.total_steps:
        raise _Bad(f"'step' is {step}, outside this run's 0..{expect.total_steps} steps")
    _check_model(_field(state, "model", dict), expect)
    _check_adam(_field(state, "adam", dict), expect, step)
    plateau = state.get("plateau")
    if expect.scheduler:
        plateau = _field(state, "plateau", dict, "the spec has a scheduler")
        _tensor(plateau, "best", (1,), "f", "plateau.")
        bad = _tensor(plateau, "bad", (1,), "i", "plateau.")
        if int(bad.min()) < 0:
            raise _Bad("'plateau.bad' is negative")
    elif plateau is not None:
        raise _Bad("it holds a scheduler's state, but the spec has no scheduler")
    _check_sampler(_field(state, "sampler", dict), expect)
    _generator(state, "noise", expect.noise_state, "")
    for window in ("log_window", "plateau_window"):
        _check_window(_field(state, window, dict), window, step)
    failed_at = state.get("failed_at", "missing")
    if failed_at is not None and not (_is_int(failed_at) and 0 <= failed_at <= step):
        raise _Bad(f"'failed_at' is {failed_at!r}, not None or a step up to {step}")
    loss = state.get("last_finite_loss", "missing")
    if loss is not None and not (_is_number(loss) and math.isfinite(loss)):
        raise _Bad(f"'last_finite_loss' is {loss!r}, not None or a finite number")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _field(state: dict[str, Any], key: str, kind: type, why: str = "", prefix: str = "") -> Any:
    if key not in state:
        raise _Bad(f"it has no '{prefix}{key}'" + (f" ({why})" if why else ""))
    value = state[key]
    if not isinstance(value, kind):
        raise _Bad(f"'{prefix}{key}' is a {type(value).__name__}, not a {kind.__name__}")
    return value


def _integer(state: dict[str, Any], key: str, prefix: str = "") -> int:
    value = state.get(key, "missing")
    if not _is_int(value):
        raise _Bad(f"'{prefix}{key}' is {_short(value)}, not a whole number")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _tensor(state: dict[str, Any], key: str, shape: tuple[int, ...] | None, kinds: str | None,
            prefix: str = "") -> Any:
    """``state[key]``: a tensor of ``shape`` whose dtype is of ``kinds`` ('f' floating, 'i' integer, 'u' uint8;
    None: any)."""
    value = _field(state, key, torch.Tensor, prefix=prefix)
    kind = "f" if value.dtype.is_floating_point else "u" if value.dtype == torch.uint8 else \
        "i" if not value.dtype.is_complex and value.dtype != torch.bool else "?"
    if kinds is not None and kind not in kinds:
        raise _Bad(f"'{prefix}{key}' is a {value.dtype} tensor")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise _Bad(f"'{prefix}{key}' has shape {tuple(value.shape)}, expected {tuple(shape)}")
    return value


def _check_model(model: dict[str, Any], expect: CheckpointExpectation) -> None:
    missing = sorted(set(expect.model) - set(model))
    extra = sorted(set(model) - set(expect.model))
    if missing or extra:
        raise _Bad(f"'model' does not fit this model: " + "; ".join(
            part for part in (missing and f"missing {', '.join(missing[:3])}",
                              extra and f"unexpected {', '.join(map(str, extra[:3]))}") if part))
    for key, (shape, dtype) in expect.model.items():
        tensor = _tensor(model, key, shape, None, "model.")
        if tensor.dtype != dtype:
            raise _Bad(f"'model.{key}' is {tensor.dtype}, the model's is {dtype}")


def _check_adam(adam: dict[str, Any], expect: CheckpointExpectation, step: int) -> None:
    lr = _tensor(adam, "lr", (1,), "f", "adam.")
    if not (bool(torch.isfinite(lr).all()) and float(lr.min()) >= 0):
        raise _Bad("'adam.lr' is not a finite learning rate")
    adam_step = _integer(adam, "step", "adam.")
    if not 0 <= adam_step <= step:
        raise _Bad(f"'adam.step' is {adam_step}, not a step count up to the checkpoint's {step}")
    for key in ("exp_avg", "exp_avg_sq"):
        moments = adam.get(key)
        if not isinstance(moments, list) or len(moments) != len(expect.adam):
            count = len(moments) if isinstance(moments, list) else _short(moments)
            raise _Bad(f"'adam.{key}' holds {count} moments, the model has {len(expect.adam)} parameters")
        for i, (tensor, (shape, _)) in enumerate(zip(moments, expect.adam)):
            _tensor({str(i): tensor}, str(i), shape, "f", f"adam.{key}.")


def _check_sampler(sampler: dict[str, Any], expect: CheckpointExpectation) -> None:
    position = _integer(sampler, "position", "sampler.")
    if not 0 <= position <= expect.positions:
        raise _Bad(f"'sampler.position' is {position}, outside 0..{expect.positions} batches of an epoch")
    _generator(sampler, "generator", expect.order_state, "sampler.")
    if sampler.get("perm", "missing") is None:
        if position != expect.positions:
            raise _Bad("'sampler.perm' is missing in the middle of an epoch")
        return
    perm = _tensor(sampler, "perm", (expect.perm_length,), "i", "sampler.")
    if perm.dtype != torch.long or not torch.equal(torch.sort(perm.cpu()).values, torch.arange(expect.perm_length)):
        raise _Bad(f"'sampler.perm' is not an order of the {expect.perm_length} training examples")


def _generator(state: dict[str, Any], key: str, expected: tuple[int, str], prefix: str) -> None:
    """A torch generator's state: a uint8 tensor of the size the generator uses, that it accepts."""
    size, device = expected
    value = _tensor(state, key, (size,), "u", prefix)
    try:
        torch.Generator(device=device).set_state(value.cpu())
    except (RuntimeError, ValueError, TypeError) as exc:
        raise _Bad(f"'{prefix}{key}' is not a random generator's state ({str(exc)[:80]})") from None


def _check_window(window: dict[str, Any], name: str, step: int) -> None:
    count = _integer(window, "count", f"{name}.")
    if not 0 <= count <= step:
        raise _Bad(f"'{name}.count' is {count}, not a number of steps up to {step}")
    sums = _field(window, "sums", dict, prefix=f"{name}.")
    for key in sums:
        if not isinstance(key, str):
            raise _Bad(f"'{name}.sums' has a key {_short(key)}")
        _tensor(sums, key, (1,), "f", f"{name}.sums.")
    if count and not sums:
        raise _Bad(f"'{name}' counts {count} steps but holds no sums")


def check_group(states: list[dict[str, Any]], paths: list[Path], shared_sampler: bool) -> None:
    """The seeds of a group resume as one: their windows must hold the same quantities, and a shared sampler
    the same position (the first seed's is used for all)."""
    first = states[0]
    for state, path in zip(states[1:], paths[1:]):
        if shared_sampler and state["sampler"]["position"] != first["sampler"]["position"]:
            raise damaged(path, f"'sampler.position' disagrees with {paths[0]} of the same step", CHECKPOINT_ADVICE)
        for window in ("log_window", "plateau_window"):
            if set(state[window]["sums"]) != set(first[window]["sums"]) or \
                    state[window]["count"] != first[window]["count"]:
                raise damaged(path, f"'{window}' disagrees with {paths[0]} of the same step", CHECKPOINT_ADVICE)
