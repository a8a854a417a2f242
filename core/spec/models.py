"""The pydantic models of an experiment spec, built from a registry once its plugins are loaded.

Each kind becomes a union of its components' options discriminated by ``name``, so a third-party
prior validates exactly like a built-in one, and ``ica schema`` describes whatever is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Callable, Literal, Union, cast

from pydantic import Field, create_model

from ica.components.options import Options, slot_kind
from ica.components.registry import tag_options
from ica.spec.experiment import (  # noqa: F401 - names `ica.spec.models` has offered
    GRID_PATH_PATTERN,
    LABEL_PATTERN,
    MAX_LABEL_LENGTH,
    RESERVED_NAMES,
    EvaluationBase,
    ExperimentSpec,
    IdentifiabilitySpec,
    PlateauSpec,
    TrainingSpec,
    check_labels,
)
from ica.spec.limits import MAX_SEED, MAX_SEEDS, too_many_seeds  # noqa: F401 - names `ica.spec.models` has offered

if TYPE_CHECKING:
    from ica.components.registry import Registry


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
            factory = cast("Callable[[], Any] | None", info.default_factory)  # slot defaults take no validated data
            default = info.default if factory is None else factory()
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
    def _experiment_model(self) -> type[ExperimentSpec]:
        """`ExperimentSpec` with its data, models and metrics narrowed to this registry's components."""
        dataset, model, metric = self.union("dataset"), self.union("model"), self.union("metric")

        class EvaluationSpec(EvaluationBase):
            __doc__ = EvaluationBase.__doc__
            metrics: list[metric] | None = Field(  # type: ignore[valid-type]
                default=None, description="Metrics to compute; null means every registered metric that applies."
            )

        class Experiment(ExperimentSpec):
            __doc__ = ExperimentSpec.__doc__
            data: dataset = Field(description="The data set.")  # type: ignore[valid-type]
            models: dict[Annotated[str, Field(pattern=LABEL_PATTERN)], model] = Field(  # type: ignore[valid-type]
                description="Models to train, keyed by a label that names their sub-directory.", min_length=1
            )
            evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)

        return Experiment


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in text.replace("-", "_").split("_"))


def spec_models(registry: "Registry") -> SpecModels:
    """The spec models of ``registry``'s components, built once per registry (they are a few hundred pydantic
    classes: building them again for every spec would cost a second)."""
    built = registry.derived.get("spec_models")
    if built is None:
        built = registry.derived["spec_models"] = SpecModels(registry)
    return built
