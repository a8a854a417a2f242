"""How the CLI shows things: rich tables on a terminal, plain lines in logs and pipes.

The one name a command prints with (``render.console``, ``render.summary_table``, ...), gathered from the modules
that each print one thing: where output goes (`output`), the registry (`render_registry`), a spec's plan
(`render_plan`), training's progress (`render_progress`) and ``ica run``'s table (`render_tables`).
"""

from __future__ import annotations

from ica.cli.output import console, error, errors, notice, warning
from ica.cli.render_plan import draws_text, plan_table, validation, validation_to_download
from ica.cli.render_progress import MANY_SEEDS, RunProgress, losses_text, seeds_text
from ica.cli.render_registry import component_options, provided_by, registry_json, registry_table, slot_default
from ica.cli.render_tables import summary_table

__all__ = [
    "console",
    "errors",
    "error",
    "warning",
    "notice",
    "registry_json",
    "registry_table",
    "component_options",
    "provided_by",
    "slot_default",
    "validation",
    "validation_to_download",
    "draws_text",
    "plan_table",
    "MANY_SEEDS",
    "seeds_text",
    "losses_text",
    "RunProgress",
    "summary_table",
]
