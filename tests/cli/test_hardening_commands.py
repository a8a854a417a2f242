"""Issue #27, items 9, 14, 15 and 16 (their ``ica new plugin``, ``ica results`` and exit-status parts): a plugin
package is never written over a file, inside a run directory, under a taken module or component name, or with a
private mode; ``ica results`` lists runs nested in runs, does not follow links below the folder named, skips
unreadable folders and the system's folders, each told; a stop by SIGTERM exits 143."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import ica
from conftest import TINY_SPEC, cli, refused, unrecorded
from ica.cli.app import user_errors
from ica.reporting.finder import find_runs
from ica.training.signals import Interrupted


@pytest.fixture(scope="module")
def one_run(tmp_path_factory) -> Path:
    """A finished tiny run (one iVAE, 2 seeds)."""
    spec = copy.deepcopy(TINY_SPEC)
    spec["models"] = {"ivae": spec["models"]["ivae"]}
    out = tmp_path_factory.mktemp("one") / "run"
    ica.run(spec, out=out)
    return out


# ------------------------------------------------------------------------------ ica new plugin (9, 14, 15)
def new_plugin(out: Path, name: str = "ica-fresh", *more: str):
    return cli("new", "plugin", name, "--kind", "prior", "--out", out, *more)


def test_new_plugin_out_a_file_says_so_naming_out(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    output = refused(new_plugin(tmp_path / "notes.txt"), "--out", "notes.txt", "is a file, not a folder")
    assert "File exists" not in output
    refused(new_plugin(tmp_path / "notes.txt" / "sub"), "notes.txt", "is a file, not a folder")
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.slow
@pytest.mark.parametrize("where", [".", "ivae", "ivae/seeds", "elsewhere/deeper"])
def test_new_plugin_refuses_to_write_inside_a_run_directory(one_run, tmp_path, where):
    run = tmp_path / "run"
    shutil.copytree(one_run, run)
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    refused(new_plugin(run / where), "--out", "inside the run directory", str(run.resolve()))
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before


@pytest.mark.parametrize(
    "args, words",
    [
        (["numpy"], ["NAME", "'numpy'", "shadows the installed module"]),
        (["json"], ["NAME", "'json'", "standard library"]),
        (["ica-fresh", "--component", "gmm"], ["--component", "'gmm'", "already registered by ica"]),
        (["ica-gmm"], ["NAME", "'gmm'", "already registered", "--component"]),
    ],
)
def test_new_plugin_refuses_a_taken_module_or_component_name(tmp_path, args, words):
    refused(new_plugin(tmp_path / "out", *args), *words)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_new_plugin_folders_get_the_mode_of_any_new_folder(tmp_path):
    previous = os.umask(0o022)
    try:
        assert new_plugin(tmp_path).exit_code == 0
    finally:
        os.umask(previous)
    for folder in (tmp_path / "ica-fresh", tmp_path / "ica-fresh" / "tests"):
        assert folder.stat().st_mode & 0o777 == 0o755, oct(folder.stat().st_mode)


# ----------------------------------------------------------------------------- ica results walking (14, 16)
def rows(result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [row["run"] for row in json.loads(result.stdout)]


@pytest.mark.slow
def test_a_run_inside_a_run_is_listed(one_run, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(one_run, runs / "outer")
    shutil.copytree(one_run, runs / "outer" / "saved" / "here")
    shutil.copytree(one_run, runs / "outer" / "ivae" / "beside")
    expected = [f"{runs}/outer", f"{runs}/outer/ivae/beside", f"{runs}/outer/saved/here"]
    assert [r.shown for r in find_runs([runs])] == expected
    assert rows(cli("results", runs, "--json")) == expected
    assert [r["dir"] for r in json.loads((runs / "index.json").read_text())["runs"]] == [
        "outer",
        "outer/ivae/beside",
        "outer/saved/here",
    ]


@pytest.mark.slow
def test_links_below_the_folder_named_are_not_followed_but_a_named_link_is(one_run, tmp_path):
    shutil.copytree(one_run, tmp_path / "root" / "run")
    shutil.copytree(one_run, tmp_path / "other" / "run")
    (tmp_path / "root" / "to-other").symlink_to(tmp_path / "other")
    (tmp_path / "root" / "loop").symlink_to(tmp_path / "root")
    result = cli("results", tmp_path / "root", "--json", "--no-index")
    assert rows(result) == [f"{tmp_path}/root/run"]
    assert "2 link(s) to folders below" in result.stderr and "to-other" in result.stderr, result.stderr
    (tmp_path / "named").symlink_to(tmp_path / "other")
    assert rows(cli("results", tmp_path / "named", "--json", "--no-index")) == [f"{tmp_path}/named/run"]


@pytest.mark.slow
def test_an_unreadable_folder_is_skipped_with_a_notice_and_an_unreadable_root_refused(one_run, tmp_path, monkeypatch):
    shutil.copytree(one_run, tmp_path / "root" / "run")
    (tmp_path / "root" / "locked" / "inner").mkdir(parents=True)
    real = os.scandir

    def scandir(path):  # chmod 000 does not stop root, who may run the tests
        if Path(path).name in ("locked", "root-locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr("ica.reporting.walk.os.scandir", scandir)
    result = cli("results", tmp_path / "root", "--json", "--no-index")
    assert rows(result) == [f"{tmp_path}/root/run"]
    assert "1 folder(s) below" in result.stderr and "locked (Permission denied)" in result.stderr, result.stderr
    (tmp_path / "root-locked").mkdir()
    refused(cli("results", tmp_path / "root-locked"), "root-locked", "cannot read the directory")


@pytest.mark.slow
def test_the_system_folders_are_never_searched(one_run, tmp_path, monkeypatch):
    refused(cli("results", "/proc"), "/proc", "the system's folder")
    refused(cli("results", "/sys/kernel"), "/sys/kernel", "in the system's folder /sys")
    shutil.copytree(one_run, tmp_path / "root" / "run")
    (tmp_path / "root" / "proc" / "1").mkdir(parents=True)  # stands for / 's /proc, which no test should walk
    monkeypatch.setattr("ica.reporting.walk.SYSTEM_FOLDERS", ((tmp_path / "root" / "proc").resolve(),))
    walked = []
    real = os.scandir
    monkeypatch.setattr("ica.reporting.walk.os.scandir", lambda path: walked.append(Path(path).name) or real(path))
    result = cli("results", tmp_path / "root", "--json", "--no-index")
    assert rows(result) == [f"{tmp_path}/root/run"]
    assert "proc" not in walked and "not searched" in result.stderr and "proc" in result.stderr, result.stderr


@pytest.mark.slow
def test_an_index_json_of_the_users_is_not_replaced(one_run, tmp_path):
    shutil.copytree(one_run, tmp_path / "root" / "run")
    mine = tmp_path / "root" / "index.json"
    mine.write_text('{"pages": ["home"]}')
    result = cli("results", tmp_path / "root", "--json")
    assert rows(result) == [f"{tmp_path}/root/run"]
    assert "not an index written by ica results" in result.stderr and mine.read_text() == '{"pages": ["home"]}'


# ------------------------------------------------------------------------------------- exit status (16)
@pytest.mark.parametrize(
    "stop, status",
    [
        (Interrupted("stopped", signal.SIGTERM), 143),
        (Interrupted("stopped", signal.SIGINT), 130),
        (KeyboardInterrupt(), 130),
    ],
)
def test_a_stop_exits_with_128_plus_the_signal(stop, status):
    def command():
        raise stop

    app = typer.Typer()
    app.command("stopped")(user_errors(command))
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["stopped"])
    assert result.exit_code == status and "interrupted" in result.output, result.output


@pytest.mark.slow
def test_run_out_inside_another_runs_directory_is_refused_and_nothing_is_written(one_run, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(TINY_SPEC))
    before = {p: p.read_bytes() for p in one_run.rglob("*") if p.is_file()}
    for out in (one_run / "ivae", one_run / "ivae" / "seeds" / "new", one_run / "elsewhere"):
        output = refused(cli("run", spec, "--out", out), "--out", f"inside the run directory {one_run.resolve()}")
        assert "\n" not in output.strip()
    assert {p: p.read_bytes() for p in one_run.rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_a_warning_is_one_line_on_stderr(one_run, tmp_path):
    run = tmp_path / "old"
    shutil.copytree(one_run, run)
    unrecorded(run)  # as an ica before digests wrote it: loading warns that it cannot be verified
    np.savez(tmp_path / "x.npz", x=np.zeros((4, 3), np.float32), u=np.zeros(4, np.int64))
    done = cli("encode", run, "--data", tmp_path / "x.npz", "--out", tmp_path / "z.npz")
    assert done.exit_code == 0, done.output
    [line] = [line for line in done.output.splitlines() if "cannot be verified" in line]
    assert line.startswith("warning: ") and "UnverifiedRunWarning" not in done.output
