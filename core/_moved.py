"""The module names of ``ica`` before its rooms (0.1), kept importable with a warning until ica 0.4.0.

``import ica.train`` (or ``from ica.protocols import BuildContext``) still works, but warns once with a
``DeprecationWarning`` naming the new home; the old name is a thin module that forwards every attribute
to the new one(s), so objects are identical (``ica.train.Trainer is ica.training.loop.Trainer``).
Setting an attribute on an old name (``monkeypatch.setattr(ica.runner, ...)``) does not reach the code:
patch the new module. ``ica.nn`` and ``ica.spec`` are the rooms' own names and need no alias. Release
`REMOVED_IN` deletes this module (a test fails once the installed version reaches it); the architecture page's
"Moved in 0.2" lists the aliases for plugin authors.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any

REMOVED_IN = "0.4.0"
"""The release without the old names: two after 0.2, which introduced the rooms (0.3 changed how runs are
decided and recorded; one more release gives plugin authors time to move)."""

# old name under ``ica.`` -> the module(s) its names live in now, searched in order
MOVED: dict[str, tuple[str, ...]] = {
    "building": ("ica.running.building",),
    "checking": ("ica.components.checking",),
    "collect": ("ica.reporting.finder", "ica.reporting.rundirs", "ica.reporting.results", "ica.reporting.index"),
    "conv": ("ica.nn.conv",),
    "distributions": ("ica.nn.distributions",),
    "environment": ("ica.running.environment",),
    "evaluate": ("ica.evaluation.seeds",),
    "executor": ("ica.running.executor", "ica.running.processes"),
    "grid": ("ica.spec.grid",),
    "hookspecs": ("ica.components.hookspecs",),
    "identifiability": ("ica.training.identifiability",),
    "locks": ("ica.running.locks",),
    "measures": ("ica.evaluation.correlation", "ica.evaluation.cca", "ica.evaluation.cca_pairs"),
    "optim": ("ica.training.optim",),
    "outcomes": ("ica.running.outcomes",),
    "packing": ("ica.running.packing",),
    "plots": ("ica.reporting.plots", "ica.reporting.line_fit"),
    "plugin_registry": ("ica.components.registry",),
    "protocols": ("ica.components.protocols",),
    "report": ("ica.reporting.report", "ica.rundir.enclosing"),
    "report_boxplots": ("ica.reporting.boxplots",),
    "report_figures": ("ica.reporting.figures",),
    "report_read": ("ica.reporting.experiment", "ica.reporting.rundirs"),
    "report_render": ("ica.reporting.render",),
    "report_scatter": ("ica.reporting.scatter",),
    "report_settings": ("ica.reporting.settings",),
    "report_tables": ("ica.reporting.tables",),
    "report_training": ("ica.reporting.curves",),
    "resources": ("ica.running.resources",),
    "results": ("ica.rundir.writing", "ica.rundir.json_files", "ica.rundir.checkpoints", "ica.rundir.layout"),
    "run_files": (
        "ica.rundir.damage",
        "ica.rundir.schemas",
        "ica.rundir.json_files",
        "ica.rundir.metrics_log",
        "ica.rundir.latents",
        "ica.rundir.checkpoints",
    ),
    "runner": ("ica.running.runner", "ica.running.claims", "ica.running.building", "ica.running.outcomes"),
    "seeding": ("ica.nn.seeding",),
    "signals": ("ica.training.signals",),
    "slurm": ("ica.running.slurm",),
    "spec_models": ("ica.spec.models",),
    "stacked": ("ica.nn.stacked",),
    "tblog": ("ica.training.tensorboard",),
    "train": ("ica.training.loop", "ica.training.checkpoints", "ica.training.sampling"),
    "validate": ("ica.running.validate",),
}

# old name -> {a name it offered -> that name's new name}: names renamed since, still handed out under the old one
RENAMED: dict[str, dict[str, str]] = {
    "collect": {"seeds_text": "seed_counts_text"},
    "locks": {"describe": "describe_holder"},
    "report": {"results_table": "metrics_table"},
    "report_read": {"Run": "RunRecord", "Cell": "CellRecord", "Seed": "SeedRecord"},
    "report_tables": {"results_table": "metrics_table"},
    "resources": {"human": "format_bytes"},
}


class _Forwarding(types.ModuleType):
    """An old module name: every attribute is looked up in the new module(s)."""

    def __init__(self, name: str, targets: tuple[str, ...]):
        super().__init__(name, f"Moved: use {', '.join(targets)}.")
        self.__targets = targets
        self.__renamed = RENAMED.get(name.removeprefix("ica."), {})

    def _modules(self) -> list[types.ModuleType]:
        return [importlib.import_module(t) for t in self.__targets]

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        attr = self.__renamed.get(attr, attr)
        for module in self._modules():
            if hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(
            f"module {self.__name__!r} (moved to {', '.join(self.__targets)}) has no attribute {attr!r}"
        )

    def __dir__(self) -> list[str]:
        return sorted({n for m in self._modules() for n in dir(m) if not n.startswith("__")})


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        old = spec.name.removeprefix("ica.")
        targets = MOVED[old]
        warnings.warn(
            f"{spec.name} moved to {' and '.join(targets)} in ica 0.2; the old name goes in ica "
            f"{REMOVED_IN} (plugin authors: import from ica.plugin)",
            DeprecationWarning,
            stacklevel=_caller(),
        )
        return _Forwarding(spec.name, targets)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.startswith("ica.") and fullname.removeprefix("ica.") in MOVED:
            return importlib.machinery.ModuleSpec(fullname, _Loader())
        return None


def _caller() -> int:
    """The stack level of the first frame outside the import machinery and this module, so the warning points
    at the user's ``import`` line. ``warnings`` itself skips importlib's frozen frames, so only the others
    (this module, ``importlib.import_module``) are counted."""
    frame: types.FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith("<frozen"):
            pass
        elif name == __file__ or name == importlib.__file__:
            level += 1
        else:
            break
        frame = frame.f_back
    return level


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (``import ica`` does it)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
