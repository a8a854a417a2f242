"""``ica run --executor slurm`` through submitit's real SlurmExecutor, with a fake ``sbatch`` on PATH.

No SLURM here: the fake ``sbatch`` keeps the script it is given and answers as SLURM does
("Submitted batch job N"), so the tests check what would reach the scheduler: one job array with one task
per (grid cell, model label) unit, and each CLI option as the ``#SBATCH`` line SLURM reads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from ica.cli.app import app
from ica.running.runner import train_label
from ica.running.locks import training_lock

pytest.importorskip("submitit")

JOB_ID = "4242"
CELLS = ["samples_per_segment-40", "samples_per_segment-60"]
LABELS = ["ivae", "vade"]


def write_executable(path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def fake_sbatch(tmp_path, monkeypatch):
    """Put an ``sbatch`` first on PATH that records its arguments and copies the submitted script.

    submitit's SlurmExecutor also insists on finding ``srun`` on PATH (its test for "on a SLURM cluster");
    the fake one is never run at submission (``srun`` only appears inside the script).
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_executable(bin_dir / "srun", "#!/bin/sh\necho 'fake srun must not run here' >&2\nexit 1\n")
    captured = tmp_path / "captured"
    captured.mkdir()
    write_executable(
        bin_dir / "sbatch",
        textwrap.dedent(f"""\
        #!{sys.executable}
        import json, pathlib, shutil, sys
        captured = pathlib.Path({str(captured)!r})
        calls = sorted(captured.glob("call-*.json"))
        n = len(calls)
        (captured / f"call-{{n}}.json").write_text(json.dumps(sys.argv[1:]))
        shutil.copy(sys.argv[-1], captured / f"script-{{n}}.sh")
        print("Submitted batch job {JOB_ID}")
        """),
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return captured


def grid_spec_file(tiny_spec, tmp_path, pack=False):
    """A 2-cell grid; cell by cell (4 units: 2 cells x 2 models) unless ``pack``."""
    tiny_spec["grid"] = {"data.samples_per_segment": [40, 60]}
    tiny_spec["training"]["pack_cells"] = pack
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(tiny_spec))
    return path


def sbatch_flags(script: str) -> dict[str, str]:
    """The ``#SBATCH --key=value`` lines of a script (``--key`` alone maps to "")."""
    flags = {}
    for line in script.splitlines():
        match = re.fullmatch(r"#SBATCH --([\w-]+)(?:=(.*))?", line.strip())
        if match:
            flags[match.group(1)] = match.group(2) or ""
    return flags


def no_seed_trained(out) -> bool:
    return not any(out.rglob("result.json")) and not any(out.rglob("summary.json"))


def test_the_cli_options_become_one_sbatch_job_array(tiny_spec, tmp_path, fake_sbatch):
    spec = grid_spec_file(tiny_spec, tmp_path)
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(spec),
            "--out",
            str(out),
            "--executor",
            "slurm",
            "--partition",
            "gpu",
            "--time",
            "90",
            "--gpus",
            "1",
            "--cpus",
            "4",
            "--array-parallelism",
            "2",
            "--no-wait",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output

    # exactly one sbatch call, with the script as its only argument
    calls = sorted(fake_sbatch.glob("call-*.json"))
    assert len(calls) == 1, "the 4 units go in one array, not 4 jobs"
    argv = json.loads(calls[0].read_text())
    assert len(argv) == 1 and argv[0].endswith(".sh")

    script = (fake_sbatch / "script-0.sh").read_text()
    flags = sbatch_flags(script)
    assert flags["array"] == "0-3%2", "2 cells x 2 models = 4 tasks, 2 at once"
    assert flags["partition"] == "gpu"
    assert flags["time"] == "90", "submitit's --time is in minutes"
    assert flags["gpus-per-node"] == "1"
    assert flags["cpus-per-task"] == "4"
    assert flags["job-name"] == "ica-tiny"
    assert re.fullmatch(r"USR2@\d+", flags["signal"]), "the preemption/timeout signal that makes tasks requeue"
    assert flags["open-mode"] == "append", "a requeued task appends to its log"
    assert flags["nodes"] == "1"
    assert "%A_%a" in flags["output"] and flags["output"].startswith(str(out / "submitit"))
    assert "%A_%a" in flags["error"]
    srun = [line for line in script.splitlines() if line.startswith("srun ")]
    assert len(srun) == 1 and "-m submitit.core._submit" in srun[0] and str(out / "submitit") in srun[0]
    assert sys.executable in srun[0], "the tasks run in the same Python environment"

    # one pickled task per (cell, label) unit, named by the array's job ids
    pickles = sorted(p.name for p in (out / "submitit").rglob("*_submitted.pkl"))
    assert pickles == [f"{JOB_ID}_{i}_submitted.pkl" for i in range(4)]

    # the output reports the submission and how to finish
    output = " ".join(result.output.split())
    assert f"submitted a job array of 4 tasks ({JOB_ID}_0, {JOB_ID}_1, {JOB_ID}_2, ...)" in output
    assert "submitted 4 task(s)" in output and "run the same command again" in output

    # nothing was trained or evaluated here
    assert no_seed_trained(out)
    assert "training from" not in result.output


