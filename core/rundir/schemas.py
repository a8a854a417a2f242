"""The record of each JSON file of a run directory: the pydantic model that writes it and reads it back.

Strict types, extra keys allowed (files grow over versions), and every key ica writes required where a missing
one would show as an empty value: ``result.json`` (`ResultFile`), the summaries (`CellSummary`, `RunSummary`),
``spec.json`` (`RunSpecFile`), ``grid.json`` (`GridFile`), ``preprocessing.json`` (`PreprocessingFile`),
``env.json`` (`EnvFile`), ``index.json`` (`IndexFile`) and each line of ``metrics.jsonl`` (`MetricsLine`). Each
is a `Record` (`ica.rundir.record`): built by the code that writes the file, written by `write_record`.
A model label or a grid cell's ``dir`` names a directory of the run, so it must be a plain name (`plain_name`).
Only the models live here; reading a file and naming it when it fails one is `ica.rundir.json_files`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from ica.rundir.names import is_plain_name, plain_labels, plain_name  # noqa: F401 - offered here
from ica.rundir.record import Record


Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[int, Field(ge=0)]
SeedKey = Annotated[str, Field(pattern=r"^[0-9]+$")]
"""A seed as a JSON object key: ``"0"``, ``"12"``."""
Label = Annotated[str, Field(min_length=1, max_length=255)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ResultFile(Record):
    """``<label>/seeds/<seed>/result.json``: a trained seed's outcome (`ica.running.outcomes.finish_group`), a
    fitted peer's (`ica.running.peers`) or scored embeddings' (`ica.trained.score_directory`)."""

    seed: NonNegative
    status: Literal["finished", "failed"]
    steps: NonNegative
    elbo: Optional[dict[str, Optional[Finite]]] = None
    error: Optional[str] = None
    failed_at: Optional[NonNegative] = None
    last_finite_loss: Optional[Finite] = None
    train_seconds: Optional[Finite] = None
    step_mode: Optional[str] = None  # "compiled" or "eager" (`ica.training.compiled`)
    compile_seconds: Optional[Finite] = None  # paid once, by the group of seeds that compiled the step
    latents_sha256: Optional[Sha256] = None
    rebuilt_from: Optional[dict[str, Sha256]] = None  # file name -> SHA-256 (`ica.rundir.digests`); older runs lack it
    scored: bool = False  # embeddings scored by `ica score`, or a fitted peer: nothing was trained, so there is no ELBO
    fit_seconds: Optional[Finite] = None  # a fitted peer's, instead of steps
    peer: Optional[str] = None  # the fitted peer's class
    fit: Optional[dict[str, Any]] = None  # what the peer says of its fit (`FittedPeer.fit_info`)
    lr: Optional[Finite] = None  # a diverged seed trained again: the learning rate of this attempt
    earlier_attempts: Optional[list[dict[str, Any]]] = None  # and the results of the attempts before it

    @model_validator(mode="after")
    def _finished_has_elbo(self) -> "ResultFile":
        if self.status != "finished" or self.scored:
            return self
        if not self.elbo:
            raise ValueError("a finished seed's result has no 'elbo'")
        missing = [key for key in ("train", "eval") if key not in self.elbo]
        empty = [key for key, value in self.elbo.items() if value is None]
        if missing or empty:
            raise ValueError(f"a finished seed's 'elbo' has no {(missing or empty)[0]!r} value")
        return self


class Stats(Record):
    """One metric's statistics over seeds or pairs (`ica.evaluation.seeds.quartiles`)."""

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


class Pair(Record):
    """One pair of seeds and each pairwise metric's value (None for a failure)."""

    seeds: list[NonNegative] = Field(min_length=2, max_length=2)
    __pydantic_extra__: dict[str, Optional[Finite]] = Field(init=False)


class MetricError(Record):
    """Why one metric has no value for a seed, a pair or the cell (`ica.evaluation.seeds.summarise`)."""

    metric: str
    seed: Optional[NonNegative] = None
    pair: Optional[list[NonNegative]] = None
    error: str


class CellSummary(Record):
    """``<label>/summary.json`` (and each entry of the run summary's ``cells``). Every key ica writes is
    required: a key gone missing would otherwise show as an empty value, silently."""

    model: str
    stats: dict[str, Stats]
    seeds: dict[SeedKey, dict[str, Optional[Finite]]]
    pairs: list[Pair]
    cell: dict[str, Optional[Finite]]
    errors: list[MetricError]
    status: dict[SeedKey, Literal["finished", "failed"]]


class RunSummary(Record):
    """``<out>/summary.json``: the run's cells, written when every model is evaluated."""

    name: Optional[str]
    spec_hash: str
    device: str
    split: Literal["eval", "train"]
    data: dict[str, Any]
    cells: dict[Label, CellSummary]

    _plain_labels = field_validator("cells")(plain_labels)


class PluginEntry(Record):
    name: str
    version: Optional[str]
    module: str


