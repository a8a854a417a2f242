"""How ``ica list`` and ``ica show`` print the registry: its components, plugins with problems, and one component's
options (and, for a metric, the measures it declares)."""

from __future__ import annotations

import json
import types
import typing
from typing import Any

from rich.markup import escape
from rich.table import Table

from ica.cli.output import console
from ica.components.options import slot_kind
from ica.spec.models import spec_models


def registry_json(reg: Any, kind: str | None) -> dict[str, Any]:
    return {
        "components": [
            {
                "kind": c.kind,
                "name": c.name,
                "plugin": c.plugin.name,
                "version": c.plugin.version,
                "module": c.plugin.module,
                "description": c.description,
            }
            for c in reg.of_kind(kind)
        ],
        "failures": [{"plugin": f.plugin, "version": f.version, "error": f.error} for f in reg.failures],
        "conflicts": [
            {"kind": k, "name": n, "plugins": [p.name for p in ps]}
            for (k, n), ps in reg.conflicts.items()
            if kind is None or k == kind
        ],
    }


def registry_table(reg: Any, kind: str | None) -> None:
    table = Table(title="Registered components", show_lines=False)
    for col in ("kind", "name", "plugin", "version", "description"):
        table.add_column(col, overflow="fold")
    for c in reg.of_kind(kind):
        table.add_row(c.kind, escape(c.name), escape(c.plugin.name), escape(c.plugin.version), escape(c.description))
    console.print(table)
    conflicts = [(k, n, ps) for (k, n), ps in reg.conflicts.items() if kind is None or k == kind]
    if reg.failures or conflicts:
        bad = Table(title="Plugins with problems", title_style="bold red")
        bad.add_column("plugin")
        bad.add_column("version")
        bad.add_column("problem", overflow="fold")
        for f in reg.failures:
            bad.add_row(escape(f.plugin), escape(f.version), escape(f.error))
        for k, n, ps in conflicts:
            bad.add_row(
                escape(" & ".join(p.name for p in ps)), "", escape(f"both register {k} {n!r}; it cannot be used")
            )
        console.print(bad)


def component_options(reg: Any, component: Any) -> None:
    """Every option with its type, default and description, read from the options class: nothing is
    validated, so a component with required options (npz's ``path``) is shown like any other."""
    table = Table(
        title=escape(f"{component.kind} ")
        + f"[bold]{escape(component.name)}[/]"
        + escape(f" ({component.plugin.name}) - {component.description}"),
        caption=escape(provided_by(component)),
    )
    for col in ("option", "type", "default", "description"):
        table.add_column(col, overflow="fold")
    for name, field in component.options.model_fields.items():
        sub_kind = slot_kind(field)
        if field.is_required():
            shown = "(required)"
        else:
            default = field.get_default(call_default_factory=True)
            shown = json.dumps(slot_default(reg, sub_kind, default) if sub_kind else _jsonable(default))
        type_text = f"any {sub_kind}" if sub_kind else _type_name(field.annotation)
        table.add_row(escape(name), escape(type_text), escape(shown), escape(field.description or ""))
    console.print(table)
    if component.measures:
        measures_table(component.measures)


def measures_table(measures: Any) -> None:
    """The records a metric declares (`ica.plugin.Measure`) and how tables show them."""
    table = Table(title="records it writes (summary.json), as tables show them")
    for col in ("record", "title", "header", "better", "controls", "shown by default"):
        table.add_column(col, overflow="fold")
    for m in measures:
        better = {True: "higher", False: "lower", None: "(never compared)"}[m.higher_is_better]
        key = m.key + ("<index>" if m.indexed else "")
        table.add_row(
            escape(key),
            escape(m.title),
            escape(m.header),
            better,
            escape(", ".join(m.controls) or "-"),
            "yes" if m.headline else "--all",
        )
    console.print(table)


def provided_by(component: Any) -> str:
    """'provided by ica 0.2.0 (built in), module ica.plugins.priors.gmm': where to read or report a component."""
    plugin = component.plugin
    module = getattr(component.build, "__module__", None) or plugin.module
    return f"provided by {plugin.name} {plugin.version} ({plugin.source}), module {module}"


def slot_default(reg: Any, kind: str, default: Any) -> Any:
    """A nested component's default with its own defaults filled in, or as written where it does not
    validate alone (it has required options)."""
    try:
        models = spec_models(reg)
        models.union(kind)  # builds the tagged options of every component of the kind
        options = models.tagged[(kind, default["name"])].model_validate(default)
        return {"name": default["name"], **options.model_dump(mode="json", exclude={"name"})}
    except Exception:
        return _jsonable(default)


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data (a tuple as a list, a model as its fields)."""
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(Any).dump_python(value, mode="json")
    except Exception:
        return str(value)


def _type_name(annotation: Any) -> str:
    """'int', 'list[int]', "'analytic' | 'sample'", 'float | None' rather than typing internals."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_type_name(a) for a in args)}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))
