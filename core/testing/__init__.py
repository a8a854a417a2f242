"""The plugin kit: the checks `ica` runs on its built-in components, for anyone's components, and the packages
`ica new plugin` writes.

A plugin's own repository runs them against its installed components, either from its tests::

    from ica.testing import check_component

    def test_my_prior_honours_the_contract():
        check_component("prior", "laplace")

or as a whole suite, one test per component and check, selected by the package that provides them::

    pytest --pyargs ica.testing --ica-plugin my-prior

`tests/testing/test_contracts.py` runs exactly these checks on every registered component. A check that does not
apply (a convolutional encoder given flat data, a dataset that needs files) says why instead of passing.

Owns: `check_component` and the checks per kind (`checks`, `module_checks`, `model_checks`, `data_checks`), what
a check ends in (`contract`), the tiny inputs they use (`inputs`), the pytest entry (`test_components`, with the
``--ica-plugin`` option registered by `pytest_plugin`), and the plugin package template (`scaffold`,
`templates`).
May import: ica.errors, ica.components, ica.spec, ica.nn, ica.rundir, ica.evaluation, ica.running
Exports: ``check_component``, ``component_checks``, ``ContractError``, ``NotApplicable``, ``CheckReport``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_component", "component_checks", "ContractError", "NotApplicable", "CheckReport"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: pytest imports `ica.testing.pytest_plugin` in every run of the environment, and that
    # must not cost a torch import.
    if name in __all__:
        from ica.testing import checks

        return getattr(checks, name)
    raise AttributeError(f"module 'ica.testing' has no attribute {name!r}")
