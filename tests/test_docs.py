"""The documentation's own machinery (docs/hooks/ica_docs.py): executed tutorial blocks fail the build when their
code fails, and the CLI and component references cover everything there is. `make docs` builds the site."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import typer

from mkdocs.exceptions import PluginError  # in the test extra, as `make docs` needs it

ROOT = Path(__file__).resolve().parents[1]


def hooks():
    spec = importlib.util.spec_from_file_location("ica_docs", ROOT / "docs" / "hooks" / "ica_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_blocks_execute_in_order_in_one_namespace_and_show_their_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    page = (
        "Intro\n\n```python run\nx = 21\nopen('made.txt', 'w').write('x')\n```\n\n"
        "text\n\n```python run\nprint(x * 2)\n```\n"
    )
    out = hooks().run_blocks(page, "page.md")
    assert "```python run" not in out
    assert "```python\nprint(x * 2)\n```\n\n```text\n42\n```" in out
    assert os.getcwd() == str(tmp_path) and not (tmp_path / "made.txt").exists()  # ran in a scratch directory


def test_a_failing_block_fails_the_build_naming_the_page_and_the_block():
    page = "```python run\nx = 1\n```\n\n```python run\nraise ValueError('stale tutorial')\n```\n"
    with pytest.raises(PluginError, match=r"tutorial\.md: code block 2 failed(.|\n)*stale tutorial"):
        hooks().run_blocks(page, "tutorial.md")


def test_long_output_is_cut_saying_how_much():
    shown = hooks().shown_output("\n".join(map(str, range(100))))
    assert "... (40 more lines)" in shown and "\n59\n" in shown and "\n60\n" not in shown


def test_the_cli_reference_has_every_command_with_its_options():
    from ica.cli.app import app

    text = hooks().cli_reference()
    commands = typer.main.get_command(app).commands
    assert len(commands) >= 10
    for name, command in commands.items():
        for sub in getattr(command, "commands", None) or [None]:  # a group (ica new): each of its commands
            assert f"## `ica {name}{'' if sub is None else ' ' + sub}`" in text
    assert "## `ica new plugin`" in text and "`--kind`" in text
    assert "`--out`" in text and "`--dry-run`" in text


def test_the_component_reference_has_every_registered_component_and_its_options():
    import ica

    text = hooks().component_reference()
    for component in ica.registry().of_kind(None):
        assert f"### `{component.name}`" in text
    assert "| `components` | `40` |" in text  # the gmm prior's option and its default


def test_a_template_marker_becomes_the_skeleton_that_ica_new_plugin_writes(tmp_path):
    from ica.testing.scaffold import write_plugin_package

    shown = hooks().on_page_markdown("<!-- ica:template likelihood -->", types_page(), None, None)
    written = write_plugin_package("ica-my-likelihood", "likelihood", tmp_path) / "ica_my_likelihood.py"
    assert shown.startswith("```python\n# ica_my_likelihood.py") and written.read_text() in shown
    with pytest.raises(PluginError, match="no such kind"):
        hooks().on_page_markdown("<!-- ica:template flow -->", types_page(), None, None)


def types_page():
    import types

    return types.SimpleNamespace(file=types.SimpleNamespace(src_uri="page.md"))
