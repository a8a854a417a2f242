"""What a plugin author imports: the hook marker and the base class for component options.

A plugin is any module with a function decorated ``@hookimpl`` named ``ica_register`` that calls
``register(kind, name, options, build, description=...)`` for each component it provides::

    from ica.plugin import hookimpl, Options

    class MyPriorOptions(Options):
        scale: float = 1.0

    @hookimpl
    def ica_register(register):
        register("prior", "my_prior", MyPriorOptions, build_my_prior)

``build(options, ctx)`` receives the validated options and an ``ica.protocols.BuildContext``.
Third-party packages declare ``[project.entry-points.ica] my_plugin = "my_module"``.
"""

from __future__ import annotations

from typing import Annotated, Any

import pluggy
from pydantic import BaseModel, ConfigDict, Field

PROJECT = "ica"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


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


def slot_kind(field_info: Any) -> str | None:
    """The component kind of a ``Slot`` field, or None for an ordinary field."""
    for meta in getattr(field_info, "metadata", ()):
        if isinstance(meta, _SlotMarker):
            return meta.kind
    return None


__all__ = ["hookimpl", "hookspec", "Options", "DatasetOptions", "Field", "Slot", "slot_kind", "PROJECT"]
