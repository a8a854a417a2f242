"""The slurm executor through submitit's debug and local clusters (no SLURM here): same results as serial."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import ica
from ica.cli.app import app

pytest.importorskip("submitit")


def assert_same_latents(a_root, b_root, cells):
    for cell in cells:
        for label in ("ivae", "vade"):
            for seed in (0, 1):
                rel = f"{cell}/{label}/seeds/{seed}/latents.npz"
                np.testing.assert_array_equal(np.load(a_root / rel)["latents"], np.load(b_root / rel)["latents"])


@pytest.mark.parametrize("executor", ["submitit-debug", "submitit-local"])
def test_a_small_grid_through_submitit_matches_the_serial_run(tiny_spec, tmp_path, executor):
    tiny_spec["grid"] = {"data.samples_per_segment": [40, 60]}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(tiny_spec))
    ica.run(tiny_spec, out=tmp_path / "serial")
    out = tmp_path / "array"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--executor", executor, "--time", "5"])
    assert result.exit_code == 0, result.output
    assert "submitted a job array of 4 tasks" in result.output
    cells = ["samples_per_segment-40", "samples_per_segment-60"]
    assert_same_latents(out, tmp_path / "serial", cells)
    for cell in cells:
        assert json.loads((out / cell / "summary.json").read_text())["cells"] == \
            json.loads((tmp_path / "serial" / cell / "summary.json").read_text())["cells"]
    assert (out / "submitit").is_dir()


def test_no_wait_submits_and_a_second_run_writes_the_summaries(tiny_spec, tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(tiny_spec))
    out = tmp_path / "array"
    first = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--executor", "submitit-local", "--no-wait"])
    assert first.exit_code == 0 and "run the same command again" in first.output, first.output
    import time

    deadline = time.time() + 120
    while time.time() < deadline and not all(
            (out / label / "seeds" / str(s) / "result.json").exists() for label in ("ivae", "vade") for s in (0, 1)):
        time.sleep(0.2)
    second = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert second.exit_code == 0, second.output
    assert "training from" not in second.output, "every seed was trained by the array"
    assert (out / "summary.json").exists()
