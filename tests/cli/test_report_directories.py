"""``ica report DIR...`` takes several directories, as ``ica results`` does (issue #30): one report of all their
runs, --out required (a clear error, exit 2, without it), a directory named twice read once."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ica
from ica.cli.app import app

from conftest import TINY_SPEC

pytestmark = pytest.mark.slow  # trains one tiny run


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """One tiny finished run (iVAE only) and a copy of it elsewhere: two directories with the same spec."""
    root = tmp_path_factory.mktemp("report_dirs")
    spec = copy.deepcopy(TINY_SPEC)
    spec["models"] = {"ivae": spec["models"]["ivae"]}
    ica.run(spec, out=root / "first")
    shutil.copytree(root / "first", root / "second")
    return root / "first", root / "second"


def invoke(*args: object):
    return CliRunner().invoke(app, ["report", *map(str, args)])


def test_several_directories_make_one_report(two_runs, tmp_path):
    first, second = two_runs
    out = tmp_path / "both.html"
    result = invoke(first, second, "--out", out)
    assert result.exit_code == 0, result.output
    assert str(out) in result.output.replace("\n", "")
    text = out.read_text()
    assert f"Experiment directories {first}, {second}: 2 runs (run)" in text  # same specs: told apart by name
    assert 'id="training_first.png"' in text and 'id="training_second.png"' in text
    assert 'id="embedding_first.png"' in text and 'id="embedding_second.png"' in text
    assert "ivae n=4 seeds" in text  # the MCC boxplot counts both runs' seeds


def test_several_directories_without_out_are_one_clear_error(two_runs):
    first, second = two_runs
    result = invoke(first, second)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--out" in result.output and "several directories make one report" in result.output
    assert not (first / "report.md").exists() and not (second / "report.md").exists()


def test_one_directory_named_twice_is_its_own_report(two_runs, tmp_path):
    first, _ = two_runs
    result = invoke(first, first, "--out", tmp_path / "r.md")
    assert result.exit_code == 0, result.output
    assert "a single run" in (tmp_path / "r.md").read_text()
    assert (tmp_path / "r_files" / "embedding.png").exists()
