"""Specs: from JSON to a validated, immutable experiment.

Owns: reading spec files strictly (no duplicate keys, no non-finite numbers, bounded size and depth) and
rendering validation errors for people (`load`), the pydantic models built from the registered components'
options, JSON Schema included (`models`), the bounds on a spec's counts and the entries it may not repeat
(`limits`), grids of experiments with their cells and directories (`grid`), and replication over data draws,
one more grid axis (`draws`).
May import: ica.errors, ica.components
Exports: ``load_spec``, ``spec_json``, ``spec_hash``, ``read_json``, ``plain_json``, ``spec_models``,
``grid_cells``, ``has_grid``, ``GridCell``.
"""

from ica.spec.grid import GridCell, grid_cells, has_grid
from ica.spec.load import load_spec, plain_json, read_json, render_errors, spec_hash, spec_json
from ica.spec.models import SpecModels, spec_models

__all__ = [
    "load_spec",
    "spec_json",
    "spec_hash",
    "read_json",
    "plain_json",
    "render_errors",
    "spec_models",
    "SpecModels",
    "grid_cells",
    "has_grid",
    "GridCell",
]
