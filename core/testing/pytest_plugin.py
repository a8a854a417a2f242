"""pytest's side of the kit (registered as ica-toolkit's ``pytest11`` entry point): the ``--ica-plugin``
option that `ica.testing.test_components` reads. It imports nothing of torch or `ica`, because pytest loads it
in every run of the environment."""

from __future__ import annotations


def pytest_addoption(parser) -> None:
    group = parser.getgroup("ica", "ica's component contracts (pytest --pyargs ica.testing)")
    group.addoption(
        "--ica-plugin",
        action="append",
        default=[],
        metavar="PLUGIN",
        help="check only the components this installed package provides, named by its distribution "
        "(as 'ica list' shows it, e.g. ica-poisson; 'ica' for the built-ins), its module (ica_poisson) or "
        "the name of a component (poisson); repeatable. Default: every component.",
    )
    group.addoption(
        "--ica-component",
        action="append",
        default=[],
        metavar="KIND:NAME",
        help="check only this component, e.g. prior:laplace; repeatable.",
    )
