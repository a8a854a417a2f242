"""Issue #11, the writing side: nothing outside the directory the user named is touched, no two specs share a
run directory, a report overwrites only what it wrote, and a failed write names its file.

Items: 1 (links inside a run directory), 2 (claiming a directory atomically), 3 (report and schema outputs),
4 (empty and dot-only outputs), 5 (plain runs and grids kept apart), 14 (a full disk names the file).
"""

from __future__ import annotations

import copy
import errno
import json
import os
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ica
from ica.cli.app import app
from ica.errors import IcaError, SpecError
from ica.spec.grid import GridCell, check_cell_directory, grid_cells, grid_json
from ica.running.locks import LOCK_NAME, training_lock
from ica.components.registry import registry
from ica.reporting.report import write_report
from ica.rundir.layout import RunLayout, SeedFiles
from ica.rundir.writing import create_exclusive, safe_dir, save_checkpoint, write_json
from ica.running.claims import claim_directory, claim_grid
from ica.spec.load import load_spec

from conftest import TINY_SPEC


def small(steps: int = 30, **changes) -> dict:
    """One model (iVAE), one seed: the quickest run that writes every file of a run directory."""
    spec = copy.deepcopy(TINY_SPEC)
    spec["models"] = {"ivae": spec["models"]["ivae"]}
    spec["seeds"] = 1
    spec["training"]["steps"] = steps
    spec.update(changes)
    return spec


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def one_error(result, *words: str) -> str:
    """Exit 2 and one message, no traceback, mentioning every word."""
    text = result.output
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), (text, result.exception)
    assert "Traceback" not in text, text
    for word in words:
        assert word in text, (word, text)
    return text


