"""The options every component declares: flat, strict, immutable pydantic models, and the fields that hold a
nested component (a model's encoder), validated against every registered one: ``slot(kind, default)`` typed
as `Part`, or the older ``Slot[kind]``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class Options(BaseModel):
    """Base of every component's options: flat, strict, immutable.

    Unknown keys are rejected (``extra="forbid"``) so typos in specs never pass silently.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetOptions(Options):
    """Options every data set offers."""

    standardize: bool = Field(
        False, description="z-score each observed dimension with statistics of the training split only."
    )
    shuffle_u: bool = Field(
        False,
        description="Permute u across the points of each split (a fixed permutation): u keeps its values "
        "but says nothing about x. The null control of a model given u, as an ordinary run.",
    )

    def estimated_bytes(self) -> int | None:
        """Bytes this data set's arrays will take in memory once built (both splits, every array, and what
        building needs on the way, such as a generator's mixing matrices), or None when unknown.

        Computed from the options alone, without loading or generating anything: ``ica`` compares it with
        the memory available before building, so that a spec asking for 10^12 samples is one clear error
        rather than an allocation failure. Data sets that can say should override it; None skips the check.
        """
        return None


class _SlotMarker:
    """Marks an options field that holds a nested component of ``kind`` (e.g. a model's encoder)."""

    def __init__(self, kind: str):
        self.kind = kind

    def __repr__(self) -> str:
        return f"Slot[{self.kind!r}]"


class Slot:
    """Type of an options field holding a nested component, validated against every registered one.

    ``encoder: Slot["encoder"] = Field({"name": "mlp"}, description=...)``: once plugins are loaded the
    field accepts exactly the options of the registered encoders, so third-party parts validate too.
    """

    def __class_getitem__(cls, kind: str) -> Any:
        return Annotated[dict[str, Any], _SlotMarker(kind)]


if TYPE_CHECKING:

    class Part(Options):
        """What a slot holds once a spec is validated: the options of one registered component."""

        name: str

else:
    Part = dict[str, Any]  # validated against the registry's components once plugins are loaded


def slot(kind: str, default: dict[str, Any], **field: Any) -> Any:
    """A field holding a nested component of ``kind``: ``encoder: Part = slot("encoder", {"name": "mlp"},
    description=...)``. The same field as ``Slot["encoder"]``, spelled so that a type checker knows what the
    field holds (``options.encoder.name``)."""
    info = Field(default, **field)
    info.metadata.append(_SlotMarker(kind))
    return info


def slot_kind(field_info: Any) -> str | None:
    """The component kind of a ``Slot`` field, or None for an ordinary field."""
    for meta in getattr(field_info, "metadata", ()):
        if isinstance(meta, _SlotMarker):
            return meta.kind
    return None


__all__ = ["Options", "DatasetOptions", "Field", "Part", "Slot", "slot", "slot_kind"]
