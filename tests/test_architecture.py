"""The rooms of `ica` and the one direction their imports run (docs/pages/reference/architecture.md).

Each room's ``__init__.py`` says what it may import on a line ``May import: ica.errors, ica.components``;
these tests hold every module of the room to that line (imports anywhere in a file count, inside functions
too), hold the lines themselves to the chain below, keep plugins on the one surface ``ica.plugin``, find no
cycle between the modules of one room (or of the CLI, or of the built-in plugins), and keep modules small. The
checks read source files, so they see what ``import`` never reports: a lazy import against the direction is as
much a cycle as an eager one.
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
CHAIN = (
    "errors",
    "components",
    "spec",
    "nn",
    "rundir",
    "training",
    "evaluation",
    "running",
    "trained",
    "estimators",
    "reporting",
    "testing",
)
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
    bad = {
        str(p.relative_to(ROOT)): sorted(v)
        for p in room_modules(room)
        if (v := violations(room, p.read_text(), allowed))
    }
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
    source = (
        "from ica.errors import IcaError\n"
        "def f():\n    from ica.reporting.report import write_report\n"
        "import ica\nfrom . import sibling\n"
    )
    assert violations("training", source, declared("training")) == {"reporting", "", "<relative>"}


@pytest.mark.parametrize("path", sorted(PLUGINS.rglob("*.py")), ids=lambda p: str(p.relative_to(PLUGINS)))
def test_built_in_plugins_import_only_the_plugin_surface(path):
    """Built-ins are registered like third-party code, so they import what a third party may: ``ica.plugin``
    (and each other, relatively or by ``ica.plugins``)."""
    assert imported_rooms(path.read_text()) <= {"plugin", "plugins", "<relative>"}


def test_the_plugin_surface_takes_nothing_from_running():
    """What plugin authors build with lives in the rooms a component may need (components, nn, evaluation), not
    in the machinery that runs specs: a plugin never depends on how runs are made."""
    assert imported_rooms((CORE / "plugin.py").read_text()) <= {"errors", "components", "nn", "evaluation", "_moved"}


def test_the_example_plugin_imports_only_the_plugin_surface():
    source = (ROOT / "tests" / "example_plugin" / "ica_example_laplace.py").read_text()
    assert imported_rooms(source) == {"plugin"}


# --------------------------------------------------------------------------------------- cycles
# Each room, the CLI and the built-in plugins are checked for cycles between their own modules, lazy imports
# included: a cycle means neither module can be read, tested or moved without the other.
PACKAGES = {"ica": CORE, "ica.cli": ROOT / "cli", "ica.plugins": PLUGINS}


def module_name(path: Path) -> str:
    """``core/running/runner.py`` -> ``ica.running.runner``; a package's ``__init__.py`` is the package."""
    for package, folder in sorted(PACKAGES.items(), key=lambda item: -len(item[0])):
        if path.is_relative_to(folder):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            return ".".join([package, *(parts[:-1] if parts[-1] == "__init__" else parts)])
    raise ValueError(path)


def imported_modules(module: str, is_package: bool, source: str, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``source`` (the text of ``module``) imports, anywhere in the file:
    ``from ica.x import y`` is module ``ica.x.y`` where that is a module, else the package ``ica.x``."""
    here = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                found.update({f"{target}.{alias.name}"} & known or {target} & known)
    return found - {module}


def import_graph(paths: list[Path]) -> dict[str, set[str]]:
    """Each module of ``paths`` and the modules of ``paths`` it imports."""
    names = {module_name(p): p for p in paths}
    return {m: imported_modules(m, p.name == "__init__.py", p.read_text(), set(names)) for m, p in names.items()}


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


CYCLE_GROUPS = {
    **{f"ica.{room}": sorted((CORE / room).rglob("*.py")) for room in ROOMS},
    "ica (top level)": sorted(CORE.glob("*.py")),
    "ica.cli": sorted((ROOT / "cli").rglob("*.py")),
    "ica.plugins": sorted(PLUGINS.rglob("*.py")),
}


@pytest.mark.parametrize("group", sorted(CYCLE_GROUPS))
def test_no_cycles_between_the_modules_of_a_room(group):
    found = [sorted(c) for c in cycles(import_graph(CYCLE_GROUPS[group]))]
    assert found == [], f"import cycles in {group}: {found}"


def test_the_cycle_check_sees_a_lazy_cycle_and_a_relative_one(tmp_path, monkeypatch):
    """The check can fail: a lazy import back, a relative import and a cycle through three modules are found;
    ``from package import name`` is the package unless ``name`` is a module of it."""
    pkg = tmp_path / "plugins" / "kind"
    pkg.mkdir(parents=True)
    files = {
        "__init__.py": "from ica.plugins.kind.a import A\n",
        "a.py": "A = 1\ndef f():\n    from ica.plugins.kind import b\n",
        "b.py": "from .c import C\n",
        "c.py": "from ica.plugins.kind.a import A\nC = 2\n",
        "d.py": "from ica.plugins.kind import A\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    monkeypatch.setitem(PACKAGES, "ica.plugins", tmp_path / "plugins")
    graph = import_graph(sorted(pkg.glob("*.py")))
    k = "ica.plugins.kind"
    assert graph[f"{k}.d"] == {k} and graph[k] == {f"{k}.a"}
    assert cycles(graph) == [{f"{k}.a", f"{k}.b", f"{k}.c"}]
    assert cycles({"x": {"y"}, "y": set()}) == []


def test_the_cli_imports_only_rooms_and_the_api():
    """The CLI sits on top of the rooms and the API; it reaches plugins through the registry, never by import,
    and has no use for the plugin authors' surface or the aliases of moved modules."""
    for path in sorted((ROOT / "cli").rglob("*.py")):
        assert imported_rooms(path.read_text()) <= set(CHAIN) | {"", "cli"}, path


ONE_MEANING = ("flatten", "describe", "results_table", "seeds_text")
"""Helper names that once had a definition in several modules, each doing its own thing."""


def definitions(name: str) -> list[str]:
    """Every module of core/ and cli/ that defines ``name`` (a function, class, method or module-level name)."""
    found = []
    for path in sorted([*CORE.rglob("*.py"), *(ROOT / "cli").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            defined = (
                isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and node.name == name
                or isinstance(node, ast.Assign)
                and any(getattr(t, "id", None) == name for t in node.targets)
            )
            if defined:
                found.append(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("name", ONE_MEANING)
def test_a_helper_name_is_defined_once(name):
    """Two helpers of one name that disagree are a trap: whoever imports one expects the other's rules."""
    assert len(definitions(name)) <= 1, definitions(name)


ISSUE_REFERENCE = re.compile(r"\bissues? #?\d+|\(#\d+\)|\bPR #\d+", re.I)


@pytest.mark.parametrize("folder", ["core", "cli", "plugins"])
def test_comments_say_why_not_which_issue(folder):
    """History belongs in git: a comment or docstring says why the code is as it is, not which issue asked."""
    found = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in sorted((ROOT / folder).rglob("*.py"))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if ISSUE_REFERENCE.search(line)
    ]
    assert found == []


def test_the_issue_check_sees_the_usual_forms():
    assert all(ISSUE_REFERENCE.search(t) for t in ("(issue #5)", "issue 12, item 3", "fixed in (#31)", "PR #7"))
    assert not any(ISSUE_REFERENCE.search(t) for t in ("§3, Fig. 1", "color:#222", "Issues a warning"))


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
        assert listed == present, (
            f"ica.{room}: the architecture page lists {sorted(listed)}, the room has {sorted(present)}"
        )


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
