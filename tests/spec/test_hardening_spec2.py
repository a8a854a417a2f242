"""Issue #27, specs: metrics listed twice (4), sizes checked before anything is built, by the same estimate for
``ica validate`` and ``ica run`` (6), grids bounded and without repeated cells, counts bounded (11), and the
symbolic-link message true wherever ica writes (12)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import ica
import ica.running.resources as resources
import ica.spec.grid
from ica.cli.app import app
from ica.components.protocols import LossOutput
from ica.errors import IcaError, SpecError
from ica.rundir.writing import check_target, open_regular, safe_dir
from ica.running.validate import check
from ica.spec.grid import grid_cells
from ica.spec.limits import MAX_GRID_CELLS, MAX_STEPS
from ica.spec.load import load_spec


def refusal(spec: dict) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    return str(info.value)


def cli_refusal(tmp_path, *args: str, spec: dict) -> str:
    """``ica ARGS spec.json``: exit 2, one message, no traceback."""
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    result = CliRunner().invoke(app, [*args, str(path)])
    assert result.exit_code == 2 and result.output.count("error:") == 1, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


# ------------------------------------------------------------------------------- 4: a metric twice
def test_a_metric_listed_twice_is_refused_naming_the_second_entry(tiny_spec):
    tiny_spec["evaluation"] = {"metrics": [{"name": "mcc"}, {"name": "elbo"}, {"name": "mcc"}]}
    message = refusal(tiny_spec)
    assert "evaluation.metrics[2]: repeats entry [0] ('mcc')" in message and "twice" in message


def test_a_metric_twice_with_other_options_is_refused_too(tiny_spec):
    """Records are named after the metric, not its options: two mcc entries would share one summary line."""
    tiny_spec["evaluation"] = {"metrics": [{"name": "mcc"}, {"name": "mcc", "method": "spearman"}]}
    message = refusal(tiny_spec)
    assert "evaluation.metrics[1]: 'mcc' is already entry [0], with other options" in message
    assert "mixed in one summary" in message


def test_distinct_metrics_are_accepted(tiny_spec):
    tiny_spec["evaluation"] = {"metrics": [{"name": "mcc", "method": "spearman"}, {"name": "elbo"}]}
    assert [m.name for m in load_spec(tiny_spec).evaluation.metrics] == ["mcc", "elbo"]


# --------------------------------------------------------------------------------- 11: grids, counts
def test_a_grid_beyond_the_limit_is_refused_before_any_cell_is_made(tiny_spec, tmp_path, monkeypatch):
    def expanded(*args, **kwargs):
        raise AssertionError("a cell was made before the grid's size was checked")

    monkeypatch.setattr(ica.spec.grid, "load_spec", expanded)
    tiny_spec["grid"] = {
        "data.samples_per_segment": list(range(10, 110)),
        "training.lr": [0.1 / k for k in range(1, 101)],
    }
    for command in (["validate"], ["run", "--dry-run"]):
        start = time.perf_counter()
        message = cli_refusal(tmp_path, *command, spec=tiny_spec)
        assert time.perf_counter() - start < 10
        assert "100 x 100 values make 10,000 cells" in message and f"at most {MAX_GRID_CELLS:,}" in message


def test_a_grid_at_the_limit_is_accepted(tiny_spec):
    tiny_spec["grid"] = {"training.lr": [0.1 / k for k in range(1, MAX_GRID_CELLS + 1)]}
    assert len(load_spec(tiny_spec).grid["training.lr"]) == MAX_GRID_CELLS


@pytest.mark.parametrize(
    "grid, fragment",
    [
        (
            {"data.samples_per_segment": [40, 50, 40]},
            "grid.data.samples_per_segment[2]: repeats the value 40 of entry [0]",
        ),
        (
            {"models.*.prior": [{"name": "gmm", "components": 3}, {"components": 3, "name": "gmm"}]},
            'grid.models.*.prior[1]: repeats the value {"components": 3, "name": "gmm"} of entry [0]',
        ),
        ({"data.dim, training.lr": [[3, 0.1], [3, 0.1]]}, "grid.data.dim, training.lr[1]: repeats the value [3, 0.1]"),
    ],
)
def test_a_value_repeated_on_a_grid_axis_is_refused(tiny_spec, grid, fragment):
    tiny_spec["grid"] = grid
    assert fragment in refusal(tiny_spec)


@pytest.mark.parametrize(
    "grid",
    [
        {"training.lr": [1, 1.0]},
        {"models.vade.prior": [{"name": "gmm", "components": 5}, {"name": "gmm"}, {"name": "gmm", "components": 40}]},
    ],
)
def test_values_that_validate_to_the_same_run_are_refused(tiny_spec, grid):
    """1 and 1.0, or a default spelled out: different JSON, the same cell."""
    tiny_spec["grid"] = grid
    with pytest.raises(SpecError, match="are the same run once defaults are filled in") as info:
        grid_cells(load_spec(tiny_spec))
    assert info.value.where == "grid"


@pytest.mark.parametrize(
    "field, value",
    [
        ("steps", 10**30),
        ("epochs", 10**30),
        ("batch_size", 10**30),
        ("log_every", 10**30),
        ("checkpoint_every", 10**30),
        ("checkpoint_keep", 10**9),
        ("retry_nan", 10**9),
    ],
)
def test_counts_that_drive_loops_or_allocations_are_bounded(tiny_spec, field, value):
    tiny_spec["training"][field] = value
    assert f"training.{field}: Input should be less than or equal to" in refusal(tiny_spec)


def test_the_plateau_interval_is_bounded(tiny_spec):
    tiny_spec["training"]["scheduler"] = {"interval": 10**30}
    assert "training.scheduler.interval: Input should be less than or equal to" in refusal(tiny_spec)


def test_counts_at_their_bounds_are_accepted(tiny_spec):
    tiny_spec["training"].update(steps=MAX_STEPS, log_every=MAX_STEPS, checkpoint_keep=100, retry_nan=100)
    assert load_spec(tiny_spec).training.steps == MAX_STEPS


def test_epochs_are_bounded_by_the_steps_they_make(tiny_spec):
    """160 training examples in batches of 1 are 160 steps an epoch: 10^8 epochs are 1.6 * 10^10 steps."""
    tiny_spec["training"].update(epochs=10**8, batch_size=1)
    with pytest.raises(SpecError, match=r"160 steps each .* are 16,000,000,000 steps; at most 1,000,000,000") as info:
        check(tiny_spec)
    assert info.value.where == "training.epochs"
    tiny_spec["training"]["epochs"] = 10**6
    assert check(tiny_spec)["steps"] == 160 * 10**6


@pytest.mark.parametrize(
    "data, field",
    [({"mixing_layers": 10**6}, "data.mixing_layers"), ({"condition_draws": 10**12}, "data.condition_draws")],
)
def test_tcl_loop_counts_are_bounded(tiny_spec, data, field):
    tiny_spec["data"].update(data)
    assert f"{field}: Input should be less than or equal to" in refusal(tiny_spec)


@pytest.mark.parametrize("option", ["batch_size", "max_iterations"])
def test_cebra_counts_are_bounded(tiny_spec, option):
    """CEBRA is fitted by its own code, outside ica's memory checks: its batch makes [batch, batch] matrices."""
    tiny_spec["models"] = {"cebra": {"name": "cebra", option: 10**12}}
    assert f"models.cebra.{option}: Input should be less than or equal to" in refusal(tiny_spec)