class EnvFile(Record):
    """``<out>/env.json``: the versions, device, git commit and plugins a run was made with, and how it was
    executed, each choice with why (`ica.running.environment`). Written, never read back by ica."""

    python: str
    platform: str
    ica: str
    torch: str
    numpy: str
    device: str
    device_name: str
    threads: int
    threads_why: str
    workers: int
    workers_why: str
    compile: Optional[dict[str, Any]] = None
    git_commit: Optional[str]
    plugins: list[PluginEntry]


class ModelEntry(Record):
    name: str


class MetricEntry(Record):
    name: str


class EvaluationEntry(Record):
    split: Literal["eval", "train"] = "eval"
    metrics: Optional[list[MetricEntry]] = None


class SpecBody(Record):
    """A spec as ``ica run`` writes it out (`ica.spec.load.spec_json`): every section present, since results
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


class GridCellEntry(Record):
    name: Optional[str] = None
    dir: str
    settings: dict[str, Any] = {}

    @field_validator("dir")
    @classmethod
    def _plain_dir(cls, value: str) -> str:
        return plain_name(value, "'dir'")


class GridFile(Record):
    """``<grid>/grid.json``: the grid's cells, each a run in its own sub-directory of the grid."""

    name: Optional[str] = None
    spec_hash: Optional[str] = None
    axes: Optional[dict[str, Any]] = None
    spec: Optional[SpecBody] = None  # the grid's spec: its labels and seeds are those of a cell not started
    draw_axis: Optional[str] = None  # the axis holding the data draws (`ica.spec.draws`); grids without draws lack it
    draws: Optional[list[NonNegative]] = None  # the draws' data seeds, in the order of their cells
    cells: list[GridCellEntry]


class MetricsLine(Record):
    """One line of ``metrics.jsonl``: the step, then numbers and flags (`ica.training.loop.Trainer.log`)."""

    step: NonNegative
    __pydantic_extra__: dict[str, Optional[float | bool]] = Field(init=False)


PREPROCESSING_FORMAT = 1
"""The layout of ``preprocessing.json`` this version writes and reads; another one is refused by name."""


class Standardization(Record):
    """``standardize``'s training-split means and deviations, one per observed value (C order of x_shape)."""

    mean: list[Finite]
    std: list[Annotated[float, Field(gt=0, allow_inf_nan=False)]]


class PreprocessingFile(Record):
    """``preprocessing.json``: what a run's networks were built for and what training did to x and u, so that a
    trained model is rebuilt, and new data prepared as training prepared them, without the training data."""

    format: Literal[1]
    x_shape: list[Annotated[int, Field(ge=1)]] = Field(min_length=1)
    n_u: Optional[Annotated[int, Field(ge=1)]]
    source_dim: Optional[Annotated[int, Field(ge=1)]]
    standardize: Optional[Standardization]
    binarize: Literal["none", "threshold", "sample"]
    binarize_seed: Optional[NonNegative]
    unit_interval: bool
    u_labels: Optional[list[Any]]
    # A continuous u (its columns): written only then, so that files of a discrete u (and older ones) lack them.
    u_kind: Literal["discrete", "continuous"] = "discrete"
    u_dim: Optional[Annotated[int, Field(ge=1)]] = None

    @model_validator(mode="after")
    def _consistent(self) -> "PreprocessingFile":
        values = 1
        for size in self.x_shape:
            values *= size
        if self.standardize is not None and not len(self.standardize.mean) == len(self.standardize.std) == values:
            raise ValueError(
                f"standardize holds {len(self.standardize.mean)} means and {len(self.standardize.std)} "
                f"deviations for observations of {values} values"
            )
        if self.u_labels is not None and (self.n_u is None or len(self.u_labels) != self.n_u):
            raise ValueError(f"u_labels names {len(self.u_labels)} labels for n_u = {self.n_u}")
        if (self.u_kind == "continuous") != (self.u_dim is not None) or (self.u_dim is not None and self.n_u):
            raise ValueError(
                f"u_kind {self.u_kind!r} with u_dim = {self.u_dim} and n_u = {self.n_u}: a continuous u has u_dim "
                "(its columns) and no n_u, a discrete one the reverse"
            )
        if self.binarize == "sample" and self.binarize_seed is None:
            raise ValueError("binarize 'sample' needs its binarize_seed")
        return self


class IndexModel(Record):
    model: Optional[str]
    status: str
    summary: Optional[str]
    seeds: dict[SeedKey, str]


class IndexRun(Record):
    dir: str
    name: Optional[str]
    spec_hash: Optional[str]
    status: str
    spec: Optional[str]
    summary: Optional[str]
    grid: Optional[str]
    settings: dict[str, Any]
    models: dict[str, IndexModel]


class IndexFile(Record):
    """``index.json`` beside the runs ``ica results`` read (`ica.reporting.index`): a listing rebuilt every time,
    never read back (paths relative to the folder named)."""

    format: int
    about: str
    written: str
    root: str
    runs: list[IndexRun]