def write_spec(folder: Path, spec: dict, name: str = "spec.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(spec))
    return path


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished one-model run."""
    root = tmp_path_factory.mktemp("finished")
    ica.run(small(), out=root / "R")
    return root / "R"


# ------------------------------------------------------------------ 1. links inside a run directory
def test_a_lock_replaced_by_a_link_to_a_users_file_is_refused_and_the_file_unchanged(tmp_path):
    user = tmp_path / "precious.txt"
    user.write_text("mine")
    (tmp_path / "R" / "ivae").mkdir(parents=True)
    (tmp_path / "R" / "ivae" / LOCK_NAME).symlink_to(user)
    result = cli("run", str(write_spec(tmp_path, small())), "--out", str(tmp_path / "R"))
    one_error(result, "symbolic link", LOCK_NAME)
    assert user.read_text() == "mine"


def test_a_model_directory_that_is_a_link_receives_nothing(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "R").mkdir()
    (tmp_path / "R" / "ivae").symlink_to(elsewhere, target_is_directory=True)
    result = cli("run", str(write_spec(tmp_path, small())), "--out", str(tmp_path / "R"))
    one_error(result, "symbolic link", "ivae")
    assert list(elsewhere.iterdir()) == []


def test_a_seeds_directory_that_is_a_link_receives_nothing(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "R" / "ivae").mkdir(parents=True)
    (tmp_path / "R" / "ivae" / "seeds").symlink_to(elsewhere, target_is_directory=True)
    result = cli("run", str(write_spec(tmp_path, small())), "--out", str(tmp_path / "R"))
    one_error(result, "symbolic link", "seeds")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.slow
def test_a_training_log_that_is_a_link_is_never_written_through(finished, tmp_path):
    """A resumed seed rewrites its log (dropping lines after the checkpoint) and appends to it: neither may
    reach the file a planted link points at."""
    import shutil

    run = tmp_path / "R"
    shutil.copytree(finished, run)
    seed = run / "ivae" / "seeds" / "0"
    (seed / "result.json").unlink()  # unfinished again: resumes from its checkpoint
    user = tmp_path / "notes.txt"
    user.write_text('{"step": 0, "loss": 1.0}\n')
    (seed / "metrics.jsonl").unlink()
    (seed / "metrics.jsonl").symlink_to(user)
    one_error(cli("run", str(write_spec(tmp_path, small())), "--out", str(run)), "symbolic link", "metrics.jsonl")
    assert user.read_text() == '{"step": 0, "loss": 1.0}\n'


def test_appending_to_a_log_refuses_a_link_and_a_fifo(tmp_path):
    from ica.rundir.writing import append_text

    user = tmp_path / "user.txt"
    user.write_text("mine")
    (tmp_path / "link.jsonl").symlink_to(user)
    with pytest.raises(IcaError, match="symbolic link"):
        append_text(tmp_path / "link.jsonl", "x\n")
    os.mkfifo(tmp_path / "fifo.jsonl")
    with pytest.raises(IcaError, match="not a regular file"):
        append_text(tmp_path / "fifo.jsonl", "x\n")
    append_text(tmp_path / "log.jsonl", "a\n")
    append_text(tmp_path / "log.jsonl", "b\n")
    assert user.read_text() == "mine" and (tmp_path / "log.jsonl").read_text() == "a\nb\n"


@pytest.mark.slow
def test_the_run_root_itself_may_be_a_link(tmp_path):
    """Clusters link scratch space: the directory the user named is followed, nothing inside it is."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (tmp_path / "R").symlink_to(scratch, target_is_directory=True)
    ica.run(small(steps=10), out=tmp_path / "R")
    assert (scratch / "summary.json").is_file() and (scratch / "ivae" / "seeds" / "0" / "result.json").is_file()


def test_a_lock_that_is_not_a_regular_file_is_refused_without_blocking(tmp_path):
    (tmp_path / "ivae").mkdir()
    os.mkfifo(tmp_path / "ivae" / LOCK_NAME)
    with pytest.raises(IcaError, match="not a regular file"):
        with training_lock(tmp_path / "ivae", lambda message: None):
            pass


def test_safe_dir_makes_real_directories_and_refuses_links(tmp_path):
    assert safe_dir(tmp_path / "R", "a", "seeds", "0") == tmp_path / "R" / "a" / "seeds" / "0"
    assert (tmp_path / "R" / "a" / "seeds" / "0").is_dir()
    (tmp_path / "R" / "b").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(IcaError, match="symbolic link"):
        safe_dir(tmp_path / "R", "b", "seeds")
    with pytest.raises(IcaError, match="symbolic link"):
        safe_dir(tmp_path / "R", "b", create=False)
    assert not (tmp_path / "seeds").exists()
    assert safe_dir(tmp_path / "R", "absent", create=False) == tmp_path / "R" / "absent"


# ------------------------------------------------------------------ 2. claiming a directory atomically
def test_an_exclusive_create_creates_once_and_never_replaces(tmp_path):
    target = tmp_path / "spec.json"
    assert create_exclusive(target, b"first") is True
    assert create_exclusive(target, b"second") is False
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["spec.json"]  # no temporary file left behind


def race(*calls) -> list[BaseException | None]:
    """Run ``calls`` at the same moment in threads; each one's exception (None when it succeeded)."""
    barrier = threading.Barrier(len(calls))
    outcome: list[BaseException | None] = [None] * len(calls)

    def go(i, call):
        barrier.wait()
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 -- reported to the test
            outcome[i] = exc

    threads = [threading.Thread(target=go, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcome


def test_a_claim_made_between_the_check_and_the_write_is_checked_too(tmp_path, monkeypatch):
    """The window the race above finds only sometimes: another spec claims the directory right after this run
    checked it and before it writes spec.json. This run must then be refused, not take the other's claim."""
    from ica.running import claims

    reg = registry()
    short, long = load_spec(small(steps=200), reg), load_spec(small(steps=3000), reg)
    layout, real, lost = RunLayout(tmp_path / "R"), claims.check_directory, []

    def check_then_lose_the_race(checked, spec):
        real(checked, spec)
        if not lost:
            lost.append(True)
            claims.claim_directory(checked, long)

    monkeypatch.setattr(claims, "check_directory", check_then_lose_the_race)
    with pytest.raises(IcaError, match="made from a different spec"):
        claims.claim_directory(layout, short)
    assert json.loads(layout.spec.read_text())["training"]["steps"] == 3000


def test_of_two_different_specs_claiming_one_new_directory_exactly_one_wins(tmp_path):
    reg = registry()
    short, long = load_spec(small(steps=200), reg), load_spec(small(steps=3000), reg)
    for attempt in range(12):
        layout = RunLayout(tmp_path / f"R{attempt}")
        outcome = race(
            lambda layout=layout: claim_directory(layout, short), lambda layout=layout: claim_directory(layout, long)
        )
        assert sum(e is None for e in outcome) == 1, outcome
        loser = next(e for e in outcome if e is not None)
        assert isinstance(loser, IcaError) and str(layout.root) in str(loser)
        winner = (short, long)[outcome.index(None)]
        assert json.loads(layout.spec.read_text())["training"]["steps"] == winner.training.steps


def test_two_claims_of_the_same_spec_both_go_on(tmp_path):
    spec = load_spec(small(), registry())
    layout = RunLayout(tmp_path / "R")
    assert race(lambda: claim_directory(layout, spec), lambda: claim_directory(layout, spec)) == [None, None]


def grid_spec(values: list[int]) -> dict:
    return {**small(steps=10), "grid": {"data.samples_per_segment": values}}


def test_of_two_different_grids_claiming_one_new_directory_exactly_one_wins(tmp_path):
    reg = registry()
    a, b = load_spec(grid_spec([40, 50]), reg), load_spec(grid_spec([40, 60]), reg)
    for attempt in range(3):
        root = tmp_path / f"G{attempt}"
        outcome = race(lambda root=root: claim_grid(a, root, reg), lambda root=root: claim_grid(b, root, reg))
        assert sum(e is None for e in outcome) == 1, outcome
        assert isinstance(next(e for e in outcome if e is not None), IcaError)


def test_a_run_whose_claim_changed_under_it_trains_nothing(tmp_path):
    """Before training each model (and writing each summary) the run checks spec.json still names its spec."""
    root = tmp_path / "R"

    def meddle(name, **info):
        if name == "run_start":  # claimed, nothing trained yet: another spec takes the directory over
            data = json.loads((root / "spec.json").read_text())
            (root / "spec.json").write_text(json.dumps({**data, "spec_hash": "another"}))

    with pytest.raises(IcaError, match="different spec"):
        ica.run(small(), out=root, on_event=meddle)
    assert not (root / "ivae" / "seeds").exists() and not (root / "summary.json").exists()


@pytest.mark.parametrize("content", ["[]", '{"spec_hash": 3}', '"x"'])
def test_a_damaged_spec_json_is_one_error_naming_it(tmp_path, content):
    (tmp_path / "R").mkdir()
    (tmp_path / "R" / "spec.json").write_text(content)
    one_error(cli("run", str(write_spec(tmp_path, small())), "--out", str(tmp_path / "R")), "spec.json", "damaged")


def test_a_damaged_grid_json_is_one_error_naming_it(tmp_path):
    (tmp_path / "G").mkdir()
    (tmp_path / "G" / "grid.json").write_text("[]")
    one_error(
        cli("run", str(write_spec(tmp_path, grid_spec([40, 50]))), "--out", str(tmp_path / "G")), "grid.json", "damaged"
    )


# ------------------------------------------------------------------ 3. report and schema outputs
@pytest.mark.slow
def test_a_report_into_a_run_directory_is_refused_and_its_files_kept(finished, tmp_path):
    for target in (
        finished / "spec.json",
        finished / "ivae" / "seeds" / "0" / "result.json",
        finished / "ivae" / "notes.md",
        finished / "other.md",
    ):
        before = target.read_bytes() if target.exists() else None
        with pytest.raises(IcaError, match="inside the run directory"):
            write_report(finished, out=target)
        assert (target.read_bytes() if target.exists() else None) == before


@pytest.mark.slow
def test_a_report_over_a_users_file_is_refused(finished, tmp_path):
    spec = tmp_path / "rep" / "myspec.json"
    spec.parent.mkdir()
    spec.write_text('{"mine": true}')
    with pytest.raises(IcaError, match="not a report written by ica report"):
        write_report(finished, out=spec)
    assert spec.read_text() == '{"mine": true}'


@pytest.mark.slow
def test_a_report_leaves_the_users_files_in_its_figure_folder(finished, tmp_path):
    folder = tmp_path / "rep" / "u_files"
    folder.mkdir(parents=True)
    (folder / "cluster_agreement.png").write_bytes(b"the user's")  # a figure name this report does not write
    written = write_report(finished, out=tmp_path / "rep" / "u.md")
    assert (folder / "cluster_agreement.png").read_bytes() == b"the user's"
    first_line = written.path.read_text().splitlines()[0]
    assert first_line.startswith("<!-- written by ica report") and "mcc.png" in first_line
    # A figure an earlier report listed and this one does not write is removed; nothing else is.
    (folder / "old_ours.png").write_bytes(b"an earlier report's")
    written.path.write_text(first_line.replace('"mcc.png"', '"old_ours.png", "mcc.png"') + "\n# old\n")
    write_report(finished, out=tmp_path / "rep" / "u.md")  # overwriting our own report is fine
    assert not (folder / "old_ours.png").exists()
    assert (folder / "cluster_agreement.png").read_bytes() == b"the user's"


@pytest.mark.slow
def test_a_report_does_not_overwrite_a_users_file_named_like_a_figure(finished, tmp_path):
    folder = tmp_path / "rep" / "u_files"
    folder.mkdir(parents=True)
    (folder / "mcc.png").write_bytes(b"the user's")
    with pytest.raises(IcaError, match="not written by ica report"):
        write_report(finished, out=tmp_path / "rep" / "u.md")
    assert (folder / "mcc.png").read_bytes() == b"the user's" and not (tmp_path / "rep" / "u.md").exists()


@pytest.mark.slow
def test_the_runs_own_report_is_written_and_rewritten(finished):
    for _ in range(2):
        written = write_report(finished)
        assert written.path == finished / "report.md"
    html = write_report(finished, out=finished / "report.html").path.read_text()
    assert html.startswith("<!DOCTYPE html><!-- written by ica report")


@pytest.mark.slow
def test_a_report_into_a_directory_is_one_clear_message(finished):
    text = one_error(cli("report", str(finished), "--out", str(finished / "ivae")), "is a directory")
    assert "tmp" not in text.replace(str(finished), "")


def test_schema_into_a_missing_folder_is_refused_and_creates_nothing(tmp_path):
    text = one_error(cli("schema", "-o", str(tmp_path / "no" / "dir" / "x.json")), "does not exist")
    assert not (tmp_path / "no").exists() and ".tmp" not in text


def test_schema_into_a_directory_is_refused_without_mentioning_temporary_files(tmp_path):
    (tmp_path / "specs").mkdir()
    text = one_error(cli("schema", "-o", str(tmp_path / "specs")), "is a directory")
    assert ".tmp" not in text and list((tmp_path / "specs").iterdir()) == []
    assert cli("schema", "-o", str(tmp_path / "s.json")).exit_code == 0
    assert json.loads((tmp_path / "s.json").read_text())["title"]


@pytest.mark.slow
def test_schema_never_overwrites_a_run_file_or_a_users_spec(finished, tmp_path):
    before = (finished / "spec.json").read_bytes()
    one_error(cli("schema", "-o", str(finished / "spec.json")), "inside the run directory")
    one_error(cli("schema", "-o", str(finished / "ivae" / "seeds" / "0" / "result.json")), "inside the run directory")
    assert (finished / "spec.json").read_bytes() == before
    mine = write_spec(tmp_path / "rep", small(), name="myspec.json")
    text = mine.read_text()
    one_error(cli("schema", "-o", str(mine)), "not a JSON Schema written by ica schema")
    assert mine.read_text() == text
    assert cli("schema", "-o", str(tmp_path / "s.json")).exit_code == 0
    assert cli("schema", "-o", str(tmp_path / "s.json")).exit_code == 0  # an earlier schema is replaced


# ------------------------------------------------------------------ 4. empty and dot-only outputs
@pytest.mark.parametrize("out", ["", ".", "..", "...", "runs/.."])
def test_an_empty_or_dot_only_out_is_refused(tmp_path, monkeypatch, out):
    spec = write_spec(tmp_path / "specs", small())
    work = tmp_path / "work" / "here"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    one_error(cli("run", str(spec), "--out", out), "--out")
    assert tree(tmp_path / "work") == ["here"]
    with pytest.raises(IcaError, match="run directory"):
        ica.run(small(), out=out)


@pytest.mark.parametrize("name", ["...json", "..json", " .json"])
def test_a_spec_file_whose_name_gives_no_plain_directory_needs_out(tmp_path, monkeypatch, name):
    spec = write_spec(tmp_path / "specs", small(), name=name)
    monkeypatch.chdir(tmp_path)
    one_error(cli("run", str(spec)), "give --out")
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------ 5. plain runs and grids kept apart
def test_a_plain_spec_into_a_grids_directory_is_refused(tmp_path):
    reg = registry()
    claim_grid(load_spec(grid_spec([40, 50]), reg), tmp_path / "G", reg)
    before = tree(tmp_path / "G")
    one_error(cli("run", str(write_spec(tmp_path, small())), "--out", str(tmp_path / "G")), "grid")
    assert tree(tmp_path / "G") == before


def test_a_grid_spec_into_a_plain_runs_directory_is_refused(tmp_path):
    claim_directory(RunLayout(tmp_path / "R"), load_spec(small(), registry()))
    before = tree(tmp_path / "R")
    one_error(cli("run", str(write_spec(tmp_path, grid_spec([40, 50]))), "--out", str(tmp_path / "R")), "plain run")
    assert tree(tmp_path / "R") == before


def test_cell_directories_are_plain_short_unique_names():
    from ica.spec.grid import safe_name, unique

    taken: set[str] = set()
    names = [unique(safe_name("x" * 300 + suffix), taken) for suffix in ("a", "b", "c")]
    assert len(set(names)) == 3 and all(len(n) <= 100 for n in names)
    assert [safe_name(t) for t in ("..", "...", "/", "report_files", "grid.json")] == [
        "cell",
        "cell",
        "cell",
        "report_files-cell",
        "grid.json-cell",
    ]
    for name in names + ["report_files-cell", "samples_per_segment-40_latent_dim-3"]:
        check_cell_directory(name)
    cells = grid_cells(load_spec(grid_spec([40, 50]), registry()))
    assert [c.directory for c in cells] == ["samples_per_segment-40", "samples_per_segment-50"]


@pytest.mark.parametrize("bad", ["/abs/path", "../elsewhere", "..", ".", "", "a/b", "grid.json", "x" * 101])
def test_a_cell_directory_outside_the_grid_is_never_written_to_grid_json(bad):
    spec = load_spec(grid_spec([40, 50]), registry())
    cell = GridCell("c", bad, {}, spec)
    with pytest.raises(SpecError, match="plain folder name"):
        grid_json(spec, [cell], "h")


# ------------------------------------------------------------------ 14. a full disk names the file
def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_while_writing_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    write_json(target, {"old": True})
    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(IcaError) as info:
        write_json(target, {"new": True})
    assert str(info.value) == f"{target}: No space left on device (nothing already written was changed)"
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    assert json.loads(target.read_text()) == {"old": True} and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_full_disk_while_saving_a_checkpoint_names_it(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(IcaError, match="checkpoint.pt: No space left on device") as info:
        save_checkpoint(SeedFiles(tmp_path), {"step": 1}, keep=2)
    assert info.value.errno == errno.ENOSPC and list(tmp_path.iterdir()) == []


def test_a_full_disk_is_one_message_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", no_space)
    text = one_error(cli("schema", "-o", str(tmp_path / "s.json")), "s.json", "No space left on device")
    assert ".tmp" not in text
