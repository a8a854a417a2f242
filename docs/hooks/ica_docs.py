"""mkdocs hooks of ica's documentation: pages whose code runs when the site is built, and references generated
from the code itself, so that neither can go stale.

- A fenced block opened with ```` ```python run ```` is executed when its page is built, the blocks of one page
  in order and in one namespace, in a fresh temporary directory (so a tutorial writes nothing into the
  checkout). It is shown as ordinary Python followed by what it printed. An exception fails the build, naming
  the page and the block.
- ``<!-- ica:cli -->`` becomes the reference of every ``ica`` command, read from the typer application.
- ``<!-- ica:components -->`` becomes the catalogue of registered components with their options, read from the
  registry (the built-ins and any plugin installed where the docs are built).
- ``<!-- ica:template KIND -->`` becomes the component skeleton ``ica new plugin --kind KIND`` writes (the page's
  ``python run`` blocks can then check it with the contract kit).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
import textwrap
import traceback
from typing import Any

from mkdocs.exceptions import PluginError

TEMPLATE = re.compile(r"<!-- ica:template (\w+) -->")
RUN_BLOCK = re.compile(r"^```python run[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
MAX_OUTPUT_LINES = 60
"""Printed lines shown under a block; a longer output is cut, saying how much was left out."""


# ----------------------------------------------------------------------------------- executed pages
def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if "<!-- ica:cli -->" in markdown:
        markdown = markdown.replace("<!-- ica:cli -->", cli_reference())
    if "<!-- ica:components -->" in markdown:
        markdown = markdown.replace("<!-- ica:components -->", component_reference())
    markdown = TEMPLATE.sub(lambda m: template_source(m.group(1)), markdown)
    if RUN_BLOCK.search(markdown):
        markdown = run_blocks(markdown, page.file.src_uri)
    return markdown


def run_blocks(markdown: str, where: str) -> str:
    """Every ``python run`` block of a page executed in order in one namespace, each followed by its output."""
    namespace: dict[str, Any] = {"__name__": "__tutorial__"}
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="ica-docs-") as scratch:
        os.chdir(scratch)
        try:
            count = 0

            def execute(match: re.Match) -> str:
                nonlocal count
                count += 1
                code = match.group(1)
                output = io.StringIO()
                try:
                    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                        exec(compile(code, f"{where}, block {count}", "exec"), namespace)
                except Exception as exc:
                    failure = traceback.format_exc(limit=-3)
                    raise PluginError(f"{where}: code block {count} failed:\n{failure}") from exc
                return f"```python\n{code}```\n" + shown_output(output.getvalue())

            return RUN_BLOCK.sub(execute, markdown)
        finally:
            os.chdir(here)


def shown_output(text: str) -> str:
    if not text.strip():
        return ""
    lines = text.rstrip().splitlines()
    if len(lines) > MAX_OUTPUT_LINES:
        lines = lines[:MAX_OUTPUT_LINES] + [f"... ({len(lines) - MAX_OUTPUT_LINES} more lines)"]
    return "\n```text\n" + "\n".join(lines) + "\n```\n"


# ----------------------------------------------------------------------------------- the CLI
def cli_reference() -> str:
    """Each command of the typer app (and of its groups, such as ``ica new plugin``): what it does, its usage,
    and its arguments and options."""
    import typer

    from ica.cli.app import app

    root = typer.main.get_command(app)
    parts: list[str] = []
    for name, command in sorted(root.commands.items()):
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for sub_name, sub in sorted(subcommands.items()):
                parts += command_reference(f"ica {name} {sub_name}", sub)
        else:
            parts += command_reference(f"ica {name}", command)
    return "\n".join(parts)


def command_reference(full_name: str, command: Any) -> list[str]:
    import click

    ctx = click.Context(command, info_name=full_name)
    parts = [
        f"## `{full_name}`\n",
        textwrap.dedent(command.help or "").strip() + "\n",
        f"```text\n{full_name} {' '.join(command.collect_usage_pieces(ctx))}\n```\n",
    ]
    rows = []
    for param in command.params:
        if param.param_type_name == "argument":  # typer's own parameter classes: read their kind
            rows.append((f"`{param.name.upper()}`", "argument", _param_help(param)))
        elif param.param_type_name == "option" and not param.hidden:
            rows.append(
                (
                    ", ".join(f"`{o}`" for o in (*param.opts, *param.secondary_opts)),
                    _default_text(param),
                    _param_help(param),
                )
            )
    if rows:
        parts.append("| | default | |\n|---|---|---|\n" + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows))
    parts.append("")
    return parts


def template_source(kind: str) -> str:
    """The module `ica new plugin ica-my-KIND --kind KIND` writes, as a code block."""
    from ica.testing.scaffold import component_source, fill_ins

    if kind not in ("prior", "encoder", "decoder", "likelihood", "model", "metric", "dataset"):
        raise PluginError(f"<!-- ica:template {kind} -->: no such kind")
    values = fill_ins(f"ica-my-{kind}", kind, f"my_{kind}", f"ica_my_{kind}")
    return (
        f"```python\n# ica_my_{kind}.py, as `ica new plugin ica-my-{kind} --kind {kind}` writes it\n"
        + component_source(kind, values)
        + "```\n"
    )


def _param_help(param: Any) -> str:
    return " ".join((getattr(param, "help", None) or "").split()).replace("|", "\\|")


def _default_text(option: Any) -> str:
    if option.is_flag:
        return "off" if not option.default else "on"
    if option.default is None or option.required:
        return "required" if option.required else ""
    return f"`{option.default}`"


# ----------------------------------------------------------------------------------- components
def component_reference() -> str:
    """Every registered component by kind: its name, what it is, who provides it, and its options."""
    import ica

    reg = ica.registry()
    parts = []
    for kind in sorted({c.kind for c in reg.of_kind(None)}):
        parts.append(f"## {kind.capitalize()}s\n")
        for c in reg.of_kind(kind):
            module = getattr(c.build, "__module__", None) or c.plugin.module
            parts.append(
                f"### `{c.name}`\n\n{c.description}\n\n*{c.plugin.name} {c.plugin.version}, module `{module}`*\n"
            )
            rows = []
            for name, field in c.options.model_fields.items():
                if name == "name":
                    continue
                default = "(required)" if field.is_required() else _json(field.get_default(call_default_factory=True))
                text = " ".join((field.description or "").split()).replace("|", "\\|")
                rows.append(f"| `{name}` | `{default}` | {text} |")
            if rows:
                parts.append("| option | default | |\n|---|---|---|\n" + "\n".join(rows) + "\n")
    return "\n".join(parts)


def _json(value: Any) -> str:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    try:
        return json.dumps(value).replace("|", "\\|")
    except TypeError:
        return str(value)
