"""Spec hashes: the digest that ties a run directory to the spec it was made from, and which older hashes a
spec may still resume (defaults that changed, options added since), so that upgrading never strands a sweep."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel


def spec_json(spec: BaseModel) -> dict[str, Any]:
    """The validated spec as plain JSON data, every default filled in (what ``spec.json`` holds)."""
    return spec.model_dump(by_alias=True, mode="json", exclude_none=False)


def spec_hash(spec: BaseModel) -> str:
    """A stable digest of the validated spec, to recognise a run directory made from another spec."""
    return json_digest(spec_json(spec))


EARLIER_DEFAULTS = {
    ("training", "compile"): ("auto", False),
    ("data", "max_condition"): (None, 2.0),
    ("data", "negative_slope"): (None, 0.2),
    ("data", "mean_range"): (None, [-3.0, 3.0]),
    ("data", "std_range"): (None, [0.01, 3.0]),
}
"""Defaults this version changed: (section, field) -> (the value now, the value ica 0.2.0 wrote). A run
directory a 0.2.0 run made from the same spec file carries the hash of the spec with the old value."""
EARLIER_ONLY_WITH = {
    ("data", "negative_slope"): ("mixing", ("exact", "original")),
    ("data", "mean_range"): ("mixing", ("exact", "original")),
    ("data", "std_range"): ("mixing", ("exact", "original")),
}
"""Earlier defaults that held only where another option has one of these values: the TCL recipes that existed
then (a newer recipe's unset slope means its own, never 0.2)."""

ANY = object()
ADDED_FIELDS: tuple[tuple[str, Any], ...] = (
    ("data.shuffle_u", False),
    ("data.mixing", "exact"),
    ("data.condition_draws", None),
    ("data.condition_percentile", None),
    ("evaluation.controls", ANY),  # what is measured, never what is trained: any value resumes
    ("evaluation.metrics[].pairing", "assignment"),
    ("evaluation.metrics[].spearman", ANY),  # what is measured, never what is trained
    ("evaluation.metrics[].observations", ANY),
)
"""Options added since runs were first written, as dotted paths (``[]``: every element of a list) with the
value that behaves as before (`ANY`: the option changes no trained result). A run directory written before
an option existed carries the hash of the spec without it; the same spec may resume it while the option
holds that value."""


def accepted_hashes(spec: BaseModel) -> set[str]:
    """The hashes of a run directory that ``spec`` may resume: its own; those it had before any of the defaults
    that changed (`EARLIER_DEFAULTS`, each alone or together); and, for each, the hash without the options added
    since (`ADDED_FIELDS`) where they behave as before, so that upgrading does not strand a sweep."""
    data = spec_json(spec)
    variants = [data]
    for (section, field), (now, before) in EARLIER_DEFAULTS.items():  # each changed default, alone or with others
        for variant in list(variants):
            only = EARLIER_ONLY_WITH.get((section, field))
            if (
                only is not None
                and isinstance(variant.get(section), dict)
                and variant[section].get(only[0]) not in only[1]
            ):
                continue
            if isinstance(variant.get(section), dict) and variant[section].get(field) == now:
                earlier = json.loads(json.dumps(variant))
                earlier[section][field] = before
                variants.append(earlier)
    return {json_digest(d) for base in variants for d in (base, without_added_fields(base))}


def without_added_fields(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of spec JSON without the `ADDED_FIELDS` that hold their earlier behaviour."""
    copy = json.loads(json.dumps(data))
    for path, before in ADDED_FIELDS:
        _drop(copy, path.split("."), before)
    return copy


def _drop(node: Any, parts: list[str], before: Any) -> None:
    head, rest = parts[0], parts[1:]
    listed = head.endswith("[]")
    key = head[:-2] if listed else head
    if not isinstance(node, dict) or key not in node:
        return
    if listed:
        for item in node[key] if isinstance(node[key], list) else []:
            _drop(item, rest, before)
    elif rest:
        _drop(node[key], rest, before)
    elif before is ANY or node[key] == before:
        del node[key]


def json_digest(data: Any) -> str:
    """A short, stable digest of JSON data (keys sorted): what spec hashes are made of."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
