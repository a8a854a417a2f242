"""Loading experiment specs, and turning every way they can be wrong into one readable message.

A spec is JSON validated by the pydantic models of ``ica.spec_models``; validated specs are frozen and
never mutated while running. Errors name the field's path as the user wrote it (``models.vade.prior.
components``), what is wrong, and for unknown names the closest registered one.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ica.errors import SpecError
from ica.plugin_registry import Registry, registry


def load_spec(source: str | Path | dict[str, Any] | BaseModel, reg: Registry | None = None) -> Any:
    """Validate a spec given as a path to a JSON file, a dict, or an already validated spec.

    Returns:
        The validated, immutable ``Experiment``.

    Raises:
        SpecError: one message describing every problem found.
    """
    reg = reg or registry()
    if isinstance(source, reg.specs.experiment):
        return source
    origin = "spec"
    if isinstance(source, BaseModel):
        data: Any = source.model_dump(by_alias=True, mode="json")
    elif isinstance(source, dict):
        data = source
    else:
        path = Path(source)
        origin = str(path)
        data = read_json(path)
    if not isinstance(data, dict):
        raise SpecError(f"a spec must be a JSON object, not {type(data).__name__}", where=origin)
    try:
        return reg.specs.experiment.model_validate(data)
    except ValidationError as exc:
        raise SpecError(render_errors(exc, data), where=origin) from None


def read_json(path: Path) -> Any:
    """Parse a JSON file, with the line and column of a syntax error in the message."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("file not found", where=str(path)) from None
    except IsADirectoryError:
        raise SpecError("is a directory, not a spec file", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot be read ({exc})", where=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", where=str(path)) from None


def spec_json(spec: BaseModel) -> dict[str, Any]:
    """The validated spec as plain JSON data, every default filled in (what ``spec.json`` holds)."""
    return spec.model_dump(by_alias=True, mode="json", exclude_none=False)


def spec_hash(spec: BaseModel) -> str:
    """A stable digest of the validated spec, to recognise a run directory made from another spec."""
    text = json.dumps(spec_json(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------ error messages
def render_errors(exc: ValidationError, data: Any) -> str:
    """All of pydantic's errors, one line each, with paths as the user wrote them."""
    lines = []
    for err in exc.errors(include_url=False):
        path = user_path(err["loc"], data)
        lines.append(f"{path or '(top level)'}: {describe(err)}")
    unique = list(dict.fromkeys(lines))
    return unique[0] if len(unique) == 1 else "\n  " + "\n  ".join(unique)


def user_path(loc: tuple[Any, ...], data: Any) -> str:
    """Drop the union tags pydantic inserts into ``loc`` by walking the user's own data alongside."""
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(node, dict) and isinstance(key, str) and key not in node and node.get("name") == key:
            continue  # the discriminator tag of a union member, not a key the user wrote
        if isinstance(key, str) and key.endswith("]") and "[" in key:
            continue  # pydantic's label for a union member, e.g. 'function-after[...]'
        if isinstance(key, int):
            parts.append(f"[{key}]")
        else:
            parts.append(("." if parts else "") + str(key))
        node = node.get(key) if isinstance(node, dict) else (
            node[key] if isinstance(node, list) and isinstance(key, int) and key < len(node) else None
        )
    return "".join(parts)


def describe(err: dict[str, Any]) -> str:
    """A person's description of one pydantic error."""
    kind, ctx, given = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "union_tag_invalid":
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        return unknown_tag(given_tag(err), expected)
    if kind == "union_tag_not_found":
        return "missing 'name': say which component this is"
    if kind == "literal_error" and err["loc"] and err["loc"][-1] == "name":
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return unknown_tag(given, expected)
    if kind == "extra_forbidden":
        return "unknown option (not allowed here; check the spelling, or `ica show NAME` for the options)"
    if kind == "missing":
        return "required, but missing"
    message = err["msg"]
    message = re.sub(r"^Value error, ", "", message)
    return f"{message} (got {short(given)})" if given is not None and kind not in {"value_error"} else message


def unknown_tag(tag: Any, expected: list[str]) -> str:
    close = difflib.get_close_matches(str(tag), expected, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown name {tag!r}{hint} (known: {', '.join(expected) or 'none registered'})"


def given_tag(err: dict[str, Any]) -> Any:
    given = err.get("input")
    return given.get("name") if isinstance(given, dict) else (err.get("ctx") or {}).get("tag")


def short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
