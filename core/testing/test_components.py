"""``pytest --pyargs ica.testing [--ica-plugin PLUGIN] [--ica-component KIND:NAME]``: every check of every
selected component, one test each, exactly as `ica`'s own suite runs them on its built-ins."""

from __future__ import annotations

import re

import pytest

from ica.components.registry import Component, registry
from ica.testing.checks import component_checks
from ica.testing.contract import NotApplicable


def selected(config) -> list[tuple[str, str]]:
    """The (kind, name) of every registered component the options select (all of them by default)."""
    plugins = set(config.getoption("ica_plugin", default=None) or [])
    wanted = {tuple(c.split(":", 1)) for c in (config.getoption("ica_component", default=None) or [])}
    reg = registry()
    found = [
        (c.kind, c.name)
        for c in reg.of_kind()
        if (not plugins or provided_by(c, plugins)) and (not wanted or (c.kind, c.name) in wanted)
    ]
    if (plugins or wanted) and not found:
        known = sorted({c.plugin.name for c in reg.of_kind()})
        raise pytest.UsageError(
            f"no registered component matches --ica-plugin {sorted(plugins)} "
            f"--ica-component {sorted(wanted)}; installed plugins: {known}"
        )
    return found


def provided_by(component: Component, plugins: set[str]) -> bool:
    """Whether ``--ica-plugin`` names ``component``: by the distribution that provides it (``ica-poisson``,
    however spelt: ``ica_poisson``, ``ICA.Poisson``), its module (``ica_poisson``) or its own name
    (``poisson``, the name a spec uses)."""
    names = {normalized(p) for p in plugins}
    info = component.plugin
    return bool(names & {normalized(info.name), normalized(info.module), normalized(component.name)})


def normalized(name: str) -> str:
    """A distribution name as packaging compares them (PEP 503): lower case, runs of '-', '_', '.' as one '-'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pytest_generate_tests(metafunc) -> None:
    if "ica_check" in metafunc.fixturenames:
        cases = [(kind, name, check) for kind, name in selected(metafunc.config) for check in component_checks(kind)]
        metafunc.parametrize("ica_check", cases, ids=[f"{k}:{n}:{c.__name__}" for k, n, c in cases])


def test_component_contract(ica_check):
    kind, name, check = ica_check
    try:
        check(registry(), name)
    except NotApplicable as reason:
        pytest.skip(str(reason))