# ------------------------------------------------------------------------ 6: sizes before allocating
@pytest.fixture
def small_machine(monkeypatch):
    """A machine with 300 MB available: enough for a mixture of 10^5 components' weights (8 MB), not for the
    [seeds, batch, d, K] densities one training step of it keeps for the backward pass."""
    monkeypatch.setattr(resources, "host_available", lambda: 300 * 10**6)


def huge_mixture(tiny_spec: dict, components: int = 10**5) -> dict:
    tiny_spec["models"] = {"vade": {**tiny_spec["models"]["vade"], "prior": {"name": "gmm", "components": components}}}
    tiny_spec["training"]["batch_size"] = 64
    return tiny_spec


def test_a_mixture_too_large_to_train_is_refused_by_validate(tiny_spec, small_machine):
    """Its weights fit; the step's activations did not count a mixture's densities, computed inside a
    distribution rather than as a module's output, so validate passed and run failed one huge allocation."""
    with pytest.raises(SpecError) as info:
        check(huge_mixture(tiny_spec))
    assert info.value.where == "models.vade"
    assert "for one step's activations on 64 examples per seed" in info.value.message
    assert "make the model or training.batch_size smaller" in info.value.message


def test_run_refuses_it_with_the_same_message_and_writes_nothing(tiny_spec, small_machine, tmp_path):
    spec = huge_mixture(tiny_spec)
    with pytest.raises(SpecError) as validated:
        check(spec)
    with pytest.raises(SpecError) as ran:
        ica.run(spec, out=tmp_path / "run")
    assert ran.value.message == validated.value.message
    assert not (tmp_path / "run").exists()


