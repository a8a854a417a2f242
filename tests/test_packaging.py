"""Packaging: a real third-party plugin package installed by pip and found through its entry point, and a
built wheel that carries registry.toml. These run `pip` and fresh interpreters, so they take ~20 s."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import ica
from ica.running.building import raw_data
from ica.spec.load import load_spec

pytestmark = pytest.mark.slow  # each test installs a plugin or builds a wheel with pip

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "tests" / "example_plugin"


def pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )


def ica_cli(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ica", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def plugin_env(example_plugin_site) -> dict:
    """An environment whose path holds the example plugin, installed by pip (dist-info, entry point)."""
    assert list(example_plugin_site.glob("ica_example_laplace-*.dist-info"))
    return {**os.environ, "PYTHONPATH": str(example_plugin_site)}


def test_installed_plugin_appears_in_ica_list(plugin_env, tmp_path):
    result = ica_cli("list", "prior", "--json", env=plugin_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    laplace = [c for c in listing["components"] if c["name"] == "laplace"]
    assert laplace == [
        {
            "kind": "prior",
            "name": "laplace",
            "plugin": "ica-example-laplace",
            "version": "0.1.0",
            "module": "ica_example_laplace",
            "description": laplace[0]["description"],
        }
    ]
    shown = ica_cli("show", "laplace", env=plugin_env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "provided by ica-example-laplace 0.1.0 (entry point), module ica_example_laplace" in " ".join(
        shown.stdout.split()
    )


def test_installed_plugin_trains_in_ica_run(plugin_env, tmp_path):
    spec = {
        "data": {"name": "tcl", "segments": 4, "samples_per_segment": 30, "eval_samples_per_segment": 10, "dim": 2},
        "models": {
            "ivae-laplace": {
                "name": "ivae",
                "prior": {"name": "laplace", "init_scale": 0.5},
                "encoder": {"name": "mlp", "hidden": [8]},
                "decoder": {"name": "mlp", "hidden": [8]},
            }
        },
        "training": {"steps": 20, "batch_size": 8},
        "seeds": 2,
        "device": "cpu",
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    result = ica_cli("run", "spec.json", "--out", "out", env=plugin_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    cell = summary["cells"]["ivae-laplace"]
    assert cell["status"] == {"0": "finished", "1": "finished"}
    assert cell["stats"]["mcc"]["n"] == 2 and cell["stats"]["mcc"]["n_failed"] == 0
    env = json.loads((tmp_path / "out" / "env.json").read_text())
    assert {"name": "ica-example-laplace", "version": "0.1.0", "module": "ica_example_laplace"} in env["plugins"]

    # The trained model comes back through the plugin: `ica encode` of the evaluation points gives the saved latents
    # (the data set built here, in this process without the plugin, from the run's data section).
    data_only = {"data": json.loads((tmp_path / "out" / "spec.json").read_text())["data"], "model": {"name": "ivae"}}
    evaluation = raw_data(load_spec(data_only), ica.registry()).eval
    np.savez(tmp_path / "new.npz", x=evaluation.x.numpy(), u=evaluation.u.numpy())
    encoded = ica_cli("encode", "out", "--data", "new.npz", "--out", "z.npz", env=plugin_env, cwd=tmp_path)
    assert encoded.returncode == 0, encoded.stderr + encoded.stdout
    for seed in (0, 1):
        saved = np.load(tmp_path / "out" / "ivae-laplace" / "seeds" / str(seed) / "latents.npz")["latents"]
        np.testing.assert_array_equal(np.load(tmp_path / "z.npz")["latents"][seed], saved)
    # Without the plugin installed the run cannot be rebuilt: one message saying so, exit 2.
    bare = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    missing = ica_cli("encode", "out", "--data", "new.npz", "--out", "z2.npz", env=bare, cwd=tmp_path)
    assert missing.returncode == 2 and "laplace" in missing.stderr and "installed" in missing.stderr, missing.stderr
    assert "Traceback" not in missing.stderr and not (tmp_path / "z2.npz").exists()


def test_plugin_missing_from_the_environment_is_an_unknown_name(tmp_path):
    spec = {"data": {"name": "tcl"}, "model": {"name": "ivae", "prior": {"name": "laplace"}}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = ica_cli("validate", "spec.json", env=env, cwd=tmp_path)
    assert result.returncode == 2 and "unknown name 'laplace'" in result.stderr
    assert "Traceback" not in result.stderr


def test_wheel_carries_registry_toml_and_loads_builtins(tmp_path):
    # Built from a copy of the source: setuptools reuses ./build/lib, which in a working tree still holds
    # modules that were moved or deleted since, and would put them into the wheel.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "runs", "__pycache__", "example_plugin"),
    )
    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source))
    wheel = next((tmp_path / "dist").glob("ica_toolkit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "ica/registry.toml" in names and "ica/plugins/priors/gmm.py" in names and "ica/cli/app.py" in names
    core = ROOT / "core"
    modules = {f"ica/{p.relative_to(core).as_posix()}" for p in core.rglob("*.py") if "__pycache__" not in p.parts}
    carried = {
        n
        for n in names
        if n.endswith(".py") and n.startswith("ica/") and not n.startswith(("ica/cli/", "ica/plugins/"))
    }
    assert carried == modules, "the wheel carries every module of every room, and nothing else (pyproject's packages)"
    site = tmp_path / "site"
    pip("install", "--no-deps", "--target", str(site), str(wheel))
    code = "import ica, json; r = ica.registry(); print(json.dumps([ica.__file__, len(r.failures), r.names('model')]))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    location, failures, models = json.loads(out.stdout)
    assert location.startswith(str(site)), "the wheel's copy must be the one imported"
    assert failures == 0 and {"ivae", "vade"} <= set(models)
