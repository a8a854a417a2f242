"""The static shape of an experiment spec: the fields every experiment has, whatever plugins are installed.

`ExperimentSpec` is the type of a validated spec in signatures. The model that validates a spec
(`ica.spec.models.SpecModels.experiment`) subclasses it, narrowing ``data``, ``models`` and the evaluation's
``metrics`` from any component's options to the unions of the registry's components.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_serializer

from ica.components.options import Options
from ica.spec.devices import DEVICE_PATTERN, check_device
from ica.spec.draw_checks import check_data_draws
from ica.spec.limits import (
    MAX_CHECKPOINTS_KEPT,
    axis_paths,
    MAX_RETRIES,
    MAX_STEPS,
    check_distinct_metrics,
    check_distinct_values,
    check_grid_size,
    check_seeds,
)

LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
MAX_LABEL_LENGTH = 100
"""A label names a directory; file systems allow 255 bytes per name, and paths below it need room too."""

RESERVED_NAMES = frozenset(
    {
        "spec.json",
        "env.json",
        "summary.json",
        "grid.json",
        "index.json",  # RunLayout, ica.reporting.index
        "preprocessing.json",  # RunLayout: what a trained model is rebuilt from
        "extensions.json",  # ica.running.extension: each time the run was extended to more steps
        "report.md",
        "report.html",
        "report.htm",
        "report_files",  # ica report's default output (ica.reporting.report)
        "submitit",  # ica.running.slurm's default job folder, <out>/submitit
    }
)
"""Names the run directory uses for its own files: a model label names a sub-directory beside them."""

GRID_PATH_PATTERN = r"^(data|models|training|evaluation|seeds|device)(\.([A-Za-z0-9_.$-]+|\*))*$"


class PlateauSpec(BaseModel):
    """ReduceLROnPlateau on the training loss averaged over each ``interval`` steps (per seed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    factor: float = Field(default=0.5, gt=0, lt=1, description="Multiply the learning rate by this on a plateau.")
    patience: int = Field(
        default=5, ge=0, le=MAX_STEPS, description="Intervals without improvement before the rate is cut."
    )
    interval: int = Field(
        default=1000, ge=1, le=MAX_STEPS, description="Steps over which the loss is averaged between checks."
    )
    threshold: float = Field(default=1e-4, ge=0, description="Relative improvement that counts as one.")
    min_lr: float = Field(default=1e-6, ge=0, description="The learning rate never goes below this.")


class IdentifiabilitySpec(BaseModel):
    """Tracking and enforcing the invertibility of L (Eq. 2) for priors with learnt Gaussian components (§3)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    monitor: bool = Field(
        default=True, description="Log L's condition number every log_every steps where L can be built."
    )
    remedy: Literal["none", "perturb", "penalty"] = Field(
        default="none",
        description="'perturb': add small noise to the prior's parameters when L is near-singular (§3); "
        "'penalty': add alpha·CN(L) to the loss (footnote 2).",
    )
    threshold: float = Field(default=1e6, gt=1, description="CN(L) above which L counts as singular ('perturb').")
    noise: float = Field(default=1e-2, gt=0, description="Standard deviation of the perturbation ('perturb').")
    alpha: float = Field(default=1e-3, gt=0, description="Weight of CN(L) in the loss ('penalty').")


class TrainingSpec(BaseModel):
    """How every seed is trained: Adam with the paper's betas, mini-batches drawn per seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    steps: int = Field(
        default=70_000, ge=1, le=MAX_STEPS, description="Optimisation steps per seed (the paper: 70,000 on TCL)."
    )
    epochs: int | None = Field(
        default=None,
        ge=1,
        le=MAX_STEPS,
        description="Train for this many passes over the training split instead of "
        "`steps` (the paper's image runs: 200 epochs); an epoch is floor(N / batch_size) steps.",
    )
    batch_size: int = Field(default=64, ge=1, le=MAX_STEPS, description="Examples per mini-batch (the paper: 64).")
    lr: float = Field(default=1e-3, gt=0, description="Initial learning rate of Adam.")
    betas: tuple[float, float] = Field(default=(0.9, 0.999), description="Adam's (beta1, beta2).")
    scheduler: PlateauSpec | None = Field(
        default_factory=PlateauSpec, description="Learning-rate decay on plateau; null for a constant rate."
    )
    batch_seeds: bool | Literal["auto"] = Field(
        default="auto",
        description="Train the seeds of a model together as one batched model (each seed still independent; "
        "results equal one-at-a-time training up to floating-point rounding). 'auto': always on CUDA; on "
        "the CPU only for models under 250,000 parameters per seed, where it was measured to help.",
    )
    pack_cells: bool = Field(
        default=True,
        description="In a grid, train together the seeds of cells whose models have the same shapes and "
        "options and differ only in their data (e.g. Fig. 2's data sizes), as one batched model; each seed "
        "still draws from its own cell's data. Only where seeds are batched (batch_seeds) and training is "
        "counted in steps.",
    )
    compile: bool | Literal["auto"] = Field(
        default="auto",
        description="Train through one compiled step (gather, forward, backward and Adam in one torch.compile "
        "graph; `ica.training.compiled`): true, false (eager, e.g. for debugging), or 'auto': compiled where the "
        "time it is expected to save beats what compiling costs (`ica.training.compile_choice`; env.json says "
        "why). A model that cannot compile trains eagerly with a one-line notice.",
    )
    retry_nan: int = Field(
        default=0,
        ge=0,
        le=MAX_RETRIES,
        description="Times a seed whose loss became non-finite is trained again, alone "
        "and from the start, with its learning rate multiplied by retry_lr_factor each time (recorded in result.json).",
    )
    retry_lr_factor: float = Field(default=0.1, gt=0, lt=1, description="Learning-rate factor of each retry.")
    identifiability: IdentifiabilitySpec = Field(
        default_factory=IdentifiabilitySpec, description="Condition number of L (Eq. 2) and its remedies."
    )
    logger: Literal["none", "tensorboard"] = Field(
        default="none", description="Also write TensorBoard events per seed (needs ica-toolkit[tensorboard])."
    )
    log_every: int = Field(default=100, ge=1, le=MAX_STEPS, description="Steps between lines of metrics.jsonl.")
    checkpoint_every: int = Field(default=5000, ge=1, le=MAX_STEPS, description="Steps between resumable checkpoints.")
    checkpoint_keep: int = Field(
        default=2,
        ge=1,
        le=MAX_CHECKPOINTS_KEPT,
        description="Checkpoints kept per seed: resuming falls back to an older one if the newest is unreadable.",
    )

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= b < 1 for b in v):
            raise ValueError("each beta must be in [0, 1)")
        return v


