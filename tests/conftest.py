"""Shared fixtures: tiny specs that train in a second or two."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

# pytest-xdist's workers inherit COLUMNS=80 and LINES=24, which the CLI's consoles obey in a pipe: every worker
# sees what a single pytest process sees (a test that needs a width sets COLUMNS itself).
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


def _build_each_cli_once() -> None:
    """typer's ``CliRunner.invoke(app, ...)`` builds the click command from ``app`` on every call (about 10 ms,
    some 2,000 calls in the suite); an app's commands are fixed once it is invoked, so each is built once."""
    import weakref

    import typer.testing

    build = getattr(typer.testing, "_get_command", None)
    if build is None:  # a typer without this private helper: every invoke builds, as typer does
        return
    built: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def command(app):
        if app not in built:
            built[app] = build(app)
        return built[app]

    typer.testing._get_command = command


_build_each_cli_once()

# The example plugin's own tests run with the plugin installed (test_plugin_kit.py does that), not here.
collect_ignore = ["example_plugin"]


def pytest_collection_modifyitems(items: list) -> None:
    """Modules with tests marked slow run first, each module's tests kept together (so module fixtures are
    built once): pytest-xdist hands out tests in this order, and a long test started last would leave the
    other workers idle at the end."""
    has_slow = {item.module.__name__ for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.module.__name__ not in has_slow)


TINY_DATA = {
    "name": "tcl",
    "segments": 4,
    "samples_per_segment": 40,
    "eval_samples_per_segment": 20,
    "dim": 3,
    "data_seed": 7,
}
TINY_MODELS = {
    "ivae": {"name": "ivae", "encoder": {"name": "mlp", "hidden": [16]}, "decoder": {"name": "mlp", "hidden": [16]}},
    "vade": {
        "name": "vade",
        "encoder": {"name": "mlp", "hidden": [16]},
        "decoder": {"name": "mlp", "hidden": [16]},
        "prior": {"name": "gmm", "components": 5},
    },
}
TINY_SPEC = {
    "name": "tiny",
    "data": TINY_DATA,
    "models": TINY_MODELS,
    "training": {
        "steps": 30,
        "batch_size": 16,
        "log_every": 10,
        "checkpoint_every": 10,
        "scheduler": {"interval": 10, "patience": 0},
    },
    "seeds": 2,
    "device": "cpu",
}


MLP = {"encoder": {"name": "mlp", "hidden": [16]}, "decoder": {"name": "mlp", "hidden": [16]}}
TCL_MODELS = {
    "ivae": {"name": "ivae", **MLP},
    "vade": {"name": "vade", **MLP, "prior": {"name": "gmm", "components": 5}},
    "hashed": {"name": "vade", **MLP, "prior": {"name": "rademacher", "bits": 3}},
    "flow": {"name": "gmmflow", "transforms": 2, "hidden": [16], "prior": {"name": "gmm", "components": 4}},
}
GRIDS = {"channels": 4, "latent_dim": 2, "residual_blocks": 1}
DIGITS_MODELS = {
    "vqvae": {"name": "vqvae", **GRIDS, "prior": {"name": "quantised", "codebook_size": 5}},
    "ae": {"name": "ae", **GRIDS},
}


@pytest.fixture(scope="session")
def example_plugin_site(tmp_path_factory) -> Path:
    """tests/example_plugin installed by pip (dist-info, entry point) into a folder of its own, once per session
    for every test that puts it on a path; tests only read it."""

    def install(site: Path) -> None:
        example = Path(__file__).parent / "example_plugin"
        command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "install", "--no-deps"]
        subprocess.run([*command, "--no-build-isolation", "--target", str(site), str(example)], check=True, timeout=300)

    return built_once(tmp_path_factory, "example_plugin_site", install)


def cli(*args):
    """``ica ARGS`` in this process (typer's runner): its exit code and output."""
    from typer.testing import CliRunner

    from ica.cli.app import app

    return CliRunner().invoke(app, [*map(str, args)])


def refused(done, *fragments) -> str:
    """Exit 2 with one message holding every fragment, and no traceback; the output."""
    assert done.exit_code == 2, done.output
    assert "Traceback" not in done.output and done.output.count("error:") == 1, done.output
    for fragment in fragments:
        assert fragment in done.output, (fragment, done.output)
    return done.output


def compile_failure() -> str | None:
    """Why torch.compile cannot build CPU kernels on this machine (no C++ compiler, say), or None: the tests of
    inductor's compiled step skip with it, since the compiled path falls back to eager there."""
    import torch

    try:
        torch.compile(lambda x: x * 2 + 1, fullgraph=True)(torch.ones(3))
    except Exception as exc:  # noqa: BLE001 - any failure means the compiled path falls back here
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"
    return None


@pytest.fixture
def traced_compile(monkeypatch):
    """The compiled step on torch.compile's ``aot_eager`` backend (`ica.training.compiled.BACKEND`): the same
    graph, traced whole, functionalised and differentiated, run with torch's own kernels. For tests of the
    step's logic (state, resumption, seeds, each model's graph): about a second each, where a cold inductor
    compile costs 10-50 s on 2 cores; and no C++ compiler is needed. tests/training/test_compiled.py checks
    inductor's generated code."""
    import ica.training.compiled

    monkeypatch.setattr(ica.training.compiled, "BACKEND", "aot_eager")


