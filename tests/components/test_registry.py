"""The plugin registry: built-ins from registry.toml, failures recorded, duplicates rejected with both owners."""

from __future__ import annotations

import types

import pytest

from ica.errors import RegistryError
from ica.plugin import Options, hookimpl
from ica.components.registry import Registry, builtin_modules, registry


def plugin_module(name: str, kind: str, component: str) -> types.ModuleType:
    module = types.ModuleType(name)

    @hookimpl
    def ica_register(register):
        register(kind, component, Options, lambda options, ctx: object(), description=f"{component} from {name}")

    module.ica_register = ica_register
    return module


def test_builtins_listed_in_registry_toml_are_all_registered():
    reg = registry()
    assert not reg.failures, reg.failures
    modules = {c.plugin.module for c in reg.of_kind()}
    assert set(builtin_modules()) <= modules
    for kind, name in [
        ("dataset", "tcl"),
        ("dataset", "npz"),
        ("encoder", "mlp"),
        ("decoder", "mlp"),
        ("likelihood", "gaussian"),
        ("prior", "conditional"),
        ("prior", "gmm"),
        ("model", "ivae"),
        ("model", "vade"),
        ("metric", "mcc"),
        ("metric", "cca_mcc"),
        ("metric", "elbo"),
    ]:
        component = reg.get(kind, name)
        assert component.plugin.name == "ica" and component.plugin.source == "builtin"
        assert component.description


def test_unknown_name_suggests_the_closest():
    with pytest.raises(RegistryError, match=r"unknown prior 'gmmm'; did you mean 'gmm'\?"):
        registry().get("prior", "gmmm")


def test_duplicate_name_is_unusable_and_names_both_plugins():
    reg = Registry.load(
        entry_points=False,
        extra=[
            ("first-pkg", plugin_module("first_mod", "prior", "twin")),
            ("second-pkg", plugin_module("second_mod", "prior", "twin")),
        ],
    )
    assert ("prior", "twin") in reg.conflicts
    with pytest.raises(RegistryError, match="first-pkg.*second-pkg"):
        reg.get("prior", "twin")
    assert "twin" not in reg.names("prior")


def test_duplicate_of_a_builtin_is_reported_too():
    reg = Registry.load(entry_points=False, extra=[("intruder", plugin_module("intruder_mod", "prior", "gmm"))])
    with pytest.raises(RegistryError, match="ica.*intruder"):
        reg.get("prior", "gmm")


def test_a_plugin_that_raises_is_recorded_and_the_rest_still_load():
    broken = types.ModuleType("broken_mod")

    @hookimpl
    def ica_register(register):
        raise RuntimeError("this plugin is broken")

    broken.ica_register = ica_register
    reg = Registry.load(entry_points=False, extra=[("broken-pkg", broken)])
    assert [f.plugin for f in reg.failures] == ["broken-pkg (broken_mod)"]
    assert "this plugin is broken" in reg.failures[0].error
    assert "gmm" in reg.names("prior")


def test_bad_registrations_are_failures_not_crashes():
    module = types.ModuleType("wrong_kind")

    @hookimpl
    def ica_register(register):
        register("flux-capacitor", "x", Options, lambda o, c: None)

    module.ica_register = ica_register
    reg = Registry.load(entry_points=False, extra=[("wrong", module)])
    assert "unknown component kind" in reg.failures[0].error


def test_registry_is_loaded_once():
    assert registry() is registry()
