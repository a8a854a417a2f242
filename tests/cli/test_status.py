"""``ica status``: seeds per state, read from the run directories."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

import ica
from ica.running.locks import training_lock
from ica.cli.app import app


@pytest.mark.slow
def test_status_tells_finished_failed_running_and_missing_apart(tiny_spec, tmp_path, monkeypatch):
    from ica.cli import render

    monkeypatch.setattr(render.console, "width", 1000)  # no folding of cells in the test's output
    tiny_spec["models"] = {"ivae": tiny_spec["models"]["ivae"]}
    tiny_spec["seeds"] = 4
    ica.run(tiny_spec, out=tmp_path)
    seeds = tmp_path / "ivae" / "seeds"
    result = json.loads((seeds / "1" / "result.json").read_text())
    (seeds / "1" / "result.json").write_text(json.dumps({**result, "status": "failed", "error": "injected"}))
    (seeds / "2" / "result.json").unlink()  # metrics.jsonl and checkpoint.pt remain: stopped
    for f in (seeds / "3").iterdir():
        f.unlink()  # nothing yet: missing
    (tmp_path / "summary.json").unlink()
    (tmp_path / "ivae" / "summary.json").unlink()
    out = CliRunner().invoke(app, ["status", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.output)
    assert row["model"] == "ivae" and row["status"] == "stopped"
    assert row["seeds"] == {"finished": [0], "failed": [1], "running": [], "stopped": [2], "missing": [3]}
    table = CliRunner().invoke(app, ["status", str(tmp_path)])
    assert "1 finished, 1 failed, 0 running, 1 stopped, 1 missing seeds" in table.output
    with training_lock(tmp_path / "ivae", print):  # as a process training this model would hold it
        (row,) = json.loads(CliRunner().invoke(app, ["status", str(tmp_path), "--json"]).output)
        table = CliRunner().invoke(app, ["status", str(tmp_path)]).output
    assert row["seeds"]["running"] == [2] and row["seeds"]["stopped"] == [] and row["status"] == "running"
    assert row["holder"]["pid"] == os.getpid() and f"running (pid {os.getpid()} on" in table


def test_status_of_a_directory_without_runs_is_a_clear_error(tmp_path):
    out = CliRunner().invoke(app, ["status", str(tmp_path)])
    assert out.exit_code == 2 and "Traceback" not in out.output