def built_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """``build(folder)`` run once per pytest session, by whichever pytest-xdist worker asks first; the other
    workers wait for it and share the folder, which tests must only read. (pytest-xdist's documented recipe:
    the workers' temporary folders share a parent; a file lock orders them.)"""
    from filelock import FileLock  # in the test extra (and a dependency of torch)

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder, done = root / name, root / f"{name}.built"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a build that failed part-way left
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


def _train_runs(root: Path) -> None:
    import ica

    tcl = copy.deepcopy(TINY_SPEC)
    tcl["data"] = {**tcl["data"], "standardize": True}
    tcl["models"] = TCL_MODELS
    ica.run(tcl, out=root / "tcl")
    digits = {
        "data": {"name": "digits"},
        "models": DIGITS_MODELS,
        "seeds": 2,
        "device": "cpu",
        "training": {"steps": 10, "batch_size": 16, "log_every": 5},
    }
    ica.run(digits, out=root / "digits")


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory) -> Path:
    """A TCL run (iVAE, VaDE, hashed VaDE, GMM-Flow; standardised) and a digits run (VQ-VAE, autoencoder),
    trained once per session (across pytest-xdist workers too) for every test that loads trained models:
    they only read them. Tests that ask for it are marked slow."""
    return built_once(tmp_path_factory, "trained", _train_runs)


@pytest.fixture
def tiny_spec() -> dict:
    """A complete spec: iVAE and VaDE on a 3-dimensional TCL data set, 2 seeds, 30 steps."""
    return copy.deepcopy(TINY_SPEC)


def assert_same_runs(a: Path, b: Path, cells, labels=("ivae", "vade"), seeds=(0, 1)) -> None:
    """Two grids' runs ended identically: each seed's latents and metrics.jsonl, each run's model summaries.
    ``cells`` are the grid cells' sub-directories, or ``(".",)`` for a run without a grid."""
    for cell in cells:
        for label in labels:
            for seed in seeds:
                rel = f"{cell}/{label}/seeds/{seed}"
                np.testing.assert_array_equal(
                    np.load(a / rel / "latents.npz")["latents"], np.load(b / rel / "latents.npz")["latents"]
                )
                assert (a / rel / "metrics.jsonl").read_bytes() == (b / rel / "metrics.jsonl").read_bytes()
        assert (
            json.loads((a / cell / "summary.json").read_text())["cells"]
            == json.loads((b / cell / "summary.json").read_text())["cells"]
        )


def spec_file_and_reference(root: Path, spec: dict) -> tuple[Path, Path]:
    """``spec`` written to ``root/spec.json`` for ``ica`` processes, and its uninterrupted run
    (``root/reference``) for them to be compared with."""
    import ica

    path = root / "spec.json"
    path.write_text(json.dumps(spec))
    ica.run(spec, out=root / "reference")
    return path, root / "reference"


def shared_spec_and_reference(tmp_path_factory, name: str, spec: dict) -> tuple[Path, Path]:
    """`spec_file_and_reference` built once per session under ``name`` (`built_once`): a module's tests split
    over pytest-xdist workers share one reference run rather than train it on each worker."""
    root = built_once(tmp_path_factory, name, lambda folder: spec_file_and_reference(folder, spec))
    return root / "spec.json", root / "reference"


def finished_vade_run(root: Path) -> tuple[Path, Path]:
    """The tiny spec's VaDE alone (2 seeds; latents with assignments), written to ``root/tiny.json`` and run
    into ``root/run``: a finished run directory for tests to damage copies of."""
    import ica

    spec = copy.deepcopy(TINY_SPEC)
    spec["models"] = {"vade": spec["models"]["vade"]}
    spec_path = root / "tiny.json"
    spec_path.write_text(json.dumps(spec))
    ica.run(spec, out=root / "run")
    return spec_path, root / "run"


def unrecorded(run_dir: Path) -> None:
    """``run_dir`` as an ica before digests left it: no ``rebuilt_from`` in any seed's result.json."""
    for path in run_dir.glob("*/seeds/*/result.json"):
        result = json.loads(path.read_text())
        result.pop("rebuilt_from", None)
        path.write_text(json.dumps(result))


def ready_ica(*args: str, **popen) -> "subprocess.Popen":
    """An ``ica`` process that has already imported everything and runs ``ica ARGS`` when told to
    (``go(process)``), so that a test can act within milliseconds rather than an interpreter's start-up."""
    script = (
        "import sys, torch, ica, ica.cli, ica.running.runner\n"
        "print('ready', flush=True)\n"
        "if sys.stdin.readline() != 'go\\n':\n"
        "    sys.exit(0)  # the test ended without `go`\n"
        f"sys.argv = ['ica', *{list(args)!r}]\n"
        "ica.cli.main()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )
    assert process.stdout.readline().strip() == "ready"
    return process


def go(process: "subprocess.Popen") -> None:
    process.stdin.write("go\n")
    process.stdin.flush()


def made_and_peak(make):
    """What ``make()`` returns, and the peak of Python-tracked memory while it ran: what a memory estimate must
    cover."""
    import tracemalloc

    tracemalloc.start()
    try:
        made = make()
        return made, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def peak_bytes(make) -> int:
    """The peak of Python-tracked memory while ``make()`` runs (`made_and_peak`)."""
    return made_and_peak(make)[1]