class EvaluationBase(BaseModel):
    """What is measured, on which split."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    metrics: list[Options] | None = Field(
        default=None, description="Metrics to compute; null means every registered metric that applies."
    )
    split: Literal["eval", "train"] = Field(
        default="eval", description="'eval' is the held-out split; 'train' is recorded as such in results."
    )
    controls: list[Literal["untrained", "observations"]] = Field(
        default=["untrained", "observations"],
        description="Null controls beside every consistency and recovery metric: 'untrained' measures "
        "each seed's network at initialisation (<metric>_untrained; one more forward pass per seed), "
        "'observations' the floors of the raw observations, their PCA and FastICA.",
    )

    @field_validator("metrics")
    @classmethod
    def _distinct_metrics(cls, v: list[Any] | None) -> list[Any] | None:
        return check_distinct_metrics(v)


class ExperimentSpec(BaseModel):
    """An `ica` experiment: one data set, one or more models, each trained for every seed."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    schema_: str | None = Field(default=None, alias="$schema", description="Optional JSON Schema reference.")
    name: str | None = Field(default=None, description="A name for people; not used to find anything.")
    data: Options = Field(description="The data set.")
    models: dict[str, Options] = Field(
        description="Models to train, keyed by a label that names their sub-directory.", min_length=1
    )
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    seeds: int | list[int] = Field(
        default=3, description="A count n (seeds 0..n-1) or an explicit list of distinct seeds."
    )
    evaluation: EvaluationBase = Field(default_factory=EvaluationBase)
    device: str = Field(
        default="auto",
        description="Where to train, as torch writes it: 'cpu', 'cuda' (the current GPU), 'cuda:1' (one GPU of "
        "several), 'mps' (Apple's GPU); 'auto' uses CUDA when present, the CPU otherwise.",
        json_schema_extra={"pattern": DEVICE_PATTERN, "examples": ["auto", "cpu", "cuda", "cuda:1", "mps"]},
    )
    grid: dict[str, list[Any]] | None = Field(
        default=None,
        description="Lists of values for options, by dotted path ('data.samples_per_segment', "
        "'models.*.latent_dim'): one run per combination, each in its own sub-directory.",
    )
    data_draws: int | list[int] | None = Field(
        default=None,
        description="Replicate over generated data sets: a count n (data seeds data.data_seed .. "
        "data.data_seed + n - 1) or a list of distinct data seeds; each draw is one more grid cell "
        "(innermost axis 'data.data_seed'), trained for every seed. Absent: one data set.",
    )

    @field_validator("models")
    @classmethod
    def _valid_labels(cls, v: dict[str, Any]) -> dict[str, Any]:
        return check_labels(v)

    @field_validator("seeds")
    @classmethod
    def _valid_seeds(cls, v: int | list[int]) -> int | list[int]:
        return check_seeds(v)

    @field_validator("device")
    @classmethod
    def _valid_device(cls, v: str) -> str:
        return check_device(v)

    @field_validator("grid")
    @classmethod
    def _valid_grid(cls, v: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
        for key, values in (v or {}).items():
            for path in axis_paths(key):
                if not re.match(GRID_PATH_PATTERN, path):
                    raise ValueError(
                        f"'{path}' is not a dotted path into the spec, such as "
                        "'data.samples_per_segment' or 'models.*.latent_dim'"
                    )
            path = key
            if not values:
                raise ValueError(f"'{path}' has no values; give at least one")
            check_distinct_values(key, values)
        return check_grid_size(v)

    @field_validator("data_draws")
    @classmethod
    def _valid_draws(cls, v: int | list[int] | None, info: ValidationInfo) -> int | list[int] | None:
        return check_data_draws(v, info.data.get("data"), info.data.get("grid"))

    @model_serializer(mode="wrap")
    def _no_absent_draws(self, handler: Any) -> Any:
        """Without draws, spec.json (and so the spec's hash) is what it was before ``data_draws``."""
        data = handler(self)
        if self.data_draws is None and isinstance(data, dict):
            data.pop("data_draws", None)
        return data

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


def check_labels(models: dict[str, Any]) -> dict[str, Any]:
    """Labels name sub-directories of the run: none may be a name the run directory uses itself, be too long,
    or equal another but for case (one directory on case-insensitive file systems, e.g. macOS)."""
    seen: dict[str, str] = {}
    for label in models:
        if len(label) > MAX_LABEL_LENGTH:
            raise ValueError(f"label '{label[:20]}...' is {len(label)} characters; at most {MAX_LABEL_LENGTH}")
        folded = label.casefold()
        if folded in RESERVED_NAMES:
            raise ValueError(
                f"label {label!r} is a name the run directory uses for its own files "
                f"({', '.join(sorted(RESERVED_NAMES))}); choose another"
            )
        if folded in seen:
            raise ValueError(
                f"labels {seen[folded]!r} and {label!r} differ only in case; on case-insensitive "
                "file systems they would share one directory"
            )
        seen[folded] = label
    return models


SpecSource = Union[str, Path, dict[str, Any], ExperimentSpec]
"""What the functions that read a spec take: a path to a JSON file, a dict, or a validated spec."""
