"""The rooms of `ica` and the one direction their imports run (docs/pages/reference/architecture.md).

Each room's ``__init__.py`` says what it may import on a line ``May import: ica.errors, ica.components``;
these tests hold every module of the room to that line (imports anywhere in a file count, inside functions
too), hold the lines themselves to the chain below, keep plugins on the one surface ``ica.plugin``, and keep
modules small. The checks read source files, so they see what ``import`` never reports: a lazy import
against the direction is as much a cycle as an eager one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"
PLUGINS = ROOT / "plugins"

# The chain: a room may import only rooms before it. `ica.errors` is the one module every room may use.
CHAIN = ("errors", "components", "spec", "nn", "rundir", "training", "evaluation", "running", "trained",
         "estimators", "reporting", "testing")
ROOMS = CHAIN[1:]
# Top-level modules outside the chain: the public API and the plugin surface gather from every room, the
# aliases of moved modules import them only when asked; no room may import any of these.
ABOVE = ("__init__", "__main__", "plugin", "_moved")
MAX_LINES = 320  # "no module over ~300 lines"


def imported_rooms(source: str) -> set[str]:
    """The first component under ``ica`` of every import in ``source`` (``ica.spec.load`` -> ``spec``;
    ``from ica import plots`` -> ``plots``; ``import ica`` -> ``""``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] != "ica":
                continue
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "ica":
                    found.add(parts[1] if len(parts) > 1 else "")
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.add("<relative>")
    return found


def declared(room: str) -> set[str]:
    """The rooms ``core/<room>/__init__.py`` says it may import."""
    doc = ast.get_docstring(ast.parse((CORE / room / "__init__.py").read_text())) or ""
    line = re.search(r"^May import:(.*)$", doc, re.M)
    assert line, f"core/{room}/__init__.py's docstring has no 'May import:' line"
    names = [n.strip().rstrip(".") for n in line.group(1).split(",") if n.strip()]
    if names == ["nothing"]:
        return set()
    assert all(n.startswith("ica.") for n in names), line.group(0)
    return {n.removeprefix("ica.") for n in names}


def violations(room: str, source: str, allowed: set[str]) -> set[str]:
    """Imports of ``source`` (a module of ``room``) outside ``room`` and ``allowed``."""
    return imported_rooms(source) - allowed - {room}


def room_modules(room: str) -> list[Path]:
    return sorted((CORE / room).rglob("*.py"))


def test_the_chain_names_every_room_and_no_other():
    found = sorted(p.name for p in CORE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert found == sorted(ROOMS)
    top = sorted(p.stem for p in CORE.glob("*.py"))
    assert top == sorted(ABOVE + ("errors",)), "a new top-level module belongs in a room"


@pytest.mark.parametrize("room", ROOMS)
def test_each_room_declares_only_rooms_before_it(room):
    earlier = set(CHAIN[: CHAIN.index(room)])
    assert declared(room) <= earlier, f"{room} declares {sorted(declared(room) - earlier)}, later in the chain"


@pytest.mark.parametrize("room", ROOMS)
def test_each_module_imports_only_what_its_room_declares(room):
    allowed = declared(room)
    bad = {str(p.relative_to(ROOT)): sorted(v) for p in room_modules(room)
           if (v := violations(room, p.read_text(), allowed))}
    assert bad == {}, f"imports against the direction (room {room} may import {sorted(allowed)})"


def test_errors_imports_nothing_of_ica():
    assert imported_rooms((CORE / "errors.py").read_text()) == set()


def test_no_room_imports_the_surface_the_api_or_the_cli():
    """``ica.plugin`` and ``ica/__init__`` gather from every room: a room importing them would close a cycle."""
    for room in ROOMS:
        for p in room_modules(room):
            assert not imported_rooms(p.read_text()) & {"", "plugin", "cli", "plugins", "_moved", "__init__"}, p


def test_the_check_sees_an_import_against_the_direction():
    """The checks above can fail: a lazy import of a later room, a top-level `import ica` and a relative
    import are all caught."""
    source = ("from ica.errors import IcaError\n"
              "def f():\n    from ica.reporting.report import write_report\n"
              "import ica\nfrom . import sibling\n")
    assert violations("training", source, declared("training")) == {"reporting", "", "<relative>"}


@pytest.mark.parametrize("path", sorted(PLUGINS.rglob("*.py")), ids=lambda p: str(p.relative_to(PLUGINS)))
def test_built_in_plugins_import_only_the_plugin_surface(path):
    """Built-ins are registered like third-party code, so they import what a third party may: ``ica.plugin``
    (and each other, relatively or by ``ica.plugins``)."""
    assert imported_rooms(path.read_text()) <= {"plugin", "plugins", "<relative>"}


def test_the_example_plugin_imports_only_the_plugin_surface():
    source = (ROOT / "tests" / "example_plugin" / "ica_example_laplace.py").read_text()
    assert imported_rooms(source) == {"plugin"}


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(CORE)))
def test_modules_stay_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: a second job hides in it"


@pytest.mark.parametrize("room", ROOMS)
def test_each_room_says_what_it_owns_and_exports(room):
    init = CORE / room / "__init__.py"
    tree = ast.parse(init.read_text())
    doc = ast.get_docstring(tree) or ""
    assert re.search(r"^Owns:", doc, re.M) and re.search(r"^Exports:", doc, re.M), init


def test_the_architecture_map_names_every_module_of_every_room():
    """The architecture page's room table is the map a newcomer reads: it lists each room's modules, all of them."""
    readme = (ROOT / "docs" / "pages" / "reference" / "architecture.md").read_text()
    for room in ROOMS:
        row = next((line for line in readme.splitlines() if line.startswith(f"| `ica.{room}` |")), None)
        assert row, f"the architecture page's table has no row for ica.{room}"
        listed = set(re.findall(r"`(\w+)`", row.split("|")[4]))
        present = {p.stem for p in (CORE / room).glob("*.py")} - {"__init__"}
        assert listed == present, f"ica.{room}: the architecture page lists {sorted(listed)}, the room has {sorted(present)}"


def test_no_room_hides_one_of_its_modules_behind_an_exported_name():
    """``from ica.x.mod import mod`` in a room's ``__init__`` would make ``ica.x.mod`` the function, not the
    module (``monkeypatch.setattr(ica.components.registry, ...)`` then patches the wrong thing)."""
    import importlib

    for room in ROOMS:
        package = importlib.import_module(f"ica.{room}")
        for path in (CORE / room).glob("*.py"):
            if path.stem != "__init__":
                importlib.import_module(f"ica.{room}.{path.stem}")
                assert getattr(package, path.stem).__name__ == f"ica.{room}.{path.stem}", (room, path.stem)
