"""Plugins written against ica 0.1 keep working until ica 0.4.0 (`ica._moved.REMOVED_IN`): every module name of
the flat core still imports (with a DeprecationWarning naming the new home) and hands out the very same objects,
and so does each renamed name of ``ica.plugin``."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path

import pytest

import ica
import ica.nn
import ica.spec
from ica._moved import MOVED, REMOVED_IN, RENAMED
from ica.components.registry import Registry

EXAMPLE = Path(__file__).parent / "example_plugin" / "ica_example_laplace.py"


def fresh_import(name: str) -> tuple[types.ModuleType, list[warnings.WarningMessage]]:
    sys.modules.pop(name, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(name)
    return module, [w for w in caught if issubclass(w.category, DeprecationWarning)]


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_name_warns_and_forwards_to_the_new_home(old):
    module, caught = fresh_import(f"ica.{old}")
    assert len(caught) == 1 and MOVED[old][0] in str(caught[0].message)
    assert f"goes in ica {REMOVED_IN}" in str(caught[0].message)
    assert caught[0].filename == __file__, "the warning points at the importing line"
    new = importlib.import_module(MOVED[old][0])
    public = [n for n in dir(new) if not n.startswith("_") and not isinstance(getattr(new, n), types.ModuleType)]
    assert public, new
    for name in public:
        assert getattr(module, name) is getattr(new, name), name


@pytest.mark.parametrize("old", sorted(RENAMED))
def test_a_name_renamed_since_is_still_handed_out_under_its_old_name(old):
    module, _ = fresh_import(f"ica.{old}")
    for was, now in RENAMED[old].items():
        new = next(importlib.import_module(t) for t in MOVED[old] if hasattr(importlib.import_module(t), now))
        assert getattr(module, was) is getattr(new, now), (old, was)


def test_an_unknown_name_on_an_old_module_is_an_attribute_error_naming_the_new_home():
    module, _ = fresh_import("ica.train")
    with pytest.raises(AttributeError, match="ica.training"):
        _ = module.no_such_name


def test_every_old_module_name_is_covered():
    """The 0.1 core's 42 modules: each is a room's module now, an alias, or kept (errors, plugin, nn, spec)."""
    old_names = {
        "building",
        "checking",
        "collect",
        "conv",
        "distributions",
        "environment",
        "errors",
        "evaluate",
        "executor",
        "grid",
        "hookspecs",
        "identifiability",
        "locks",
        "measures",
        "nn",
        "optim",
        "outcomes",
        "packing",
        "plots",
        "plugin",
        "plugin_registry",
        "protocols",
        "report",
        "report_boxplots",
        "report_figures",
        "report_read",
        "report_render",
        "report_scatter",
        "report_settings",
        "report_tables",
        "report_training",
        "resources",
        "results",
        "run_files",
        "runner",
        "seeding",
        "signals",
        "slurm",
        "spec",
        "spec_models",
        "stacked",
        "tblog",
        "train",
        "validate",
    }
    assert old_names - set(MOVED) == {"errors", "plugin", "nn", "spec"}


def test_the_rooms_named_like_old_modules_export_what_plugins_and_users_imported_from_them():
    for name in ("SeedLinear", "SeedMLP", "SeedDropout", "one_hot", "activation", "ACTIVATIONS"):
        assert getattr(ica.nn, name) is getattr(importlib.import_module("ica.nn.layers"), name)
    for name in ("load_spec", "spec_json", "spec_hash"):
        assert getattr(ica.spec, name) is getattr(importlib.import_module("ica.spec.load"), name)


@pytest.mark.slow
def test_a_plugin_written_against_the_flat_core_still_registers(tmp_path):
    """The example plugin as it was in 0.1 (importing ``ica.protocols``) loads and builds, with a warning."""
    old_source = EXAMPLE.read_text().replace(
        "from ica.plugin import BuildContext, Field, Options, SpecError, hookimpl\n",
        "from ica.plugin import Field, Options, SpecError, hookimpl\nfrom ica.protocols import BuildContext\n",
    )
    assert "from ica.protocols import BuildContext" in old_source
    path = tmp_path / "old_style_laplace.py"
    path.write_text(old_source)
    probe = textwrap.dedent(f"""
        import importlib.util, sys, warnings
        warnings.simplefilter("always")
        import ica
        from ica.components.registry import Registry
        spec = importlib.util.spec_from_file_location("old_style_laplace", {str(path)!r})
        module = importlib.util.module_from_spec(spec)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            spec.loader.exec_module(module)
        reg = Registry.load(entry_points=False, extra=[("old_style", module)])
        print([str(w.message).split(" ")[0] for w in caught if w.category is DeprecationWarning])
        print(reg.failures, "laplace" in reg.names("prior"))
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["['ica.protocols']", "[] True"]


@pytest.mark.slow
def test_the_built_in_plugins_trigger_no_deprecation_warning():
    """Nothing inside ``ica`` uses an old name: loading every plugin warns about nothing."""
    probe = (
        "import warnings\nwarnings.simplefilter('error', DeprecationWarning)\n"
        "import ica, ica.cli.app\nprint(len(ica.registry().components), ica.registry().failures)"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "[]"


def test_registry_is_still_the_function_and_the_surface_is_complete():
    assert callable(ica.registry) and isinstance(ica.registry(), Registry)
    surface = importlib.import_module("ica.plugin")
    assert all(hasattr(surface, name) for name in surface.__all__)


def release(version: str) -> tuple[int, ...]:
    """``"0.4.0rc1"`` -> ``(0, 4, 0)``: the release a version belongs to (a pre-release of 0.4.0 counts as 0.4.0,
    so the aliases are gone before the first 0.4.0 build is made)."""
    try:
        from packaging.version import Version
    except ImportError:
        import re

        return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])
    return Version(version).release


def test_the_old_names_are_gone_in_the_release_that_removes_them():
    """Fails once the installed version reaches `REMOVED_IN`: then delete ``core/_moved.py`` (and its
    ``install()`` in ``ica/__init__``), ``ica.plugin.RENAMED``, this file, and the "Moved in 0.2" section."""
    installed = importlib.metadata.version("ica-toolkit")
    assert release(installed) < release(REMOVED_IN), (
        f"ica {installed} is the release that removes the 0.1 names (REMOVED_IN = {REMOVED_IN})"
    )


def test_the_version_check_can_fail():
    assert release("0.4.0") >= release(REMOVED_IN) and release("0.4.0rc1") >= release("0.4.0")
    assert release("0.3.9") < release(REMOVED_IN) and release("0.10.0") > release("0.4.0")


def test_a_renamed_name_of_the_plugin_surface_warns_and_is_the_new_one():
    surface = importlib.import_module("ica.plugin")
    for old, new in surface.RENAMED.items():
        with pytest.warns(DeprecationWarning, match=f"ica.plugin.{new}.*{REMOVED_IN}") as caught:
            value = getattr(surface, old)
        assert value is getattr(surface, new) and caught[0].filename == __file__
    with pytest.warns(DeprecationWarning):
        from ica.plugin import human
    assert human(1500) == "1.5 kB"
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = surface.no_such_name
