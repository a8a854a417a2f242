"""The pydantic models of an experiment spec, built from a registry once its plugins are loaded.

Each kind becomes a union of its components' options discriminated by ``name``, so a third-party
prior validates exactly like a built-in one, and ``ica schema`` describes whatever is installed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator, model_serializer

from ica.components.options import Options, slot_kind
from ica.components.registry import tag_options
from ica.spec.draws import check_data_draws
from ica.spec.limits import (  # noqa: F401 - MAX_SEED, MAX_SEEDS, too_many_seeds: names `ica.spec.models` has offered
    MAX_CHECKPOINTS_KEPT, MAX_RETRIES, MAX_SEED, MAX_SEEDS, MAX_STEPS, check_distinct_metrics, check_distinct_values,
    check_grid_size, check_seeds, too_many_seeds,
)

if TYPE_CHECKING:
    from ica.components.registry import Registry

LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
MAX_LABEL_LENGTH = 100
"""A label names a directory; file systems allow 255 bytes per name, and paths below it need room too."""

RESERVED_NAMES = frozenset({
    "spec.json", "env.json", "summary.json", "grid.json", "index.json",  # RunLayout, ica.reporting.index
    "preprocessing.json",  # RunLayout: what a trained model is rebuilt from
    "report.md", "report.html", "report.htm", "report_files",  # ica report's default output (ica.reporting.report)
    "submitit",  # ica.running.slurm's default job folder, <out>/submitit
})
"""Names the run directory uses for its own files: a model label names a sub-directory beside them."""

GRID_PATH_PATTERN = r"^(data|models|training|evaluation|seeds|device)(\.([A-Za-z0-9_.$-]+|\*))*$"


class PlateauSpec(BaseModel):
    """ReduceLROnPlateau on the training loss averaged over each ``interval`` steps (per seed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    factor: float = Field(0.5, gt=0, lt=1, description="Multiply the learning rate by this on a plateau.")
    patience: int = Field(5, ge=0, le=MAX_STEPS,
                          description="Intervals without improvement before the rate is cut.")
    interval: int = Field(1000, ge=1, le=MAX_STEPS,
                          description="Steps over which the loss is averaged between checks.")
    threshold: float = Field(1e-4, ge=0, description="Relative improvement that counts as one.")
    min_lr: float = Field(1e-6, ge=0, description="The learning rate never goes below this.")


class IdentifiabilitySpec(BaseModel):
    """Tracking and enforcing the invertibility of L (Eq. 2) for priors with learnt Gaussian components (§3)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    monitor: bool = Field(True, description="Log L's condition number every log_every steps where L can be built.")
    remedy: Literal["none", "perturb", "penalty"] = Field(
        "none",
        description="'perturb': add small noise to the prior's parameters when L is near-singular (§3); "
        "'penalty': add alpha·CN(L) to the loss (footnote 2).",
    )
    threshold: float = Field(1e6, gt=1, description="CN(L) above which L counts as singular ('perturb').")
    noise: float = Field(1e-2, gt=0, description="Standard deviation of the perturbation ('perturb').")
    alpha: float = Field(1e-3, gt=0, description="Weight of CN(L) in the loss ('penalty').")


class TrainingSpec(BaseModel):
    """How every seed is trained: Adam with the paper's betas, mini-batches drawn per seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    steps: int = Field(70_000, ge=1, le=MAX_STEPS,
                       description="Optimisation steps per seed (the paper: 70,000 on TCL).")
    epochs: int | None = Field(
        None, ge=1, le=MAX_STEPS, description="Train for this many passes over the training split instead of "
        "`steps` (the paper's image runs: 200 epochs); an epoch is floor(N / batch_size) steps."
    )
    batch_size: int = Field(64, ge=1, le=MAX_STEPS, description="Examples per mini-batch (the paper: 64).")
    lr: float = Field(1e-3, gt=0, description="Initial learning rate of Adam.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam's (beta1, beta2).")
    scheduler: PlateauSpec | None = Field(
        default_factory=PlateauSpec, description="Learning-rate decay on plateau; null for a constant rate."
    )
    batch_seeds: bool | Literal["auto"] = Field(
        "auto",
        description="Train the seeds of a model together as one batched model (each seed still independent; "
        "results equal one-at-a-time training up to floating-point rounding). 'auto': always on CUDA; on "
        "the CPU only for models under 250,000 parameters per seed, where it was measured to help.",
    )
    pack_cells: bool = Field(
        True,
        description="In a grid, train together the seeds of cells whose models have the same shapes and "
        "options and differ only in their data (e.g. Fig. 2's data sizes), as one batched model; each seed "
        "still draws from its own cell's data. Only where seeds are batched (batch_seeds) and training is "
        "counted in steps.",
    )
    compile: bool | Literal["auto"] = Field(
        "auto",
        description="Train through one compiled step (gather, forward, backward and Adam in one torch.compile "
        "graph; `ica.training.compiled`): true, false (eager, e.g. for debugging), or 'auto': compiled from "
        "20,000 steps on, where the ~20 s of compiling pays for itself (benchmarks/README.md). A model that "
        "cannot compile trains eagerly with a one-line notice.",
    )
    retry_nan: int = Field(
        0, ge=0, le=MAX_RETRIES, description="Times a seed whose loss became non-finite is trained again, alone "
        "and from the start, with its learning rate multiplied by retry_lr_factor each time (recorded in result.json)."
    )
    retry_lr_factor: float = Field(0.1, gt=0, lt=1, description="Learning-rate factor of each retry.")
    identifiability: IdentifiabilitySpec = Field(
        default_factory=IdentifiabilitySpec, description="Condition number of L (Eq. 2) and its remedies."
    )
    logger: Literal["none", "tensorboard"] = Field(
        "none", description="Also write TensorBoard events per seed (needs ica-toolkit[tensorboard])."
    )
    log_every: int = Field(100, ge=1, le=MAX_STEPS, description="Steps between lines of metrics.jsonl.")
    checkpoint_every: int = Field(5000, ge=1, le=MAX_STEPS, description="Steps between resumable checkpoints.")
    checkpoint_keep: int = Field(
        2, ge=1, le=MAX_CHECKPOINTS_KEPT, description="Checkpoints kept per seed: resuming falls back to an older one "
        "if the newest is unreadable."
    )

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= b < 1 for b in v):
            raise ValueError("each beta must be in [0, 1)")
        return v


