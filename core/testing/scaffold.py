"""`ica new plugin NAME --kind KIND`: a ready-to-install plugin package (pyproject with its entry point, a working
component skeleton, tests that run the contract checks and one small run), written atomically under ``out``."""

from __future__ import annotations

import importlib.util
import keyword
import os
import re
import secrets
import shutil
import sys
from pathlib import Path
from string import Template
from typing import Any

from ica.errors import IcaError
from ica.rundir.enclosing import enclosing_run_directory
from ica.testing.templates import HEADER, REGISTER, RUN_DATA, SKELETONS

KINDS = tuple(SKELETONS)
DISTRIBUTION = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*[A-Za-z0-9]$|^[A-Za-z]$")
COMPONENT = re.compile(r"^[a-z][a-z0-9_]*$")

PYPROJECT = """[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "$name"
version = "0.1.0"
description = "An ica $kind: $summary"
requires-python = ">=3.11"
dependencies = ["ica-toolkit"]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.entry-points.ica]
$component = "$module"

[tool.setuptools]
py-modules = ["$module"]
"""

TESTS = '''"""The checks ica runs on its own components (`ica.testing`), and one small run through ica."""

import ica
from ica.testing import check_component
$imports

def test_${component}_honours_the_${kind}_contract():
    report = check_component("$kind", "$component")
    assert report.passed, report.not_applicable


def test_${component}_trains_in_a_run(tmp_path):
    spec = $spec
$data    ica.check(spec)  # what ica run would refuse, found before training
    summary = ica.run(spec, out=tmp_path / "run")
    for cell in summary["cells"].values():
        assert set(cell["status"].values()) == {"finished"}, cell["status"]
$extra'''

README = """# $name

An [ica](https://pypi.org/project/ica-toolkit/) $kind, `$component`: $summary

```bash
pip install -e .                       # ica list $kind  now shows $component, from $name
pytest                                 # its tests: the contract checks and a small run
pytest --pyargs ica.testing --ica-plugin $name   # the contract checks alone, as ica runs them
```

In a spec: $usage
"""


def write_plugin_package(name: str, kind: str, out: Path, component: str | None = None) -> Path:
    """Write the package ``out/name`` for a plugin of ``kind`` and return its directory; nothing is written
    unless all of it is (a temporary directory beside it, renamed), and an existing directory is never touched."""
    if kind not in SKELETONS:
        raise IcaError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}", where="--kind")
    if not DISTRIBUTION.match(name):
        raise IcaError(
            f"{name!r} is not a package name: letters, digits, '-', '_' and '.', starting with a letter", where="NAME"
        )
    module = module_name(name)
    check_module(name, module)
    where = "NAME" if component is None else "--component"
    component = component or module.removeprefix("ica_")
    if not COMPONENT.match(component):
        raise IcaError(
            f"component name {component!r}: lower-case letters, digits and '_', starting with a letter", where=where
        )
    check_component_name(kind, component, where)
    out = Path(out)
    target = out / name
    check_out(out, target)
    if target.exists() or target.is_symlink():
        raise IcaError("already exists; choose another NAME or --out (nothing was written)", where=str(target))
    out.mkdir(parents=True, exist_ok=True)
    values = fill_ins(name, kind, component, module)
    scratch = out / f".{name}.{secrets.token_hex(4)}"
    scratch.mkdir()  # the mode any folder gets under the umask (a private temporary one would keep 0700)
    try:
        (scratch / "tests").mkdir()
        (scratch / "pyproject.toml").write_text(Template(PYPROJECT).substitute(values))
        (scratch / f"{module}.py").write_text(component_source(kind, values))
        (scratch / "tests" / f"test_{module}.py").write_text(Template(TESTS).substitute(values))
        (scratch / "README.md").write_text(Template(README).substitute(values))
        os.rename(scratch, target)  # refuses a target created meanwhile (it would not be empty)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return target


def check_module(name: str, module: str) -> None:
    """Refuse a module that, installed, would hide another: a keyword, the standard library, or any module
    Python can already import (found without importing it): ``numpy.py`` would break every ``import numpy``."""
    if keyword.iskeyword(module) or module in ("ica", "test", "tests"):
        raise IcaError(
            f"{name!r} would make the module {module!r}, which shadows another; choose another NAME", where="NAME"
        )
    if module in sys.stdlib_module_names:
        raise IcaError(
            f"{name!r} would make the module {module!r}, which shadows the standard library's; choose another NAME",
            where="NAME",
        )
    location = installed_at(module)
    if location is not None:
        raise IcaError(
            f"{name!r} would make the module {module!r}, which shadows the installed module of that "
            f"name{location and f' ({location})'}; choose another NAME",
            where="NAME",
        )


