"""The plugin kit and likelihoods (issue #30, point 7): a likelihood's declared ``support`` is checked (data inside
scored finitely, data outside refused), a package's small run uses data its likelihood can describe, the
likelihood template describes no particular distribution, and ``--ica-plugin`` takes the plugin's name as well
as its distribution's."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import constraints
from typer.testing import CliRunner

import ica
import ica.testing.test_components as kit
from ica.cli.app import app
from ica.components.registry import Component, PluginInfo, Registry
from ica.components.support import outside_support
from ica.plugin import Options, hookimpl
from ica.testing import ContractError, check_component
from ica.testing.data_checks import likelihood_data, mapped_into, points_in, points_outside
from ica.testing.templates import RUN_DATA

from test_plugin_kit import pip_target, pytest_in  # tests/testing is on the path (pytest prepends it)


# --------------------------------------------------------------------------- the support check can fail
class NoOptions(Options):
    pass


class LogOfCounts(nn.Module):
    """Declares counts but takes log(x): -inf at x = 0, a count it claims to describe."""

    multiplier = 1
    support = constraints.nonnegative_integer

    def __init__(self, options, ctx):
        super().__init__()

    def log_prob(self, x, params):
        return (x.log() - params.exp()).flatten(2).sum(-1)

    def mean(self, params):
        return params.exp()


class NotAConstraint(LogOfCounts):
    support = "counts"


class AcceptsAnything(constraints.Constraint):
    is_discrete = True

    def check(self, value):
        return torch.ones_like(value, dtype=torch.bool)


class LenientCounts(LogOfCounts):
    """A support whose check lets everything through: nothing would ever be refused."""

    support = AcceptsAnything()

    def log_prob(self, x, params):
        return (x * params - params.exp()).flatten(2).sum(-1)


@hookimpl
def ica_register(register):
    register("likelihood", "log_of_counts", NoOptions, LogOfCounts)
    register("likelihood", "not_a_constraint", NoOptions, NotAConstraint)
    register("likelihood", "lenient_counts", NoOptions, LenientCounts)


BROKEN = Registry.load(entry_points=False, extra=[("broken", types.SimpleNamespace(ica_register=ica_register))])


@pytest.mark.parametrize(
    "name, words",
    [
        ("log_of_counts", "log_prob is not finite on data inside its support"),
        ("not_a_constraint", "support must be a torch.distributions.constraints.Constraint, not str"),
        ("lenient_counts", "data with a fraction pass its support AcceptsAnything()"),
    ],
)
def test_a_likelihood_breaking_its_declared_support_fails_the_kit(name, words):
    with pytest.raises(ContractError) as caught:
        check_component("likelihood", name, reg=BROKEN)
    assert f"likelihood {name!r} fails likelihood_support" in str(caught.value) and words in str(caught.value)


def test_built_in_count_likelihoods_pass_and_one_without_support_says_why():
    for name in ("poisson", "negative_binomial", "bernoulli"):
        assert "likelihood_support" in check_component("likelihood", name).passed
    gaussian = check_component("likelihood", "gaussian")
    assert "declares no support" in gaussian.not_applicable["likelihood_support"]


@pytest.mark.parametrize(
    "support",
    [
        constraints.nonnegative_integer,
        constraints.positive_integer,
        constraints.boolean,
        constraints.unit_interval,
        constraints.positive,
        constraints.nonnegative,
        constraints.real,
        constraints.interval(-2.0, 3.0),
        constraints.integer_interval(1, 6),
        constraints.less_than(4.0),
    ],
)
def test_points_are_drawn_inside_each_support_and_moved_out_of_it_every_way(support):
    x = points_in(support, (2, 7, 4))
    assert x is not None and bool(support.check(x).all()) and outside_support(support, x) is None
    cases = points_outside(support, x)
    assert cases
    for what, bad in cases:
        assert outside_support(support, bad) is not None, what
    z = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    mapped = mapped_into(support, z)
    assert mapped is not None and bool(support.check(mapped).all())


def test_points_inside_counts_include_zero_and_a_large_count():
    x = points_in(constraints.nonnegative_integer, (2, 7, 4))
    assert x is not None and x.min() == 0 and x.max() >= 1000


# ------------------------------------------------------------------------------- the run's data
def test_likelihood_data_gives_counts_to_a_count_likelihood_and_leaves_real_data_alone(tmp_path):
    assert likelihood_data("gaussian", tmp_path, dict(RUN_DATA)) == RUN_DATA
    spec = likelihood_data("poisson", tmp_path, dict(RUN_DATA))
    assert spec["name"] == "npz" and Path(spec["path"]).parent == tmp_path
    arrays = np.load(spec["path"])
    x, u = arrays["x"], arrays["u"]
    assert x.dtype == np.float32 and (x >= 0).all() and (x == np.round(x)).all() and x.std() > 0
    assert len(x) == 4 * (30 + 10) and sorted(set(u.tolist())) == [0, 1, 2, 3]
    mlp = {"name": "mlp", "hidden": [8]}
    run = {"data": spec, "models": {"m": {"name": "ivae", "encoder": mlp, "decoder": mlp}}, "device": "cpu"}
    for name in ("poisson", "negative_binomial"):
        ica.check({**run, "models": {"m": {**run["models"]["m"], "likelihood": {"name": name}}}})
    with pytest.raises(ica.DataError, match="likelihood 'poisson' needs counts"):
        ica.check({**run, "data": RUN_DATA, "models": {"m": {**run["models"]["m"], "likelihood": {"name": "poisson"}}}})
    grey = np.load(likelihood_data("bernoulli", tmp_path / "..", dict(RUN_DATA))["path"])["x"]
    assert (grey >= 0).all() and (grey <= 1).all()


# ------------------------------------------------------------------------------------ the template
def test_the_likelihood_template_names_no_distribution_and_its_run_uses_describable_data(tmp_path):
    result = CliRunner().invoke(app, ["new", "plugin", "ica-counts", "--kind", "likelihood", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    package = tmp_path / "ica-counts"
    source = (package / "ica_counts.py").read_text()
    docstrings = [source.split('"""')[1], source.split('"""')[3]]  # the module's and the class's
    texts = [*docstrings, (package / "pyproject.toml").read_text(), (package / "README.md").read_text()]
    assert all("Laplace" not in text for text in texts), texts
    assert "support = constraints.real" in source
    tests = (package / "tests" / "test_ica_counts.py").read_text()
    assert 'spec["data"] = likelihood_data("counts", tmp_path, spec["data"])' in tests and "ica.check(spec)" in tests


POISSON_BODY = """    def log_prob(self, x, params):  # a Poisson with log-rate params
        return (x * params - params.exp() - torch.lgamma(x + 1)).flatten(2).sum(-1)

    def mean(self, params):
        return params.exp()