class SpecModels:
    """Discriminated unions per kind and the top-level ``Experiment`` model, for one registry."""

    def __init__(self, registry: "Registry"):
        self.registry = registry
        self._unions: dict[str, Any] = {}
        self._building: set[str] = set()
        self.tagged: dict[tuple[str, str], type[Options]] = {}
        self.experiment = self._experiment_model()

    # ------------------------------------------------------------------------------ unions
    def union(self, kind: str) -> Any:
        """The type accepting the options of every registered component of ``kind``."""
        if kind in self._unions:
            return self._unions[kind]
        if kind in self._building:
            raise TypeError(f"components of kind {kind!r} nest themselves; that cannot be validated")
        self._building.add(kind)
        members = [self._tagged(c.kind, c.name, c.options) for c in self.registry.of_kind(kind)]
        self._building.discard(kind)
        if not members:
            union: Any = Annotated[dict[str, Any], Field(description=f"no {kind} is registered")]
        elif len(members) == 1:
            union = members[0]
        else:
            union = Annotated[Union[tuple(members)], Field(discriminator="name")]
        self._unions[kind] = union
        return union

    def _tagged(self, kind: str, name: str, options: type[Options]) -> type[Options]:
        """``options`` with a ``name: Literal[name]`` field and its slots resolved to unions."""
        fields: dict[str, Any] = {"name": (Literal[name], Field(description=f"the {kind} {name!r}"))}
        for field_name, info in options.model_fields.items():
            sub_kind = slot_kind(info)
            if sub_kind is None:
                continue
            default = info.default if info.default_factory is None else info.default_factory()
            fields[field_name] = (
                self.union(sub_kind),
                Field(default, description=info.description, validate_default=True),
            )
        cls_name = f"{_camel(name)}{_camel(kind)}"
        tagged = create_model(cls_name, __base__=options, __doc__=options.__doc__, **fields)
        tag_options(tagged, kind, name)
        self.tagged[(kind, name)] = tagged
        return tagged

    def default(self, kind: str, name: str) -> Options:
        """The validated default options of a component."""
        self.union(kind)
        return self.tagged[(kind, name)].model_validate({"name": name})

    # ------------------------------------------------------------------------- experiment
    def _experiment_model(self) -> type[BaseModel]:
        dataset, model, metric = self.union("dataset"), self.union("model"), self.union("metric")

        class EvaluationSpec(BaseModel):
            """What is measured, on which split."""

            model_config = ConfigDict(extra="forbid", frozen=True)
            metrics: list[metric] | None = Field(  # type: ignore[valid-type]
                None, description="Metrics to compute; null means every registered metric that applies."
            )
            split: Literal["eval", "train"] = Field(
                "eval", description="'eval' is the held-out split; 'train' is recorded as such in results."
            )
            controls: list[Literal["untrained", "observations"]] = Field(
                ["untrained", "observations"],
                description="Null controls beside every consistency and recovery metric: 'untrained' measures "
                "each seed's network at initialisation (<metric>_untrained; one more forward pass per seed), "
                "'observations' the floors of the raw observations, their PCA and FastICA.",
            )

            @field_validator("metrics")
            @classmethod
            def _distinct_metrics(cls, v: list[Any] | None) -> list[Any] | None:
                return check_distinct_metrics(v)

        class Experiment(BaseModel):
            """An `ica` experiment: one data set, one or more models, each trained for every seed."""

            model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
            schema_: str | None = Field(None, alias="$schema", description="Optional JSON Schema reference.")
            name: str | None = Field(None, description="A name for people; not used to find anything.")
            data: dataset = Field(description="The data set.")  # type: ignore[valid-type]
            models: dict[Annotated[str, Field(pattern=LABEL_PATTERN)], model] = Field(  # type: ignore[valid-type]
                description="Models to train, keyed by a label that names their sub-directory.", min_length=1
            )
            training: TrainingSpec = Field(default_factory=TrainingSpec)
            seeds: int | list[int] = Field(
                3, description="A count n (seeds 0..n-1) or an explicit list of distinct seeds."
            )
            evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
            device: Literal["auto", "cpu", "cuda"] = Field(
                "auto", description="'auto' uses CUDA when present, the CPU otherwise."
            )
            grid: dict[str, list[Any]] | None = Field(
                None,
                description="Lists of values for options, by dotted path ('data.samples_per_segment', "
                "'models.*.latent_dim'): one run per combination, each in its own sub-directory.",
            )
            data_draws: int | list[int] | None = Field(
                None,
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

            @field_validator("grid")
            @classmethod
            def _valid_grid(cls, v: dict[str, list[Any]] | None) -> dict[str, list[Any]] | None:
                for key, values in (v or {}).items():
                    for path in (p.strip() for p in key.split(",")):
                        if not re.match(GRID_PATH_PATTERN, path):
                            raise ValueError(f"'{path}' is not a dotted path into the spec, such as "
                                             "'data.samples_per_segment' or 'models.*.latent_dim'")
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

        return Experiment


def check_labels(models: dict[str, Any]) -> dict[str, Any]:
    """Labels name sub-directories of the run: none may be a name the run directory uses itself, be too long,
    or equal another but for case (one directory on case-insensitive file systems, e.g. macOS)."""
    seen: dict[str, str] = {}
    for label in models:
        if len(label) > MAX_LABEL_LENGTH:
            raise ValueError(f"label '{label[:20]}...' is {len(label)} characters; at most {MAX_LABEL_LENGTH}")
        folded = label.casefold()
        if folded in RESERVED_NAMES:
            raise ValueError(f"label {label!r} is a name the run directory uses for its own files "
                             f"({', '.join(sorted(RESERVED_NAMES))}); choose another")
        if folded in seen:
            raise ValueError(f"labels {seen[folded]!r} and {label!r} differ only in case; on case-insensitive "
                             "file systems they would share one directory")
        seen[folded] = label
    return models


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in text.replace("-", "_").split("_"))


def spec_models(registry: "Registry") -> SpecModels:
    """The spec models of ``registry``'s components, built once per registry (they are a few hundred pydantic
    classes: building them again for every spec would cost a second)."""
    built = registry.derived.get("spec_models")
    if built is None:
        built = registry.derived["spec_models"] = SpecModels(registry)
    return built
