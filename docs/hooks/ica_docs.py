"""mkdocs hooks of ica's documentation: pages whose code runs when the site is built, and references generated
from the code itself, so that neither can go stale.

- A fenced block opened with ```` ```python run ```` is executed when its page is built, the blocks of one page
  in order and in one namespace, in a fresh temporary directory (so a tutorial writes nothing into the
  checkout). It is shown as ordinary Python followed by what it printed. An exception fails the build, naming
  the page and the block. A file the blocks write under ``figures/`` (a plot they save) is published beside
  the page at the same relative path, so ``![...](figures/x.png)`` in the page shows it.
- ``<!-- ica:cli -->`` becomes the reference of every ``ica`` command, read from the typer application.
- ``<!-- ica:components -->`` becomes the catalogue of registered components with their options, read from the
  registry (the built-ins and any plugin installed where the docs are built).
- ``<!-- ica:template KIND -->`` becomes the component skeleton ``ica new plugin --kind KIND`` writes (the page's
  ``python run`` blocks can then check it with the contract kit).
- Every built page is read back (`page_problems`): one that shows a path of the machine that built it (the
  checkout, the temporary directory, site-packages) or an HTML tag that is not HTML (a help text's
  ``<spec name>`` that was not escaped) fails the build, and so does a reference page that documents a dunder
  (``__file__``, ``__all__``, ...): what a reader sees is checked, not only what the hooks meant to write.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import os
import posixpath
import re
import tempfile
import textwrap
import traceback
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Sequence

from mkdocs.exceptions import PluginError

TEMPLATE = re.compile(r"<!-- ica:template (\w+) -->")
RUN_BLOCK = re.compile(r"^```python run[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
MAX_OUTPUT_LINES = 60
"""Printed lines shown under a block; a longer output is cut, saying how much was left out."""
FIGURES = "figures"
"""The folder (of a page's scratch directory, and beside the page in the site) of the files blocks publish."""


# ----------------------------------------------------------------------------------- executed pages
def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if "<!-- ica:cli -->" in markdown:
        markdown = markdown.replace("<!-- ica:cli -->", cli_reference())
    if "<!-- ica:components -->" in markdown:
        markdown = markdown.replace("<!-- ica:components -->", component_reference())
    markdown = TEMPLATE.sub(lambda m: template_source(m.group(1)), markdown)
    if RUN_BLOCK.search(markdown):
        figures: dict[str, bytes] = {}
        markdown = run_blocks(markdown, page.file.src_uri, figures)
        publish(figures, page.file.src_uri, config, files)
    return markdown


def run_blocks(markdown: str, where: str, figures: dict[str, bytes] | None = None) -> str:
    """Every ``python run`` block of a page executed in order in one namespace, each followed by its output.
    ``figures``, where given, receives every file the blocks wrote under ``figures/`` (its path below that
    folder, POSIX style: its content)."""
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

            markdown = RUN_BLOCK.sub(execute, markdown)
            if figures is not None:
                written = Path(scratch, FIGURES)
                for path in sorted(written.rglob("*")) if written.is_dir() else []:
                    if path.is_file():
                        figures[path.relative_to(written).as_posix()] = path.read_bytes()
            return markdown
        finally:
            os.chdir(here)


def publish(figures: dict[str, bytes], where: str, config: Any, files: Any) -> None:
    """``figures`` (from `run_blocks`) added to the site's files beside the page ``where``, under ``figures/``:
    mkdocs then validates the page's links to them and copies them into the site. A path that another page's
    figure or a file of the docs already has fails the build, naming both."""
    from mkdocs.structure.files import File

    for name, content in figures.items():
        src_uri = posixpath.join(posixpath.dirname(where), FIGURES, name)
        taken = files.get_file_from_path(src_uri)
        if taken is not None:
            owner = getattr(taken, "page_of", None)
            raise PluginError(
                f"{where}: its figure {FIGURES}/{name} would replace "
                f"{f'a figure of {owner}' if owner else 'a file of the docs'} ({src_uri}): give it another name"
            )
        figure = File.generated(config, src_uri, content=content)
        figure.page_of = where  # type: ignore[attr-defined]  # who published it, for the message above
        files.append(figure)


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
        escaped(textwrap.dedent(command.help or "").strip()) + "\n",
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
    return escaped(" ".join((getattr(param, "help", None) or "").split())).replace("|", "\\|")


CODE_SPAN = re.compile(r"(`+).+?\1", re.S)


def escaped(text: str) -> str:
    """``text`` as Markdown that shows it as written: ``&``, ``<`` and ``>`` outside code spans become entities
    (Markdown passes ``runs/<spec name>`` through as an HTML tag, which the browser then hides)."""
    parts, last = [], 0
    for span in CODE_SPAN.finditer(text):
        parts += [html.escape(text[last : span.start()], quote=False), span.group(0)]
        last = span.end()
    return "".join(parts) + html.escape(text[last:], quote=False)


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


# ----------------------------------------------------------------------------------- the built pages
HTML_TAGS = frozenset(
    """a abbr article aside audio b blockquote body br button caption cite code col colgroup dd del details dfn
    div dl dt em figcaption figure footer form h1 h2 h3 h4 h5 h6 head header hr html i iframe img input ins kbd
    label legend li link main mark meta nav noscript ol optgroup option p picture pre q s samp script section
    select small source span strong style sub summary sup table tbody td template textarea tfoot th thead time
    title tr u ul var video wbr svg g path circle ellipse line polygon polyline rect use defs symbol""".split()
)
"""The elements a page may hold: HTML's and the icons' SVG. Any other tag is text that was not escaped."""
ALLOWED_DUNDERS = frozenset({"__version__", "__init__", "__call__"})
"""Dunders that prose may name (``ica.__version__``, a room's ``__init__.py``, a module's ``__call__``)."""
DUNDER = re.compile(r"(?<!\w)__[A-Za-z0-9]\w*__(?!\w)")
CONTEXT = 40  # characters shown either side of a path found in a page


def on_post_page(output: str, page: Any, config: Any) -> str:
    where = page.file.src_uri
    problems = page_problems(output, build_paths(config), reference=where.startswith("reference/"))
    if problems:
        raise PluginError(f"{where}: " + "; ".join(problems))
    return output


def build_paths(config: Any) -> list[str]:
    """Paths that only the machine building the site has: its checkout (docs/mkdocs.yml's grandparent), the
    folder that holds the installed ``ica`` (whose files a documented ``__file__`` would name), and its
    temporary directory, where ``python run`` blocks work (``/tmp`` is always looked for too)."""
    import ica

    checkout = Path(config["config_file_path"]).resolve().parent.parent
    installed = Path(ica.__file__).resolve().parent.parent
    return [str(checkout), str(installed), tempfile.gettempdir(), "site-packages"]


def page_problems(page_html: str, paths: Sequence[str], reference: bool = True) -> list[str]:
    """What a built page must not show: ``paths`` (and ``/tmp``), anywhere in it; elements that are not HTML
    (``<spec name>``); and, on a ``reference`` page, dunders (``__file__``) in its text or documented (an
    anchor such as ``ica.estimators.__all__``). One line each, quoting the offending text."""
    reader = _PageReader()
    reader.feed(page_html)
    reader.close()
    problems = [f"unescaped tag {tag!r} (write it as &lt;...&gt;)" for tag in dict.fromkeys(reader.tags)]
    text = "".join(reader.text)
    for path in dict.fromkeys([p for p in paths if len(p) > 1] + ["/tmp"]):
        found = re.search(rf"(?<![\w.-]){re.escape(path)}(?![\w-])", page_html)  # not runs/tmp, not /tmpfs
        if found:
            start, end = max(0, found.start() - CONTEXT), found.end() + CONTEXT
            problems.append(f"a path of the build machine ({path}): {page_html[start:end]!r}")
    if reference:
        named = [d for d in DUNDER.findall(text) if d not in ALLOWED_DUNDERS]
        documented = [a for a in reader.anchors if any(DUNDER.fullmatch(part) for part in a.split(".")[1:])]
        problems += [f"dunder {d!r} in its text" for d in dict.fromkeys(named)]
        problems += [f"dunder documented: {a!r}" for a in dict.fromkeys(documented)]
    return problems


class _PageReader(HTMLParser):
    """The text of a page (entities decoded), the start tags that are not HTML, and the anchors (ids)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[str] = []
        self.anchors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            self.tags.append(self.get_starttag_text() or tag)
        self.anchors += [value for name, value in attrs if name == "id" and value]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)
