"""`ica results` and `ica.reporting.finder`/`results`/`index`: real tiny runs, then seeds made to look failed /
running / missing by editing their files, a grid layout, the JSON/CSV outputs, index.json, and clean errors."""

from __future__ import annotations

import copy
import csv
import io
import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import ica
from ica.cli import render
from ica.cli.app import user_errors
from ica.cli.results import results_command
from ica.reporting.finder import find_runs
from ica.reporting.results import results_table, varying_settings
from ica.reporting.index import write_index
from ica.errors import IcaError
from ica.running.locks import training_lock

from conftest import TINY_SPEC

pytestmark = pytest.mark.slow  # most tests read the runs trained by the module fixture made

runner = CliRunner()


def results_app() -> typer.Typer:
    """The command registered exactly as cli/app.py registers it (plus a second command, so typer keeps
    the sub-command name)."""
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("results")(user_errors(results_command))
    app.command("noop")(lambda: None)
    return app


def invoke(*args: str):
    return runner.invoke(results_app(), ["results", *map(str, args)], catch_exceptions=False)


def spec_with(samples: int) -> dict:
    spec = copy.deepcopy(TINY_SPEC)
    spec["data"]["samples_per_segment"] = samples
    spec["evaluation"] = {"metrics": [{"name": "mcc"}, {"name": "cca_mcc"}, {"name": "elbo"}]}
    return spec


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """Two real finished runs, 40 and 60 samples per segment (iVAE and VaDE, 2 seeds each)."""
    root = tmp_path_factory.mktemp("made")
    for samples in (40, 60):
        ica.run(spec_with(samples), out=root / f"s{samples}")
    return root


@pytest.fixture
def runs(made, tmp_path) -> Path:
    """A fresh copy of the two runs under ``tmp_path/runs`` for a test to edit."""
    shutil.copytree(made, tmp_path / "runs")
    return tmp_path / "runs"


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def row(table, run_suffix: str, label: str) -> dict:
    [found] = [r for r in table.rows if r["run"].endswith(run_suffix) and r["label"] == label]
    return found


def seed_dir(run: Path, label: str, seed: int) -> Path:
    return run / label / "seeds" / str(seed)


def make_running(run: Path, label: str, seed: int) -> None:
    """As if the seed were still training: no result.json, no summaries; metrics.jsonl stays."""
    (seed_dir(run, label, seed) / "result.json").unlink()
    (run / label / "summary.json").unlink()
    (run / "summary.json").unlink(missing_ok=True)


# ------------------------------------------------------------------------------------- finished
def test_finished_runs_numbers_come_from_their_summaries(runs):
    records = find_runs([runs])
    assert [r.path.name for r in records] == ["s40", "s60"]
    assert all(r.status == "finished" for r in records)
    table = results_table(records)
    assert table.settings == ["data.samples_per_segment"]  # the only difference between the two specs
    assert len(table.rows) == 4
    for run, samples in (("s40", 40), ("s60", 60)):
        for label in ("ivae", "vade"):
            r = row(table, run, label)
            assert r["settings"] == {"data.samples_per_segment": samples}
            assert r["model"] == label and r["status"] == "finished" and not r["partial"]
            assert r["seeds"] == {"total": 2, "finished": 2, "failed": 0, "running": 0, "stopped": 0, "missing": 0}
            assert r["metrics"] == load(runs / run / label / "summary.json")["stats"]
    assert table.metrics[:5] == ["mcc", "mcc_spearman", "cca_mcc_in", "cca_mcc_out", "elbo_train"]
    # the summary's ELBO statistics are those of the seeds' result.json (linear-interpolation quartiles)
    a, b = sorted(load(seed_dir(runs / "s40", "ivae", s) / "result.json")["elbo"]["train"] for s in (0, 1))
    stats = row(table, "s40", "ivae")["metrics"]["elbo_train"]
    assert stats["median"] == pytest.approx((a + b) / 2) and stats["q25"] == pytest.approx(a + (b - a) / 4)
    assert stats["n"] == 2 and stats["n_failed"] == 0


def test_one_run_alone_has_no_varying_settings_but_model_columns(runs):
    table = results_table(find_runs([runs / "s40"]))
    assert table.settings == []
    assert [(r["label"], r["model"]) for r in table.rows] == [("ivae", "ivae"), ("vade", "vade")]


