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


def test_files_the_blocks_write_under_figures_are_collected_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    page = (
        "```python run\nimport os\nos.makedirs('figures/sub')\nopen('figures/a.png', 'wb').write(b'png')\n```\n\n"
        "```python run\nopen('figures/sub/b.svg', 'w').write('<svg/>')\nopen('other.txt', 'w').write('x')\n```\n"
    )
    figures: dict[str, bytes] = {}
    hooks().run_blocks(page, "page.md", figures)
    assert figures == {"a.png": b"png", "sub/b.svg": b"<svg/>"}
    figures = {}
    hooks().run_blocks("```python run\nx = 1\n```\n", "page.md", figures)  # no figures/ folder: none
    assert figures == {}


def test_a_page_s_figures_are_published_beside_it_and_a_clash_fails_the_build_naming_both(tmp_path):
    import types

    from mkdocs.structure.files import File, Files

    config = types.SimpleNamespace(
        site_dir=str(tmp_path / "site"), use_directory_urls=False, plugins=types.SimpleNamespace(_current_plugin=None)
    )
    files = Files([File("tutorials/figures/logo.png", str(tmp_path), str(tmp_path / "site"), False)])
    page = types.SimpleNamespace(file=types.SimpleNamespace(src_uri="tutorials/neural.md"))
    markdown = "```python run\nimport os\nos.mkdir('figures')\nopen('figures/z.png', 'wb').write(b'z')\n```\n"
    shown = hooks().on_page_markdown(markdown + "![the embedding](figures/z.png)\n", page, config, files)
    published = files.get_file_from_path("tutorials/figures/z.png")
    assert published is not None and published.content_bytes == b"z" and "![the embedding](figures/z.png)" in shown
    assert published.dest_uri == "tutorials/figures/z.png"
    with pytest.raises(
        PluginError,
        match=r"tutorials/cebra\.md: its figure figures/z\.png would replace a figure "
        r"of tutorials/neural\.md \(tutorials/figures/z\.png\)",
    ):
        hooks().publish({"z.png": b"other"}, "tutorials/cebra.md", config, files)
    with pytest.raises(PluginError, match=r"would replace a file of the docs \(tutorials/figures/logo\.png\)"):
        hooks().publish({"logo.png": b"x"}, "tutorials/cebra.md", config, files)


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


# ----------------------------------------------------------------------------------- the built pages
GOOD_PAGE = (
    '<html><body><nav id="__drawer"></nav><article><h2 id="ica.load">ica.load</h2>'
    "<p>default <code>runs/&lt;spec name&gt;</code> or runs/&lt;spec name&gt;; see <code>ica.__version__</code>"
    " and a room's <code>__init__.py</code>; written to runs/tmp</p>"
    '<svg viewBox="0 0 24 24"><path d="M0 0"/></svg></article></body></html>'
)


def test_a_clean_page_has_no_problems():
    assert hooks().page_problems(GOOD_PAGE, ["/work/checkout", "site-packages"]) == []


@pytest.mark.parametrize(
    "body, found",
    [
        ("<p>Run directory (default runs/<spec name>).</p>", "unescaped tag '<spec name>'"),
        ("<td>md (figures in <out stem>_files/)</td>", "unescaped tag '<out stem>'"),
        ('<h3 id="ica.estimators.__all__">__all__</h3>', "dunder documented: 'ica.estimators.__all__'"),
        ("<p>__file__ = 'x'</p>", "dunder '__file__' in its text"),
        ("<p>str(object='') -> str, __doc__</p>", "dunder '__doc__' in its text"),
        ("<code>'/work/checkout/core/estimators/__init__.py'</code>", "a path of the build machine (/work/checkout)"),
        ("<p>written to /tmp/ica-docs-1/runs/a</p>", "a path of the build machine (/tmp)"),
        ('<a href="file:///tmp/x">x</a>', "a path of the build machine (/tmp)"),
        ("<p>/venv/lib/python3.11/site-packages/ica/x.py</p>", "a path of the build machine (site-packages)"),
    ],
)
def test_a_page_with_a_dunder_a_build_path_or_an_unescaped_tag_is_refused(body, found):
    problems = hooks().page_problems(f"<html><body>{body}</body></html>", ["/work/checkout", "site-packages"])
    assert any(found in p for p in problems), problems


def test_dunders_are_looked_for_on_reference_pages_only_paths_and_tags_everywhere():
    page = "<p>__name__ in /tmp/x and <spec name></p>"
    problems = hooks().page_problems(page, [], reference=False)
    assert len(problems) == 2 and not any("dunder" in p for p in problems)


def test_the_build_fails_naming_the_page_and_the_offending_text(tmp_path):
    import types

    config = {"config_file_path": str(tmp_path / "docs" / "mkdocs.yml")}
    page = types.SimpleNamespace(file=types.SimpleNamespace(src_uri="reference/api.md"))
    bad = f"<p>__cached__ = '{tmp_path}/core/x.pyc'</p>"
    with pytest.raises(PluginError, match=r"^reference/api\.md: ") as refused:
        hooks().on_post_page(bad, page, config)
    assert f"a path of the build machine ({tmp_path}): \"<p>__cached__ = '{tmp_path}/core/x.pyc" in str(refused.value)
    assert "dunder '__cached__' in its text" in str(refused.value)
    assert hooks().on_post_page(GOOD_PAGE, page, config) == GOOD_PAGE


def test_help_texts_are_escaped_outside_code_spans():
    h = hooks()
    assert h.escaped("default runs/<spec name> & `<kept>` as ``a<b``") == (
        "default runs/&lt;spec name&gt; &amp; `<kept>` as ``a<b``"
    )
    text = h.cli_reference()
    assert "runs/&lt;spec name&gt;" in text and "runs/<spec name>" not in text


def api_hook():
    spec = importlib.util.spec_from_file_location("api_page", ROOT / "docs" / "hooks" / "api_page.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_strict_build_checks_the_api_page_documents_every_public_name():
    """``make docs`` (what CI runs) builds the site with the API page's check as a hook: a public name added
    without its entry, parameters merged into one row, or a room's internal note fails the build."""
    import yaml

    config = yaml.safe_load((ROOT / "docs" / "mkdocs.yml").read_text().split("\nplugins:")[0])
    assert "hooks/api_page.py" in config["hooks"]
    check = api_hook()
    complete = "".join(f'<h2 id="{name}">{name}</h2>' for name in check.required_anchors()) + "<code>batch_size</code>"
    assert check.api_problems(complete) == []
    assert "ica.consistency" in check.required_anchors() and "ica.trained.TrainedModel.elbo" in check.required_anchors()
    missing = complete.replace('id="ica.plot_embedding"', 'id="other"')
    assert check.api_problems(missing) == ["no entry for ica.plot_embedding (add '::: ica.plot_embedding')"]
    merged = complete.replace("<code>batch_size</code>", "steps, batch_size")
    assert check.api_problems(merged) == ["the estimators' parameters are not one row each (batch_size)"]
    assert check.api_problems(complete + "<p>Owns: the run</p>") == ["shows the internal note 'Owns:'"]
    page = type("Page", (), {"file": type("File", (), {"src_uri": "reference/api.md"})()})()
    with pytest.raises(PluginError, match="reference/api.md: no entry for ica.plot_embedding"):
        check.on_post_page(missing, page, {})
    assert check.on_post_page(complete, page, {}) == complete
