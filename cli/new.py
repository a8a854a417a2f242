"""``ica new plugin NAME --kind KIND``: start a plugin package from a working, tested skeleton."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ica.cli import render

new_app = typer.Typer(help="Start something new from a template.", no_args_is_help=True)


def plugin_command(
    name: str = typer.Argument(..., help="The package's distribution name, e.g. ica-laplace-prior."),
    kind: str = typer.Option(..., "--kind", help="prior, encoder, decoder, likelihood, model, metric or dataset."),
    out: Path = typer.Option(
        Path("."), "--out", help="The directory to write the package into (as out/NAME); not inside a run directory."
    ),
    component: Optional[str] = typer.Option(
        None,
        "--component",
        help="The component's registered name (default: NAME as a module name, without an 'ica_' prefix).",
    ),
) -> None:
    """Write a plugin package: pyproject.toml with its entry point, the component, tests that run ica's contract
    checks (ica.testing) and a small run."""
    from ica.testing.scaffold import module_name, write_plugin_package

    target = write_plugin_package(name, kind, out, component)
    render.console.print(escape(f"wrote {target}/: pyproject.toml, {module_name(name)}.py, tests/, README.md"))
    render.console.print(escape(f"next: pip install -e {target} && pytest {target}"))