def test_model_options_that_differ_are_shown_per_label(runs, tmp_path):
    spec = spec_with(40)
    spec["models"] = {"vade": spec["models"]["vade"], "ivae": spec["models"]["ivae"]}  # labels in another order
    spec["models"]["vade"]["prior"]["components"] = 3
    spec["seeds"] = 1
    spec["training"]["steps"] = 10
    ica.run(spec, out=runs / "k3")
    settings = varying_settings(find_runs([runs]))
    assert "models.*.prior.components" in settings and "seeds" in settings and "training.steps" in settings
    assert "models.*.encoder.hidden" not in settings  # the same in every run
    assert "models.*.prior.name" not in settings  # differs between labels, not between runs of one label
    table = results_table(find_runs([runs]))
    assert row(table, "k3", "vade")["settings"]["models.*.prior.components"] == 3
    assert row(table, "s40", "vade")["settings"]["models.*.prior.components"] == 5


# ------------------------------------------------------------------------------- failed / running
def test_a_failed_seed_is_counted_and_shown(runs, monkeypatch):
    run = runs / "s40"
    result_file = seed_dir(run, "ivae", 1) / "result.json"
    result = load(result_file)
    result.update(status="failed", error="loss became non-finite by step 20")
    del result["elbo"]
    result_file.write_text(json.dumps(result))
    (run / "ivae" / "summary.json").unlink()
    (run / "summary.json").unlink()
    ica.run(spec_with(40), out=run)  # resumes: nothing to train, evaluates again with the failed seed

    r = row(results_table(find_runs([runs])), "s40", "ivae")
    assert r["seed_status"] == {"0": "finished", "1": "failed"}
    assert r["seeds"]["failed"] == 1 and r["status"] == "finished"
    elbo = r["metrics"]["elbo_train"]
    assert elbo["n"] == 2 and elbo["n_failed"] == 1
    assert elbo["median"] == load(seed_dir(run, "ivae", 0) / "result.json")["elbo"]["train"]
    assert r["metrics"] == load(run / "ivae" / "summary.json")["stats"]

    monkeypatch.setattr(render.console, "width", 1000)  # no folding of cells in the test's output
    out = invoke(runs, "--no-index")
    assert out.exit_code == 0, out.output
    assert "1/2 done, 1 failed" in out.output
    assert "n=2 (1 failed)" in out.output


def test_running_and_missing_seeds_get_partial_elbo_only(runs, monkeypatch):
    run = runs / "s60"
    make_running(run, "vade", 1)
    (seed_dir(run, "vade", 1) / "metrics.jsonl").unlink()  # a checkpoint alone also means started
    (seed_dir(run, "ivae", 1) / "result.json").unlink()
    (run / "ivae" / "summary.json").unlink()
    for name in ("metrics.jsonl", "checkpoint.pt"):  # never started
        (seed_dir(run, "ivae", 1) / name).unlink()

    records = find_runs([runs])
    [s60] = [r for r in records if r.path.name == "s60"]
    assert s60.status == "stopped" and not s60.finished  # nobody holds a lock: `ica run` would resume it
    table = results_table(records)
    vade, ivae = row(table, "s60", "vade"), row(table, "s60", "ivae")
    assert vade["seed_status"] == {"0": "finished", "1": "stopped"}  # started, and nobody trains it now
    assert ivae["seed_status"] == {"0": "finished", "1": "missing"}
    with training_lock(run / "vade", print):  # as a process training the model would hold it
        locked = row(results_table(find_runs([runs])), "s60", "vade")
        assert locked["seed_status"]["1"] == "running" and locked["status"] == locked["run_status"] == "running"
    for r in (vade, ivae):
        assert r["status"] == "stopped" and r["partial"] and r["run_status"] == "stopped"
        assert set(r["metrics"]) == {"elbo_train", "elbo_eval"}  # nothing else can be known yet
        elbo = load(seed_dir(run, r["label"], 0) / "result.json")["elbo"]
        for metric, key in (("elbo_train", "train"), ("elbo_eval", "eval")):
            stats = r["metrics"][metric]
            assert stats["n"] == 1 and stats["n_failed"] == 0
            assert stats["median"] == stats["q25"] == stats["q75"] == elbo[key]
    assert not row(table, "s40", "vade")["partial"]

    monkeypatch.setattr(render.console, "width", 1000)
    out = invoke(runs, "--no-index")
    assert out.exit_code == 0, out.output
    assert "1/2 done, 1 stopped" in out.output and "1/2 done, 1 missing" in out.output
    assert "partial" in out.output and " *" in out.output