"""


def poisson_package(root: Path, keep_data_line: bool = True) -> Path:
    """`ica new plugin ica-counts --kind likelihood`, edited into a Poisson as an author would (support, log_prob,
    one output per dimension); without ``keep_data_line`` its run test goes back to the template's TCL data."""
    result = CliRunner().invoke(app, ["new", "plugin", "ica-counts", "--kind", "likelihood", "--out", str(root)])
    assert result.exit_code == 0, result.output
    package = root / "ica-counts"
    module = package / "ica_counts.py"
    source = module.read_text()
    source = source.replace("import math\n", "import math\n\nimport torch\n").replace(
        "support = constraints.real", "support = constraints.nonnegative_integer"
    )
    source = source.replace("multiplier = 2", "multiplier = 1")
    start, end = source.index("    def log_prob"), source.index("\n\n@hookimpl")
    module.write_text(source[:start] + POISSON_BODY + source[end:])
    if not keep_data_line:
        tests = package / "tests" / "test_ica_counts.py"
        tests.write_text("\n".join(line for line in tests.read_text().splitlines() if "likelihood_data(" not in line))
    return package


@pytest.mark.slow
def test_a_poisson_plugin_from_the_template_runs_on_counts_and_the_kit_takes_its_component_name(tmp_path):
    package = poisson_package(tmp_path)
    site = tmp_path / "site"
    pip_target(site, package)
    # its own tests and the kit in one pytest process
    kit_run = pytest_in(
        site, "--pyargs", "ica.testing", "--ica-plugin", "counts", "-vv", str(package / "tests"), cwd=tmp_path
    )
    out = kit_run.stdout + kit_run.stderr
    assert kit_run.returncode == 0 and "[likelihood:counts:likelihood_support] PASSED" in out, out
    own = [line for line in out.splitlines() if f"{package.name}/tests/test_" in line and " PASSED" in line]
    assert len(own) == 2, out  # the package's own two tests
    assert "likelihood:poisson" not in out, "only the plugin's components are checked"
    # the same package, its run test on the template's real-valued data: refused before it trains
    other = poisson_package(tmp_path / "plain", keep_data_line=False)
    plain_site = tmp_path / "plain_site"
    pip_target(plain_site, other)
    refused = pytest_in(plain_site, str(other / "tests"), cwd=tmp_path)
    text = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "likelihood 'counts' needs counts (whole numbers >= 0)" in text, text


# ------------------------------------------------------------------------------------- --ica-plugin
class Config:
    def __init__(self, plugins=(), components=()):
        self.options = {"ica_plugin": list(plugins), "ica_component": list(components)}

    def getoption(self, name, default=None):
        return self.options.get(name, default)


def third_party(monkeypatch) -> None:
    """The installed registry plus a plugin distributed as ``ica-poisson-counts`` (module ``ica_poisson_counts``)
    providing the likelihood ``spikes``."""

    @hookimpl
    def register_spikes(register):
        register("likelihood", "spikes", NoOptions, LenientCounts)

    module = types.SimpleNamespace(ica_register=register_spikes, __name__="ica_poisson_counts")
    reg = Registry.load(entry_points=False, extra=[("ica-poisson-counts", module)])
    monkeypatch.setattr(kit, "registry", lambda: reg)


@pytest.mark.parametrize(
    "given", ["ica-poisson-counts", "ica_poisson_counts", "ICA.Poisson_Counts", "spikes", "Spikes"]
)
def test_ica_plugin_takes_the_distribution_the_module_or_the_component_name(monkeypatch, given):
    third_party(monkeypatch)
    assert kit.selected(Config([given])) == [("likelihood", "spikes")]


def test_ica_plugin_selects_the_built_ins_by_name_and_says_what_is_installed(monkeypatch):
    third_party(monkeypatch)
    assert kit.selected(Config(["poisson"])) == [("likelihood", "poisson")]
    every = kit.selected(Config(["ica"]))
    assert ("likelihood", "poisson") in every and ("likelihood", "spikes") not in every
    with pytest.raises(pytest.UsageError, match="installed plugins: .*ica-poisson-counts"):
        kit.selected(Config(["ica-no-such-plugin"]))


def test_provided_by_matches_names_not_parts_of_them():
    info = PluginInfo("ica-poisson-counts", "1", "entry point", "ica_poisson_counts")
    component = Component("likelihood", "spikes", NoOptions, LenientCounts, "", info)
    assert kit.provided_by(component, {"ica-poisson-counts"}) and kit.provided_by(component, {"spikes"})
    assert not kit.provided_by(component, {"poisson"}) and not kit.provided_by(component, {"ica-poisson"})