def installed_at(module: str) -> str | None:
    """Where Python finds the top-level ``module`` now ('' when it cannot say), or None when it finds none."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):  # loaded already, without a spec: taken all the same
        return ""
    if spec is None:
        return None
    origin = spec.origin if spec.origin not in (None, "built-in", "frozen") else None
    locations = list(spec.submodule_search_locations or [])
    return origin or (locations[0] if locations else "")


def check_component_name(kind: str, component: str, where: str) -> None:
    """Refuse a name already registered for ``kind``: a second registration disables both (`Registry.get`)."""
    from ica.components.registry import registry

    reg = registry()
    owners = [p.name for p in reg.conflicts.get((kind, component), [])]
    if (kind, component) in reg.components:
        owners = [reg.components[(kind, component)].plugin.name]
    if owners:
        hint = " (pass --component)" if where == "NAME" else ""
        raise IcaError(
            f"the {kind} name {component!r} is already registered by {' and '.join(owners)}; a second "
            f"one would disable both in every spec: choose another name{hint}",
            where=where,
        )


def check_out(out: Path, target: Path) -> None:
    """``--out`` is a folder (or will be one), and not inside a run or grid directory, whose files are its record."""
    existing = next((p for p in (out, *out.parents) if p.exists() or p.is_symlink()), None)
    if existing is not None and not existing.is_dir():
        what = "a symbolic link to nothing" if existing.is_symlink() and not existing.exists() else "a file"
        holds = "" if existing == out else f" (in the path of --out {out})"
        raise IcaError(
            f"is {what}, not a folder{holds}; --out names the folder the package is written into",
            where=f"--out {existing}",
        )
    inside = enclosing_run_directory(target)
    if inside is not None:
        raise IcaError(
            f"would put the package inside the run directory {inside}, whose files are its record; "
            "choose an --out outside it",
            where=f"--out {out}",
        )


def module_name(name: str) -> str:
    """The Python module of the package ``name`` (its distribution name, lower-cased, '-' and '.' as '_')."""
    return re.sub(r"[-.]", "_", name.lower())


def component_source(kind: str, values: dict[str, str]) -> str:
    code, _ = SKELETONS[kind]
    return Template(HEADER + code + REGISTER).substitute(values)


def fill_ins(name: str, kind: str, component: str, module: str) -> dict[str, str]:
    """The values the templates are filled with, the test's spec among them."""
    klass = "".join(part.capitalize() for part in component.split("_") if part)
    data: dict[str, Any] = dict(RUN_DATA)
    mlp = {"name": "mlp", "hidden": [8]}
    model: dict[str, Any] = {"name": "ivae", "encoder": mlp, "decoder": mlp}
    evaluation = None
    if kind in ("prior", "encoder", "decoder", "likelihood"):
        model = {**model, kind: {"name": component}}
    elif kind == "model":
        model = {"name": component, "hidden": 8}
    elif kind == "dataset":
        data = {**data, "name": component}
    else:
        evaluation = {"metrics": [{"name": "mcc"}, {"name": component}]}
    spec = {
        "data": data,
        "models": {"m": model},
        "training": {"steps": 20, "batch_size": 8},
        "seeds": 2,
        "device": "cpu",
        **({"evaluation": evaluation} if evaluation else {}),
    }
    extra = '    assert summary["cells"]["m"]["stats"]["%s"]["n_failed"] == 0\n' % component if kind == "metric" else ""
    likelihood = kind == "likelihood"
    imports = "from ica.testing.data_checks import likelihood_data\n" if likelihood else ""
    # the run's data mapped into what the likelihood declares it can describe (its ``support``): counts for counts
    data_line = f'    spec["data"] = likelihood_data("{component}", tmp_path, spec["data"])\n' if likelihood else ""
    usage = {
        "prior": f'`"prior": {{"name": "{component}"}}` in an iVAE or VaDE model.',
        "encoder": f'`"encoder": {{"name": "{component}"}}` in a model.',
        "decoder": f'`"decoder": {{"name": "{component}"}}` in a model.',
        "likelihood": f'`"likelihood": {{"name": "{component}"}}` in a model.',
        "model": f'`"models": {{"mine": {{"name": "{component}"}}}}`.',
        "dataset": f'`"data": {{"name": "{component}"}}`.',
        "metric": f'`"evaluation": {{"metrics": [{{"name": "mcc"}}, {{"name": "{component}"}}]}}`.',
    }[kind]
    builder = "build" if kind == "dataset" else klass
    return {
        "name": name,
        "kind": kind,
        "component": component,
        "module": module,
        "Class": klass,
        "summary": SKELETONS[kind][1],
        "spec": repr(spec),
        "extra": extra,
        "imports": imports,
        "data": data_line,
        "usage": usage,
        "builder": builder,
    }
