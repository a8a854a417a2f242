"""One model of a run directory read back (`ica.reporting.rundirs`), shared by ``ica status``, ``ica results`` and
``ica report``: read from run directories ica 0.2.0 wrote (`tests/rundir/old_rundir/`), without training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ica.cli.app import app
from ica.reporting.experiment import load_experiment
from ica.reporting.finder import find_runs
from ica.reporting.rundirs import CellRecord, RunRecord, SeedRecord, read_run
from ica.running.locks import training_lock

OLD = Path(__file__).parents[1] / "rundir" / "old_rundir"


@pytest.fixture
def old(tmp_path) -> Path:
    return Path(shutil.copytree(OLD, tmp_path / "old"))


def cell(record: RunRecord, label: str) -> CellRecord:
    return next(c for c in record.cells if c.label == label)


def test_status_results_and_the_report_read_the_same_records(old):
    found = {r.shown: r for r in find_runs([old], lambda message: None)}
    assert list(found) == [f"{old}/grid/retry_nan-0", f"{old}/grid/retry_nan-1", f"{old}/stopped"]
    placed = {r.path: r for r in load_experiment(old / "grid").runs}
    for record in found.values():
        assert isinstance(record, RunRecord) and all(isinstance(s, SeedRecord) for c in record.cells for s in c.seeds)
        if record.grid is None:
            continue
        report = placed[record.path]
        assert type(report) is type(record) and report.spec == record.spec and report.summary == record.summary
        assert [(c.label, c.model, c.summary, [s.seed for s in c.seeds]) for c in report.cells] == [
            (c.label, c.model, c.summary, [s.seed for s in c.seeds]) for c in record.cells
        ]
    assert placed[old / "grid/retry_nan-1"].setting == "retry_nan=1"


def test_seed_states_and_statuses_come_from_the_same_files(old):
    first, second, stopped = find_runs([old], lambda message: None)
    failing = cell(first, "failing")
    assert failing.status == "finished" and failing.states == {0: "finished", 1: "failed"}
    assert [s.status for s in failing.seeds] == ["finished", "failed"] and failing.count("failed") == 1
    assert failing.seeds[1].error.startswith("loss became non-finite") and failing.seeds[1].elbo_train is None
    assert cell(second, "failing").states == {0: "finished", 1: "finished"}
    assert cell(second, "failing").seeds[1].result.lr == 0.0001
    assert failing.summary_path == old / "grid/retry_nan-0/failing/summary.json", "the model's own file first"
    assert failing.summary == json.loads(failing.summary_path.read_text())
    assert failing.seed_values("mcc")[1] is None and failing.pair_values("cca_mcc_out") == [None]
    ivae, vade = stopped.cells
    assert (stopped.status, ivae.status, vade.status) == ("stopped", "stopped", "pending")
    assert ivae.partial and ivae.stats["elbo_train"]["n"] == 2 and set(ivae.stats) == {"elbo_train", "elbo_eval"}
    assert vade.counts() == {"total": 2, "finished": 0, "failed": 0, "running": 0, "stopped": 0, "missing": 2}
    assert [s.status for s in vade.seeds] == ["not started", "not started"]


def test_a_model_being_trained_is_running_for_status_and_results(old):
    with training_lock(old / "stopped" / "vade", lambda message: None):
        (old / "stopped/vade/seeds/0").mkdir(parents=True)
        (old / "stopped/vade/seeds/0/metrics.jsonl").write_text('{"step": 10, "loss": 1.0}\n')
        record = read_run(old / "stopped")
        assert cell(record, "vade").status == "running" and record.status == "running"
        assert cell(record, "vade").states == {0: "running", 1: "missing"}
        assert [s.status for s in cell(record, "vade").seeds] == ["running", "not started"]
        assert cell(record, "ivae").states == {0: "finished", 1: "finished"}
    assert cell(read_run(old / "stopped"), "vade").states == {0: "stopped", 1: "missing"}
    assert cell(read_run(old / "stopped"), "vade").seeds[0].curve == [{"step": 10, "loss": 1.0}]


def test_a_report_also_lists_seeds_the_spec_does_not_name(old):
    (old / "stopped/ivae/seeds/7").mkdir()
    assert [s.seed for s in cell(read_run(old / "stopped"), "ivae").seeds] == [0, 1]
    seeds = cell(read_run(old / "stopped", all_seeds=True), "ivae").seeds
    assert [(s.seed, s.planned, s.status) for s in seeds] == [
        (0, True, "finished"),
        (1, True, "finished"),
        (7, False, "not started"),
    ]
    assert cell(read_run(old / "stopped", all_seeds=True), "ivae").counts()["total"] == 2, "status counts the spec's"


def test_a_grid_cell_not_started_is_pending_for_status_and_empty_for_the_report(old):
    shutil.rmtree(old / "grid/retry_nan-1")
    records = find_runs([old / "grid"], lambda message: None)
    pending = records[1]
    assert pending.status == "pending" and pending.spec is None and pending.base_spec["name"] == "old-grid"
    assert pending.settings == {"training.retry_nan": 1} and pending.grid_axes == ("training.retry_nan",)
    assert [(c.label, c.status, c.states) for c in pending.cells] == [
        ("failing", "pending", {0: "missing", 1: "missing"})
    ]
    (old / "grid/retry_nan-1").mkdir()
    runs = load_experiment(old / "grid").runs
    assert runs[1].cells == [] and runs[1].split is None and runs[0].split == "eval"


def test_the_commands_read_an_old_run_directory(old):
    runner = CliRunner()
    status = runner.invoke(app, ["status", str(old), "--json"])
    assert status.exit_code == 0, status.output
    rows = {(r["run"].split("/old/")[-1], r["model"]): r for r in json.loads(status.output)}
    assert rows[("grid/retry_nan-0", "failing")]["seeds"]["failed"] == [1]
    assert rows[("stopped", "ivae")]["status"] == "stopped" and rows[("stopped", "vade")]["status"] == "pending"
    results = runner.invoke(app, ["results", str(old), "--json", "--no-index"])
    assert results.exit_code == 0, results.output
    assert not (old / "index.json").exists()
    report = runner.invoke(app, ["report", str(old / "grid")])
    assert report.exit_code == 0, report.output
    assert "failing" in (old / "grid" / "report.md").read_text()
