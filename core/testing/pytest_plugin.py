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
        metavar="DISTRIBUTION",
        help="check only the components this installed package provides (its distribution name, "
        "as 'ica list' shows it; 'ica' for the built-ins); repeatable. Default: every component.",
    )
    group.addoption(
        "--ica-component",
        action="append",
        default=[],
        metavar="KIND:NAME",
        help="check only this component, e.g. prior:laplace; repeatable.",
    )
