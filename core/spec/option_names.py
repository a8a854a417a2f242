"""The options allowed where a spec has an unknown one, found by walking the spec's pydantic models along the
error's location, so a misspelled option gets "did you mean" just as a misspelled component name does.

Pydantic reports an unknown key (``extra_forbidden``) with its location only. The location still holds the
tags of the component unions (``models.vade.gmm.componets``: ``gmm`` picks the prior's options class), so the
walk follows field annotations, list items, dict values and union members named by their ``name`` literal.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel


def allowed_options(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """The keys the object holding ``loc[-1]`` accepts (aliases as written in specs), or None when the walk
    cannot place it (a shape this walk does not know: the message then just has no suggestion)."""
    nodes: list[Any] = [model]
    for key in loc[:-1]:
        stepped = [n for node in nodes for n in _step(node, key)]
        if stepped:
            nodes = stepped  # else: one of pydantic's own labels ('function-after[...]', 'int'): stay
    classes = [c for node in nodes for c in _members(node) if _is_model(c)]
    if len(classes) != 1:
        return None
    return [field.alias or name for name, field in classes[0].model_fields.items()]


def suggestion(unknown: Any, allowed: list[str] | None) -> str | None:
    """The closest allowed option to ``unknown``, if one is close."""
    if not allowed or not isinstance(unknown, str):
        return None
    close = difflib.get_close_matches(unknown, [a for a in allowed if a != "name"], n=1)
    return close[0] if close else None


def _step(node: Any, key: Any) -> list[Any]:
    found = []
    for member in _members(node):
        origin, args = typing.get_origin(member), typing.get_args(member)
        if _is_model(member):
            fields = {(f.alias or n): f for n, f in member.model_fields.items()} | dict(member.model_fields)
            if isinstance(key, str) and key in fields:
                found.append(fields[key].annotation)
            elif isinstance(key, str) and key in _tags(member):
                found.append(member)  # the union tag picked this member: the next key is one of its fields
        elif origin in (list, tuple) and isinstance(key, int) and args:
            found.append(args[0])
        elif origin is dict and isinstance(key, str) and len(args) == 2:
            found.append(args[1])
    return found


def _members(annotation: Any) -> list[Any]:
    """An annotation with ``Annotated``, ``Optional`` and unions taken apart into its member types."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]


def _tags(model: type[BaseModel]) -> list[str]:
    field = model.model_fields.get("name")
    if field is None or typing.get_origin(field.annotation) is not typing.Literal:
        return []
    return [str(tag) for tag in typing.get_args(field.annotation)]


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)