def test_the_same_spec_fits_a_machine_with_room(tiny_spec, monkeypatch):
    monkeypatch.setattr(resources, "host_available", lambda: 10 * 10**9)
    assert check(huge_mixture(tiny_spec))["models"]["vade"]["parameters"] > 10**5


class Masked(torch.nn.Module):
    """A step keeps a parameter-sized product (a flow's masked weights) whatever its batch, and 1,000 values
    per example."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1, 3, 1000))

    def noise_shape(self, n):
        return None

    def loss(self, batch, noise):
        return LossOutput((batch.x @ (self.w * 2)).pow(2).sum(-1))


def test_the_activation_estimate_tells_per_example_from_fixed_costs():
    one = resources.activation_bytes(Masked, (3,), seeds=1, batch=1)
    many = resources.activation_bytes(Masked, (3,), seeds=1, batch=1001)
    assert not one.partial and one.bytes >= 1000 * 4 * resources.BACKWARD_FACTOR  # the masked weights, once
    assert (many.bytes - one.bytes) / 1000 < 3 * 1000 * 4 * resources.BACKWARD_FACTOR  # ... not once per example
    assert resources.activation_bytes(Masked, (3,), seeds=2, batch=1001).bytes == 2 * many.bytes


def test_measuring_stops_once_the_step_passes_the_memory_left(monkeypatch):
    """So measuring a step too large for memory costs no more than the memory there is."""
    assert resources.activation_bytes(Masked, (3,), seeds=1, batch=64, budget=5000) == (5000, True)
    monkeypatch.setattr(resources, "device_available", lambda device: (60_000, "a small machine"))
    with pytest.raises(
        SpecError,
        match="would need more than 60.0 kB of memory .* more than the 12.0 kB left for one "
        "step's activations on 64 examples per seed",
    ):
        resources.check_model_memory(
            Masked(), label="m", seeds=1, batch=64, x_shape=(3,), device=torch.device("cpu"), build_one=Masked
        )


def test_a_huge_vade_estimator_is_refused_before_training(small_machine):
    from ica.estimators import VaDE

    with pytest.raises(IcaError, match="one step's activations"):
        VaDE(n_clusters=2 * 10**5, steps=1).fit(np.random.default_rng(0).random((50, 3)))


# ------------------------------------------------------------------- 12: the symbolic-link message
@pytest.mark.parametrize(
    "refuse",
    [
        lambda link: check_target(link),
        lambda link: safe_dir(link.parent, link.name),
        lambda link: open_regular(link, 0, "is not a file"),
    ],
)
def test_the_link_message_claims_no_run_directory_it_does_not_know_of(tmp_path, refuse):
    """Reports, ica schema -o and --out files are written with these too: none of them is a run directory."""
    (tmp_path / "elsewhere").mkdir()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(IcaError) as info:
        refuse(link)
    assert "symbolic link" in info.value.message and "run directory" not in info.value.message


def test_a_caller_may_say_what_it_writes_into(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path)
    with pytest.raises(IcaError, match="does not follow links inside a run directory"):
        safe_dir(tmp_path, "link", into="a run directory")
    with pytest.raises(IcaError, match="does not follow links inside the report's folder"):
        check_target(tmp_path / "link", into="the report's folder")
