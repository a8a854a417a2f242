"""The run directory on disk: where each file lives, writing it atomically, and reading it back checked.

Owns: the layout of a run directory and of each seed's files (`RunLayout`, `SeedFiles`: ``layout``); atomic
writes that follow no link and name the file when a disk is full (``writing``); one typed record per JSON file,
the model that both writes it and reads it back (``record``, ``schemas``); checked readers for every file read
back (result.json, summaries, spec.json, grid.json, metrics.jsonl, latents.npz, checkpoints: ``damage``,
``json_files``, ``metrics_log``, ``latents``, ``checkpoints``), so a damaged file is one error naming it; and the
digests of the files a trained model is rebuilt from (``digests``). A room of its own, below training, because
training writes checkpoints and logs, evaluation reads latents and reporting reads everything.
May import: ica.errors
Exports: ``RunLayout``, ``SeedFiles``, ``atomic_write``, ``write_json``, ``Record``, ``write_record``,
``WriteFailed``, ``RunFileError`` and the ``read_*`` functions.
"""

from ica.rundir.damage import RunFileError
from ica.rundir.json_files import read_cell_summary, read_grid, read_result, read_run_spec, read_run_summary
from ica.rundir.latents import read_latents
from ica.rundir.layout import RunLayout, SeedFiles
from ica.rundir.metrics_log import read_metrics_lines
from ica.rundir.record import Record, write_record
from ica.rundir.writing import WriteFailed, atomic_write, write_json

__all__ = [
    "RunLayout",
    "SeedFiles",
    "atomic_write",
    "write_json",
    "Record",
    "write_record",
    "WriteFailed",
    "RunFileError",
    "read_result",
    "read_run_spec",
    "read_run_summary",
    "read_cell_summary",
    "read_grid",
    "read_metrics_lines",
    "read_latents",
]
