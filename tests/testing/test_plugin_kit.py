"""The plugin kit (issue #16): the contract checks as `ica.testing` for anyone's components, and `ica new plugin`
writing packages that install and pass them. The checks must be able to fail: broken components are caught,
naming the check."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.distributions import Independent, Normal
from typer.testing import CliRunner

from ica.cli.app import app
from ica.components.registry import Registry
from ica.errors import IcaError
from ica.plugin import BuildContext, MetricRecord, Options, SeedLinear, hookimpl
from ica.testing import ContractError, check_component
from ica.testing.scaffold import KINDS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "example_plugin"


def pip_target(target: Path, *packages: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--disable-pip-version-check",
            "-q",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            *map(str, packages),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )


def pytest_in(env_path: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(env_path), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


# ------------------------------------------------------------------------------ the checks can fail
class NoOptions(Options):
    pass


class FlatBatchPrior(nn.Module):
    """Breaks the prior contract: an unconditional prior whose batch shape is [S] instead of [S, 1]."""

    conditional = False

    def __init__(self, options, ctx: BuildContext):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(ctx.seeds, ctx.latent_dim))

    def forward(self, cond=None):
        return Independent(Normal(self.loc, torch.ones_like(self.loc)), 1)


class SharedWeightEncoder(nn.Module):
    """Breaks the seed axis: one weight shared by every seed."""

    def __init__(self, options, ctx: BuildContext):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4 + ctx.cond_dim, 2 * ctx.latent_dim))

    def forward(self, x, cond=None):
        h = x.flatten(2) if cond is None else torch.cat([x.flatten(2), cond], -1)
        return (h @ self.weight).chunk(2, -1)


class DroppingMetric:
    """Breaks the metric contract: a failed seed is silently left out."""

    def __init__(self, options, ctx):
        pass

    def __call__(self, evaluation):
        return [MetricRecord("dropping", 1.0, seed=o.seed) for o in evaluation.seeds if o.status == "finished"]


class UnsummedLikelihood(nn.Module):
    """Breaks the likelihood contract: log_prob per dimension [S, B, D], not summed to [S, B]."""

    multiplier = 1

    def __init__(self, options, ctx):
        super().__init__()

    def log_prob(self, x, params):
        return -((x - params) ** 2)

    def mean(self, params):
        return params


class DeadLayerEncoder(nn.Module):
    """Breaks the gradient check: a layer no output depends on."""

    def __init__(self, options, ctx: BuildContext):
        super().__init__()
        import math

        self.used = SeedLinear(math.prod(ctx.x_shape) + ctx.cond_dim, 2 * ctx.latent_dim, ctx.seeds)
        self.unused = SeedLinear(3, 3, ctx.seeds)

    def forward(self, x, cond=None):
        h = x.flatten(2) if cond is None else torch.cat([x.flatten(2), cond], -1)
        return self.used(h).chunk(2, -1)


@hookimpl
def ica_register(register):
    register("prior", "flat_batch", NoOptions, FlatBatchPrior)
    register("encoder", "shared_weight", NoOptions, SharedWeightEncoder)
    register("encoder", "dead_layer", NoOptions, DeadLayerEncoder)
    register("metric", "dropping", NoOptions, DroppingMetric)
    register("likelihood", "unsummed", NoOptions, UnsummedLikelihood)


BROKEN = Registry.load(entry_points=False, extra=[("broken", types.SimpleNamespace(ica_register=ica_register))])


@pytest.mark.parametrize(
    "kind, name, check, words",
    [
        ("prior", "flat_batch", "prior_contract", "batch shape (2,) does not broadcast to [S, B] = (2, 7)"),
        ("encoder", "shared_weight", "encoder_contract", "seed axis"),
        ("encoder", "dead_layer", "encoder_contract", "no gradient reached the parameter unused.weight"),
        ("metric", "dropping", "metric_contract", "no record for the failed seed"),
        ("likelihood", "unsummed", "likelihood_contract", "log_prob has shape (2, 7, 4), expected (2, 7)"),
    ],
)
def test_a_broken_component_fails_naming_the_check(kind, name, check, words):
    with pytest.raises(ContractError) as caught:
        check_component(kind, name, reg=BROKEN)
    assert f"{kind} {name!r} fails {check}" in str(caught.value) and words in str(caught.value), str(caught.value)


def test_a_built_in_passes_and_the_report_says_what_ran():
    report = check_component("prior", "gmm")
    assert report.passed == ["options_round_trip", "prior_contract"] and report.not_applicable == {}
    files = check_component("dataset", "mnist")
    assert "dataset_contract" in files.not_applicable and "root" in files.not_applicable["dataset_contract"]
    with pytest.raises(IcaError, match="did you mean|unknown"):
        check_component("prior", "gmn")


# ------------------------------------------------------------------- ica new plugin, installed and checked
@pytest.mark.slow
def test_ica_new_plugin_writes_packages_that_install_and_pass_the_kit(tmp_path):
    runner = CliRunner()
    for kind in KINDS:
        result = runner.invoke(app, ["new", "plugin", f"ica-my-{kind}", "--kind", kind, "--out", str(tmp_path)])
        assert result.exit_code == 0, result.output
    packages = sorted(tmp_path.glob("ica-my-*"))
    assert [p.name for p in packages] == sorted(f"ica-my-{k}" for k in KINDS)
    assert 'dependencies = ["ica-toolkit"]' in (packages[0] / "pyproject.toml").read_text()
    site = tmp_path / "site"
    pip_target(site, *packages)
    selection = [arg for kind in KINDS for arg in ("--ica-plugin", f"ica-my-{kind}")]
    own_tests = sorted(tmp_path.glob("ica-my-*/tests"))
    # the kit and the packages' own tests in one pytest process (an interpreter start each would cost seconds)
    kit = pytest_in(site, "--pyargs", "ica.testing", "-rs", *selection, *map(str, own_tests), cwd=tmp_path)
    assert kit.returncode == 0, kit.stdout + kit.stderr
    # per kind: the options round trip and the kind's checks (17, the model's two that do not apply skip), and
    # each package's own two tests
    assert f"{17 + 2 * len(KINDS)} passed, 2 skipped" in kit.stdout, kit.stdout


@pytest.mark.slow
def test_the_example_plugin_runs_the_kit_in_its_own_tests(example_plugin_site, tmp_path):
    site = example_plugin_site
    # its own tests and the kit in one pytest process
    both = pytest_in(
        site,
        "--pyargs",
        "ica.testing",
        "--ica-plugin",
        "ica-example-laplace",
        "-vv",
        str(EXAMPLE / "tests"),
        cwd=tmp_path,
    )
    assert both.returncode == 0, both.stdout + both.stderr
    for test in ("[prior:laplace:prior_contract] PASSED", "test_laplace_honours_the_prior_contract PASSED"):
        assert test in both.stdout, both.stdout
    assert "test_laplace_trains_in_an_ivae PASSED" in both.stdout, both.stdout
    wrong = pytest_in(site, "--pyargs", "ica.testing", "--ica-plugin", "ica-no-such-plugin", cwd=tmp_path)
    assert wrong.returncode != 0 and "installed plugins" in wrong.stdout + wrong.stderr


def test_ica_new_plugin_refuses_bad_input_and_writes_nothing(tmp_path):
    runner = CliRunner()
    cases = [
        (["bad name", "--kind", "prior"], "NAME"),
        (["ica-x", "--kind", "flow"], "unknown kind 'flow'"),
        (["ica-x", "--kind", "prior", "--component", "Bad-Name"], "--component"),
        (["ica", "--kind", "prior"], "shadows"),
    ]
    for args, words in cases:
        result = runner.invoke(app, ["new", "plugin", *args, "--out", str(tmp_path / "out")])
        assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output, result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert runner.invoke(app, ["new", "plugin", "ica-x", "--kind", "prior", "--out", str(tmp_path)]).exit_code == 0
    before = (tmp_path / "ica-x" / "ica_x.py").read_text()
    again = runner.invoke(app, ["new", "plugin", "ica-x", "--kind", "metric", "--out", str(tmp_path)])
    assert again.exit_code == 2 and "already exists" in again.output
    assert (tmp_path / "ica-x" / "ica_x.py").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ica-x", "out"] or sorted(
        p.name for p in tmp_path.iterdir()
    ) == ["ica-x"], "no scratch directory is left behind"