def test_each_array_task_carries_its_own_unit(tiny_spec, tmp_path, fake_sbatch):
    """Unpickle the submitted tasks: task i trains one (cell, label), and together they cover the grid."""
    submitit = pytest.importorskip("submitit")
    spec = grid_spec_file(tiny_spec, tmp_path)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(spec), "--out", str(out), "--executor", "slurm", "--no-wait"])
    assert result.exit_code == 0, result.output
    units = []
    for i in range(4):
        (path,) = (out / "submitit").rglob(f"{JOB_ID}_{i}_submitted.pkl")
        delayed = submitit.core.utils.DelayedSubmission.load(path)
        unit, device = delayed.args
        units.append((os.path.basename(unit.out), unit.label))
        assert device is None
        assert unit.spec["data"]["samples_per_segment"] == int(os.path.basename(unit.out).rsplit("-", 1)[1])
        assert unit.label in unit.spec["models"]
    assert sorted(units) == sorted((cell, label) for cell in CELLS for label in LABELS)
    flags = sbatch_flags((fake_sbatch / "script-0.sh").read_text())
    # the CLI defaults: a day, no GPU, 2 CPUs, at most 64 at once (here all 4)
    assert flags["array"] == "0-3%4"
    assert flags["time"] == str(24 * 60)
    assert flags["cpus-per-task"] == "2"
    assert "partition" not in flags
    assert "gpus-per-node" not in flags, "no GPU asked for: no gres line, which GPU-less clusters reject"
    assert no_seed_trained(out)


def test_packed_cells_go_as_one_task_per_model(tiny_spec, tmp_path, fake_sbatch):
    """With the grid's cells packed, each array task trains one model label of both cells together."""
    spec = grid_spec_file(tiny_spec, tmp_path, pack=True)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(spec), "--out", str(out), "--executor", "slurm", "--no-wait"])
    assert result.exit_code == 0, result.output
    assert sbatch_flags((fake_sbatch / "script-0.sh").read_text())["array"] == "0-1%2"
    units = [submitit_unit(out, f"{JOB_ID}_{i}") for i in range(2)]
    assert sorted(u.label for u in units) == LABELS
    for unit in units:
        assert sorted(os.path.basename(p.out) for p in unit.parts) == CELLS
        assert all(p.label == unit.label for p in unit.parts)


