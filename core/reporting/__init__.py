"""Reporting: many run directories read back as tables, figures and one report.

Owns: the one model of a run directory read back, which status, results and the report share (`rundirs`); finding
runs below the folders named (`finder`, walking them: `walk`), a setting's data draws grouped (`draws`), the
results table (`results`) and index.json (`index`), formerly `collect`; every comparison of two models, corrected
and with a verdict (`comparisons`), and every model on every data set beside its controls (`benchmark`); collapsed
dimensions in words (`collapse`); the report's runs placed by their settings (`experiment`, `settings`), its
tables, figures and rendering (`report` and its parts); figures drawn headless from plain numbers (`plots`) and the
least-squares line of Fig. 3 (`line_fit`); the scatter of an embedding (`embedding`, ``ica.plot_embedding``),
through the directions that best match the sources or labels (`directions`), and the report's embedding figures
(`embedding_figure`). It only reads run directories (and writes its own report and index), so it sits at the end of
the chain.
May import: ica.errors, ica.components, ica.spec, ica.rundir, ica.evaluation, ica.running
Exports: ``find_runs``, ``results_table``, ``write_index``, ``write_report``, ``plot_embedding``, loaded on first
use: the report needs matplotlib and scipy, which ``ica status`` and every worker start should not pay for.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "find_runs": "ica.reporting.finder",
    "results_table": "ica.reporting.results",
    "write_index": "ica.reporting.index",
    "write_report": "ica.reporting.report",
    "plot_embedding": "ica.reporting.embedding",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ica.reporting' has no attribute {name!r}")
