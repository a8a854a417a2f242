"""Spec hashes: the digest that ties a run directory to the spec it was made from, and which older hashes a
spec may still resume (defaults that changed, options added since), so that upgrading never strands a sweep."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel


def spec_json(spec: BaseModel) -> dict[str, Any]:
    """The validated spec as plain JSON data, every default filled in (what ``spec.json`` holds)."""
    return spec.model_dump(by_alias=True, mode="json", exclude_none=False)


def spec_source(spec: Any) -> dict[str, Any]:
    """The validated spec as JSON to be validated again elsewhere (a grid cell, a worker's unit): `spec_json`,
    but with only the data options the user gave, since a data set may tell an option given from its default
    (the ``npz`` set requires a key that is named, and takes a default key only where the file has it). It
    validates to the same spec, and so to the same hash."""
    return {**spec_json(spec), "data": spec.data.model_dump(by_alias=True, mode="json", exclude_unset=True)}


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
    ("data.u_kind", "discrete"),
)
"""Options added since runs were first written, in the order they were added, as dotted paths (``[]``: every
element of a list) with the value that behaves as before (`ANY`: the option changes no trained result). A run
directory written before an option existed carries the hash of the spec without it and without every option
added after it; the same spec may resume it while those options hold that value."""


def accepted_hashes(spec: BaseModel) -> set[str]:
    """The hashes of a run directory that ``spec`` may resume: its own; those it had before any of the defaults
    that changed (`EARLIER_DEFAULTS`, each alone or together); and, for each, the hash without the options added
    since (`ADDED_FIELDS`) where they behave as before, so that upgrading does not strand a sweep."""
    return _accepted(spec_json(spec))


def _accepted(data: dict[str, Any]) -> set[str]:
    """`accepted_hashes` of spec JSON ``data``."""
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
    added = range(len(ADDED_FIELDS) + 1)
    return {json_digest(without_added_fields(base, since)) for base in variants for since in added}


def without_added_fields(data: dict[str, Any], since: int = 0) -> dict[str, Any]:
    """A copy of spec JSON without the `ADDED_FIELDS` from the ``since``-th on that hold their earlier behaviour:
    the spec as a version of ``ica`` that knew only the fields before them wrote it."""
    copy = json.loads(json.dumps(data))
    for path, before in ADDED_FIELDS[since:]:
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


@dataclass(frozen=True)
class LengthChange:
    """A spec that is a run directory's own but for its length: ``training.<unit>`` was ``before``, is ``after``."""

    unit: Literal["steps", "epochs"]  # "epochs" where the run counts epochs
    before: int
    after: int

    def difference(self) -> str:
        return f"the same but for training.{self.unit}: {self.before} there, {self.after} here"


def run_length(training: Any) -> tuple[Literal["steps", "epochs"], int] | None:
    """How long a spec's ``training`` section trains: ``("epochs", n)`` where it counts epochs, else
    ``("steps", n)``; None for something that is no training section."""
    if not isinstance(training, dict):
        return None
    unit: Literal["steps", "epochs"] = "steps" if training.get("epochs") is None else "epochs"
    value = training.get(unit)
    return (unit, value) if isinstance(value, int) and not isinstance(value, bool) else None


def length_change(recorded: Any, recorded_hash: str, spec: BaseModel) -> LengthChange | None:
    """How ``spec`` differs from the spec a run directory recorded (its JSON ``recorded``, hashed
    ``recorded_hash``) if only in its length (``steps``, or ``epochs`` where both count epochs), else None.

    The recorded hash must be one ``spec`` would resume (`accepted_hashes`) once given the recorded length, so
    a directory an earlier ica made is judged as it is resumed."""
    data = spec_json(spec)
    now = run_length(data.get("training"))
    then = run_length(recorded.get("training")) if isinstance(recorded, dict) else None
    if now is None or then is None or now[0] != then[0] or now[1] == then[1]:
        return None
    shorter = json.loads(json.dumps(data))
    shorter["training"][now[0]] = then[1]
    return LengthChange(now[0], then[1], now[1]) if recorded_hash in _accepted(shorter) else None