@pytest.mark.slow
def test_a_resubmitted_sweep_sends_only_the_models_left_to_train(tiny_spec, tmp_path, fake_sbatch):
    """Two of the four units finished (trained here) and a third is being trained elsewhere: the same command
    submits an array of the last one; once every unfinished unit is being trained, it submits nothing."""
    spec = grid_spec_file(tiny_spec, tmp_path)
    out = tmp_path / "run"
    full = json.loads(spec.read_text())
    for cell, samples in zip(CELLS, (40, 60)):
        one_cell = {**full, "data": {**full["data"], "samples_per_segment": samples}}
        one_cell.pop("grid")
        train_label(one_cell, tmp_path / "elsewhere" / cell, "ivae")
    first = CliRunner().invoke(app, ["run", str(spec), "--out", str(out), "--executor", "slurm", "--no-wait"])
    assert first.exit_code == 0, first.output
    for cell in CELLS:  # the ivae units finish (as if their array tasks ran)
        shutil.copytree(tmp_path / "elsewhere" / cell / "ivae", out / cell / "ivae")
    command = ["run", str(spec), "--out", str(out), "--executor", "slurm", "--no-wait"]
    with training_lock(out / CELLS[0] / "vade", print):  # one vade unit is being trained by some process
        again = CliRunner().invoke(app, command)
    assert again.exit_code == 0, again.output
    assert "being trained by another process" in " ".join(again.output.split())
    flags = sbatch_flags((fake_sbatch / "script-1.sh").read_text())
    assert "array" not in flags, "only the vade unit nobody trains is left: submitit sends one task as a job"
    unit = submitit_unit(out, JOB_ID)
    assert unit.label == "vade" and unit.out.endswith(CELLS[1])
    with training_lock(out / CELLS[0] / "vade", print), training_lock(out / CELLS[1] / "vade", print):
        third = CliRunner().invoke(app, command)
    assert third.exit_code == 0 and "nothing to submit" in third.output, third.output
    assert len(list(fake_sbatch.glob("call-*.json"))) == 2, "no third array"


def submitit_unit(out, job_id):
    submitit = pytest.importorskip("submitit")
    (path,) = (out / "submitit").rglob(f"{job_id}_submitted.pkl")  # the fake job id repeats: rewritten
    return submitit.core.utils.DelayedSubmission.load(path).args[0]


@pytest.mark.parametrize(
    "option, value", [("--time", "0"), ("--cpus", "0"), ("--array-parallelism", "0"), ("--gpus", "-1")]
)
def test_options_slurm_would_reject_or_misread_are_clear_errors(tiny_spec, tmp_path, fake_sbatch, option, value):
    spec = grid_spec_file(tiny_spec, tmp_path)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(spec), "--out", str(out), "--executor", "slurm", option, value])
    assert result.exit_code == 2 and f"{option}: must be at least" in result.output, result.output
    assert not list(fake_sbatch.glob("call-*.json")) and not out.exists()


def run_without_slurm(tiny_spec, tmp_path, monkeypatch, *programs: str):
    """``ica run --executor slurm --no-wait`` with only ``programs`` (fakes) on PATH."""
    bin_dir = tmp_path / "some-bin"
    bin_dir.mkdir()
    for program in programs:
        write_executable(bin_dir / program, "#!/bin/sh\nexit 1\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    spec = grid_spec_file(tiny_spec, tmp_path)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(spec), "--out", str(out), "--executor", "slurm", "--no-wait"])
    return result, out


def assert_one_clean_error(result, out) -> None:
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert "sbatch" in errors[0] or "slurm" in errors[0].lower(), result.output
    assert no_seed_trained(out)


def test_no_slurm_on_this_machine_is_one_clean_error(tiny_spec, tmp_path, monkeypatch):
    """Neither sbatch nor srun on PATH: the usual case of ``--executor slurm`` on a laptop."""
    result, out = run_without_slurm(tiny_spec, tmp_path, monkeypatch)
    assert_one_clean_error(result, out)


def test_a_missing_sbatch_is_one_clean_error(tiny_spec, tmp_path, monkeypatch):
    """srun found but sbatch not (a broken SLURM install): submitit's Popen fails with FileNotFoundError."""
    result, out = run_without_slurm(tiny_spec, tmp_path, monkeypatch, "srun")
    assert_one_clean_error(result, out)
    assert "sbatch" in result.output
