"""Loading a run directory never executes code from its files: a checkpoint or latents file holding a
pickle that would run code on load is refused with one clear error naming the file, and the code never
runs (the marker file it would create does not appear)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import ica
from ica.cli.app import app
from ica.errors import IcaError

pytestmark = pytest.mark.slow  # each test trains a run


class Payload:
    """Unpickling this calls ``Path.touch(marker)``: what an attacker's code would do, harmlessly."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.fixture
def finished_run(tiny_spec, tmp_path):
    tiny_spec["models"] = {"vade": tiny_spec["models"]["vade"]}
    ica.run(tiny_spec, out=tmp_path / "run")
    return tiny_spec, tmp_path / "run", tmp_path / "code-ran"


def test_a_checkpoint_that_would_run_code_is_refused_and_the_code_never_runs(finished_run):
    spec, out, marker = finished_run
    seeds = out / "vade" / "seeds"
    for seed in (0, 1):  # make both seeds unfinished, so that resuming reads their checkpoints
        for name in ("result.json", "latents.npz", "model.safetensors", "checkpoint.1.pt"):
            (seeds / str(seed) / name).unlink(missing_ok=True)
    (out / "vade" / "summary.json").unlink()
    (out / "summary.json").unlink()
    torch.save({"format": 1, "step": 30, "model": Payload(str(marker))}, seeds / "0" / "checkpoint.pt")
    with pytest.raises(IcaError) as caught:
        ica.run(spec, out=out)
    assert "checkpoint.pt" in str(caught.value) and "corrupt or unreadable" in str(caught.value)
    assert not marker.exists()


def test_latents_that_would_run_code_are_refused_and_the_code_never_runs(finished_run, tmp_path):
    spec, out, marker = finished_run
    latents = out / "vade" / "seeds" / "0" / "latents.npz"
    np.savez(latents, latents=np.array([Payload(str(marker))], dtype=object))
    (out / "summary.json").unlink()
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(__import__("json").dumps(spec))
    result = CliRunner().invoke(app, ["run", str(spec_path), "--out", str(out)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "latents.npz" in result.output and "train that seed again" in " ".join(result.output.split())
    assert not marker.exists()