def test_partial_statistics_of_two_seeds_and_of_a_failed_one(runs):
    run = runs / "s40"
    (run / "ivae" / "summary.json").unlink()  # both seeds done, evaluation not written yet
    (run / "summary.json").unlink()
    values = [load(seed_dir(run, "ivae", s) / "result.json")["elbo"]["eval"] for s in (0, 1)]
    stats = row(results_table(find_runs([runs])), "s40", "ivae")["metrics"]["elbo_eval"]
    lo, hi = sorted(values)
    assert stats["median"] == pytest.approx((lo + hi) / 2)
    assert stats["q25"] == pytest.approx(lo + (hi - lo) / 4) and stats["q75"] == pytest.approx(hi - (hi - lo) / 4)
    assert stats["n"] == 2

    failed = load(seed_dir(run, "ivae", 0) / "result.json")
    failed.update(status="failed")
    del failed["elbo"]
    (seed_dir(run, "ivae", 0) / "result.json").write_text(json.dumps(failed))
    stats = row(results_table(find_runs([runs])), "s40", "ivae")["metrics"]["elbo_eval"]
    assert stats["n"] == 2 and stats["n_failed"] == 1 and stats["median"] == values[1]


# ------------------------------------------------------------------------------------------ grid
def make_grid(runs: Path) -> Path:
    """A grid directory as `ica run` writes one: two cells made (copies of the real runs), one not yet."""
    grid = runs.parent / "grid"
    spec = load(runs / "s40" / "spec.json")
    spec.pop("spec_hash")
    spec["grid"] = {"data.samples_per_segment": [40, 60, 80]}
    cells = [
        {
            "name": f"samples_per_segment={n}",
            "dir": f"samples_per_segment-{n}",
            "settings": {"data.samples_per_segment": n},
        }
        for n in (40, 60, 80)
    ]
    grid.mkdir()
    shutil.copytree(runs / "s40", grid / "samples_per_segment-40")
    shutil.copytree(runs / "s60", grid / "samples_per_segment-60")
    (grid / "grid.json").write_text(
        json.dumps({"name": "tiny", "spec_hash": "0" * 16, "spec": spec, "axes": spec["grid"], "cells": cells})
    )
    return grid


def test_grid_settings_come_from_grid_json_and_unstarted_cells_are_listed(runs):
    grid = make_grid(runs)
    records = find_runs([grid])
    assert [r.path.name for r in records] == [f"samples_per_segment-{n}" for n in (40, 60, 80)]
    assert [r.status for r in records] == ["finished", "finished", "pending"]
    table = results_table(records)
    assert table.settings == ["data.samples_per_segment"]
    assert [(r["settings"]["data.samples_per_segment"], r["label"]) for r in table.rows] == [
        (40, "ivae"),
        (40, "vade"),
        (60, "ivae"),
        (60, "vade"),
        (80, "ivae"),
        (80, "vade"),
    ]
    pending = row(table, "samples_per_segment-80", "vade")
    assert pending["status"] == "pending" and pending["metrics"] == {}
    assert pending["seeds"] == {"total": 2, "finished": 0, "failed": 0, "running": 0, "stopped": 0, "missing": 2}
    assert (
        row(table, "samples_per_segment-60", "ivae")["metrics"]
        == load(grid / "samples_per_segment-60" / "ivae" / "summary.json")["stats"]
    )


def test_a_grid_and_a_plain_run_together_are_diffed(runs):
    grid = make_grid(runs)
    spec = spec_with(40)
    spec["training"]["steps"] = 10
    spec["seeds"] = 1
    ica.run(spec, out=runs.parent / "plain")
    table = results_table(find_runs([grid, runs.parent / "plain"]))
    assert table.settings == ["data.samples_per_segment", "training.steps", "seeds"]
    pending, plain = row(table, "samples_per_segment-80", "ivae"), row(table, "plain", "ivae")
    assert pending["settings"] == {"data.samples_per_segment": 80, "training.steps": 30, "seeds": 2}
    assert plain["settings"] == {"data.samples_per_segment": 40, "training.steps": 10, "seeds": 1}


# ---------------------------------------------------------------------------------- json / csv
def test_json_output_is_the_rows_at_full_precision(runs):
    out = invoke(runs, "--json", "--no-index")
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert len(rows) == 4
    r = next(r for r in rows if r["run"].endswith("s60") and r["label"] == "vade")
    assert r["metrics"] == load(runs / "s60" / "vade" / "summary.json")["stats"]
    assert r["settings"] == {"data.samples_per_segment": 60}
    assert r["seeds"]["finished"] == 2 and r["status"] == "finished"
    assert not (runs / "index.json").exists()


def test_csv_output(runs):
    make_running(runs / "s40", "ivae", 0)
    out = invoke(runs, "--csv", "--no-index")
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [(Path(r["run"]).name, r["label"]) for r in rows] == [
        ("s40", "ivae"),
        ("s40", "vade"),
        ("s60", "ivae"),
        ("s60", "vade"),
    ]
    stats = load(runs / "s60" / "ivae" / "summary.json")["stats"]
    finished = rows[2]
    assert finished["data.samples_per_segment"] == "60" and finished["partial"] == "false"
    for metric in ("mcc", "cca_mcc_out", "elbo_train"):
        assert float(finished[f"{metric}_median"]) == stats[metric]["median"]  # full precision
        assert int(finished[f"{metric}_n"]) == stats[metric]["n"]
    running = rows[0]
    assert running["status"] == "stopped" and running["partial"] == "true"
    assert running["seeds_finished"] == "1" and running["seeds_stopped"] == "1" and running["seeds_running"] == "0"
    assert running["mcc_median"] == "" and running["elbo_train_n"] == "1"


# ---------------------------------------------------------------------------------------- index
def test_index_lists_runs_and_is_replaced_whole(runs):
    make_running(runs / "s60", "vade", 1)
    index = write_index(runs)
    assert load(runs / "index.json") == index
    assert [r["dir"] for r in index["runs"]] == ["s40", "s60"]
    s40, s60 = index["runs"]
    assert s40["status"] == "finished" and s60["status"] == "stopped"
    assert s40["summary"] == "s40/summary.json" and s60["summary"] is None
    assert s60["models"]["vade"] == {
        "model": "vade",
        "status": "stopped",
        "summary": None,
        "seeds": {"0": "finished", "1": "stopped"},
    }
    assert s60["models"]["ivae"]["summary"] == "s60/ivae/summary.json"
    for entry in index["runs"]:
        assert (runs / entry["spec"]).is_file()

    # a stale or corrupt index is never read: `ica results` replaces it with one rebuilt from the runs
    (runs / "index.json").write_text('{"runs": [{"dir": "gone"}')
    out = invoke(runs, "--json")
    assert out.exit_code == 0, out.output
    rebuilt = load(runs / "index.json")
    assert [r["dir"] for r in rebuilt["runs"]] == ["s40", "s60"]
    assert not [p for p in runs.iterdir() if p.name.endswith(".tmp")]


def test_index_write_is_atomic(runs, monkeypatch):
    write_index(runs)
    before = (runs / "index.json").read_text()
    make_running(runs / "s40", "ivae", 0)

    def crash(*args, **kwargs):
        raise OSError("disk vanished")

    monkeypatch.setattr("ica.rundir.writing.os.replace", crash)
    with pytest.raises(OSError):
        write_index(runs)
    assert (runs / "index.json").read_text() == before  # the old index whole, never half a new one
    assert not [p for p in runs.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    assert write_index(runs)["runs"][0]["status"] == "stopped"


def test_index_of_each_directory_given(runs):
    grid = make_grid(runs)
    out = invoke(runs / "s40", grid)
    assert out.exit_code == 0, out.output
    assert [r["dir"] for r in load(runs / "s40" / "index.json")["runs"]] == ["."]
    by_dir = {r["dir"]: r for r in load(grid / "index.json")["runs"]}
    assert by_dir["samples_per_segment-80"]["status"] == "pending"
    assert by_dir["samples_per_segment-60"]["settings"] == {"data.samples_per_segment": 60}
    assert by_dir["samples_per_segment-60"]["grid"] == "grid.json"


# --------------------------------------------------------------------------------------- errors
def assert_clean_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


def test_missing_and_empty_directories(tmp_path):
    assert_clean_error(invoke(tmp_path / "nowhere"), "nowhere", "no such directory")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    assert_clean_error(invoke(tmp_path / "empty"), "empty", "holds no runs")
    assert not (tmp_path / "empty" / "index.json").exists()
    with pytest.raises(IcaError, match="holds no runs"):
        find_runs([tmp_path / "empty"])


@pytest.mark.parametrize(
    "broken", ["s40/ivae/summary.json", "s60/spec.json", "s60/summary.json", "s40/vade/seeds/1/result.json"]
)
def test_corrupt_files_are_named(runs, broken):
    (runs / broken).write_text('{"stats": {')
    assert_clean_error(invoke(runs), broken.split("/")[-1], str(runs / broken))


def test_summary_without_statistics_is_corrupt(runs):
    (runs / "s40" / "vade" / "summary.json").write_text('["not", "a", "summary"]')
    assert_clean_error(invoke(runs, "--json"), str(runs / "s40" / "vade" / "summary.json"))


def test_json_and_csv_together(runs):
    assert_clean_error(invoke(runs, "--json", "--csv"), "--json")


def test_written_files_follow_the_umask_like_ordinary_files(tmp_path):
    """Atomic writes go through mkstemp (mode 0600); results on a shared cluster disk must stay readable by
    the group, as a plainly created file would be."""
    import os
    import stat

    from ica.rundir.writing import write_json

    write_json(tmp_path / "result.json", {"a": 1})
    (tmp_path / "plain.txt").write_text("x")
    mode = stat.S_IMODE(os.stat(tmp_path / "result.json").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "plain.txt").st_mode)
